// DeviceMapping: a configurable mapping (MappingSpec) applied to messages
// from any MQTT device: the native `mappings:` section and mqtt2prometheus
// config files both end up here.
//
// Apply() turns one message into series in the SeriesStore:
// 1. topic: the topic regex's named groups (topic_mismatch when it does not
//    match and the spec requires it);
// 2. payload: JSON (json payloads; invalid_json when it is not), or a bare
//    value (value payloads: a JSON scalar, else the trimmed text);
// 3. each metric: its `when` conditions, then every value its path finds
//    (`*` fans out), converted to a number (numbers; booleans 1/0; strings
//    by value_map, else parsed as a number, else error_value, else the field
//    is rejected), labels, timestamp, force_monotonic, scale, offset;
// 4. the series are written in one batch. One bad field never drops the
//    others; a message that yields no series at all is rejected
//    (no_metrics, or cardinality_limit when the series limit refused all).
// Every rejection is counted in counters() by a fixed reason, and explained
// in the Explanation when one is passed.
//
// Thread-safety: Apply(), Tick() and SaveState() from one thread (the
// worker); counters() from any thread.
#ifndef PROPMON_BRIDGE_DEVICE_MAPPING_H_
#define PROPMON_BRIDGE_DEVICE_MAPPING_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bridge/explanation.h"
#include "bridge/mapping_spec.h"
#include "bridge/series_store.h"
#include "common/label.h"
#include "common/status.h"

namespace propmon::bridge {

class DeviceMapping {
 public:
  // Message-level rejection reasons (propmon_bridge_mapping_messages_
  // rejected_total{reason}).
  enum MessageReason {
    kInvalidJson,
    kTooLarge,
    kTopicMismatch,
    kNoMetrics,
    kCardinalityLimit,
    kMessageReasonCount
  };
  // Field-level reasons (propmon_bridge_mapping_fields_rejected_total).
  enum FieldReason {
    kAbsent,        // the value path found nothing
    kWrongType,     // an object, array or null where a value was expected
    kNotANumber,    // a string not in value_map and not a number
    kLabelAbsent,   // a label path found nothing (or an object/array)
    kBadTimestamp,  // the timestamp path's value is not a time
    kInvalidName,   // a ${group} metric name that is not a valid name
    kTypeConflict,  // the name is registered with another type
    kSeriesLimit,   // the series limit refused the new series
    kFieldReasonCount
  };
  static const char* MessageReasonName(MessageReason r);
  static const char* FieldReasonName(FieldReason r);

  // Registers the mapping (and its fixed-name families) in `store`; loads
  // saved force_monotonic state from spec.state_directory. Errors: a family
  // name registered by another mapping with another type. Label values from
  // the topic and the payload are repaired (common/label.h) and counted in
  // `labels` when it is not null (bridge/label_sources.h).
  static StatusOr<std::unique_ptr<DeviceMapping>> Create(
      MappingSpec spec, SeriesStore* store, label::Counts* labels = nullptr);
  ~DeviceMapping();

  const MappingSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  MappingId id() const { return id_; }
  MappingCounters& counters() { return counters_; }
  const MappingCounters& counters() const { return counters_; }
  // True when one of the spec's topic filters matches `topic`.
  bool MatchesTopic(std::string_view topic) const;

  struct Result {
    bool accepted = false;  // at least one series written
    std::size_t series = 0;
    MessageReason rejected = kMessageReasonCount;  // when not accepted
  };
  // Applies one message received at `receive_time` (Unix seconds).
  Result Apply(std::string_view topic, std::string_view payload,
               double receive_time, Explanation* why = nullptr);
  // A message that was not copied because it was over the size limit.
  Result RejectOversize(std::string_view topic, std::size_t bytes,
                        std::size_t limit, double receive_time,
                        Explanation* why = nullptr);

  // Drops the force_monotonic state of series that expired, and saves the
  // state when it changed and a minute passed since the last save (call
  // about once a second). `now` is the store clock's monotonic seconds.
  void Tick(double now);
  // How many series have force_monotonic state. State is kept only for
  // series the store accepted, and goes when the series expires, so this
  // stays within the mapping's live series (plus those expired since the
  // last Tick()).
  std::size_t monotonic_states() const { return monotonic_.size(); }
  // Saves force_monotonic state now (at shutdown). No-op without a
  // state_directory.
  Status SaveState();

 private:
  struct Monotonic {
    double offset = 0;
    double last_raw = 0;
    // When the series expires (store clock, monotonic seconds; infinity:
    // never), and the state with it.
    double deadline = 0;
  };
  struct Sample;
  class Walker;

  DeviceMapping(MappingSpec spec, SeriesStore* store, label::Counts* labels);
  void Reject(MessageReason r, const std::string& detail, Explanation* why);
  // The family for a metric name, registering it on first use.
  StatusOr<FamilyId> Family(const MetricSpec& m, const std::string& name);
  std::string StatePath() const;
  Status LoadState();

  MappingSpec spec_;
  SeriesStore* store_;
  label::Counts* labels_;
  MappingId id_;
  MappingCounters counters_;
  std::unordered_map<std::string, FamilyId> families_;
  std::unordered_map<std::string, Monotonic> monotonic_;
  bool monotonic_dirty_ = false;
  double next_prune_ = 0;  // no state expires before this
  double last_save_ = 0;
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_DEVICE_MAPPING_H_
