// The Propeller proplet messages the exporter sends (SPEC §1), built from
// its own state: task_metrics, metrics, alive, create and results. This is
// the one mapping from a TaskSample to the wire; the MQTT publisher, the
// REST API (`last_sample`, the history page) and the `run` summary use it,
// so that the same sample reads the same everywhere.
//
// Thread-safety: pure functions, thread-safe.
#ifndef PROPMON_EXPORTER_PROPLET_MESSAGES_H_
#define PROPMON_EXPORTER_PROPLET_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/payload.h"
#include "exporter/history.h"
#include "exporter/task_monitor.h"
#include "exporter/task_sampler.h"

namespace propmon::exporter {

// Percent from a ratio (ratio × 100), rounded to 1e-6 so that binary noise
// (0.235 × 100 = 23.499999999999996) does not reach the wire.
double RatioToPercent(double ratio);

// One sample as control/proplet/task_metrics: percents are ratio × 100
// (RatioToPercent), absent figures stay absent, network fields only when
// measured (a task in its own netns), `aggregated` only when `aggregates`
// is set. MQTT, the REST API's `last_sample` and history items all come
// from here.
payload::TaskMetrics BuildTaskMetrics(
    const std::string& proplet_id, const std::string& task_id,
    const TaskSample& sample, const std::optional<Aggregates>& aggregates);
// The same for a task's newest sample as published: `aggregated` only when
// task.aggregates is set and the profile keeps history.
payload::TaskMetrics BuildTaskMetrics(const std::string& proplet_id,
                                      const TaskInfo& task,
                                      const TaskSample& sample);

// How a process ended, from a raw wait status: "exited with status N" or
// "killed by signal N (NAME)[, core dumped]".
std::string DescribeWaitStatus(int wait_status);
// The `error` text of a results message: nullopt for exit status 0, else
// DescribeWaitStatus().
std::optional<std::string> WaitStatusError(int wait_status);

// control/proplet/results for a task whose root exited with `wait_status`.
// `results` is an empty JSON string (the exporter does not capture output).
payload::Results BuildResults(const std::string& proplet_id,
                              const std::string& task_id, int wait_status);

// What the exporter knows about its own process (control/proplet/metrics).
// Every field is absent when it could not be read.
struct SelfStats {
  std::optional<double> user_seconds;    // /proc/self/stat utime
  std::optional<double> system_seconds;  // /proc/self/stat stime
  std::optional<uint64_t> rss_bytes;     // /proc/self/stat rss × page size
  // cgroup v2 memory.current / memory.max of the exporter's cgroup; the
  // limit is absent when memory.max says "max".
  std::optional<uint64_t> container_usage_bytes;
  std::optional<uint64_t> container_limit_bytes;
};

// control/proplet/metrics. `host_cpu_ratio` (0..1) becomes percent. No
// heap_* fields: C++ has no managed heap, and none are invented.
payload::PropletMetrics BuildPropletMetrics(
    const std::string& proplet_id, const std::string& namespace_name,
    double timestamp, const SelfStats& self,
    std::optional<double> host_cpu_ratio);

// The node facts of control/proplet/create.
struct NodeFacts {
  std::string os = "linux";
  std::string cpu_arch;  // uname(2) machine, e.g. "x86_64"
  std::optional<uint64_t> total_memory_bytes;
  std::string hostname;  // "" = omitted (privacy, or unknown)
  std::string ip;        // first non-loopback IPv4 address; "" = omitted
};

// control/proplet/create: metadata{os, cpu_arch, total_memory_bytes,
// proplet_version, hostname, ip}, each only when known. No wasm_runtime
// (the exporter has none) and no environment.
payload::Create BuildCreate(const std::string& proplet_id,
                            const std::string& namespace_name,
                            const std::string& proplet_version,
                            const NodeFacts& facts);

// control/proplet/alive.
payload::Alive BuildAlive(const std::string& proplet_id,
                          const std::string& namespace_name);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_PROPLET_MESSAGES_H_
