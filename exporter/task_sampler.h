// TaskSampler: measures one task (a root process and, by default, all its
// descendants) from procfs. Keeps the per-process state needed so that
// counters never decrease while the task lives, even when children exit.
#ifndef PROPMON_EXPORTER_TASK_SAMPLER_H_
#define PROPMON_EXPORTER_TASK_SAMPLER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "exporter/procfs.h"
#include "exporter/profile.h"

namespace propmon::exporter {

// One measurement of a task. Every field is optional: a field is absent when
// the profile does not collect it or the system cannot measure it.
struct TaskSample {
  double timestamp = 0;                   // Unix seconds.
  std::optional<double> cpu_seconds;      // user+system, whole tree.
  std::optional<double> cpu_usage_ratio;  // Over the last interval; 1 = 1 core.
  std::optional<uint64_t> memory_bytes;   // Sum of RSS.
  std::optional<double> memory_usage_ratio;  // RSS / MemTotal.
  std::optional<uint64_t> disk_read_bytes;
  std::optional<uint64_t> disk_write_bytes;
  std::optional<uint64_t> network_rx_bytes;  // Only in an own netns.
  std::optional<uint64_t> network_tx_bytes;
  std::optional<int64_t> threads;
  std::optional<int64_t> open_fds;
  std::optional<uint64_t> max_fds;  // Soft RLIMIT_NOFILE of the root.
  std::optional<double> uptime_seconds;
  std::optional<double> start_time_seconds;  // Unix time of the root's start.
  std::optional<uint64_t> gpu_memory_bytes;  // NVML, when a GPU is present.
  int processes = 0;                         // Live processes in the tree.
};

// Errors met while sampling, by reason (for propmon_exporter_errors_total).
struct SampleErrors {
  long process_vanished = 0;  // A process exited between listing and reading.
  long read_failed = 0;       // A file could not be read (permissions, ...).
  long parse_failed = 0;      // A file had unexpected content.
};

// Not thread-safe: one sampler per task, used from the collection thread.
class TaskSampler {
 public:
  // `host_netns` is the exporter's own network namespace link text; a task
  // in the same namespace gets no network figures (SPEC §2).
  // `root_start_ticks` pins the root's identity (/proc/PID/stat starttime,
  // read when the task was registered): a process at `root_pid` with another
  // start time is a different process that reused the pid, and is never
  // adopted; the root then counts as ended. Unset: the first sample pins it.
  TaskSampler(pid_t root_pid, bool include_children, std::string host_netns,
              std::optional<uint64_t> root_start_ticks = std::nullopt);

  // Samples the task now. Returns false when none of its processes is alive
  // any more (the task has ended); *sample then holds the final values
  // (counters as last seen, gauges absent).
  // `host_uptime` is /proc/uptime read once per pass (nullopt when it could
  // not be read; uptime is then absent).
  bool Sample(ProcReader* reader, const MonitoringProfile& profile,
              double now_unix, double now_mono,
              std::optional<double> host_uptime, TaskSample* sample,
              SampleErrors* errors);

  pid_t root_pid() const { return root_pid_; }
  // The root's start time in clock ticks after boot, once known.
  std::optional<uint64_t> root_start_ticks() const { return root_start_ticks_; }
  // Pids seen alive at the last Sample() (root first).
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  struct ProcState {
    uint64_t start_ticks = 0;  // Distinguishes pid reuse.
    pid_t ppid = 0;
    uint64_t cpu_ticks = 0;   // utime+stime+cutime+cstime.
    uint64_t read_bytes = 0;  // Includes reaped children (kernel).
    uint64_t write_bytes = 0;
    bool seen = false;
  };
  void DiscoverTree(ProcReader* reader, bool use_children_file);

  pid_t root_pid_;
  bool include_children_;
  std::string host_netns_;
  std::optional<uint64_t> root_start_ticks_;
  std::unordered_map<pid_t, ProcState> procs_;
  std::vector<pid_t> pids_;
  // Totals of processes that vanished without being reaped by a live
  // member of the tree (their time did not roll into a parent's cutime).
  uint64_t lost_cpu_ticks_ = 0;
  uint64_t lost_read_bytes_ = 0;
  uint64_t lost_write_bytes_ = 0;
  // Monotonic outputs.
  uint64_t last_cpu_ticks_ = 0;
  uint64_t last_read_ = 0;
  uint64_t last_write_ = 0;
  uint64_t last_rx_ = 0;
  uint64_t last_tx_ = 0;
  bool have_net_ = false;
  bool have_io_ = false;
  std::optional<double> prev_cpu_seconds_;
  double prev_mono_ = 0;
  std::optional<uint64_t> mem_total_;
  std::optional<bool> children_file_;
  std::optional<uint64_t> max_fds_;  // nullopt: unlimited or unknown.
  std::optional<double> max_fds_read_at_;
  bool ended_ = false;
  // Scratch, kept between samples for their capacity.
  std::vector<pid_t> frontier_, live_, kids_, tids_, vanished_;
  std::vector<ProcStat> live_stats_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_TASK_SAMPLER_H_
