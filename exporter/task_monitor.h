// TaskMonitor: the registry of monitored tasks, the scheduler that samples
// each task on its own profile interval, and the Collectable that turns the
// latest samples into per-task series. Thread-safe.
//
// Scheduling: a task is sampled at once when added, then on the ticks of its
// interval's grid (multiples of the interval on the monotonic clock), so all
// tasks of one interval share one pass and the thread wakes once per tick,
// not once per task. A pass costs O(due tasks), never a walk of all tasks.
#ifndef PROPMON_EXPORTER_TASK_MONITOR_H_
#define PROPMON_EXPORTER_TASK_MONITOR_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/label.h"
#include "common/status.h"
#include "exporter/history.h"
#include "exporter/profile.h"
#include "exporter/task_sampler.h"

namespace propmon::exporter {

struct TaskSpec {
  std::string id;
  std::string name;
  bool daemon = false;
  MonitoringProfile profile;
  pid_t pid = 0;
  bool include_children = true;
  std::string source = "api";  // "config", "api" or "run".
  std::map<std::string, std::string> env;
  // The root's start time, in clock ticks after boot (/proc/PID/stat field
  // 22). Given to AddTask: the start time the registrant expects, checked
  // against the process (a mismatch means the pid now names another
  // process). After AddTask: the start time read at registration, which
  // pins the task to that process (TaskSampler never adopts a process that
  // reused the pid).
  std::optional<uint64_t> start_time_ticks;
};

enum class TaskState { kRunning, kEnded };
const char* TaskStateName(TaskState s);

// A consistent copy of one task's state.
struct TaskInfo {
  TaskSpec spec;
  TaskState state = TaskState::kRunning;
  double registered_at = 0;  // Unix seconds.
  double ended_at = 0;       // Unix seconds, when ended.
  std::optional<TaskSample> last;
  std::optional<Aggregates> aggregates;  // When the profile keeps history.
  std::optional<int> wait_status;  // Raw wait status, when known (run mode).
  long samples = 0;
};

struct HistoryPage {
  size_t offset = 0;
  size_t limit = 0;
  size_t total = 0;
  std::vector<TaskSample> samples;  // Oldest first.
  // Aggregates over the retained history up to and including each sample
  // are not kept; callers get the current aggregates.
  std::optional<Aggregates> aggregates;
};

// Receives samples and endings on the collection thread. Must not block.
class TaskObserver {
 public:
  virtual ~TaskObserver() = default;
  virtual void OnSample(const TaskInfo& task, const TaskSample& sample) = 0;
  virtual void OnEnded(const TaskInfo& task) = 0;
};

class TaskMonitor : public prometheus::Collectable {
 public:
  struct Options {
    std::string procfs = "/proc";
    std::string proplet_id;
    MonitoringGlobals globals;
    int grace_intervals = 2;  // Ended tasks stay in /metrics this long.
    double ended_retention_seconds = 3600;  // ... and in the API this long.
    size_t max_ended_tasks = 1000;
    // Running tasks at most; AddTask refuses more (ResourceExhausted),
    // whatever their source (API, config discovery, run).
    size_t max_tasks = 4096;
    const Clock* clock = nullptr;  // SystemClock when null.
  };

  // Why AddTask refused a task, for propmon_exporter_tasks_refused_total.
  enum class Refusal { kMaxTasks, kStartTimeMismatch };

  // Sources of propmon_exporter_label_values_total (indices into
  // labels()): the task API, config discovery, `propmon-exporter run`.
  enum LabelSource : size_t { kLabelApi, kLabelDiscovery, kLabelRun };
  // The source of a TaskSpec::source ("api", "config", "run").
  static size_t LabelSourceOf(const std::string& task_source);

  explicit TaskMonitor(Options options);
  ~TaskMonitor() override;

  // Registers a task. Label hygiene (common/label.h): an id that is not a
  // good label value is refused (InvalidArgument "id: ..."), a name that is
  // not is repaired; both are counted in labels() under the spec's source
  // (a discovery id is repaired by Discovery before it gets here).
  // InvalidArgument naming the field when the pid is not
  // running, when spec.start_time_ticks is set and differs from the
  // process's start time ("start_time_ticks: ..."), or when the profile is
  // invalid; AlreadyExists for the id of a running task (an ended task's id
  // may be reused); ResourceExhausted when options().max_tasks tasks are
  // running. Reads the root's start time now and pins the task to it.
  // Samples it at once.
  Status AddTask(TaskSpec spec);
  // Stops monitoring (the process is not touched). NotFound if unknown.
  Status RemoveTask(const std::string& id);
  std::vector<TaskInfo> ListTasks() const;
  std::optional<TaskInfo> GetTask(const std::string& id) const;
  // The retained history, oldest first. NotFound if unknown.
  StatusOr<HistoryPage> History(const std::string& id, size_t offset,
                                size_t limit) const;
  // True when a running task watches this pid as its root.
  bool WatchesRootPid(pid_t pid) const;
  size_t RunningTasks() const;
  // Records the exit status of a task's root (known only for children of
  // this process, e.g. `propmon-exporter run`).
  void SetWaitStatus(const std::string& id, int wait_status);

  // `observer` must outlive the monitor. Call before Start().
  void AddObserver(TaskObserver* observer);
  // A source of GPU memory used per pid (NVML); with it, tasks get
  // proplet_task_gpu_memory_bytes summed over their processes, while it
  // returns a figure: nullopt (no NVML, a failed pass) leaves the series
  // absent, never 0. Call before Start(). The function must be thread-safe.
  using GpuMemorySource =
      std::function<std::optional<std::map<pid_t, uint64_t>>()>;
  void SetGpuMemorySource(GpuMemorySource source);

  // Starts / stops the background collection thread.
  void Start();
  void Stop();
  // Samples every task that is due now (or all, when `force`), forgets
  // ended tasks past their retention; returns the monotonic time of the
  // next sample or expiry. Used by the thread and by tests with a FakeClock.
  double RunOnce(bool force = false);

  std::vector<prometheus::MetricFamily> Collect() const override;

  const Options& options() const { return options_; }
  // Registrations refused for `reason` since the start.
  long refused(Refusal reason) const;
  // Label values repaired or refused, by LabelSource (exported as
  // propmon_exporter_label_values_total). Thread-safe.
  label::Counts& labels() { return labels_; }
  const label::Counts& labels() const { return labels_; }

 private:
  struct Entry {
    TaskSpec spec;
    std::unique_ptr<TaskSampler> sampler;
    TaskHistory history{0};
    TaskState state = TaskState::kRunning;
    double registered_at = 0;
    double ended_at = 0;
    double ended_mono = 0;
    double next_due = 0;  // Monotonic.
    std::optional<TaskSample> last;
    std::optional<int> wait_status;
    long samples = 0;
    bool sampling_enabled = true;
    // Incremented at every (re)scheduling: a schedule_ item with another
    // generation is stale and skipped when it comes up.
    uint64_t sched_gen = 0;
    bool removed = false;  // No longer in tasks_ (removed or replaced).
  };
  // An entry of the sampling schedule (a min-heap on `due`).
  struct Due {
    double due;
    uint64_t gen;
    std::shared_ptr<Entry> entry;
    bool operator>(const Due& o) const { return due > o.due; }
  };
  // The next tick of the task's interval grid (multiples of the interval on
  // the monotonic clock) at least half an interval after `now_mono`: tasks
  // that share an interval are sampled in one pass, one wake-up per tick.
  static double NextTick(double now_mono, double interval);
  void ScheduleLocked(const std::shared_ptr<Entry>& e, double due);
  // Takes `e` out of tasks_' bookkeeping (it has just been erased from it).
  void ForgetLocked(Entry* e);
  // A running entry stops counting in running_ and root_pids_ (it ended or
  // was removed).
  void StopCountingRunningLocked(const Entry& e);
  TaskInfo InfoLocked(const Entry& e) const;
  bool VisibleInMetrics(const Entry& e, double now_mono) const;
  void Loop();

  Options options_;
  const Clock* clock_;
  std::string host_netns_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Entry>> tasks_;
  size_t running_ = 0;  // Entries of tasks_ in kRunning; GUARDED_BY(mu_).
  // The sampling schedule: one live item per running, sampled task (stale
  // ones are skipped lazily). A pass costs O(due tasks log N), not O(N).
  std::vector<Due> schedule_;  // GUARDED_BY(mu_)
  // Ended tasks in the order they ended (stale ones, removed meanwhile, are
  // skipped), for expiry without walking every task.
  std::deque<std::shared_ptr<Entry>> ended_;  // GUARDED_BY(mu_)
  size_t ended_count_ = 0;  // Entries of tasks_ in kEnded; GUARDED_BY(mu_).
  // Running tasks by root pid (for WatchesRootPid); GUARDED_BY(mu_).
  std::unordered_map<pid_t, int> root_pids_;
  std::vector<TaskObserver*> observers_;
  GpuMemorySource gpu_memory_;
  std::thread thread_;
  bool stop_ = false;
  std::mutex sample_mu_;                     // One sampling pass at a time.
  std::vector<std::shared_ptr<Entry>> due_;  // GUARDED_BY(sample_mu_)
  std::unique_ptr<class ProcReader> reader_;

  std::atomic<long> samples_total_{0};
  std::atomic<double> collection_seconds_total_{0};
  std::atomic<double> last_pass_seconds_{0};
  std::atomic<long> err_vanished_{0};
  std::atomic<long> err_read_{0};
  std::atomic<long> err_parse_{0};
  std::atomic<long> refused_max_tasks_{0};
  std::atomic<long> refused_start_time_{0};
  label::Counts labels_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_TASK_MONITOR_H_
