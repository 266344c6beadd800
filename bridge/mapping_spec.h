// MappingSpec: the one model of "MQTT messages -> Prometheus series" that
// every mapping of the bridge is described in (docs/bridge.md, "Mappings"):
// - configurable mappings from the `mappings:` section of the config file,
// - the same, built from an mqtt2prometheus config file (config.cc),
// - the built-in Propeller mapping (PropellerSpec(); its behaviour stays in
//   propeller_mapping.cc, but it is described, dispatched, counted and
//   explained through this model like any other).
//
// A mapping has topic filters, an optional topic regex whose named groups
// become labels, a payload kind and a list of metrics. Each metric reads one
// value path from the payload (dotted keys, [N] indices, `*` / [*] to fan
// out over an array or an object) and produces one series per value found.
//
// Paths ("value paths"): `a.b.c`, `a[0].b`, `readings[*].temp`,
// `sensors.*.value`, `["key.with.dots"].x`, `a.0` (a numeric key also
// indexes an array). The empty path means the payload itself (value
// payloads). mqtt2prometheus paths (`json_parsing.separator`) are split on
// the separator only: SplitSeparatorPath().
//
// Regexes are propmon::Regex (common/regex.h): RE2, that is Go's syntax as
// in mqtt2prometheus, named groups `(?P<name>...)` or `(?<name>...)`;
// matching is a search (not anchored), as in mqtt2prometheus: anchor with ^
// and $ when needed. Linear in the topic's length, so any topic can be
// searched.
//
// Thread-safety: plain values; a Regex is immutable after Compile and safe
// to use from several threads.
#ifndef PROPMON_BRIDGE_MAPPING_SPEC_H_
#define PROPMON_BRIDGE_MAPPING_SPEC_H_

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/series_store.h"
#include "common/regex.h"
#include "common/status.h"

namespace propmon::bridge {

// One step of a value path.
struct PathStep {
  enum class Kind { kKey, kIndex, kWildcard };
  Kind kind = Kind::kKey;
  std::string key;        // kKey: the key (when it is all digits, it also
                          // indexes an array)
  std::size_t index = 0;  // kIndex
  bool operator==(const PathStep&) const = default;
};

struct ValuePath {
  std::string text;  // as written, for messages
  std::vector<PathStep> steps;
  std::size_t wildcards() const;
  bool empty() const { return steps.empty(); }
};

// Parses the native path syntax described above. Errors: InvalidArgument
// naming the position ("unterminated [", "empty key", ...).
StatusOr<ValuePath> ParseValuePath(std::string_view text);
// mqtt2prometheus paths: split on `separator` (non-empty), every piece a key;
// no brackets, no wildcards. Never fails (empty pieces are kept as keys).
ValuePath SplitSeparatorPath(std::string_view text, std::string_view separator);

enum class PayloadKind {
  kJson,   // a JSON document (object, or array); invalid JSON is rejected
  kValue,  // a bare value: a JSON scalar (23.5, true, "on") or raw text (on)
};
// "json" / "value".
const char* PayloadKindName(PayloadKind kind);

struct MetricSpec {
  // Metric name. May contain ${group} references to topic regex groups
  // (value payloads whose metric name comes from the topic); the result is
  // checked per message (an invalid name rejects the field).
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  ValuePath value;  // empty: the payload itself
  // One label name per wildcard of `value`, in order: the array index or
  // object key the wildcard stood for. Default (empty list): "index" for a
  // single wildcard; a spec with several wildcards must name them all.
  std::vector<std::string> fanout_labels;
  // Labels from other paths of the same payload (label -> path). A `*` in a
  // label path stands for the same element as the value path's wildcard at
  // the same position. A label whose path is absent rejects the field.
  std::vector<std::pair<std::string, ValuePath>> json_labels;
  std::vector<std::pair<std::string, std::string>> const_labels;
  double scale = 1;
  double offset = 0;
  // Strings (and "true"/"false" for booleans) to numbers. Without an entry,
  // booleans are 1/0 and numeric strings ("23.5") are parsed.
  std::map<std::string, double> value_map;
  // Used when the value is present but cannot be read (unmapped string,
  // wrong JSON type, null). Absent: such a field is rejected.
  std::optional<double> error_value;
  // Seconds; overrides the mapping's expiry. 0 = never expires.
  std::optional<double> expiry_seconds;
  // Optional path to the sample's timestamp in the payload: a number
  // (seconds since the epoch, or milliseconds when > 1e11) or an RFC 3339
  // string. An unreadable timestamp rejects the field.
  ValuePath timestamp;
  // A decrease of the raw value is a device reset, and the series continues
  // from its last value (mqtt2prometheus force_monotonicy). The native
  // format allows it on counters only; mqtt2prometheus files on any type.
  bool force_monotonic = false;
  // The metric applies only when each named topic group matches its regex
  // (search). mqtt2prometheus: sensor_name_filter on deviceid, and the
  // metricname group in metric-per-topic mode.
  std::vector<std::pair<std::string, Regex>> when;
  // Within one message, of the metrics with the same non-empty
  // first_match_key only the first that applies is used (mqtt2prometheus
  // takes the first config per mqtt_name whose filter matches). Not
  // settable in the native format.
  std::string first_match_key;
};

struct MappingSpec {
  std::string name;                 // [a-zA-Z0-9_.-]+, unique
  std::vector<std::string> topics;  // MQTT filters (validated)
  Regex topic_regex;                // optional
  // Labels from topic regex groups: (label, group). Default (empty and
  // topic_labels_default): every named group as a label of the same name.
  std::vector<std::pair<std::string, std::string>> topic_labels;
  bool topic_labels_default = true;
  // A message whose topic the regex does not match is rejected
  // (topic_mismatch); false: its groups are empty (mqtt2prometheus).
  bool require_topic_match = true;
  std::string topic_label;  // label carrying the full topic; "" = none
  PayloadKind payload = PayloadKind::kJson;
  std::vector<MetricSpec> metrics;
  double expiry_seconds = 0;  // 0 = never
  // Every sample carries the time the message was received (mqtt2prometheus
  // without omit_timestamp). A metric's timestamp path takes precedence.
  bool receive_timestamps = false;
  // force_monotonic state is saved here (mqtt2prometheus
  // cache.state_directory); "" = kept in memory only.
  std::string state_directory;
  // Where the mapping was defined ("file:line"), for messages.
  std::string origin;
};

// Checks a spec the parser built: names, label names (valid, no duplicates
// among topic, fanout, json, const labels and the topic label), wildcard
// count vs fanout_labels, topic regex groups named in topic_labels and
// `when`, filters. Errors: InvalidArgument "mapping NAME: metric NAME: ...".
Status ValidateMappingSpec(const MappingSpec& spec);

// The built-in Propeller mapping, described in this model (for
// /api/v1/debug/mappings and `propmon-bridge check`).
MappingSpec PropellerSpec();

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_MAPPING_SPEC_H_
