#include "exporter/task_monitor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "common/log.h"
#include "common/metrics.h"
#include "exporter/procfs.h"

namespace propmon::exporter {
namespace {

using prometheus::MetricType;

double CpuTimeNow() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void AtomicAdd(std::atomic<double>* a, double v) {
  double cur = a->load();
  while (!a->compare_exchange_weak(cur, cur + v)) {
  }
}

// The sources of propmon_exporter_label_values_total, in LabelSource order,
// with what each can meet (those series exist from the start). The API's
// JSON parser refuses invalid UTF-8 (400 invalid JSON), so the API never
// meets it; discovery repairs ids and refuses only an empty one; `run` makes
// up an id ("run-PID") when none is given.
std::vector<label::Counts::Source> ExporterLabelSources() {
  using R = label::Reason;
  return {
      {"api",
       {R::kEmpty, R::kControlChar, R::kTooLong},
       {R::kControlChar, R::kTooLong}},
      {"discovery",
       {R::kEmpty},
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong}},
      {"run",
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong},
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong}},
  };
}

}  // namespace

const char* TaskStateName(TaskState s) {
  return s == TaskState::kRunning ? "running" : "ended";
}

size_t TaskMonitor::LabelSourceOf(const std::string& task_source) {
  if (task_source == "config") return kLabelDiscovery;
  if (task_source == "run") return kLabelRun;
  return kLabelApi;
}

TaskMonitor::TaskMonitor(Options options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : SystemClock::Get()),
      reader_(std::make_unique<ProcReader>(options_.procfs)),
      labels_(ExporterLabelSources()) {
  // The exporter's own namespace, through the procfs root so that a fixture
  // tree can stand in for it.
  auto ns = reader_->SelfNetNamespace();
  if (ns.ok()) host_netns_ = *ns;
}

TaskMonitor::~TaskMonitor() { Stop(); }

void TaskMonitor::SetGpuMemorySource(GpuMemorySource source) {
  std::lock_guard<std::mutex> lock(mu_);
  gpu_memory_ = std::move(source);
}

void TaskMonitor::AddObserver(TaskObserver* observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observers_.push_back(observer);
}

Status TaskMonitor::AddTask(TaskSpec spec) {
  // Label hygiene (common/label.h): an id is refused, a name repaired.
  const size_t source = LabelSourceOf(spec.source);
  if (auto bad = labels_.Refuse(source, spec.id)) {
    return InvalidArgument(
        std::string("id: must be 1 to 256 bytes of UTF-8 without control "
                    "characters; this one ") +
        label::ReasonText(*bad));
  }
  if (labels_.Repair(source, &spec.name).value_or(label::Reason::kEmpty) !=
      label::Reason::kEmpty) {
    PM_LOG_EVERY_30S(kWarn) << "task " << spec.id << " (" << spec.source
                            << "): name repaired to a valid label value";
  }
  if (spec.pid <= 0)
    return InvalidArgument("pid: must be a positive process id");
  Status v = ValidateProfile(spec.profile);
  if (!v.ok()) return v;
  {
    // The root's start time, read now: it pins the task to this process, so
    // that a pid reused before the first sample is never adopted.
    ProcReader probe(options_.procfs);
    auto st = probe.ReadStat(spec.pid);
    if (!st.ok()) {
      return InvalidArgument("pid: process " + std::to_string(spec.pid) +
                             " is not running");
    }
    if (spec.start_time_ticks && *spec.start_time_ticks != st->starttime) {
      refused_start_time_.fetch_add(1);
      PM_LOG_EVERY_30S(kWarn) << "task " << spec.id << " refused: pid "
                              << spec.pid << " started at " << st->starttime
                              << " ticks, not " << *spec.start_time_ticks;
      return InvalidArgument("start_time_ticks: process " +
                             std::to_string(spec.pid) + " started " +
                             std::to_string(st->starttime) +
                             " clock ticks after boot, not " +
                             std::to_string(*spec.start_time_ticks) +
                             " (the pid names another process)");
    }
    spec.start_time_ticks = st->starttime;
  }
  auto e = std::make_shared<Entry>();
  e->sampler = std::make_unique<TaskSampler>(
      spec.pid, spec.include_children, host_netns_, spec.start_time_ticks);
  e->history = TaskHistory(spec.profile.KeepsHistory()
                               ? static_cast<size_t>(spec.profile.history_size)
                               : 0);
  e->registered_at = clock_->Now();
  e->sampling_enabled =
      spec.profile.enabled && options_.globals.enable_monitoring;
  e->spec = std::move(spec);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(e->spec.id);
    if (it != tasks_.end() && it->second->state == TaskState::kRunning) {
      return AlreadyExists("task \"" + e->spec.id + "\" already exists");
    }
    if (running_ >= options_.max_tasks) {
      refused_max_tasks_.fetch_add(1);
      PM_LOG_EVERY_30S(kWarn)
          << "task " << e->spec.id << " (" << e->spec.source
          << ") refused: " << running_ << " tasks are running (max_tasks "
          << options_.max_tasks << ")";
      return Status(StatusCode::kResourceExhausted,
                    "max_tasks: " + std::to_string(running_) +
                        " tasks are running, the most this exporter "
                        "monitors (max_tasks " +
                        std::to_string(options_.max_tasks) + ")");
    }
    if (it != tasks_.end()) {  // Replaces an ended task of the same id.
      ForgetLocked(it->second.get());
      it->second = e;
    } else {
      tasks_.emplace(e->spec.id, e);
    }
    ++running_;
    ++root_pids_[e->spec.pid];
    if (e->sampling_enabled) ScheduleLocked(e, clock_->Monotonic());  // Now.
  }
  PM_LOG(kInfo) << "task added id=" << e->spec.id << " pid=" << e->spec.pid
                << " profile=" << e->spec.profile.name
                << " source=" << e->spec.source;
  cv_.notify_all();
  return Status::Ok();
}

Status TaskMonitor::RemoveTask(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return NotFound("task \"" + id + "\" not found");
  ForgetLocked(it->second.get());
  tasks_.erase(it);
  cv_.notify_all();
  return Status::Ok();
}

void TaskMonitor::ForgetLocked(Entry* e) {
  e->removed = true;
  ++e->sched_gen;  // Its schedule item, if any, is stale now.
  if (e->state == TaskState::kRunning) {
    StopCountingRunningLocked(*e);
  } else {
    --ended_count_;
  }
}

void TaskMonitor::StopCountingRunningLocked(const Entry& e) {
  --running_;
  auto r = root_pids_.find(e.spec.pid);
  if (r != root_pids_.end() && --r->second == 0) root_pids_.erase(r);
}

double TaskMonitor::NextTick(double now_mono, double interval) {
  return interval * (std::floor(now_mono / interval + 0.5) + 1);
}

void TaskMonitor::ScheduleLocked(const std::shared_ptr<Entry>& e, double due) {
  e->next_due = due;
  schedule_.push_back(Due{due, ++e->sched_gen, e});
  std::push_heap(schedule_.begin(), schedule_.end(), std::greater<>());
}

long TaskMonitor::refused(Refusal reason) const {
  return reason == Refusal::kMaxTasks ? refused_max_tasks_.load()
                                      : refused_start_time_.load();
}

TaskInfo TaskMonitor::InfoLocked(const Entry& e) const {
  TaskInfo info;
  info.spec = e.spec;
  info.state = e.state;
  info.registered_at = e.registered_at;
  info.ended_at = e.ended_at;
  info.last = e.last;
  info.wait_status = e.wait_status;
  info.samples = e.samples;
  if (e.spec.profile.KeepsHistory() && e.history.size() > 0) {
    info.aggregates = e.history.Aggregate();
  }
  return info;
}

std::vector<TaskInfo> TaskMonitor::ListTasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TaskInfo> out;
  out.reserve(tasks_.size());
  for (const auto& [id, e] : tasks_) out.push_back(InfoLocked(*e));
  return out;
}

std::optional<TaskInfo> TaskMonitor::GetTask(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  return InfoLocked(*it->second);
}

StatusOr<HistoryPage> TaskMonitor::History(const std::string& id, size_t offset,
                                           size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return NotFound("task \"" + id + "\" not found");
  const Entry& e = *it->second;
  HistoryPage page;
  page.offset = offset;
  page.limit = limit;
  page.total = e.history.size();
  for (size_t i = offset; i < e.history.size() && i < offset + limit; ++i) {
    page.samples.push_back(e.history.At(i));
  }
  if (e.spec.profile.KeepsHistory() && e.history.size() > 0) {
    page.aggregates = e.history.Aggregate();
  }
  return page;
}

bool TaskMonitor::WatchesRootPid(pid_t pid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return root_pids_.count(pid) > 0;
}

size_t TaskMonitor::RunningTasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

void TaskMonitor::SetWaitStatus(const std::string& id, int wait_status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(id);
  if (it != tasks_.end()) it->second->wait_status = wait_status;
}

void TaskMonitor::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TaskMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TaskMonitor::Loop() {
  while (true) {
    double next = RunOnce(false);
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) return;
    double wait = next - clock_->Monotonic();
    if (wait > 0) {
      cv_.wait_for(lock, std::chrono::duration<double>(std::min(wait, 3600.0)));
    }
    if (stop_) return;
  }
}

double TaskMonitor::RunOnce(bool force) {
  std::lock_guard<std::mutex> pass(sample_mu_);
  double t0 = CpuTimeNow();
  double now_mono = clock_->Monotonic();
  double now = clock_->Now();
  // Kept between passes (guarded by sample_mu_) for its capacity: a pass in
  // steady state allocates nothing (task_sampler_alloc_test.cc).
  std::vector<std::shared_ptr<Entry>>& due = due_;
  due.clear();
  // Set before Start() and never changed after (the thread's start orders
  // them before this read).
  const std::vector<TaskObserver*>& observers = observers_;
  const GpuMemorySource& gpu_memory = gpu_memory_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Forget ended tasks after their retention, or the oldest ones beyond
    // max_ended_tasks: ended_ is in the order they ended.
    while (!ended_.empty()) {
      Entry* e = ended_.front().get();
      if (!e->removed) {
        if (now_mono - e->ended_mono <= options_.ended_retention_seconds &&
            ended_count_ <= options_.max_ended_tasks) {
          break;
        }
        ForgetLocked(e);
        tasks_.erase(e->spec.id);
      }
      ended_.pop_front();
    }
    if (force) {
      for (auto& [id, e] : tasks_) {
        if (e->state == TaskState::kRunning && e->sampling_enabled) {
          ++e->sched_gen;  // Its schedule item is stale: rescheduled below.
          due.push_back(e);
        }
      }
    } else {
      while (!schedule_.empty() && schedule_.front().due <= now_mono + 0.001) {
        std::pop_heap(schedule_.begin(), schedule_.end(), std::greater<>());
        Due d = std::move(schedule_.back());
        schedule_.pop_back();
        if (d.gen == d.entry->sched_gen) due.push_back(std::move(d.entry));
      }
    }
  }

  SampleErrors errors;
  std::optional<double> uptime;
  if (!due.empty()) {
    auto up = reader_->ReadUptime();
    if (up.ok()) uptime = *up;
  }
  // GPU memory per pid from the last NVML pass; a task's is the sum over its
  // processes (absent when the host has no GPU library).
  std::optional<std::map<pid_t, uint64_t>> gpu_by_pid;
  if (gpu_memory && !due.empty()) gpu_by_pid = gpu_memory();
  for (auto& e : due) {
    TaskSample sample;
    bool alive = e->sampler->Sample(reader_.get(), e->spec.profile, now,
                                    now_mono, uptime, &sample, &errors);
    if (alive && gpu_by_pid && e->spec.profile.collect_memory) {
      uint64_t bytes = 0;
      for (pid_t p : e->sampler->pids()) {
        auto it = gpu_by_pid->find(p);
        if (it != gpu_by_pid->end()) bytes += it->second;
      }
      sample.gpu_memory_bytes = bytes;
    }
    TaskInfo info;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e->last = sample;
      e->samples++;
      // The history holds the samples of the running task, the ones
      // published: the final sample of an ended task has its counters but
      // no gauges, and stays only as `last`.
      if (alive && e->spec.profile.KeepsHistory()) e->history.Add(sample);
      if (!alive) {
        e->state = TaskState::kEnded;
        e->ended_at = now;
        e->ended_mono = now_mono;
        // Never sampled again: free its per-process state now rather than
        // keep it for the ended task's retention (max_ended_tasks of them).
        e->sampler.reset();
        // Unless RemoveTask took it (and counted it) during the pass.
        if (!e->removed) {
          StopCountingRunningLocked(*e);
          ++ended_count_;
          ended_.push_back(e);
        }
      } else if (!e->removed) {
        // On the interval's grid, so that intervals do not drift and tasks
        // of one interval stay in one pass.
        ScheduleLocked(e, NextTick(now_mono, e->spec.profile.interval_seconds));
      }
      if (!observers.empty()) info = InfoLocked(*e);
    }
    samples_total_.fetch_add(1);
    for (TaskObserver* o : observers) o->OnSample(info, sample);
    if (!alive) {
      PM_LOG(kInfo) << "task ended id=" << e->spec.id;
      for (TaskObserver* o : observers) o->OnEnded(info);
    }
  }
  const size_t sampled = due.size();
  due.clear();  // Drops the references to removed entries now.
  err_vanished_.fetch_add(errors.process_vanished);
  err_read_.fetch_add(errors.read_failed);
  err_parse_.fetch_add(errors.parse_failed);
  double spent = CpuTimeNow() - t0;
  AtomicAdd(&collection_seconds_total_, spent);
  if (sampled > 0) last_pass_seconds_ = spent;

  // The next sample, or the oldest ended task's expiry. (An ended task's
  // grace period needs no wake-up: Collect() checks it at scrape time.)
  double next = now_mono + 3600;
  std::lock_guard<std::mutex> lock(mu_);
  while (!schedule_.empty() &&
         schedule_.front().gen != schedule_.front().entry->sched_gen) {
    std::pop_heap(schedule_.begin(), schedule_.end(), std::greater<>());
    schedule_.pop_back();  // Stale: removed or rescheduled.
  }
  if (!schedule_.empty()) next = std::min(next, schedule_.front().due);
  while (!ended_.empty() && ended_.front()->removed) ended_.pop_front();
  if (!ended_.empty()) {
    next = std::min(next, ended_.front()->ended_mono +
                              options_.ended_retention_seconds + 0.001);
  }
  return next;
}

bool TaskMonitor::VisibleInMetrics(const Entry& e, double now_mono) const {
  if (e.state == TaskState::kRunning) return true;
  return now_mono - e.ended_mono <
         options_.grace_intervals * e.spec.profile.interval_seconds;
}

std::vector<prometheus::MetricFamily> TaskMonitor::Collect() const {
  FamilyBuilder info("proplet_task_info", "Task metadata; value is always 1.",
                     MetricType::Gauge);
  FamilyBuilder running("proplet_task_running",
                        "1 while the task has live processes, 0 after it ended "
                        "(until its series leave after the grace period).",
                        MetricType::Gauge);
  FamilyBuilder cpu_total("proplet_task_cpu_seconds_total",
                          "CPU time (user+system) of the task's processes, "
                          "including reaped children.",
                          MetricType::Counter);
  FamilyBuilder cpu_ratio(
      "proplet_task_cpu_usage_ratio",
      "CPU used over the task's last interval; 1.0 = one core.",
      MetricType::Gauge);
  FamilyBuilder mem("proplet_task_memory_bytes",
                    "Resident set size of the task's processes.",
                    MetricType::Gauge);
  FamilyBuilder mem_ratio("proplet_task_memory_usage_ratio",
                          "Task RSS divided by host MemTotal.",
                          MetricType::Gauge);
  FamilyBuilder rd("proplet_task_disk_read_bytes_total",
                   "Bytes the task caused to be read from storage.",
                   MetricType::Counter);
  FamilyBuilder wr("proplet_task_disk_write_bytes_total",
                   "Bytes the task caused to be written to storage.",
                   MetricType::Counter);
  FamilyBuilder rx("proplet_task_network_receive_bytes_total",
                   "Bytes received in the task's own network namespace.",
                   MetricType::Counter);
  FamilyBuilder tx("proplet_task_network_transmit_bytes_total",
                   "Bytes transmitted in the task's own network namespace.",
                   MetricType::Counter);
  FamilyBuilder thr("proplet_task_threads", "Threads of the task's processes.",
                    MetricType::Gauge);
  FamilyBuilder fds("proplet_task_open_fds",
                    "Open file descriptors of the task's processes.",
                    MetricType::Gauge);
  FamilyBuilder maxfds("proplet_task_max_fds",
                       "Soft open-files limit of the task's root process.",
                       MetricType::Gauge);
  FamilyBuilder up("proplet_task_uptime_seconds",
                   "Seconds since the task's root process started.",
                   MetricType::Gauge);
  FamilyBuilder start("proplet_task_start_time_seconds",
                      "Unix time the task's root process started.",
                      MetricType::Gauge);
  FamilyBuilder procs("proplet_task_processes",
                      "Live processes in the task's process tree.",
                      MetricType::Gauge);
  FamilyBuilder gpu_mem("proplet_task_gpu_memory_bytes",
                        "GPU memory used by the task's processes (NVML).",
                        MetricType::Gauge);
  FamilyBuilder cpu_avg("proplet_task_cpu_usage_ratio_avg",
                        "Average CPU usage ratio over the retained history.",
                        MetricType::Gauge);
  FamilyBuilder cpu_max("proplet_task_cpu_usage_ratio_max",
                        "Maximum CPU usage ratio over the retained history.",
                        MetricType::Gauge);
  FamilyBuilder mem_avg("proplet_task_memory_bytes_avg",
                        "Average RSS over the retained history.",
                        MetricType::Gauge);
  FamilyBuilder mem_max("proplet_task_memory_bytes_max",
                        "Maximum RSS over the retained history.",
                        MetricType::Gauge);
  FamilyBuilder hist("proplet_task_history_samples",
                     "Samples in the task's retained history.",
                     MetricType::Gauge);
  FamilyBuilder tasks_state("propmon_exporter_tasks",
                            "Tasks known to the exporter, by state.",
                            MetricType::Gauge);

  long n_running = 0, n_ended = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    double now_mono = clock_->Monotonic();
    for (const auto& [id, ep] : tasks_) {
      const Entry& e = *ep;
      (e.state == TaskState::kRunning ? n_running : n_ended)++;
      if (!VisibleInMetrics(e, now_mono)) continue;
      Labels l = {{"task_id", e.spec.id}, {"proplet_id", options_.proplet_id}};
      Labels il = l;
      il.emplace_back("name", e.spec.name);
      il.emplace_back("profile", e.spec.profile.name);
      il.emplace_back("daemon", e.spec.daemon ? "true" : "false");
      info.Add(il, 1);
      running.Add(l, e.state == TaskState::kRunning ? 1 : 0);
      if (!e.last) continue;
      const TaskSample& s = *e.last;
      if (s.cpu_seconds) cpu_total.Add(l, *s.cpu_seconds);
      if (s.cpu_usage_ratio) cpu_ratio.Add(l, *s.cpu_usage_ratio);
      if (s.memory_bytes) mem.Add(l, static_cast<double>(*s.memory_bytes));
      if (s.memory_usage_ratio) mem_ratio.Add(l, *s.memory_usage_ratio);
      if (s.disk_read_bytes) rd.Add(l, static_cast<double>(*s.disk_read_bytes));
      if (s.disk_write_bytes)
        wr.Add(l, static_cast<double>(*s.disk_write_bytes));
      if (s.network_rx_bytes)
        rx.Add(l, static_cast<double>(*s.network_rx_bytes));
      if (s.network_tx_bytes)
        tx.Add(l, static_cast<double>(*s.network_tx_bytes));
      if (s.threads) thr.Add(l, static_cast<double>(*s.threads));
      if (s.open_fds) fds.Add(l, static_cast<double>(*s.open_fds));
      if (s.max_fds) maxfds.Add(l, static_cast<double>(*s.max_fds));
      if (s.uptime_seconds) up.Add(l, *s.uptime_seconds);
      if (s.start_time_seconds) start.Add(l, *s.start_time_seconds);
      procs.Add(l, s.processes);
      if (s.gpu_memory_bytes) {
        gpu_mem.Add(l, static_cast<double>(*s.gpu_memory_bytes));
      }
      if (e.spec.profile.KeepsHistory() && e.history.size() > 0) {
        Aggregates a = e.history.Aggregate();
        if (a.avg_cpu_usage_ratio) cpu_avg.Add(l, *a.avg_cpu_usage_ratio);
        if (a.max_cpu_usage_ratio) cpu_max.Add(l, *a.max_cpu_usage_ratio);
        if (a.avg_memory_bytes) mem_avg.Add(l, *a.avg_memory_bytes);
        if (a.max_memory_bytes) mem_max.Add(l, *a.max_memory_bytes);
        hist.Add(l, static_cast<double>(a.sample_count));
      }
    }
  }
  tasks_state.Add({{"state", "running"}}, static_cast<double>(n_running));
  tasks_state.Add({{"state", "ended"}}, static_cast<double>(n_ended));

  std::vector<prometheus::MetricFamily> out;
  for (FamilyBuilder* b :
       {&info,    &running, &cpu_total, &cpu_ratio, &mem,        &mem_ratio,
        &rd,      &wr,      &rx,        &tx,        &thr,        &fds,
        &maxfds,  &up,      &start,     &procs,     &gpu_mem,    &cpu_avg,
        &cpu_max, &mem_avg, &mem_max,   &hist,      &tasks_state}) {
    b->MoveTo(&out);
  }
  FamilyBuilder samples("propmon_exporter_task_samples_total",
                        "Task samples taken.", MetricType::Counter);
  samples.Add(Labels{}, static_cast<double>(samples_total_.load()));
  samples.MoveTo(&out);
  FamilyBuilder secs("propmon_exporter_task_collection_seconds_total",
                     "CPU seconds the exporter spent sampling tasks.",
                     MetricType::Counter);
  secs.Add(Labels{}, collection_seconds_total_.load());
  secs.MoveTo(&out);
  FamilyBuilder last(
      "propmon_exporter_task_collection_last_seconds",
      "CPU seconds of the last sampling pass that sampled tasks.",
      MetricType::Gauge);
  last.Add(Labels{}, last_pass_seconds_.load());
  last.MoveTo(&out);
  FamilyBuilder errs("propmon_exporter_errors_total",
                     "Errors met while sampling tasks, by reason.",
                     MetricType::Counter);
  errs.Add({{"reason", "process_vanished"}},
           static_cast<double>(err_vanished_.load()));
  errs.Add({{"reason", "read_failed"}}, static_cast<double>(err_read_.load()));
  errs.Add({{"reason", "parse_failed"}},
           static_cast<double>(err_parse_.load()));
  errs.MoveTo(&out);
  FamilyBuilder refused(
      "propmon_exporter_tasks_refused_total",
      "Task registrations refused (API, config discovery, run), by reason.",
      MetricType::Counter);
  refused.Add({{"reason", "max_tasks"}},
              static_cast<double>(refused_max_tasks_.load()));
  refused.Add({{"reason", "start_time_mismatch"}},
              static_cast<double>(refused_start_time_.load()));
  refused.MoveTo(&out);
  FamilyBuilder label_values("propmon_exporter_label_values_total",
                             label::Counts::kHelp, MetricType::Counter);
  labels_.ForEach([&](const char* source, const char* reason,
                      const char* action, double n) {
    label_values.Add(
        {{"source", source}, {"reason", reason}, {"action", action}}, n);
  });
  label_values.MoveTo(&out);
  FamilyBuilder max("propmon_exporter_tasks_max",
                    "Running tasks the exporter accepts at most (max_tasks).",
                    MetricType::Gauge);
  max.Add(Labels{}, static_cast<double>(options_.max_tasks));
  max.MoveTo(&out);
  return out;
}

}  // namespace propmon::exporter
