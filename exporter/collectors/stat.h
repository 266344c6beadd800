// The `stat` collector: node_boot_time_seconds, node_context_switches_total,
// node_forks_total, node_intr_total, node_procs_running and
// node_procs_blocked from /proc/stat (parser in cpu.h).
#ifndef PROPMON_EXPORTER_COLLECTORS_STAT_H_
#define PROPMON_EXPORTER_COLLECTORS_STAT_H_

#include <string>
#include <string_view>
#include <vector>

#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Not thread-safe (HostCollectors serializes calls). A field the file lacks
// yields no sample; a malformed file fails the collector.
class StatCollector : public Collector {
 public:
  explicit StatCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "stat"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_STAT_H_
