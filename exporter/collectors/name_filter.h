// NameFilter: node_exporter-style exclude patterns (device, mount point and
// file system type excludes). Thread-compatible value type.
#ifndef PROPMON_EXPORTER_COLLECTORS_NAME_FILTER_H_
#define PROPMON_EXPORTER_COLLECTORS_NAME_FILTER_H_

#include <string>
#include <string_view>

#include "common/regex.h"
#include "common/status.h"

namespace propmon::exporter {

class NameFilter {
 public:
  // A filter that excludes nothing.
  NameFilter() = default;
  // Compiles `pattern` (RE2 syntax, as node_exporter's Go regexp: its
  // flags' values work unchanged). Like Go's MatchString the pattern is
  // searched, not implicitly anchored. Empty excludes nothing. A bad pattern
  // is InvalidArgument naming `what`.
  static StatusOr<NameFilter> Exclude(std::string_view what,
                                      const std::string& pattern);
  // Returns true if `name` matches the exclude pattern.
  bool Ignored(std::string_view name) const;
  const std::string& pattern() const { return re_.pattern(); }

 private:
  Regex re_;  // empty: excludes nothing
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_NAME_FILTER_H_
