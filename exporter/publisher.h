// Publisher: the exporter's MQTT side. Publishes the five Propeller proplet
// topics of SPEC §1 under m/{domain}/c/{channel}/ through MqttClient
// (docs/mqtt.md, "Publishing to MQTT", has the long form):
//
//   control/proplet/create        once per established connection
//   control/proplet/alive         right after each connect, then every
//                                 liveliness interval, only while connected
//   control/proplet/metrics       every metrics interval when monitoring is
//                                 enabled: the exporter process's own CPU
//                                 seconds and RSS, host-wide CPU percent,
//                                 cgroup v2 memory usage/limit where present
//   control/proplet/task_metrics  per task sample, on the task's own
//                                 interval, when its profile has
//                                 enabled && export_to_mqtt
//   control/proplet/results       when a task's exit status is known (tasks
//                                 the exporter started: `run`); never for an
//                                 observed process whose exit status cannot
//                                 be known (no invented success or failure)
//
// Publishing never blocks the caller: payloads are encoded with the one codec
// (common/payload.h) and handed to MqttClient::Publish, which buffers while
// the broker is away (oldest dropped and counted when full).
//
// The Build*/Parse* functions below are pure (thread-safe); Read* functions
// only read files. Publisher is thread-safe: OnSample/OnEnded run on the
// TaskMonitor's collection thread, TaskExited on any thread, Collect on
// scrape threads.
#ifndef PROPMON_EXPORTER_PUBLISHER_H_
#define PROPMON_EXPORTER_PUBLISHER_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "common/payload.h"
#include "common/status.h"
#include "exporter/collectors/cpu.h"
#include "exporter/config.h"
#include "exporter/proplet_messages.h"
#include "exporter/task_monitor.h"

namespace propmon::exporter {

// ---------------------------------------------------------------------------
// Pure parsers for the exporter's cgroup.
// ---------------------------------------------------------------------------

// The cgroup v2 path of the "0::PATH" line of /proc/self/cgroup, or nullopt.
std::optional<std::string> ParseCgroupV2Path(std::string_view text);

// The mount point and root of the first cgroup2 file system listed in
// /proc/self/mountinfo (octal escapes such as \040 decoded), or nullopt.
struct MountPoint {
  std::string root;
  std::string mount_point;
};
std::optional<MountPoint> ParseCgroup2Mount(std::string_view mountinfo);

// Fills user/system seconds and RSS of *out from /proc/PID/stat text, read
// by ParseProcStat (exporter/procfs.h). Returns false, leaving *out untouched,
// on truncated or malformed text.
bool ParseSelfStat(std::string_view text, double ticks_per_second,
                   uint64_t page_size, SelfStats* out);

// A memory.current / memory.max value: a whole number of bytes, or nullopt
// for "max" and anything unparseable.
std::optional<uint64_t> ParseCgroupBytes(std::string_view text);

// ---------------------------------------------------------------------------
// Readers.
// ---------------------------------------------------------------------------

// Reads SelfStats from `self_proc` (normally "/proc/self": stat, cgroup,
// mountinfo) and the cgroup v2 files it points at. Never fails: what cannot
// be read stays absent.
SelfStats ReadSelfStats(const std::string& self_proc);

// Reads NodeFacts: uname(2), `procfs`/meminfo, gethostname(2) and
// getifaddrs(3) (the last two skipped when `privacy`).
NodeFacts ReadNodeFacts(const std::string& procfs, bool privacy);

// ---------------------------------------------------------------------------
// Publisher.
// ---------------------------------------------------------------------------

struct PublisherOptions {
  MqttOptions mqtt;  // url, credentials, TLS, QoS, buffer size, ...
  std::string domain_id;
  std::string channel_id;
  std::string proplet_id;
  std::string namespace_name = "default";
  std::string proplet_version;  // "propmon-exporter <version>"
  double liveliness_interval_seconds = 10;
  double metrics_interval_seconds = 10;
  bool enable_monitoring = true;  // control/proplet/metrics only when true
  bool privacy = false;           // create omits hostname and ip
  std::string procfs = "/proc";   // /stat (host CPU) and /meminfo
  std::string self_proc = "/proc/self";
};

// Maps the exporter's configuration onto PublisherOptions. The MQTT client
// id defaults to "propmon-exporter-<proplet_id>" (a stable id, so the
// persistent session survives restarts); max_buffered_messages 0 means 1.
PublisherOptions MakePublisherOptions(const Config& config,
                                      const std::string& proplet_id,
                                      const std::string& procfs);

class Publisher : public TaskObserver, public prometheus::Collectable {
 public:
  // Validates the options and creates the MQTT client; does not connect.
  // Errors: InvalidArgument (bad url, TLS files, ids, intervals), Internal.
  static StatusOr<std::unique_ptr<Publisher>> Create(PublisherOptions options);
  ~Publisher() override;  // Stop()s if needed.
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Connects in the background and starts the alive/metrics timers.
  // Returns at once; a broker that is down is retried with backoff.
  Status Start();
  // Stops the timers, then waits up to `drain` in all for a connection (when
  // messages are pending and none is up) and for unsent messages to be
  // acknowledged, and disconnects; what is still unsent is counted in
  // dropped_total. Idempotent. Not from an observer callback.
  void Stop(std::chrono::milliseconds drain = std::chrono::seconds(2));

  // TaskObserver (collection thread; never blocks on the network).
  // OnSample publishes task_metrics for a running task whose profile has
  // enabled && export_to_mqtt (the final sample of an ended task, which has
  // no gauges, is not published). OnEnded publishes results when the exit
  // status is known; for a `run` task without one it waits for TaskExited;
  // otherwise it logs that no result is published.
  void OnSample(const TaskInfo& task, const TaskSample& sample) override;
  void OnEnded(const TaskInfo& task) override;

  // Reports the exit status of a task the exporter started (`run`).
  // Publishes its results unless OnEnded already did.
  void TaskExited(const std::string& task_id, int wait_status);

  // propmon_exporter_mqtt_{connected, buffered_messages, published_total,
  // failed_total, dropped_total, reconnects_total}.
  std::vector<prometheus::MetricFamily> Collect() const override;

  MqttStats mqtt_stats() const;
  std::string Topic(payload::MessageKind kind) const;
  const PublisherOptions& options() const { return options_; }

 private:
  Publisher(PublisherOptions options, std::unique_ptr<MqttClient> client);
  void OnConnected();
  void TimerLoop();
  void PublishAlive();
  void PublishPropletMetrics();
  std::optional<CpuTimes> ReadHostCpu() const;
  void Send(payload::MessageKind kind, const std::string& json);
  void PublishResultsOnce(const std::string& task_id, int wait_status);

  const PublisherOptions options_;
  std::unique_ptr<MqttClient> client_;
  // Topics, built once.
  std::string topic_task_metrics_;
  std::string topic_metrics_;
  std::string topic_alive_;
  std::string topic_create_;
  std::string topic_results_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;  // GUARDED_BY(mu_)
  bool stop_ = false;     // GUARDED_BY(mu_)
  std::thread timer_;
  // Ids whose results were published from OnEnded, so that TaskExited does
  // not publish them again (run tasks only; bounded).
  std::set<std::string> results_sent_;  // GUARDED_BY(mu_)
  std::deque<std::string> results_order_;

  // Timer thread only.
  std::optional<CpuTimes> last_host_cpu_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_PUBLISHER_H_
