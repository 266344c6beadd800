// Small parsing helpers shared by every /proc and /sys parser of the exporter
// (the host collectors, ProcReader, the publisher, sysinfo): one definition
// of whitespace, field splitting, line iteration and std::from_chars number
// parsing. All functions
// are pure and thread-safe; none of them throws or asserts on bad input.
#ifndef PROPMON_EXPORTER_PARSE_UTIL_H_
#define PROPMON_EXPORTER_PARSE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace propmon::exporter {

// ASCII whitespace: space, \t, \n, \r, \v and \f. The kernel writes
// spaces and tabs; every parser treats the others the same way, so that no
// two of them read one file differently.
inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

// Returns `s` without leading and trailing ASCII whitespace.
std::string_view TrimSpace(std::string_view s);

// Splits `line` on runs of whitespace (IsSpace) into *out (cleared first).
// Empty fields are skipped, like Go's strings.Fields.
void SplitFields(std::string_view line, std::vector<std::string_view>* out);
// The same into out[0..max), without allocating: returns how many fields it
// stored (at most `max`; the rest of the line is not looked at).
size_t SplitFields(std::string_view line, std::string_view* out, size_t max);

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

#endif  // PROPMON_EXPORTER_PARSE_UTIL_H_
