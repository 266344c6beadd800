// The `vmstat` collector: node_vmstat_<field> for the /proc/vmstat fields
// node_exporter exports by default (oom_kill, pgpg*, pswp*, pg*fault*).
#ifndef PROPMON_EXPORTER_COLLECTORS_VMSTAT_H_
#define PROPMON_EXPORTER_COLLECTORS_VMSTAT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Returns true for the field names node_exporter 1.5's default
// --collector.vmstat.fields `^(oom_kill|pgpg|pswp|pg.*fault).*` selects.
bool VmstatFieldSelected(std::string_view name);

// Parses "name value" lines. A malformed line is InvalidArgument.
StatusOr<std::vector<std::pair<std::string, double>>> ParseVmstat(
    std::string_view text);

// Not thread-safe (HostCollectors serializes calls). Samples are untyped, as
// node_exporter exposes them.
class VmstatCollector : public Collector {
 public:
  explicit VmstatCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "vmstat"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_VMSTAT_H_
