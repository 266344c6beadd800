// Label hygiene: the one validator for every label value that comes from
// outside either daemon (task ids and names from the API, discovery
// templates rendered from comm/cmdline/exe/cgroup, MQTT payload fields,
// topic segments, device-mapping JSON values).
//
// A good label value is 1 to kMaxBytes bytes of valid UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF) with no control
// character (U+0000..U+001F, U+007F..U+009F). A bad one has a Reason, the
// first that applies in the order empty, invalid_utf8, control_char,
// too_long (a value is counted once, under that reason).
//
// Policy (docs/api.md, docs/bridge.md): a value that names a series or a
// task as given by a client (task_id, proplet_id, domain, channel) is
// REFUSED when bad, since repairing two different ids could merge them; a
// descriptive value (task name, proplet_info labels, device-mapping label
// values, topic segments used as labels) and an id a discovery template
// renders from process facts are REPAIRED: each byte that does not start a
// valid UTF-8 sequence and each control character becomes U+FFFD (as Go
// decodes text; one mark for "unusable here", which a plain '_' would not
// be), then the value is cut to kMaxBytes at a character boundary. An empty
// descriptive value stays empty (an absent label); an empty id is refused.
// Both daemons count what they repaired or refused in a Counts.
//
// Thread-safety: the functions are pure; Counts is thread-safe.
#ifndef PROPMON_COMMON_LABEL_H_
#define PROPMON_COMMON_LABEL_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace propmon::label {

inline constexpr std::size_t kMaxBytes = 256;

enum class Reason { kEmpty, kInvalidUtf8, kControlChar, kTooLong };
inline constexpr std::array<Reason, 4> kAllReasons = {
    Reason::kEmpty, Reason::kInvalidUtf8, Reason::kControlChar,
    Reason::kTooLong};
// "empty", "invalid_utf8", "control_char", "too_long".
const char* ReasonName(Reason reason);
// For error messages: "is empty", "is not valid UTF-8", "contains a control
// character", "is longer than 256 bytes".
const char* ReasonText(Reason reason);

enum class Action { kRepaired, kRefused };
inline constexpr std::array<Action, 2> kAllActions = {Action::kRepaired,
                                                      Action::kRefused};
// "repaired", "refused".
const char* ActionName(Action action);

// Returns the length (2..4) of the valid UTF-8 sequence at p, whose first
// byte is >= 0x80, or 0 if it is not one (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF). p < end.
inline std::size_t Utf8SequenceLength(const char* p, const char* end) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  std::size_t avail = static_cast<std::size_t>(end - p);
  unsigned char c = u[0];
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) {
    return (avail >= 2 && cont(u[1])) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3) return 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    return (u[1] >= lo && u[1] <= hi && cont(u[2])) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4) return 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    return (u[1] >= lo && u[1] <= hi && cont(u[2]) && cont(u[3])) ? 4 : 0;
  }
  return 0;
}

// The first defect of `value`, or nullopt when it is a good label value.
std::optional<Reason> Check(std::string_view value);
// As Check, for text already known to be valid UTF-8 (skips that scan).
std::optional<Reason> CheckValidUtf8(std::string_view value);
inline bool IsValid(std::string_view value) { return !Check(value); }

// Repairs *value in place (see the policy above) and returns its first
// defect; returns nullopt (value untouched) when it was good, and kEmpty
// (untouched) when it is empty. Afterwards a non-empty value is good.
std::optional<Reason> Repair(std::string* value);
// Returns `value` repaired.
std::string Repaired(std::string_view value);

// When `text` is not valid UTF-8, sets *out to it with each byte that does
// not start a valid sequence replaced by U+FFFD, as Go decodes text, and
// returns true; returns false (leaving *out alone) when it is valid.
bool ReplaceInvalidUtf8(std::string_view text, std::string* out);

// A daemon's count of label values repaired or refused, by (source, reason,
// action), rendered as <prefix>_label_values_total{source,reason,action}.
// The sources are a small fixed set given at construction, each with the
// reasons it can refuse and repair: those series exist from the start (0).
class Counts {
 public:
  struct Source {
    const char* name;              // "api", "discovery", "topic", ...
    std::vector<Reason> refused;   // reasons this source can refuse
    std::vector<Reason> repaired;  // reasons this source can repair
  };
  explicit Counts(std::vector<Source> sources);
  Counts(const Counts&) = delete;
  Counts& operator=(const Counts&) = delete;

  // `source` is an index into the constructor's list.
  void Add(std::size_t source, Reason reason, Action action);
  std::uint64_t Get(std::size_t source, Reason reason, Action action) const;

  // Refuses: returns the defect of `value` (counted as refused under
  // `source`), or nullopt when it is good.
  std::optional<Reason> Refuse(std::size_t source, std::string_view value);
  // Repairs *value (Repair) and counts the repair under `source`; returns
  // the defect repaired (kEmpty: left empty, not counted).
  std::optional<Reason> Repair(std::size_t source, std::string* value);

  // Calls f(source, reason, action, count) for every pre-created series and
  // for any other combination with a non-zero count, in a stable order.
  void ForEach(const std::function<void(const char*, const char*, const char*,
                                        double)>& f) const;

  // The HELP text both daemons use.
  static constexpr const char* kHelp =
      "Label values from outside (API, discovery, MQTT payloads and topics, "
      "device mappings) that were not valid: repaired (invalid UTF-8 and "
      "control characters to U+FFFD, cut to 256 bytes) or refused (ids), by "
      "source and reason.";

 private:
  static constexpr std::size_t kCells = kAllReasons.size() * kAllActions.size();
  std::size_t Cell(std::size_t source, Reason reason, Action action) const;

  std::vector<Source> sources_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
};

// Repairs *value and counts the repair in `counts` when it is not null.
inline std::optional<Reason> RepairCounted(Counts* counts, std::size_t source,
                                           std::string* value) {
  return counts != nullptr ? counts->Repair(source, value) : Repair(value);
}

}  // namespace propmon::label

#endif  // PROPMON_COMMON_LABEL_H_
