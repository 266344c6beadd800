#include "exporter/collectors/name_filter.h"

namespace propmon::exporter {

StatusOr<NameFilter> NameFilter::Exclude(std::string_view what,
                                         const std::string& pattern) {
  NameFilter f;
  f.pattern_ = pattern;
  if (pattern.empty()) return f;
  try {
    f.re_.emplace(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    return InvalidArgument(std::string(what) + ": bad pattern \"" + pattern +
                           "\": " + e.what());
  }
  return f;
}

bool NameFilter::Ignored(std::string_view name) const {
  if (!re_) return false;
  try {
    return std::regex_search(name.begin(), name.end(), *re_);
  } catch (const std::regex_error&) {
    // Complexity/stack limits on pathological input: keep the name.
    return false;
  }
}

}  // namespace propmon::exporter
