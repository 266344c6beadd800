// Explanation: what one message did in one mapping -- which mapping it
// matched, every series it produced, why each field was rejected and why the
// whole message was rejected, if it was. `propmon-bridge check` prints it
// for a sample message; GET /api/v1/debug/mappings serves it for the last
// message of each mapping. Both are built by the same code: the mapping's
// Apply() with an Explanation to fill.
//
// MappingCounters: a mapping's bounded self-metrics (matched, rejected by
// reason, fields rejected by reason). Reason names are fixed per mapping at
// construction, so the label sets never grow with traffic.
//
// Thread-safety: Explanation is a plain value. MappingCounters' Add* and
// reads are thread-safe (relaxed atomics).
#ifndef PROPMON_BRIDGE_EXPLANATION_H_
#define PROPMON_BRIDGE_EXPLANATION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/text_format.h"

namespace propmon::bridge {

struct Explanation {
  std::string mapping;
  std::string topic;
  double receive_time = 0;  // Unix seconds
  std::string payload;      // as received, cut at kMaxPayload bytes
  bool payload_truncated = false;
  // Whole-message rejection reason ("" = accepted) and a human detail.
  std::string rejected;
  std::string detail;

  struct Series {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
    std::optional<std::int64_t> timestamp_ms;
    std::string note;  // e.g. "error_value used: ..."
  };
  std::vector<Series> series;

  struct Field {
    std::string metric;  // the metric (spec) name
    std::string path;    // the value (or label/timestamp) path
    std::string reason;  // a bounded reason name, as in the self-metrics
    std::string detail;  // human-readable
  };
  std::vector<Field> fields;  // rejected fields
  // Other facts worth knowing: metrics that did not apply and why.
  std::vector<std::string> notes;

  static constexpr std::size_t kMaxPayload = 4096;
  void SetMessage(std::string_view mapping_name, std::string_view topic,
                  std::string_view payload, double receive_time);
  void AddSeries(std::string_view name, std::span<const Label> labels,
                 double value, std::optional<std::int64_t> timestamp_ms = {},
                 std::string note = {});

  // Human-readable, for `propmon-bridge check`.
  std::string ToText() const;
  // One JSON object, for /api/v1/debug/mappings.
  std::string ToJson() const;
};

class MappingCounters {
 public:
  MappingCounters(std::vector<std::string> message_reasons,
                  std::vector<std::string> field_reasons);

  void AddMatched() { matched_.fetch_add(1, std::memory_order_relaxed); }
  void AddRejected(std::size_t reason, std::uint64_t n = 1);
  void AddField(std::size_t reason, std::uint64_t n = 1);
  // Index of a reason name; nullopt when unknown.
  std::optional<std::size_t> MessageReason(std::string_view name) const;
  std::optional<std::size_t> FieldReason(std::string_view name) const;

  std::uint64_t matched() const { return matched_.load(); }
  std::uint64_t rejected(std::size_t reason) const;
  std::uint64_t field(std::size_t reason) const;
  std::uint64_t rejected(std::string_view reason) const;
  std::uint64_t field(std::string_view reason) const;
  const std::vector<std::string>& message_reasons() const {
    return message_reasons_;
  }
  const std::vector<std::string>& field_reasons() const {
    return field_reasons_;
  }

 private:
  std::vector<std::string> message_reasons_;
  std::vector<std::string> field_reasons_;
  std::atomic<std::uint64_t> matched_{0};
  std::unique_ptr<std::atomic<std::uint64_t>[]> rejected_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> fields_;
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_EXPLANATION_H_
