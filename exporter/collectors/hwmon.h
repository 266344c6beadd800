// The `hwmon` collector: node_hwmon_temp_celsius{chip,sensor} (plus
// node_hwmon_temp_max_celsius, node_hwmon_temp_crit_celsius,
// node_hwmon_sensor_label{chip,sensor,label} and
// node_hwmon_chip_names{chip,chip_name}) from <sysfs>/class/hwmon, named as
// node_exporter 1.5 names chips. A host without hwmon (most VMs) yields no
// samples and success 1.
#ifndef PROPMON_EXPORTER_COLLECTORS_HWMON_H_
#define PROPMON_EXPORTER_COLLECTORS_HWMON_H_

#include <string>
#include <string_view>
#include <vector>

#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// node_exporter's cleanMetricName: lower-case, every character outside
// [a-z0-9:_] becomes '_', leading/trailing '_' trimmed.
std::string CleanHwmonName(std::string_view name);

// node_exporter's chip name: "<parent dir>_<device dir>" of the resolved
// `device` link (either part alone if the other is empty after cleaning),
// else the cleaned `name` file, else the hwmon directory's own name.
// Arguments are "" when unavailable.
std::string HwmonChipName(std::string_view device_realpath,
                          std::string_view name_file,
                          std::string_view hwmon_dir_realpath);

// Not thread-safe (HostCollectors serializes calls). An unreadable sensor
// file (EIO, ENODATA: common on hwmon) skips that value only.
class HwmonCollector : public Collector {
 public:
  explicit HwmonCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "hwmon"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_HWMON_H_
