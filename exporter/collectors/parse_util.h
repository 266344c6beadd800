// Small parsing helpers shared by the host collectors: whitespace field
// splitting, line iteration and std::from_chars number parsing. All functions
// are pure and thread-safe; none of them throws or asserts on bad input.
#ifndef PROPMON_EXPORTER_COLLECTORS_PARSE_UTIL_H_
#define PROPMON_EXPORTER_COLLECTORS_PARSE_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace propmon::exporter {

// Returns `s` without leading and trailing ASCII whitespace.
std::string_view TrimSpace(std::string_view s);

// Splits `line` on runs of spaces and tabs into *out (cleared first). Empty
// fields are skipped, like Go's strings.Fields.
void SplitFields(std::string_view line, std::vector<std::string_view>* out);

// Returns the next line of *text (without the '\n') and advances *text past
// it. Returns false when *text is empty.
bool NextLine(std::string_view* text, std::string_view* line);

// Parse a whole field as a number; return false on empty input, trailing
// junk, a sign on an unsigned value, or overflow.
bool ParseU64(std::string_view s, uint64_t* out);
bool ParseI64(std::string_view s, int64_t* out);
bool ParseDouble(std::string_view s, double* out);

// Joins `dir` and `name` with exactly one '/' ("/host" + "/" is "/host").
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_PARSE_UTIL_H_
