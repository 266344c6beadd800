#include "common/regex.h"

#include <re2/re2.h>

#include <algorithm>

#include "common/payload.h"

namespace propmon {
namespace {

// `(?<name>` -> `(?P<name>`, outside escapes and character classes (RE2
// before 2023 knows only the Python form). `(?<=` and `(?<!` (look-behind)
// are left for RE2 to refuse.
std::string TranslateNamedGroups(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 4);
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      out.push_back(c);
      if (i + 1 < p.size()) out.push_back(p[++i]);
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
        // [:alpha:] inside a class: copy through its ":]".
        std::size_t end = p.find(":]", i + 2);
        if (end != std::string_view::npos) {
          out.append(p.substr(i, end + 2 - i));
          i = end + 1;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal, not the end.
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);
      continue;
    }
    if (c == '(' && p.substr(i + 1, 2) == "?<" && i + 3 < p.size() &&
        p[i + 3] != '=' && p[i + 3] != '!') {
      out.append("(?P<");
      i += 2;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// Perl constructs RE2 does not have, for a clearer error.
bool HasBackReferenceOrLookAround(std::string_view p) {
  for (std::string_view s : {"(?=", "(?!", "(?<=", "(?<!", "(?P=", "\\k<"}) {
    if (p.find(s) != std::string_view::npos) return true;
  }
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] == '\\') {
      if (p[i + 1] >= '1' && p[i + 1] <= '9') return true;
      ++i;
    }
  }
  return false;
}

}  // namespace

StatusOr<Regex> Regex::Compile(std::string_view pattern) {
  Regex r;
  r.pattern_ = std::string(pattern);
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(TranslateNamedGroups(pattern), options);
  if (!re->ok()) {
    std::string why = re->error();
    if (HasBackReferenceOrLookAround(pattern)) {
      why +=
          " (RE2 syntax, as in Go's regexp: back-references and look-around "
          "are not supported)";
    }
    return InvalidArgument("invalid regex \"" + r.pattern_ + "\": " + why);
  }
  // Debian 12's RE2 accepts a name twice (Go does not); the second would
  // silently take the first one's capture.
  if (re->CapturingGroupNames().size() != re->NamedCapturingGroups().size()) {
    std::map<std::string, int> seen;
    for (const auto& [index, name] : re->CapturingGroupNames()) {
      if (++seen[name] == 2) {
        return InvalidArgument("invalid regex \"" + r.pattern_ +
                               "\": duplicate capture group name \"" + name +
                               "\"");
      }
    }
  }
  r.captures_ = re->NumberOfCapturingGroups();
  std::vector<std::pair<int, std::string>> named;
  for (const auto& [name, index] : re->NamedCapturingGroups()) {
    named.emplace_back(index, name);
  }
  std::sort(named.begin(), named.end());
  for (auto& [index, name] : named) {
    r.indices_.push_back(index);
    r.names_.push_back(std::move(name));
  }
  r.re_ = std::move(re);
  return r;
}

bool Regex::HasGroup(std::string_view name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

bool Regex::Match(std::string_view text, std::vector<std::string_view>* subs,
                  std::string* storage) const {
  if (text.data() == nullptr) text = std::string_view("", 0);
  // RE2 reads UTF-8, and an invalid byte would match neither `.` nor a
  // class; Go reads it as U+FFFD, which both match. Do as Go does.
  if (payload::ReplaceInvalidUtf8(text, storage)) text = *storage;
  const int n = subs ? captures_ + 1 : 0;
  std::vector<re2::StringPiece> pieces(static_cast<std::size_t>(n));
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(),
                  RE2::UNANCHORED, pieces.data(), n)) {
    return false;
  }
  if (subs) {
    subs->clear();
    for (const re2::StringPiece& p : pieces) {
      subs->push_back(p.data() == nullptr
                          ? std::string_view()
                          : std::string_view(p.data(), p.size()));
    }
  }
  return true;
}

bool Regex::Search(
    std::string_view text,
    std::vector<std::pair<std::string, std::string>>* groups) const {
  if (!re_) {
    if (groups) groups->clear();
    return true;
  }
  if (!groups || names_.empty()) {
    std::string storage;
    if (!Match(text, nullptr, &storage)) return false;
    if (groups) groups->clear();
    return true;
  }
  std::string storage;
  std::vector<std::string_view> subs;
  if (!Match(text, &subs, &storage)) return false;
  groups->clear();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    groups->emplace_back(names_[i], std::string(subs[indices_[i]]));
  }
  return true;
}

bool Regex::Search(std::string_view text,
                   std::map<std::string, std::string>* groups) const {
  if (!re_) return true;
  std::string storage;
  if (!groups || names_.empty()) return Match(text, nullptr, &storage);
  std::vector<std::string_view> subs;
  if (!Match(text, &subs, &storage)) return false;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const std::string_view s = subs[indices_[i]];
    if (s.data() != nullptr) (*groups)[names_[i]] = std::string(s);
  }
  return true;
}

}  // namespace propmon
