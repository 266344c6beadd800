// The Propeller payload codec: the wire contract of SPEC §1 in one place.
//
// The exporter encodes the five proplet messages with the Rust proplet's keys
// and nesting; the bridge decodes every variant SPEC §1 lists (current Rust
// layout, older Go layout, legacy field names, embedded proplets, every
// timestamp form) with no configuration. docs/wire-format.md describes the
// format and where our encoder differs from the real proplet.
//
// Decoding never throws and never recurses on untrusted input: a hand-written
// validating JSON reader (RFC 8259, UTF-8 checked, nesting bounded by
// kMaxDepth) walks the payload once without building a DOM. A payload that
// cannot be used at all is rejected with a bounded Reason; one bad field only
// drops that field and is listed in Decoded::problems.
//
// Thread-safety: every function here is pure and thread-safe; the structs are
// plain values (thread-compatible).
#ifndef PROPMON_COMMON_PAYLOAD_H_
#define PROPMON_COMMON_PAYLOAD_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/label.h"
#include "common/rfc3339.h"

namespace propmon::payload {

// ---------------------------------------------------------------------------
// Messages (SPEC §1). Every metric is optional: absent stays absent, and a
// figure that was not measured is never sent as 0. Numbers are doubles
// whatever their JSON form; the encoder writes the fields that are integers
// in the Rust proplet (bytes, counts, seconds of uptime) as JSON integers.
// ---------------------------------------------------------------------------

// `metrics` of control/proplet/task_metrics.
struct ProcessMetrics {
  std::optional<double> cpu_percent;     // 100 = one core
  std::optional<double> memory_bytes;    // RSS
  std::optional<double> memory_percent;  // of host memory, 0..100
  std::optional<double> disk_read_bytes;
  std::optional<double> disk_write_bytes;
  std::optional<double> network_rx_bytes;  // only for a task in its own netns
  std::optional<double> network_tx_bytes;
  std::optional<double> uptime_seconds;
  std::optional<double> thread_count;
  std::optional<double> file_descriptor_count;

  bool operator==(const ProcessMetrics&) const = default;
};

// `aggregated` of control/proplet/task_metrics (over the retained history).
struct AggregatedMetrics {
  std::optional<double> avg_cpu_usage;
  std::optional<double> max_cpu_usage;
  std::optional<double> avg_memory_usage;
  std::optional<double> max_memory_usage;
  std::optional<double> total_disk_read;
  std::optional<double> total_disk_write;
  std::optional<double> total_network_rx;
  std::optional<double> total_network_tx;
  std::optional<double> sample_count;

  bool operator==(const AggregatedMetrics&) const = default;
};

// control/proplet/task_metrics (and the legacy metrics/proplet topic).
struct TaskMetrics {
  std::string task_id;
  std::string proplet_id;
  ProcessMetrics metrics;
  std::optional<AggregatedMetrics> aggregated;  // encoded as null when absent
  double timestamp = 0;                         // Unix seconds

  bool operator==(const TaskMetrics&) const = default;
};

// `cpu_metrics` of control/proplet/metrics (`cpu` in the older layout).
struct CpuMetrics {
  std::optional<double> user_seconds;    // the proplet process
  std::optional<double> system_seconds;  // the proplet process
  std::optional<double> percent;         // host-wide CPU, 0..100

  bool operator==(const CpuMetrics&) const = default;
};

// `memory_metrics` of control/proplet/metrics (`memory` in the older layout).
struct MemoryMetrics {
  std::optional<double> rss_bytes;
  std::optional<double> heap_alloc_bytes;
  std::optional<double> heap_sys_bytes;
  std::optional<double> heap_inuse_bytes;
  std::optional<double> container_usage_bytes;
  std::optional<double> container_limit_bytes;
  std::optional<double> heap_free_bytes;       // embedded proplets
  std::optional<double> heap_max_alloc_bytes;  // embedded proplets

  bool operator==(const MemoryMetrics&) const = default;
};

// control/proplet/metrics.
struct PropletMetrics {
  std::string proplet_id;
  std::string namespace_name;  // JSON key "namespace"
  double timestamp = 0;        // Unix seconds
  // `metrics.version` of the older nested layout; never encoded.
  std::optional<std::string> version;
  CpuMetrics cpu;
  MemoryMetrics memory;

  bool operator==(const PropletMetrics&) const = default;
};

// control/proplet/alive.
struct Alive {
  std::string proplet_id;
  std::string status = "alive";
  std::string namespace_name;

  bool operator==(const Alive&) const = default;
};

// JSON text kept verbatim (a non-scalar metadata value such as `tags`).
struct RawJson {
  std::string text;
  bool operator==(const RawJson&) const = default;
};

// One value of `metadata` in control/proplet/create.
using MetadataValue =
    std::variant<std::nullptr_t, bool, double, std::string, RawJson>;

// control/proplet/create.
struct Create {
  std::string proplet_id;
  std::string namespace_name;
  // In payload order; unknown keys are kept. Usual keys: os, cpu_arch,
  // total_memory_bytes, proplet_version, wasm_runtime, environment,
  // hostname, ip.
  std::vector<std::pair<std::string, MetadataValue>> metadata;

  // Returns the value of `key`, or nullptr.
  const MetadataValue* Find(std::string_view key) const;
  // Returns the value of `key` as text (a string as is, a number in its
  // shortest form, true/false), or nullopt when absent, null or non-scalar.
  std::optional<std::string> FindText(std::string_view key) const;

  bool operator==(const Create&) const = default;
};

// control/proplet/results.
struct Results {
  std::string task_id;
  std::optional<std::string> proplet_id;
  // The `results` value as JSON text (the Rust proplet sends a JSON string,
  // so this usually starts with a quote). Empty means absent; encoded as
  // null. Text that is not valid JSON is encoded as a JSON string.
  std::string results;
  std::optional<std::string> error;  // nullopt: null (the task succeeded)

  bool operator==(const Results&) const = default;
};

// ---------------------------------------------------------------------------
// Topics.
// ---------------------------------------------------------------------------

enum class MessageKind {
  kTaskMetrics,        // control/proplet/task_metrics
  kLegacyTaskMetrics,  // metrics/proplet (same payload as task_metrics)
  kPropletMetrics,     // control/proplet/metrics
  kAlive,              // control/proplet/alive
  kCreate,             // control/proplet/create
  kResults,            // control/proplet/results
};

inline constexpr std::array<MessageKind, 6> kAllMessageKinds = {
    MessageKind::kTaskMetrics,    MessageKind::kLegacyTaskMetrics,
    MessageKind::kPropletMetrics, MessageKind::kAlive,
    MessageKind::kCreate,         MessageKind::kResults};

// Returns a short stable name ("task_metrics", "legacy_task_metrics",
// "proplet_metrics", "alive", "create", "results"), e.g. for a `kind` label.
const char* KindName(MessageKind kind);

// Returns the topic suffix after `m/{domain}/c/{channel}/`.
std::string_view TopicSuffix(MessageKind kind);

// Returns "m/{domain}/c/{channel}/{suffix}".
std::string MakeTopic(std::string_view domain, std::string_view channel,
                      MessageKind kind);

// Label values: common/label.h is the validator; these forward to it.
inline constexpr size_t kMaxLabelBytes = label::kMaxBytes;
inline bool IsValidLabel(std::string_view value) {
  return label::IsValid(value);
}
inline bool ReplaceInvalidUtf8(std::string_view text, std::string* out) {
  return label::ReplaceInvalidUtf8(text, out);
}

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

// Why a payload could not be used at all. Bounded: the bridge pre-creates a
// counter per reason (kAllReasons).
enum class Reason {
  kInvalidJson,   // not RFC 8259 JSON (also: nesting deeper than kMaxDepth,
                  // a duplicated id key)
  kNotObject,     // valid JSON, but not an object
  kMissingField,  // a required id (task_id, proplet_id) is absent
  kWrongType,     // a required id is not a string
  kTooLarge,      // larger than DecodeOptions::max_bytes (checked unparsed)
  kLabelInvalid,  // an id, domain or channel is not a good label value
                  // (Error::label says why)
  kUnknownTopic,  // the topic is not one of SPEC §1's
};

inline constexpr std::array<Reason, 7> kAllReasons = {
    Reason::kInvalidJson, Reason::kNotObject, Reason::kMissingField,
    Reason::kWrongType,   Reason::kTooLarge,  Reason::kLabelInvalid,
    Reason::kUnknownTopic};

// Returns "invalid_json", "not_object", "missing_field", "wrong_type",
// "too_large", "label_invalid" or "unknown_topic".
const char* ReasonName(Reason reason);

struct Error {
  Reason reason;
  std::string detail;  // human-readable; for logs, never for labels
  // With kLabelInvalid: the value's defect, and whether it was the topic's
  // domain or channel (else an id of the payload).
  std::optional<label::Reason> label = std::nullopt;
  bool in_topic = false;
};

// Either a T or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const Error& error() const { return std::get<1>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<T, Error> v_;
};

// A topic of SPEC §1: views into the parsed string.
struct Topic {
  std::string_view domain;
  std::string_view channel;
  MessageKind kind;
};

// Parses `m/{domain}/c/{channel}/{suffix}`. Errors: kUnknownTopic when the
// shape or suffix is not SPEC §1's (an empty domain or channel included),
// kLabelInvalid (in_topic) when domain or channel is not a good label value.
Result<Topic> ParseTopic(std::string_view topic);

// ---------------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------------

// Deepest nesting of arrays/objects accepted anywhere in a payload.
inline constexpr int kMaxDepth = 128;

struct DecodeOptions {
  size_t max_bytes = 64 * 1024;  // larger payloads: kTooLarge, unparsed
  double receive_time = 0;       // Unix seconds; used when no usable timestamp
};

// Where a message's timestamp came from.
enum class TimestampSource {
  kRfc3339,     // an RFC 3339 string
  kSystemTime,  // {"secs_since_epoch":N,"nanos_since_epoch":N} (Rust serde)
  kDeviceTime,  // a number: an embedded proplet's ms since boot, not an
                // epoch; the receive time is used
  kMissing,     // absent or null: the receive time is used
  kInvalid,     // present but unusable (also a FieldProblem): receive time
};
const char* TimestampSourceName(TimestampSource source);

// What was wrong with one field that was dropped.
enum class Problem {
  kWrongType,   // e.g. "cpu_percent":"abc", "metrics":[]
  kNegative,    // a negative figure
  kOutOfRange,  // a number beyond double range (1e999)
  kDuplicate,   // the key (or an alias of it) appeared twice: both dropped
  kInvalid,     // an unparseable timestamp
};
inline constexpr std::array<Problem, 5> kAllProblems = {
    Problem::kWrongType, Problem::kNegative, Problem::kOutOfRange,
    Problem::kDuplicate, Problem::kInvalid};
// Returns "wrong_type", "negative", "out_of_range", "duplicate" or "invalid"
// (bounded: usable as a label value).
const char* ProblemName(Problem problem);

// A descriptive string (a namespace) that was not a good label value and
// was repaired (label::Repair) rather than dropped.
struct LabelRepair {
  const char* field;  // static: "namespace"
  label::Reason reason;
  // By the field's text, not its address (string literals need not be
  // merged across translation units).
  bool operator==(const LabelRepair& o) const {
    return std::string_view(field) == std::string_view(o.field) &&
           reason == o.reason;
  }
};

struct FieldProblem {
  const char* object;  // static: "" (top level), "metrics", "aggregated",
                       // "cpu_metrics", "metrics.cpu", "metadata", ...
  const char* field;   // static: the key as written, e.g. "cpu_usage_percent"
  Problem problem;

  // Returns "object.field" (or "field" at the top level).
  std::string Path() const;
  bool operator==(const FieldProblem& o) const;
};

using Message =
    std::variant<TaskMetrics, PropletMetrics, Alive, Create, Results>;

// One decoded payload.
struct Decoded {
  MessageKind kind = MessageKind::kTaskMetrics;
  Message message;
  TimestampSource timestamp_source = TimestampSource::kMissing;
  bool timestamp_in_metrics = false;   // taken from metrics.timestamp
  bool nested_layout = false;          // proplet metrics: older nested layout
  bool legacy_names = false;           // cpu_usage_percent & co. were used
  std::vector<FieldProblem> problems;  // fields dropped, in payload order
  std::vector<LabelRepair> repaired;   // strings repaired, in payload order
  std::string domain;                  // set by DecodeMessage only
  std::string channel;                 // set by DecodeMessage only

  template <typename T>
  const T* As() const {
    return std::get_if<T>(&message);
  }
};

// Decodes `payload` as a message of `kind`. Never throws. Errors, in order of
// precedence: kTooLarge (before parsing), kInvalidJson, kNotObject, then
// kWrongType / kLabelInvalid (the first bad id), then kMissingField.
// Required: task_id and proplet_id (task metrics), proplet_id (proplet
// metrics, alive, create), task_id (results). Everything else is optional.
Result<Decoded> Decode(MessageKind kind, std::string_view payload,
                       const DecodeOptions& options);

// ParseTopic, then Decode; fills Decoded::domain and ::channel.
Result<Decoded> DecodeMessage(std::string_view topic, std::string_view payload,
                              const DecodeOptions& options);

// Returns true if `text` is one RFC 8259 JSON value (surrounded by optional
// whitespace) with valid UTF-8 strings and nesting at most `max_depth`.
bool IsValidJson(std::string_view text, int max_depth = kMaxDepth);

// The deepest nesting of [ and { in `text`, counted outside strings (for
// refusing a hostile payload before a DOM parser builds it). Does not
// validate: brackets count as they come, a closer without an opener lowers
// the count, and the result is the highest count reached (0 at least).
int JsonDepth(std::string_view text);

// ---------------------------------------------------------------------------
// Encoding: compact JSON with the Rust proplet's keys and nesting.
// ---------------------------------------------------------------------------

// RFC 3339 (common/rfc3339.h), where the codec's users have always found it.
using ::propmon::FormatRfc3339;
using ::propmon::ParseRfc3339;

// Each encoder writes the message's keys in the Rust proplet's order.
// Absent (or non-finite, or for integer fields negative) figures are left
// out; `aggregated` is null when absent; a timestamp FormatRfc3339 cannot
// format is null. Strings are escaped; invalid UTF-8 becomes U+FFFD.
std::string Encode(const TaskMetrics& m);
std::string Encode(const PropletMetrics& m);
std::string Encode(const Alive& m);
std::string Encode(const Create& m);
std::string Encode(const Results& m);

// As Encode, appending to *out (reuse its capacity on hot paths).
void AppendJson(const TaskMetrics& m, std::string* out);
void AppendJson(const PropletMetrics& m, std::string* out);
void AppendJson(const Alive& m, std::string* out);
void AppendJson(const Create& m, std::string* out);
void AppendJson(const Results& m, std::string* out);

// Returns `text` as a quoted, escaped JSON string (e.g. for Results::results).
std::string QuoteJson(std::string_view text);

}  // namespace propmon::payload

#endif  // PROPMON_COMMON_PAYLOAD_H_
