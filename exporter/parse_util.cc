#include "exporter/parse_util.h"

#include <charconv>
#include <cmath>

namespace propmon::exporter {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

void SplitFields(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && IsSpace(line[i])) ++i;
    size_t start = i;
    while (i < n && !IsSpace(line[i])) ++i;
    if (i > start) out->push_back(line.substr(start, i - start));
  }
}

size_t SplitFields(std::string_view line, std::string_view* out, size_t max) {
  size_t n = 0;
  size_t i = 0;
  while (i < line.size() && n < max) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    out[n++] = line.substr(start, i - start);
  }
  return n;
}

bool NextLine(std::string_view* text, std::string_view* line) {
  if (text->empty()) return false;
  size_t nl = text->find('\n');
  if (nl == std::string_view::npos) {
    *line = *text;
    *text = {};
  } else {
    *line = text->substr(0, nl);
    text->remove_prefix(nl + 1);
  }
  return true;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseI64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  // from_chars does not accept a leading '+'.
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string r(dir);
  while (!r.empty() && r.back() == '/') r.pop_back();
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) return r.empty() ? "/" : r;
  r.push_back('/');
  r.append(name);
  return r;
}

}  // namespace propmon::exporter
