// MqttClient: the one MQTT client both daemons use. Paho MQTT C++ (async
// client) stays behind this header; nothing Paho-specific leaks out.
//
// What it guarantees (docs/mqtt.md has the long form):
// - Start() never blocks on the broker. The client connects in the
//   background and reconnects with exponential backoff between
//   reconnect_min_seconds and reconnect_max_seconds, forever, until Stop().
// - Publish() never blocks on the network. Messages go into OUR bounded
//   buffer (max_buffered_messages) and a background thread hands them to
//   Paho, in order, while connected (at most max_inflight unacknowledged at a
//   time). While disconnected they wait in the buffer; when it is full the
//   OLDEST message is dropped and counted in dropped_total. A QoS>0 message
//   that was handed to Paho but not acknowledged when the connection dropped
//   is not lost: Paho re-sends it when the broker resumes the session, and
//   when the session is gone (clean_start, or the broker lost it) it goes back
//   into our buffer, in order, and is sent again (at-least-once).
// - Subscriptions are (re)established after every connect.
// - Nothing throws out of this class after Create(); Paho exceptions become
//   Status values and counters; failures are logged at most every 30 s per
//   call site.
#ifndef PROPMON_COMMON_MQTT_CLIENT_H_
#define PROPMON_COMMON_MQTT_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mqtt_options.h"
#include "common/mqtt_topic.h"
#include "common/status.h"

namespace propmon {

// A consistent-enough snapshot of the client's counters (each field is read
// atomically; fields are not read all at once).
struct MqttStats {
  bool connected = false;
  // At least one Subscribe() and every subscription acknowledged by the
  // broker on the current connection.
  bool subscribed = false;
  std::uint64_t buffered = 0;  // Waiting in our buffer (gauge).
  std::uint64_t inflight = 0;  // Handed to Paho, not yet acknowledged.
  // Acknowledged by the broker (QoS 1/2) or written to the socket (QoS 0).
  std::uint64_t published_total = 0;
  // Given up on: invalid topic/QoS, refused by the broker (MQTT 5 reason
  // code >= 0x80), repeated delivery failures, Publish() after Stop().
  std::uint64_t failed_total = 0;
  // Lost on purpose: oldest messages pushed out of a full buffer, and
  // messages still unsent when Stop() gave up waiting.
  std::uint64_t dropped_total = 0;
  // dropped_total split by topic (at most 64 topics, then "other").
  std::vector<std::pair<std::string, std::uint64_t>> dropped_by_topic;
  std::uint64_t buffered_bytes = 0;  // Bytes of the messages in our buffer.
  // Connections established after the first one.
  std::uint64_t reconnects_total = 0;
  // Resumed sessions given up for a clean one because the broker dropped
  // them three times in a row before acknowledging anything.
  std::uint64_t session_resets_total = 0;
  std::uint64_t connect_failures_total = 0;
  std::uint64_t received_total = 0;        // Messages that arrived.
  std::uint64_t unmatched_total = 0;       // Arrived, matched no handler.
  std::uint64_t handler_errors_total = 0;  // A handler threw.
  std::string last_error;                  // Empty if nothing failed yet.
};

// Thread-safe: every method may be called from any thread, except that
// Stop() (and the destructor) must not be called from a handler or
// connection callback: Stop() logs an error and does nothing there, and
// destroying the client there is undefined. Not copyable or movable.
class MqttClient {
 public:
  // Called on Paho's callback thread for each arriving message whose topic
  // matches one of the handler's filters. The views are valid only during
  // the call. Must be quick (copy and enqueue): Paho delivers all messages
  // of all clients in the process on that one thread, and keepalive replies
  // wait behind it. Exceptions are caught and counted (handler_errors_total).
  using MessageHandler =
      std::function<void(std::string_view topic, std::string_view payload)>;
  // Called on the client's own background thread (never a Paho thread),
  // once per established connection, before buffered messages are flushed
  // (anything published from here is queued behind the backlog). May call
  // Publish()/Subscribe().
  using ConnectedHandler = std::function<void()>;
  // Called on the client's background thread once per lost connection.
  using ConnectionLostHandler = std::function<void(const std::string& cause)>;

  // Validates `options` (see ValidateMqttOptions) and creates the Paho
  // client. Does not connect. Errors: InvalidArgument, Internal.
  [[nodiscard]] static StatusOr<std::unique_ptr<MqttClient>> Create(
      const MqttOptions& options);
  ~MqttClient();  // Stop()s if needed.
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Set before Start(); later calls are ignored (returns false).
  bool SetConnectedHandler(ConnectedHandler handler);
  bool SetConnectionLostHandler(ConnectionLostHandler handler);

  // Starts the background thread, which connects and keeps reconnecting.
  // Returns at once. Errors: a second Start(), or Start() after Stop().
  Status Start();

  // Waits up to `drain` for buffered and in-flight messages to be
  // acknowledged (only while connected), disconnects cleanly (a persistent
  // session stays on the broker), and joins the background thread. Messages
  // still unsent are counted in dropped_total. Idempotent.
  void Stop(std::chrono::milliseconds drain = std::chrono::seconds(2));

  // While disconnected and waiting out the reconnect backoff, makes the next
  // connect attempt now (e.g. at shutdown, to publish what the buffer holds
  // before Stop()); does nothing otherwise.
  void ConnectNow();

  // Queues a message; never blocks on the network. Usable before Start().
  // Errors (also counted in failed_total): InvalidArgument for a bad topic
  // or QoS, Unavailable after Stop().
  Status Publish(std::string_view topic, std::string_view payload, int qos,
                 bool retain);
  // Publish at options().qos, retain false.
  Status Publish(std::string_view topic, std::string_view payload);

  // Subscribes to `filters` at `qos`, now if connected and again after every
  // connect. A message matching filters of several Subscribe() calls goes to
  // each of those handlers once. Shared subscriptions
  // ("$share/GROUP/filter") need mqtt_version 5 on most brokers.
  // Errors: InvalidArgument for an empty list, a bad filter, QoS outside
  // 0..2 or an empty handler; Unavailable after Stop().
  Status Subscribe(const std::vector<std::string>& filters, int qos,
                   MessageHandler handler);

  MqttStats stats() const;
  const MqttOptions& options() const;

 private:
  class Impl;
  explicit MqttClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_MQTT_CLIENT_H_
