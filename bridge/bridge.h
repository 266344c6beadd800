// Bridge: the propmon-bridge daemon as a library (main.cc only parses
// flags and waits for a signal; tests build a Bridge directly).
//
// Data path: the MQTT client's network thread calls Enqueue(), which only
// copies the message into the bounded MessageQueue (or counts a drop) and
// returns, so keepalives never wait behind processing. One worker thread
// drains the queue and offers each message to every mapping whose topic
// filters match it: the built-in Propeller mapping (decode with
// common/payload.h, PropellerMapping, history for REST, live stream) and the
// configured ones (DeviceMapping, from `mappings:` or an mqtt2prometheus
// file). All write into one SeriesStore and are counted per mapping. Once a
// second the worker also runs the time-driven work (proplet_up timeouts,
// expiry, force_monotonic state).
//
// HTTP (same port): /metrics, /, /-/healthy, /-/ready (ready once
// subscribed), /health, GET /tasks/{id}/metrics, GET /proplets/{id}/metrics
// (Propeller manager's API), GET /api/v1/proplets, GET /api/v1/stream (SSE),
// GET /api/v1/debug/mappings (each mapping, its counters and an explanation
// of its last message).
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
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bridge/config.h"
#include "bridge/device_mapping.h"
#include "bridge/explanation.h"
#include "bridge/history.h"
#include "bridge/label_sources.h"
#include "bridge/message_queue.h"
#include "bridge/propeller_mapping.h"
#include "bridge/series_store.h"
#include "bridge/stream_hub.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/metrics.h"
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
  // client, which connects in the background. Errors: a mapping that could
  // not be built, a bad listen address or port in use, invalid MQTT
  // options.
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
  // Re-reads --web.config.file (SIGHUP); keeps the old settings on error.
  Status ReloadWebConfig() { return http_.ReloadWebConfig(); }
  SeriesStore& store() { return store_; }
  PropellerMapping* mapping() { return mapping_.get(); }
  // The configured mappings, in config order.
  const std::vector<std::unique_ptr<DeviceMapping>>& device_mappings() const {
    return devices_;
  }
  const MappingCounters& propeller_counters() const {
    return propeller_counters_;
  }
  const BridgeConfig& config() const { return config_; }

  std::uint64_t received_total() const;
  std::uint64_t rejected_total(std::string_view reason) const;
  std::uint64_t dropped_total() const { return queue_.dropped_total(); }
  std::uint64_t processed_total() const { return processed_.load(); }
  // Label values repaired or refused, by LabelSource
  // (propmon_bridge_label_values_total).
  const label::Counts& labels() const { return labels_; }

 private:
  // Rejection reasons: the codec's, plus the bridge's own.
  static constexpr std::size_t kCodecReasons = payload::kAllReasons.size();
  static constexpr std::size_t kReasonCardinality = kCodecReasons;
  static constexpr std::size_t kReasonTopicMismatch = kCodecReasons + 1;
  static constexpr std::size_t kReasonNoMetrics = kCodecReasons + 2;
  static constexpr std::size_t kReasonCount = kCodecReasons + 3;
  static constexpr std::size_t kKindUnknown = payload::kAllMessageKinds.size();
  static constexpr std::size_t kKindDevice = kKindUnknown + 1;
  static constexpr std::size_t kKindCount = kKindUnknown + 2;
  static constexpr std::size_t kProblemCount = payload::kAllProblems.size();

  // The last message a mapping matched, kept for the debug API (which
  // explains it on request, by a dry run).
  struct LastMessage {
    mutable std::mutex mu;
    bool has = false;
    std::string topic;
    std::string payload;
    double time = 0;
    std::size_t oversize_bytes = 0;
  };

  void WorkerLoop();
  // May move m.payload away (into the history).
  void Process(QueuedMessage& m);
  void ProcessPropeller(QueuedMessage& m);
  // Returns true when a configured mapping accepted the message.
  // `first_rejection` gets the reason of the first mapping that rejected.
  bool ProcessDevices(QueuedMessage& m,
                      const std::vector<DeviceMapping*>& matched,
                      DeviceMapping::MessageReason* first_rejection);
  static void Remember(LastMessage* last, const QueuedMessage& m);
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
  HttpResponse ServeDebugMappings(const HttpRequest& req) const;
  void AppendMappingMetrics(std::string* out) const;
  bool Ready() const;

  const BridgeConfig config_;
  const Clock* clock_;
  SeriesStore store_;
  HistoryStore task_history_;
  HistoryStore proplet_history_;
  StreamHub hub_;
  label::Counts labels_{BridgeLabelSources()};
  std::unique_ptr<PropellerMapping> mapping_;
  MappingCounters propeller_counters_;
  LastMessage propeller_last_;
  std::vector<std::unique_ptr<DeviceMapping>> devices_;
  std::vector<std::unique_ptr<LastMessage>> device_last_;
  Status init_status_;  // a mapping that could not be built
  MessageQueue queue_;
  HttpServer http_;
  HttpServerMetrics http_metrics_{&http_, "propmon_bridge"};
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
