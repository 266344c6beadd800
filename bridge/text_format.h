// Pieces of the Prometheus text exposition format (0.0.4), written by hand
// so that the bridge can render hundreds of thousands of series without
// building prometheus-cpp MetricFamily objects per scrape.
//
// Thread-safety: all functions are pure and thread-safe.
#ifndef PROPMON_BRIDGE_TEXT_FORMAT_H_
#define PROPMON_BRIDGE_TEXT_FORMAT_H_

#include <span>
#include <string>
#include <string_view>

namespace propmon::bridge {

// One label pair. The views must outlive the call they are passed to.
struct Label {
  std::string_view name;
  std::string_view value;
};

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool IsValidLabelName(std::string_view name);

// Appends `value` escaped for a label value: backslash, double quote and
// line feed become \\, \" and \n. Other bytes are copied unchanged.
void AppendLabelValue(std::string* out, std::string_view value);
// Appends `text` escaped for a HELP line: backslash and line feed.
void AppendHelpText(std::string* out, std::string_view text);
// Appends `{name="value",...}`, or nothing for an empty list.
void AppendLabels(std::string* out, std::span<const Label> labels);
// Appends a sample value: the shortest text that reads back as the same
// double, "+Inf", "-Inf" or "NaN".
void AppendValue(std::string* out, double value);
// Writes the same at `p`, which must have room for 32 bytes; returns the
// end of what was written.
char* AppendValueTo(char* p, double value);

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_TEXT_FORMAT_H_
