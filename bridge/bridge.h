// Bridge: the propmon-bridge daemon as a library (main.cc only parses
// flags and waits for a signal; tests build a Bridge directly).
//
// Data path: the MQTT client's network thread calls Enqueue(), which only
// copies the message into the bounded MessageQueue (or counts a drop) and
// returns, so keepalives never wait behind processing. One worker thread
// drains the queue: decode (common/payload.h), translate (PropellerMapping),
// store (SeriesStore), history (REST) and live stream (SSE). Once a second
// the worker also runs the time-driven work (proplet_up timeouts, expiry).
//
// HTTP (same port): /metrics, /, /-/healthy, /-/ready (ready once
// subscribed), /health, GET /tasks/{id}/metrics, GET /proplets/{id}/metrics
// (Propeller manager's API), GET /api/v1/proplets, GET /api/v1/stream (SSE).
//
// Thread-safety: Start()/Stop() from one thread; Enqueue() from any thread;
// the accessors are thread-safe.
#ifndef PROPMON_BRIDGE_BRIDGE_H_
#define PROPMON_BRIDGE_BRIDGE_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bridge/config.h"
#include "bridge/history.h"
#include "bridge/message_queue.h"
#include "bridge/propeller_mapping.h"
#include "bridge/series_store.h"
#include "bridge/stream_hub.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/mqtt_client.h"
#include "common/payload.h"
#include "common/status.h"

namespace propmon::bridge {

const char* Version();

class Bridge {
 public:
  // `clock` must outlive the bridge.
  explicit Bridge(const BridgeConfig& config,
                  const Clock* clock = SystemClock::Get());
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Starts the worker, the HTTP server and (when `connect_mqtt`) the MQTT
  // client, which connects in the background. Errors: a bad listen address
  // or port in use, invalid MQTT options.
  Status Start(bool connect_mqtt = true);
  // Stops MQTT, HTTP and the worker (messages still queued are processed
  // first). Idempotent.
  void Stop();

  // The entry point of every message; what the MQTT handler calls. Copies
  // the message into the queue (an oversize payload is not copied) and
  // returns; counts a drop when the queue is full.
  void Enqueue(std::string_view topic, std::string_view payload);

  // Waits until every message enqueued so far has been processed. For tests
  // and benchmarks.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Runs the time-driven work now (tests with a FakeClock).
  void Tick();

  // The full /metrics body (self-metrics, then the store's series).
  std::string RenderMetrics() const;

  int port() const { return http_.port(); }
  SeriesStore& store() { return store_; }
  PropellerMapping* mapping() { return mapping_.get(); }
  const BridgeConfig& config() const { return config_; }

  std::uint64_t received_total() const;
  std::uint64_t rejected_total(std::string_view reason) const;
  std::uint64_t dropped_total() const { return queue_.dropped_total(); }
  std::uint64_t processed_total() const { return processed_.load(); }

 private:
  // Rejection reasons: the codec's, plus the bridge's own.
  static constexpr std::size_t kCodecReasons = payload::kAllReasons.size();
  static constexpr std::size_t kReasonCardinality = kCodecReasons;
  static constexpr std::size_t kReasonCount = kCodecReasons + 1;
  static constexpr std::size_t kKindUnknown = payload::kAllMessageKinds.size();
  static constexpr std::size_t kKindCount = kKindUnknown + 1;
  static constexpr std::size_t kProblemCount = 6;

  void WorkerLoop();
  // May move m.payload away (into the history).
  void Process(QueuedMessage& m);
  void Reject(std::size_t reason, std::string_view topic,
              std::string_view detail);
  void AppendSelfMetrics(std::string* out) const;
  void RegisterHttp();

  HttpResponse ServeMetrics(const HttpRequest& req) const;
  HttpResponse ServeHealth(const HttpRequest& req) const;
  HttpResponse ServeReady(const HttpRequest& req) const;
  HttpResponse ServeLanding(const HttpRequest& req) const;
  HttpResponse ServeHistory(const HttpRequest& req, std::string_view prefix,
                            payload::MessageKind kind,
                            const HistoryStore& history) const;
  HttpResponse ServeProplets(const HttpRequest& req) const;
  bool Ready() const;

  const BridgeConfig config_;
  const Clock* clock_;
  SeriesStore store_;
  HistoryStore task_history_;
  HistoryStore proplet_history_;
  StreamHub hub_;
  std::unique_ptr<PropellerMapping> mapping_;
  MessageQueue queue_;
  HttpServer http_;
  std::unique_ptr<MqttClient> mqtt_;

  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> mqtt_enabled_{false};
  std::atomic<std::uint64_t> processed_{0};
  std::array<std::atomic<std::uint64_t>, kKindCount> received_{};
  std::array<std::atomic<std::uint64_t>, kReasonCount> rejected_{};
  std::array<std::atomic<std::uint64_t>, kProblemCount> field_problems_{};
  std::atomic<std::uint64_t> processing_ns_{0};
  mutable std::atomic<std::size_t> last_render_size_{0};
};

// The daemon's entry point; returns the process exit status.
int BridgeMain(const std::vector<std::string>& args);

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_BRIDGE_H_
