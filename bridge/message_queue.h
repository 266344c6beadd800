// MessageQueue: the bounded hand-over between the MQTT network thread and
// the bridge's worker. The network thread only copies a message in and
// returns (TryPush never blocks on the worker); when the queue is full the
// message is dropped and counted, never silently.
//
// Thread-safety: thread-safe; any number of producers, one or more
// consumers.
#ifndef PROPMON_BRIDGE_MESSAGE_QUEUE_H_
#define PROPMON_BRIDGE_MESSAGE_QUEUE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace propmon::bridge {

struct QueuedMessage {
  std::string topic;
  std::string payload;
  double receive_time = 0;  // Unix seconds (wall clock), for timestamps
  double receive_mono = 0;  // monotonic seconds, for intervals
  // Set instead of copying the payload when it is larger than the bridge's
  // limit; the worker counts it as rejected (too_large).
  std::size_t oversize_bytes = 0;
};

class MessageQueue {
 public:
  explicit MessageQueue(std::size_t capacity);

  // Moves `m` in when there is room; otherwise counts a drop and returns
  // false. Never blocks on consumers.
  bool TryPush(QueuedMessage&& m);
  // Waits up to `timeout` for at least one message, then moves up to `max`
  // messages into *out (cleared first). Returns false when nothing arrived
  // (timeout or Close()).
  bool PopBatch(std::vector<QueuedMessage>* out, std::size_t max,
                std::chrono::milliseconds timeout);
  // Wakes waiting consumers; later pushes are refused (and not counted as
  // drops).
  void Close();

  std::size_t capacity() const { return capacity_; }
  std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }
  std::uint64_t pushed_total() const { return pushed_.load(); }
  std::uint64_t dropped_total() const { return dropped_.load(); }

 private:
  const std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<QueuedMessage> items_;
  bool closed_ = false;
  std::atomic<std::size_t> depth_{0};
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_MESSAGE_QUEUE_H_
