#include "bridge/message_queue.h"

#include <algorithm>

namespace propmon::bridge {

MessageQueue::MessageQueue(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)) {}

bool MessageQueue::TryPush(QueuedMessage&& m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    if (items_.size() >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    items_.push_back(std::move(m));
    depth_.store(items_.size(), std::memory_order_relaxed);
    pushed_.fetch_add(1, std::memory_order_relaxed);
  }
  cv_.notify_one();
  return true;
}

bool MessageQueue::PopBatch(std::vector<QueuedMessage>* out, std::size_t max,
                            std::chrono::milliseconds timeout) {
  out->clear();
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout,
                    [&] { return closed_ || !items_.empty(); })) {
    return false;
  }
  std::size_t n = std::min(max, items_.size());
  for (std::size_t i = 0; i < n; ++i) {
    out->push_back(std::move(items_.front()));
    items_.pop_front();
  }
  depth_.store(items_.size(), std::memory_order_relaxed);
  return n > 0;
}

void MessageQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace propmon::bridge
