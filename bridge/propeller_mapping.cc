#include "bridge/propeller_mapping.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <tuple>

#include "bridge/label_sources.h"
#include "common/manager_json.h"

namespace propmon::bridge {
namespace {

struct FamilyDef {
  const char* name;
  const char* help;
  MetricType type;
};

// In TaskSeries order.
constexpr FamilyDef kTaskDefs[] = {
    {"proplet_task_cpu_usage_ratio",
     "CPU used by the task as its proplet reported it; 1.0 = one core.",
     MetricType::kGauge},
    {"proplet_task_memory_bytes",
     "Resident memory of the task as its proplet reported it.",
     MetricType::kGauge},
    {"proplet_task_memory_usage_ratio",
     "Task memory divided by host memory, as its proplet reported it.",
     MetricType::kGauge},
    {"proplet_task_disk_read_bytes_total",
     "Bytes the task read from storage, as its proplet reported it.",
     MetricType::kCounter},
    {"proplet_task_disk_write_bytes_total",
     "Bytes the task wrote to storage, as its proplet reported it.",
     MetricType::kCounter},
    {"proplet_task_network_receive_bytes_total",
     "Bytes the task received, as its proplet reported it.",
     MetricType::kCounter},
    {"proplet_task_network_transmit_bytes_total",
     "Bytes the task transmitted, as its proplet reported it.",
     MetricType::kCounter},
    {"proplet_task_threads", "Threads of the task.", MetricType::kGauge},
    {"proplet_task_open_fds", "Open file descriptors of the task.",
     MetricType::kGauge},
    {"proplet_task_uptime_seconds", "Seconds since the task started.",
     MetricType::kGauge},
    {"proplet_task_start_time_seconds",
     "Unix time the task started (message timestamp minus uptime).",
     MetricType::kGauge},
    {"proplet_task_running",
     "1 while the task reports metrics, 0 after its results arrived (until "
     "its series leave after the grace period).",
     MetricType::kGauge},
    {"proplet_task_cpu_usage_ratio_avg",
     "Average CPU usage ratio over the task's retained history.",
     MetricType::kGauge},
    {"proplet_task_cpu_usage_ratio_max",
     "Maximum CPU usage ratio over the task's retained history.",
     MetricType::kGauge},
    {"proplet_task_memory_bytes_avg",
     "Average memory over the task's retained history.", MetricType::kGauge},
    {"proplet_task_memory_bytes_max",
     "Maximum memory over the task's retained history.", MetricType::kGauge},
    {"proplet_task_history_samples", "Samples in the task's retained history.",
     MetricType::kGauge},
};

// In PropletSeries order.
constexpr FamilyDef kPropletDefs[] = {
    {"proplet_up",
     "1 if the proplet sent alive (or create) within the alive timeout, "
     "else 0.",
     MetricType::kGauge},
    {"proplet_last_seen_timestamp_seconds",
     "Unix time the bridge last received any message from the proplet.",
     MetricType::kGauge},
    {"proplet_info", "Proplet metadata from its create message; always 1.",
     MetricType::kGauge},
    {"proplet_tasks_completed_total",
     "Task results without an error received from the proplet since the "
     "bridge started.",
     MetricType::kCounter},
    {"proplet_tasks_failed_total",
     "Task results with an error received from the proplet since the bridge "
     "started.",
     MetricType::kCounter},
    {"proplet_cpu_usage_ratio",
     "Host-wide CPU usage reported by the proplet; 1.0 = one core.",
     MetricType::kGauge},
    {"proplet_cpu_user_seconds", "User CPU time of the proplet process.",
     MetricType::kGauge},
    {"proplet_cpu_system_seconds", "System CPU time of the proplet process.",
     MetricType::kGauge},
    {"proplet_memory_rss_bytes", "Resident memory of the proplet process.",
     MetricType::kGauge},
    {"proplet_memory_heap_alloc_bytes", "Heap bytes allocated by the proplet.",
     MetricType::kGauge},
    {"proplet_memory_heap_sys_bytes",
     "Heap bytes the proplet obtained from the system.", MetricType::kGauge},
    {"proplet_memory_heap_inuse_bytes", "Heap bytes in use by the proplet.",
     MetricType::kGauge},
    {"proplet_memory_heap_free_bytes",
     "Free heap bytes of an embedded proplet.", MetricType::kGauge},
    {"proplet_memory_heap_max_alloc_bytes",
     "Largest allocatable heap block of an embedded proplet.",
     MetricType::kGauge},
    {"proplet_memory_container_usage_bytes",
     "Memory usage of the proplet's container (cgroup).", MetricType::kGauge},
    {"proplet_memory_container_limit_bytes",
     "Memory limit of the proplet's container (cgroup).", MetricType::kGauge},
};

// Metadata keys of `create` that become proplet_info labels (a bounded set:
// other keys are ignored).
constexpr const char* kInfoKeys[] = {
    "os",       "cpu_arch", "proplet_version", "wasm_runtime", "environment",
    "hostname", "ip"};
constexpr size_t kInfoKeyCount = sizeof(kInfoKeys) / sizeof(kInfoKeys[0]);

std::optional<double> Ratio(const std::optional<double>& percent) {
  if (!percent) return std::nullopt;
  return *percent / 100.0;
}

// Gaps shorter than this are bursts (redelivery, several tasks at once), not
// the reporting interval.
constexpr double kMinGap = 0.05;
constexpr double kEwmaWeight = 0.3;

}  // namespace

std::vector<std::string> PropellerTopicFilters() {
  return {"m/+/c/+/control/proplet/#", "m/+/c/+/metrics/proplet"};
}

void PropellerMapping::Interval::Observe(double now) {
  if (last >= 0) {
    double gap = now - last;
    if (gap >= kMinGap) {
      ewma = ewma > 0 ? ewma + kEwmaWeight * (gap - ewma) : gap;
    }
  }
  last = now;
}

PropellerMapping::PropellerMapping(const PropellerOptions& options,
                                   SeriesStore* store,
                                   HistoryStore* task_history,
                                   HistoryStore* proplet_history,
                                   StreamHub* hub, const Clock* clock,
                                   label::Counts* labels)
    : options_(options),
      store_(store),
      task_history_(task_history),
      proplet_history_(proplet_history),
      hub_(hub),
      clock_(clock),
      labels_(labels) {
  mapping_ = store_->RegisterMapping(kMappingName);
  for (int i = 0; i < kTaskSeriesCount; ++i) {
    auto id = store_->RegisterFamily(kTaskDefs[i].name, kTaskDefs[i].help,
                                     kTaskDefs[i].type);
    if (!id.ok()) throw std::logic_error(id.status().message());
    task_families_[i] = *id;
    NameFamily(*id, kTaskDefs[i].name);
  }
  for (int i = 0; i < kPropletSeriesCount; ++i) {
    auto id = store_->RegisterFamily(kPropletDefs[i].name, kPropletDefs[i].help,
                                     kPropletDefs[i].type);
    if (!id.ok()) throw std::logic_error(id.status().message());
    proplet_families_[i] = *id;
    NameFamily(*id, kPropletDefs[i].name);
  }
}

std::string PropellerMapping::Key(std::string_view a, std::string_view b,
                                  std::string_view c) {
  std::string k;
  k.reserve(a.size() + b.size() + c.size() + 2);
  k.append(a);
  k.push_back('\0');
  k.append(b);
  k.push_back('\0');
  k.append(c);
  return k;
}

double PropellerMapping::Ttl(const Interval& i) const {
  return std::max(options_.expiry_min_seconds,
                  options_.expiry_intervals * i.ewma);
}

double PropellerMapping::PresenceTtl(const PropletEntity& p) const {
  double interval = std::max(p.alive_interval.ewma, p.metrics_interval.ewma);
  return std::max(options_.expiry_min_seconds,
                  options_.expiry_intervals * interval);
}

void PropellerMapping::Put(SeriesStore::Writer& w, SeriesRef* ref,
                           FamilyId family, std::span<const Label> labels,
                           const std::optional<double>& v, double ttl) {
  if (!v) {
    if (!ref->empty()) {
      w.Remove(*ref);
      *ref = SeriesRef();
    }
    return;
  }
  if (why_ != nullptr) why_->AddSeries(family_names_[family], labels, *v);
  if (w.Update(*ref, *v, ttl)) return;
  if (w.Set(family, labels, *v, ttl, mapping_, ref) == SetOutcome::kRefused) {
    refused_ = true;
  }
}

PropellerMapping::PropletEntity* PropellerMapping::FindOrAddProplet(
    std::string_view domain, std::string_view channel,
    std::string_view proplet_id, double receive_time, double receive_mono) {
  key_.clear();
  key_.append(domain).push_back('\0');
  key_.append(channel).push_back('\0');
  key_.append(proplet_id);
  auto [it, inserted] = proplets_.try_emplace(key_);
  PropletEntity* p = &it->second;
  if (inserted) {
    p->domain = std::string(domain);
    p->channel = std::string(channel);
    p->proplet_id = std::string(proplet_id);
    p->first_seen_mono = receive_mono;
    p->last_seen_mono = receive_mono;
    p->last_seen_wall = receive_time;
  }
  return p;
}

void PropellerMapping::SeeProplet(SeriesStore::Writer& w, PropletEntity* p,
                                  double receive_time, double receive_mono) {
  p->last_seen_mono = std::max(p->last_seen_mono, receive_mono);
  p->last_seen_wall = std::max(p->last_seen_wall, receive_time);
  WritePresence(w, p);
}

void PropellerMapping::WritePresence(SeriesStore::Writer& w, PropletEntity* p) {
  double ttl = p->last_seen_mono + PresenceTtl(*p) - w.now();
  if (ttl <= 0) ttl = 1e-3;
  const Label labels[] = {{"domain", p->domain},
                          {"channel", p->channel},
                          {"proplet_id", p->proplet_id}};
  Put(w, &p->refs[kLastSeen], proplet_families_[kLastSeen], labels,
      p->last_seen_wall, ttl);
  Put(w, &p->refs[kCompleted], proplet_families_[kCompleted], labels,
      p->completed, ttl);
  Put(w, &p->refs[kFailed], proplet_families_[kFailed], labels, p->failed, ttl);
  if (!p->refs[kUp].empty()) w.Touch(p->refs[kUp], ttl);
  if (p->has_info && !w.Touch(p->refs[kInfo], ttl)) {
    std::vector<Label> info(std::begin(labels), std::end(labels));
    if (!p->namespace_name.empty()) {
      info.push_back({"namespace", p->namespace_name});
    }
    for (size_t i = 0; i < kInfoKeyCount; ++i) {
      if (!p->info_values[i].empty()) {
        info.push_back({kInfoKeys[i], p->info_values[i]});
      }
    }
    Put(w, &p->refs[kInfo], proplet_families_[kInfo], info, 1.0, ttl);
  }
}

void PropellerMapping::WriteUp(SeriesStore::Writer& w, PropletEntity* p) {
  double now = w.now();
  if (!p->has_alive &&
      now - p->first_seen_mono < options_.alive_timeout_seconds) {
    return;  // give a proplet seen first through other messages time to
             // send its alive before calling it down
  }
  double up =
      p->has_alive && now - p->last_alive_mono <= options_.alive_timeout_seconds
          ? 1.0
          : 0.0;
  if (w.SetValue(p->refs[kUp], up)) return;
  double ttl = p->last_seen_mono + PresenceTtl(*p) - now;
  if (ttl <= 0) ttl = 1e-3;
  const Label labels[] = {{"domain", p->domain},
                          {"channel", p->channel},
                          {"proplet_id", p->proplet_id}};
  Put(w, &p->refs[kUp], proplet_families_[kUp], labels, up, ttl);
}

void PropellerMapping::RemoveTaskSeries(SeriesStore::Writer& w, TaskEntity* t) {
  for (SeriesRef& r : t->refs) {
    if (!r.empty()) w.Remove(r);
    r = SeriesRef();
  }
}

void PropellerMapping::RemovePropletSeries(SeriesStore::Writer& w,
                                           PropletEntity* p) {
  for (SeriesRef& r : p->refs) {
    if (!r.empty()) w.Remove(r);
    r = SeriesRef();
  }
}

PropellerMapping::TaskEntity* PropellerMapping::ApplyTaskMetrics(
    SeriesStore::Writer& w, const payload::Decoded& d,
    const payload::TaskMetrics& m, double receive_time, double receive_mono) {
  key_.clear();
  key_.append(d.domain).push_back('\0');
  key_.append(d.channel).push_back('\0');
  key_.append(m.task_id);
  auto [it, inserted] = tasks_.try_emplace(key_);
  TaskEntity& t = it->second;
  if (inserted) {
    t.domain = d.domain;
    t.channel = d.channel;
    t.task_id = m.task_id;
    t.proplet_id = m.proplet_id;
  } else if (t.proplet_id != m.proplet_id) {
    // The task moved to another proplet: its old series go.
    RemoveTaskSeries(w, &t);
    t.proplet_id = m.proplet_id;
    t.has_start_time = false;
    t.interval = Interval();
    t.gaps.Reset();
  }
  t.interval.Observe(receive_mono);
  t.ttl = Ttl(t.interval);
  t.ended = false;
  const double ttl = t.ttl;
  const Label labels[] = {{"domain", t.domain},
                          {"channel", t.channel},
                          {"proplet_id", t.proplet_id},
                          {"task_id", t.task_id}};
  const payload::ProcessMetrics& p = m.metrics;
  auto put = [&](TaskSeries s, const std::optional<double>& v) {
    Put(w, &t.refs[s], task_families_[s], labels, v, ttl);
  };
  put(kTaskCpu, Ratio(p.cpu_percent));
  put(kTaskMem, p.memory_bytes);
  put(kTaskMemRatio, Ratio(p.memory_percent));
  put(kTaskDiskRead, p.disk_read_bytes);
  put(kTaskDiskWrite, p.disk_write_bytes);
  put(kTaskNetRx, p.network_rx_bytes);
  put(kTaskNetTx, p.network_tx_bytes);
  put(kTaskThreads, p.thread_count);
  put(kTaskFds, p.file_descriptor_count);
  put(kTaskUptime, p.uptime_seconds);
  if (p.uptime_seconds) {
    double start = m.timestamp - *p.uptime_seconds;
    if (!t.has_start_time || std::fabs(start - t.start_time) >
                                 options_.start_time_tolerance_seconds) {
      if (t.has_start_time) t.gaps.Reset();  // restarted: a new series
      t.start_time = start;
      t.has_start_time = true;
    }
    put(kTaskStart, t.start_time);
  } else {
    t.has_start_time = false;
    put(kTaskStart, std::nullopt);
  }
  put(kTaskRunning, 1.0);
  if (m.aggregated) {
    const payload::AggregatedMetrics& a = *m.aggregated;
    put(kTaskCpuAvg, Ratio(a.avg_cpu_usage));
    put(kTaskCpuMax, Ratio(a.max_cpu_usage));
    put(kTaskMemAvg, a.avg_memory_usage);
    put(kTaskMemMax, a.max_memory_usage);
    put(kTaskSamples, a.sample_count);
  } else {
    for (TaskSeries s :
         {kTaskCpuAvg, kTaskCpuMax, kTaskMemAvg, kTaskMemMax, kTaskSamples}) {
      put(s, std::nullopt);
    }
  }
  PropletEntity* pe = t.proplet;
  if (pe == nullptr || t.proplet_epoch != proplet_epoch_ ||
      pe->proplet_id != t.proplet_id) {
    pe = FindOrAddProplet(d.domain, d.channel, m.proplet_id, receive_time,
                          receive_mono);
    t.proplet = pe;
    t.proplet_epoch = proplet_epoch_;
  }
  // Loss detection from the proplet's own sample timestamps.
  if (d.timestamp_source == payload::TimestampSource::kRfc3339 ||
      d.timestamp_source == payload::TimestampSource::kSystemTime) {
    SampleGapTracker::Result r = t.gaps.Observe(m.timestamp);
    // Every (domain, channel) with timestamped samples has its counters,
    // from 0. (A task restart resets the tracker above; a proplet's create
    // is no sign of a restart: publishers send it on every reconnect.)
    if (t.gap_count == nullptr) t.gap_count = GapCountFor(t);
    t.gap_count->missed += r.missed;
    t.gap_count->duplicates += r.duplicate ? 1 : 0;
  }
  SeeProplet(w, pe, receive_time, receive_mono);
  WriteUp(w, pe);
  return &t;
}

PropellerMapping::SampleGapCount* PropellerMapping::GapCountFor(
    const TaskEntity& t) {
  key_.clear();
  key_.append(t.domain).push_back('\0');
  key_.append(t.channel);
  auto it = gap_counts_.find(key_);
  if (it == gap_counts_.end()) {
    if (gap_counts_.size() >= kMaxGapKeys) {
      key_.clear();
      key_.push_back('\0');  // the overflow bucket, domain="" channel=""
    }
    it = gap_counts_.try_emplace(key_).first;
    if (key_.size() > 1) {
      it->second.domain = t.domain;
      it->second.channel = t.channel;
    }
  }
  return &it->second;
}

std::vector<PropellerMapping::SampleGapCount> PropellerMapping::SampleGaps()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SampleGapCount> out;
  out.reserve(gap_counts_.size());
  for (const auto& [k, v] : gap_counts_) out.push_back(v);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.domain != b.domain ? a.domain < b.domain : a.channel < b.channel;
  });
  return out;
}

PropellerMapping::PropletEntity* PropellerMapping::ApplyPropletMetrics(
    SeriesStore::Writer& w, const payload::Decoded& d,
    const payload::PropletMetrics& m, double receive_time,
    double receive_mono) {
  PropletEntity* p = FindOrAddProplet(d.domain, d.channel, m.proplet_id,
                                      receive_time, receive_mono);
  if (!m.namespace_name.empty()) p->namespace_name = m.namespace_name;
  p->metrics_interval.Observe(receive_mono);
  const double ttl = Ttl(p->metrics_interval);
  const Label labels[] = {{"domain", p->domain},
                          {"channel", p->channel},
                          {"proplet_id", p->proplet_id}};
  auto put = [&](PropletSeries s, const std::optional<double>& v) {
    Put(w, &p->refs[s], proplet_families_[s], labels, v, ttl);
  };
  put(kCpuRatio, Ratio(m.cpu.percent));
  put(kCpuUser, m.cpu.user_seconds);
  put(kCpuSystem, m.cpu.system_seconds);
  put(kRss, m.memory.rss_bytes);
  put(kHeapAlloc, m.memory.heap_alloc_bytes);
  put(kHeapSys, m.memory.heap_sys_bytes);
  put(kHeapInuse, m.memory.heap_inuse_bytes);
  put(kHeapFree, m.memory.heap_free_bytes);
  put(kHeapMaxAlloc, m.memory.heap_max_alloc_bytes);
  put(kContainerUsage, m.memory.container_usage_bytes);
  put(kContainerLimit, m.memory.container_limit_bytes);
  SeeProplet(w, p, receive_time, receive_mono);
  WriteUp(w, p);
  return p;
}

void PropellerMapping::ApplyAlive(SeriesStore::Writer& w,
                                  const payload::Decoded& d,
                                  const payload::Alive& m, double receive_time,
                                  double receive_mono) {
  PropletEntity* p = FindOrAddProplet(d.domain, d.channel, m.proplet_id,
                                      receive_time, receive_mono);
  if (!m.namespace_name.empty()) p->namespace_name = m.namespace_name;
  // Propeller's manager counts any heartbeat whose status is "alive".
  if (m.status.empty() || m.status == "alive") {
    p->alive_interval.Observe(receive_mono);
    p->has_alive = true;
    p->last_alive_mono = std::max(p->last_alive_mono, receive_mono);
    p->last_alive_wall = std::max(p->last_alive_wall, receive_time);
  }
  SeeProplet(w, p, receive_time, receive_mono);
  WriteUp(w, p);
}

void PropellerMapping::ApplyCreate(SeriesStore::Writer& w,
                                   const payload::Decoded& d,
                                   const payload::Create& m,
                                   double receive_time, double receive_mono) {
  PropletEntity* p = FindOrAddProplet(d.domain, d.channel, m.proplet_id,
                                      receive_time, receive_mono);
  std::string old_namespace = p->namespace_name;
  if (!m.namespace_name.empty()) p->namespace_name = m.namespace_name;
  std::vector<std::string> values(kInfoKeyCount);
  for (size_t i = 0; i < kInfoKeyCount; ++i) {
    auto v = m.FindText(kInfoKeys[i]);
    if (!v) continue;
    // Descriptive: repaired, never dropped (common/label.h).
    label::RepairCounted(labels_, kLabelPayload, &*v);
    values[i] = std::move(*v);
  }
  if (p->has_info &&
      (values != p->info_values || old_namespace != p->namespace_name)) {
    // New metadata: the old info series goes, a new one is written below.
    if (!p->refs[kInfo].empty()) w.Remove(p->refs[kInfo]);
    p->refs[kInfo] = SeriesRef();
  }
  p->info_values = std::move(values);
  p->has_info = true;
  // The manager marks a proplet alive when it announces itself.
  p->has_alive = true;
  p->last_alive_mono = std::max(p->last_alive_mono, receive_mono);
  p->last_alive_wall = std::max(p->last_alive_wall, receive_time);
  SeeProplet(w, p, receive_time, receive_mono);
  WriteUp(w, p);
}

std::string PropellerMapping::ApplyResults(SeriesStore::Writer& w,
                                           const payload::Decoded& d,
                                           const payload::Results& m,
                                           double receive_time,
                                           double receive_mono) {
  key_.clear();
  key_.append(d.domain).push_back('\0');
  key_.append(d.channel).push_back('\0');
  key_.append(m.task_id);
  auto it = tasks_.find(key_);
  TaskEntity* t = it == tasks_.end() ? nullptr : &it->second;
  std::string proplet_id;
  if (m.proplet_id && !m.proplet_id->empty()) {
    proplet_id = *m.proplet_id;
  } else if (t != nullptr) {
    proplet_id = t->proplet_id;
  }
  if (proplet_id.empty()) return proplet_id;
  if (t != nullptr && t->proplet_id == proplet_id) {
    t->ended = true;
    t->ended_mono = receive_mono;
    const double grace = options_.finished_grace_seconds;
    const Label labels[] = {{"domain", t->domain},
                            {"channel", t->channel},
                            {"proplet_id", t->proplet_id},
                            {"task_id", t->task_id}};
    Put(w, &t->refs[kTaskRunning], task_families_[kTaskRunning], labels, 0.0,
        grace);
    for (SeriesRef& r : t->refs) {
      if (!r.empty()) w.Touch(r, grace);
    }
  }
  PropletEntity* p = FindOrAddProplet(d.domain, d.channel, proplet_id,
                                      receive_time, receive_mono);
  // Propeller's manager: a non-empty error string means the task failed.
  if (m.error && !m.error->empty()) {
    p->failed += 1;
  } else {
    p->completed += 1;
  }
  SeeProplet(w, p, receive_time, receive_mono);
  WriteUp(w, p);
  return proplet_id;
}

PropellerMapping::Outcome PropellerMapping::Apply(
    const payload::Decoded& d, std::string_view topic, double receive_time,
    double receive_mono, std::string* payload, Explanation* why) {
  refused_ = false;
  why_ = why;
  bool unattributed = false;
  std::string_view task_id;
  std::string_view proplet_id;
  std::string resolved;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SeriesStore::Writer w = store_->Write();
    if (const auto* tm = d.As<payload::TaskMetrics>()) {
      TaskEntity* t = ApplyTaskMetrics(w, d, *tm, receive_time, receive_mono);
      task_id = tm->task_id;
      proplet_id = tm->proplet_id;
      if (payload != nullptr && task_history_ != nullptr) {
        task_history_->Append(tm->task_id, receive_time, std::move(*payload),
                              &t->history);
      }
    } else if (const auto* pm = d.As<payload::PropletMetrics>()) {
      PropletEntity* p =
          ApplyPropletMetrics(w, d, *pm, receive_time, receive_mono);
      proplet_id = pm->proplet_id;
      if (payload != nullptr && proplet_history_ != nullptr) {
        proplet_history_->Append(pm->proplet_id, receive_time,
                                 std::move(*payload), &p->history);
      }
    } else if (const auto* al = d.As<payload::Alive>()) {
      ApplyAlive(w, d, *al, receive_time, receive_mono);
      proplet_id = al->proplet_id;
    } else if (const auto* cr = d.As<payload::Create>()) {
      ApplyCreate(w, d, *cr, receive_time, receive_mono);
      proplet_id = cr->proplet_id;
    } else if (const auto* rs = d.As<payload::Results>()) {
      resolved = ApplyResults(w, d, *rs, receive_time, receive_mono);
      unattributed = resolved.empty();
      task_id = rs->task_id;
      proplet_id = resolved;
    }
  }
  why_ = nullptr;
  PublishEvent(d, topic, receive_time, task_id, proplet_id);
  if (refused_) return Outcome::kCardinalityLimit;
  if (unattributed) return Outcome::kUnattributed;
  return Outcome::kOk;
}

void PropellerMapping::PublishEvent(const payload::Decoded& d,
                                    std::string_view topic, double receive_time,
                                    std::string_view task_id,
                                    std::string_view proplet_id) {
  if (hub_ == nullptr || !hub_->HasClients()) return;
  std::string data = "{\"topic\":";
  AppendGoJsonString(&data, topic);
  data += ",\"kind\":\"";
  data += payload::KindName(d.kind);
  data += "\",\"domain\":";
  AppendGoJsonString(&data, d.domain);
  data += ",\"channel\":";
  AppendGoJsonString(&data, d.channel);
  data += ",\"received_at\":\"";
  data += payload::FormatRfc3339(receive_time);
  data += "\",\"message\":";
  std::visit([&](const auto& msg) { payload::AppendJson(msg, &data); },
             d.message);
  data += "}";
  hub_->Publish(payload::KindName(d.kind), task_id, proplet_id, data);
}

void PropellerMapping::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  SeriesStore::Writer w = store_->Write();
  const double now = w.now();
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    TaskEntity& t = it->second;
    bool gone = t.ended ? now >= t.ended_mono + options_.finished_grace_seconds
                        : now >= t.interval.last + t.ttl;
    if (gone) {
      RemoveTaskSeries(w, &t);
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = proplets_.begin(); it != proplets_.end();) {
    PropletEntity& p = it->second;
    if (now >= p.last_seen_mono + PresenceTtl(p)) {
      RemovePropletSeries(w, &p);
      ++proplet_epoch_;  // task entities may point at it
      it = proplets_.erase(it);
      continue;
    }
    WriteUp(w, &p);
    ++it;
  }
}

std::vector<PropellerMapping::PropletSummary> PropellerMapping::Proplets()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = clock_->Monotonic();
  std::unordered_map<std::string, std::vector<std::string>> running;
  for (const auto& [key, t] : tasks_) {
    if (t.ended) continue;
    running[Key(t.domain, t.channel, t.proplet_id)].push_back(t.task_id);
  }
  std::vector<PropletSummary> out;
  out.reserve(proplets_.size());
  for (const auto& [key, p] : proplets_) {
    PropletSummary s;
    s.id = p.proplet_id;
    s.namespace_name = p.namespace_name;
    s.domain = p.domain;
    s.channel = p.channel;
    s.alive = p.has_alive &&
              now - p.last_alive_mono <= options_.alive_timeout_seconds;
    s.last_seen = p.last_seen_wall;
    s.last_alive = p.has_alive ? p.last_alive_wall : 0;
    auto r = running.find(key);
    if (r != running.end()) {
      s.running_tasks = std::move(r->second);
      std::sort(s.running_tasks.begin(), s.running_tasks.end());
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const PropletSummary& a, const PropletSummary& b) {
              return std::tie(a.id, a.domain, a.channel) <
                     std::tie(b.id, b.domain, b.channel);
            });
  return out;
}

std::size_t PropellerMapping::tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

}  // namespace propmon::bridge
