// The `uname` collector: node_uname_info{sysname,release,version,machine,
// nodename,domainname} 1. Read from <procfs>/sys/kernel/{ostype,osrelease,
// version,arch,hostname,domainname} (the same strings uname(2) returns), so
// a fixture tree can stand in for the host; `machine` falls back to uname(2)
// on kernels without /proc/sys/kernel/arch. With privacy, nodename and
// domainname are "" (the labels stay, so the label set never changes).
#ifndef PROPMON_EXPORTER_COLLECTORS_UNAME_H_
#define PROPMON_EXPORTER_COLLECTORS_UNAME_H_

#include <string>
#include <string_view>
#include <vector>

#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Not thread-safe (HostCollectors serializes calls). Fails when a required
// file is missing.
class UnameCollector : public Collector {
 public:
  explicit UnameCollector(HostPaths paths, bool privacy = false)
      : paths_(std::move(paths)), privacy_(privacy) {}
  std::string_view Name() const override { return "uname"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  bool privacy_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_UNAME_H_
