// The `loadavg` collector: node_load1, node_load5, node_load15 from
// /proc/loadavg.
#ifndef PROPMON_EXPORTER_COLLECTORS_LOADAVG_H_
#define PROPMON_EXPORTER_COLLECTORS_LOADAVG_H_

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Parses the first three fields of /proc/loadavg ("0.24 0.20 0.10 1/234
// 5678"). Fewer than three fields or a bad number is InvalidArgument.
StatusOr<std::array<double, 3>> ParseLoadavg(std::string_view text);

// Not thread-safe (HostCollectors serializes calls).
class LoadavgCollector : public Collector {
 public:
  explicit LoadavgCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "loadavg"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_LOADAVG_H_
