#include "common/publish_buffer.h"

#include <algorithm>
#include <utility>

namespace propmon {

std::size_t PublishBuffer::Push(std::string_view topic,
                                std::string_view payload, int qos,
                                bool retain) {
  PendingMessage m;
  m.seq = next_seq_++;
  m.topic.assign(topic);
  m.payload.assign(payload);
  m.qos = qos;
  m.retain = retain;
  bytes_ += m.bytes();
  queue_.push_back(std::move(m));
  return EnforceBounds();
}

std::size_t PublishBuffer::Requeue(PendingMessage m) {
  auto pos = std::upper_bound(
      queue_.begin(), queue_.end(), m.seq,
      [](std::uint64_t seq, const PendingMessage& q) { return seq < q.seq; });
  bytes_ += m.bytes();
  queue_.insert(pos, std::move(m));
  return EnforceBounds();
}

PendingMessage PublishBuffer::PopFront() {
  PendingMessage m = std::move(queue_.front());
  queue_.pop_front();
  bytes_ -= m.bytes();
  return m;
}

void PublishBuffer::CountDropped(const std::string& topic) {
  ++dropped_total_;
  auto it = dropped_by_topic_.find(topic);
  if (it == dropped_by_topic_.end()) {
    it = dropped_by_topic_.size() < kMaxDropTopics
             ? dropped_by_topic_.emplace(topic, 0).first
             : dropped_by_topic_.emplace("other", 0).first;
  }
  ++it->second;
}

std::size_t PublishBuffer::DropAll() {
  const std::size_t n = queue_.size();
  for (const PendingMessage& m : queue_) CountDropped(m.topic);
  queue_.clear();
  bytes_ = 0;
  return n;
}

std::size_t PublishBuffer::EnforceBounds() {
  std::size_t dropped = 0;
  while (!queue_.empty() &&
         (queue_.size() > max_messages_ || bytes_ > max_bytes_)) {
    CountDropped(queue_.front().topic);
    bytes_ -= queue_.front().bytes();
    queue_.pop_front();
    ++dropped;
  }
  return dropped;
}

}  // namespace propmon
