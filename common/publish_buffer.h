// PublishBuffer: MqttClient's queue of messages not yet handed to the
// broker, oldest first by sequence number, bounded by a message count and a
// byte total. When either bound is passed the oldest messages are dropped,
// and every drop is counted, by topic (64 topics, then "other"). A message
// handed out and not delivered comes back with Requeue() into its place.
//
// Not thread-safe: MqttClient guards it with its lock. Pure: no broker, no
// clock, no I/O (publish_buffer_test.cc).
#ifndef PROPMON_COMMON_PUBLISH_BUFFER_H_
#define PROPMON_COMMON_PUBLISH_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

namespace propmon {

struct PendingMessage {
  std::uint64_t seq = 0;  // order of Push()
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  int failures = 0;  // delivery attempts that failed (the client's count)
  std::size_t bytes() const { return topic.size() + payload.size(); }
};

class PublishBuffer {
 public:
  PublishBuffer(std::size_t max_messages, std::size_t max_bytes)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}

  // Appends a message with the next sequence number. Returns how many of
  // the oldest messages were dropped to stay within the bounds (the new one
  // too, when it alone is over the byte bound).
  std::size_t Push(std::string_view topic, std::string_view payload, int qos,
                   bool retain);
  // Puts back a message PopFront() handed out, in sequence order, then
  // enforces the bounds; returns how many were dropped.
  std::size_t Requeue(PendingMessage m);
  // Removes and returns the oldest message. Requires !empty().
  PendingMessage PopFront();
  // Counts one message that left the buffer (handed out) and is given up.
  void CountDropped(const std::string& topic);
  // Empties the buffer, counting every message in it as dropped; returns
  // how many there were.
  std::size_t DropAll();

  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t dropped_total() const { return dropped_total_; }
  // Dropped messages by topic.
  const std::map<std::string, std::uint64_t>& dropped_by_topic() const {
    return dropped_by_topic_;
  }

  // The most topics dropped_by_topic() names; later ones count as "other".
  static constexpr std::size_t kMaxDropTopics = 64;

 private:
  std::size_t EnforceBounds();

  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::uint64_t next_seq_ = 0;
  std::deque<PendingMessage> queue_;  // By seq, oldest first.
  std::size_t bytes_ = 0;             // bytes() of queue_
  std::uint64_t dropped_total_ = 0;
  std::map<std::string, std::uint64_t> dropped_by_topic_;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_PUBLISH_BUFFER_H_
