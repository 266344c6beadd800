// PropellerMapping: the built-in, zero-configuration translation of
// Propeller's MQTT messages (SPEC §1, decoded by common/payload.h) into the
// series of SPEC §2, written into the generic SeriesStore under the mapping
// name "propeller". It also feeds the manager-compatible history (REST: the
// payloads as received), the live stream (SSE) and the proplet registry
// (GET /api/v1/proplets).
//
// Expressed in the generic model of bridge/mapping_spec.h: topic filters
// m/+/c/+/control/proplet/# and m/+/c/+/metrics/proplet, topic groups
// domain and channel as labels, JSON fields as metrics labelled by the
// message's ids, per-entity expiry. What stays special here is behaviour no
// plain mapping has: proplet_up from `alive` with a timeout, completed/failed
// counters from `results`, the running flag and the finished-task grace.
//
// Semantics (docs/bridge.md has the long form):
// - Task series: labels domain, channel, proplet_id, task_id. A task is
//   keyed by (domain, channel, task_id); when it shows up under another
//   proplet its old series are removed.
// - A figure absent from a message removes its series (absent, never a stale
//   or invented value).
// - Expiry: a task or proplet that stops reporting loses its series after
//   max(expiry_min, expiry_intervals x its observed interval); before a
//   second message shows the interval, expiry_min. After `results`, a task
//   keeps its series (running 0) for finished_grace, then they go.
// - proplet_up is 1 while an alive (or create) message was seen within
//   alive_timeout, else 0; it appears with the first alive/create, or as 0
//   once alive_timeout passed without one.
//
// Thread-safety: Apply() and Tick() are called by one thread (the worker);
// Proplets() may be called from any thread.
#ifndef PROPMON_BRIDGE_PROPELLER_MAPPING_H_
#define PROPMON_BRIDGE_PROPELLER_MAPPING_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bridge/explanation.h"
#include "bridge/history.h"
#include "bridge/sample_gaps.h"
#include "bridge/series_store.h"
#include "bridge/stream_hub.h"
#include "common/clock.h"
#include "common/label.h"
#include "common/payload.h"

namespace propmon::bridge {

struct PropellerOptions {
  double expiry_min_seconds = 30;
  double expiry_intervals = 3;
  double alive_timeout_seconds = 10;
  double finished_grace_seconds = 60;
  // proplet_task_start_time_seconds = timestamp - uptime; changes smaller
  // than this are jitter (uptime in whole seconds), not a restart.
  double start_time_tolerance_seconds = 2;
};

// The MQTT topic filters of the built-in mapping.
std::vector<std::string> PropellerTopicFilters();

class PropellerMapping {
 public:
  static constexpr char kMappingName[] = "propeller";

  enum class Outcome {
    kOk,
    kCardinalityLimit,  // at least one new series was refused
    kUnattributed,      // results without proplet_id for an unknown task
  };

  // All pointers must outlive the mapping; the histories, `hub` and
  // `labels` may be null. `labels` counts the proplet_info values repaired
  // (source kLabelPayload, bridge/label_sources.h). Registers the
  // mapping's families in `store` (their names are fixed, so this cannot
  // fail unless another mapping registered one with another type first,
  // which throws std::logic_error at startup).
  PropellerMapping(const PropellerOptions& options, SeriesStore* store,
                   HistoryStore* task_history, HistoryStore* proplet_history,
                   StreamHub* hub, const Clock* clock,
                   label::Counts* labels = nullptr);

  // Applies one decoded message. `topic` is the MQTT topic (for the stream),
  // `receive_time` Unix seconds and `receive_mono` monotonic seconds of its
  // arrival. `payload` (the message as received) is moved into the REST
  // history for task and proplet metrics when given. Every series written
  // is listed in `why` when given (`propmon-bridge check`, the debug API).
  Outcome Apply(const payload::Decoded& d, std::string_view topic,
                double receive_time, double receive_mono,
                std::string* payload = nullptr, Explanation* why = nullptr);

  // Time-driven changes: proplet_up timeouts, finished tasks past their
  // grace, silent tasks and proplets past their expiry. Call about once a
  // second, before SeriesStore::ExpireNow().
  void Tick();

  struct PropletSummary {
    std::string id;
    std::string namespace_name;
    std::string domain;
    std::string channel;
    bool alive = false;
    double last_seen = 0;   // Unix seconds, any message
    double last_alive = 0;  // Unix seconds of the last alive/create; 0: none
    std::vector<std::string> running_tasks;
  };
  std::vector<PropletSummary> Proplets() const;

  // Samples that never arrived, learned from the timestamps of each task's
  // task_metrics (bridge/sample_gaps.h), and QoS 1 redeliveries, per domain
  // and channel. Only payload timestamps count (RFC 3339 or Rust's
  // SystemTime form), never receive times, and a gap across a task restart
  // (a new start time) is not a loss.
  struct SampleGapCount {
    std::string domain, channel;
    double missed = 0;
    double duplicates = 0;
  };
  std::vector<SampleGapCount> SampleGaps() const;

  std::size_t tasks() const;
  MappingId mapping_id() const { return mapping_; }

 private:
  enum TaskSeries {
    kTaskCpu,
    kTaskMem,
    kTaskMemRatio,
    kTaskDiskRead,
    kTaskDiskWrite,
    kTaskNetRx,
    kTaskNetTx,
    kTaskThreads,
    kTaskFds,
    kTaskUptime,
    kTaskStart,
    kTaskRunning,
    kTaskCpuAvg,
    kTaskCpuMax,
    kTaskMemAvg,
    kTaskMemMax,
    kTaskSamples,
    kTaskSeriesCount
  };
  enum PropletSeries {
    kUp,
    kLastSeen,
    kInfo,
    kCompleted,
    kFailed,
    kCpuRatio,
    kCpuUser,
    kCpuSystem,
    kRss,
    kHeapAlloc,
    kHeapSys,
    kHeapInuse,
    kHeapFree,
    kHeapMaxAlloc,
    kContainerUsage,
    kContainerLimit,
    kPropletSeriesCount
  };
  // Series of a proplet that live as long as the proplet is present.
  static constexpr int kPresenceSeriesEnd = kCpuRatio;

  struct Interval {
    double last = -1;  // monotonic time of the last message; -1: none
    double ewma = 0;   // smoothed gap; 0: not observed yet
    void Observe(double now);
  };

  struct PropletEntity;
  struct TaskEntity {
    std::string domain, channel, task_id, proplet_id;
    Interval interval;
    SampleGapTracker gaps;
    SampleGapCount* gap_count = nullptr;  // in gap_counts_, set on first use
    double ttl = 0;
    bool ended = false;
    double ended_mono = 0;
    double start_time = 0;
    bool has_start_time = false;
    std::array<SeriesRef, kTaskSeriesCount> refs;
    HistoryStore::Hint history;
    // The task's proplet, valid while proplet_epoch == proplet_epoch_.
    PropletEntity* proplet = nullptr;
    std::uint64_t proplet_epoch = 0;
  };

  struct PropletEntity {
    std::string domain, channel, proplet_id, namespace_name;
    double first_seen_mono = 0;
    double last_seen_mono = 0;
    double last_seen_wall = 0;
    double last_alive_mono = 0;
    double last_alive_wall = 0;
    bool has_alive = false;
    Interval alive_interval;
    Interval metrics_interval;
    double completed = 0;
    double failed = 0;
    std::vector<std::string> info_values;  // in kInfoKeys order; "" = absent
    bool has_info = false;
    std::array<SeriesRef, kPropletSeriesCount> refs;
    HistoryStore::Hint history;
  };

  double Ttl(const Interval& i) const;
  double PresenceTtl(const PropletEntity& p) const;
  // Writes one figure: absent removes the series.
  void NameFamily(FamilyId id, const char* name) {
    if (family_names_.size() <= id) family_names_.resize(id + 1);
    family_names_[id] = name;
  }
  void Put(SeriesStore::Writer& w, SeriesRef* ref, FamilyId family,
           std::span<const Label> labels, const std::optional<double>& v,
           double ttl);
  PropletEntity* FindOrAddProplet(std::string_view domain,
                                  std::string_view channel,
                                  std::string_view proplet_id,
                                  double receive_time, double receive_mono);
  // Refreshes presence (last seen) of a proplet and its presence series.
  void SeeProplet(SeriesStore::Writer& w, PropletEntity* p, double receive_time,
                  double receive_mono);
  void WritePresence(SeriesStore::Writer& w, PropletEntity* p);
  void WriteUp(SeriesStore::Writer& w, PropletEntity* p);
  void RemoveTaskSeries(SeriesStore::Writer& w, TaskEntity* t);
  void RemovePropletSeries(SeriesStore::Writer& w, PropletEntity* p);

  // These return the entity whose history the payload goes to.
  TaskEntity* ApplyTaskMetrics(SeriesStore::Writer& w,
                               const payload::Decoded& d,
                               const payload::TaskMetrics& m,
                               double receive_time, double receive_mono);
  PropletEntity* ApplyPropletMetrics(SeriesStore::Writer& w,
                                     const payload::Decoded& d,
                                     const payload::PropletMetrics& m,
                                     double receive_time, double receive_mono);
  void ApplyAlive(SeriesStore::Writer& w, const payload::Decoded& d,
                  const payload::Alive& m, double receive_time,
                  double receive_mono);
  void ApplyCreate(SeriesStore::Writer& w, const payload::Decoded& d,
                   const payload::Create& m, double receive_time,
                   double receive_mono);
  // Returns the proplet the result was attributed to ("" if none).
  std::string ApplyResults(SeriesStore::Writer& w, const payload::Decoded& d,
                           const payload::Results& m, double receive_time,
                           double receive_mono);
  void PublishEvent(const payload::Decoded& d, std::string_view topic,
                    double receive_time, std::string_view task_id,
                    std::string_view proplet_id);

  static std::string Key(std::string_view a, std::string_view b,
                         std::string_view c);

  const PropellerOptions options_;
  SeriesStore* store_;
  HistoryStore* task_history_;
  HistoryStore* proplet_history_;
  StreamHub* hub_;
  const Clock* clock_;
  label::Counts* labels_;
  MappingId mapping_;
  std::array<FamilyId, kTaskSeriesCount> task_families_{};
  std::array<FamilyId, kPropletSeriesCount> proplet_families_{};

  mutable std::mutex mu_;  // guards the entity maps (Proplets() reads them)
  std::unordered_map<std::string, TaskEntity> tasks_;
  std::unordered_map<std::string, PropletEntity> proplets_;
  // (domain, channel) -> counts; at most kMaxGapKeys keys, then ("", "").
  static constexpr std::size_t kMaxGapKeys = 10000;
  std::unordered_map<std::string, SampleGapCount> gap_counts_;
  // The counts of the task's (domain, channel); entries are never erased,
  // so the pointer stays valid (unordered_map keeps element addresses).
  SampleGapCount* GapCountFor(const TaskEntity& t);
  bool refused_ = false;                   // set by Put during one Apply
  Explanation* why_ = nullptr;             // set during one Apply
  std::vector<std::string> family_names_;  // by FamilyId
  std::uint64_t proplet_epoch_ = 1;  // bumped whenever a proplet is erased
  std::string key_;                  // reused lookup key
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_PROPELLER_MAPPING_H_
