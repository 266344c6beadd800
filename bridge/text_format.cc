#include "bridge/text_format.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace propmon::bridge {
namespace {

bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  if (!IsAlpha(name[0]) && name[0] != ':') return false;
  for (char c : name) {
    if (!IsAlpha(c) && !IsDigit(c) && c != ':') return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsAlpha(name[0])) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  for (char c : name) {
    if (!IsAlpha(c) && !IsDigit(c)) return false;
  }
  return true;
}

void AppendLabelValue(std::string* out, std::string_view value) {
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    const char* esc = nullptr;
    if (c == '\\') {
      esc = "\\\\";
    } else if (c == '"') {
      esc = "\\\"";
    } else if (c == '\n') {
      esc = "\\n";
    }
    if (esc == nullptr) continue;
    out->append(value.data() + start, i - start);
    out->append(esc, 2);
    start = i + 1;
  }
  out->append(value.data() + start, value.size() - start);
}

void AppendHelpText(std::string* out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendLabels(std::string* out, std::span<const Label> labels) {
  if (labels.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const Label& l : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(l.name);
    out->append("=\"");
    AppendLabelValue(out, l.value);
    out->push_back('"');
  }
  out->push_back('}');
}

char* AppendValueTo(char* p, double value) {
  if (std::isnan(value)) {
    std::memcpy(p, "NaN", 3);
    return p + 3;
  }
  if (std::isinf(value)) {
    std::memcpy(p, value > 0 ? "+Inf" : "-Inf", 4);
    return p + 4;
  }
  return std::to_chars(p, p + 32, value).ptr;
}

void AppendValue(std::string* out, double value) {
  char buf[32];
  char* end = AppendValueTo(buf, value);
  out->append(buf, static_cast<size_t>(end - buf));
}

}  // namespace propmon::bridge
