// JSON in the exact form Propeller's manager (Go, encoding/json) writes for
// its metrics API, so that the bridge's `GET /tasks/{id}/metrics` and
// `GET /proplets/{id}/metrics` and the exporter's
// `GET /api/v1/tasks/{id}/metrics` are byte-compatible with the manager's
// (SPEC §1). The manager's structs fix the key order, which keys
// are omitted when empty (`aggregated`, `file_descriptor_count`,
// `container_*`), the number forms (Go integer types print as integers,
// float64/float32 in Go's shortest form) and the timestamp form (RFC 3339
// with trailing fraction zeros trimmed, UTC).
//
// One deliberate difference (docs/bridge.md): a figure the proplet did not
// send is left out, where the manager would print a 0 it never measured.
//
// Thread-safety: pure functions, thread-safe.
#ifndef PROPMON_COMMON_MANAGER_JSON_H_
#define PROPMON_COMMON_MANAGER_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/payload.h"

namespace propmon {

// Appends `s` as a JSON string the way Go's encoding/json does (HTML
// characters <, >, & and U+2028/U+2029 escaped as \uXXXX; invalid UTF-8
// replaced by U+FFFD).
void AppendGoJsonString(std::string* out, std::string_view s);
// Appends a float64 / float32 the way encoding/json formats them.
void AppendGoFloat64(std::string* out, double v);
void AppendGoFloat32(std::string* out, double v);
// Returns Go's time.RFC3339Nano form of a UTC instant, at microsecond
// precision: "2025-01-15T10:35:22.123456Z", "2025-01-15T10:35:22.5Z",
// "2025-01-15T10:35:22Z". Returns "" when the time cannot be formatted.
std::string GoRfc3339Nano(double unix_seconds);

// One item of the manager's task metrics page (manager.TaskMetrics).
void AppendManagerItem(const payload::TaskMetrics& m, std::string* out);
// One item of the manager's proplet metrics page (manager.PropletMetrics).
void AppendManagerItem(const payload::PropletMetrics& m, std::string* out);

// {"offset":O,"limit":L,"total":T,"metrics":[items...]} followed by a line
// feed (Go's json.Encoder ends every value with one).
std::string ManagerPage(std::uint64_t offset, std::uint64_t limit,
                        std::uint64_t total,
                        const std::vector<std::string>& items);

}  // namespace propmon

#endif  // PROPMON_COMMON_MANAGER_JSON_H_
