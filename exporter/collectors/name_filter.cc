#include "exporter/collectors/name_filter.h"

namespace propmon::exporter {

StatusOr<NameFilter> NameFilter::Exclude(std::string_view what,
                                         const std::string& pattern) {
  NameFilter f;
  if (pattern.empty()) return f;
  auto re = Regex::Compile(pattern);
  if (!re.ok()) {
    return InvalidArgument(std::string(what) + ": " + re.status().message());
  }
  f.re_ = std::move(*re);
  return f;
}

bool NameFilter::Ignored(std::string_view name) const {
  return !re_.empty() && re_.Search(name);
}

}  // namespace propmon::exporter
