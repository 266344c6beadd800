// The `os` collector: node_os_info{build_id,id,id_like,image_id,
// image_version,name,pretty_name,variant,variant_id,version,
// version_codename,version_id} 1 and node_os_version{id,id_like,name} from
// <rootfs>/etc/os-release (falling back to <rootfs>/usr/lib/os-release), as
// node_exporter 1.5 does.
#ifndef PROPMON_EXPORTER_COLLECTORS_OS_H_
#define PROPMON_EXPORTER_COLLECTORS_OS_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Parses os-release(5): KEY=VALUE lines, '#' comments, values optionally in
// double or single quotes with backslash escapes ($, ", \, `) inside double
// quotes. Lines without '=' or with an invalid key are skipped (the format
// says to ignore them); never fails.
std::map<std::string, std::string> ParseOsRelease(std::string_view text);

// Returns the leading "major[.minor]" of VERSION_ID as a number
// (node_exporter's `^[0-9]+\.?[0-9]*`), or nullopt when there is none.
std::optional<double> OsVersionNumber(std::string_view version_id);

// Not thread-safe (HostCollectors serializes calls). node_os_version is
// absent when VERSION_ID has no number (node_exporter would say 0).
class OsCollector : public Collector {
 public:
  explicit OsCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "os"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_OS_H_
