// RFC 3339 timestamps as Propeller writes and reads them: parsing any
// date-time with a fraction and an offset, formatting UTC at microseconds.
// Pure functions, thread-safe.
#ifndef PROPMON_COMMON_RFC3339_H_
#define PROPMON_COMMON_RFC3339_H_

#include <optional>
#include <string>
#include <string_view>

namespace propmon {

// Parses an RFC 3339 date-time ("2025-01-15T10:35:22.123456Z", fraction
// optional, 'Z' or a "+hh:mm"/"-hh:mm" offset) into Unix seconds.
std::optional<double> ParseRfc3339(std::string_view text);

// Formats Unix seconds as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, microseconds,
// rounded to the nearest). Returns "" for non-finite input or a year outside
// 0000..9999.
std::string FormatRfc3339(double unix_seconds);

}  // namespace propmon

#endif  // PROPMON_COMMON_RFC3339_H_
