// Collector: one host metric source (one /proc or /sys file family), with
// its I/O split from a pure parser that tests drive with fixture text.
#ifndef PROPMON_EXPORTER_COLLECTORS_COLLECTOR_H_
#define PROPMON_EXPORTER_COLLECTORS_COLLECTOR_H_

#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace propmon::exporter {

// Where the collectors read from (overridable for fixture trees).
struct HostPaths {
  std::string procfs = "/proc";
  std::string sysfs = "/sys";
  std::string rootfs = "/";
  // udev's database (node_disk_info's path/wwn/model/serial/revision
  // labels); a missing directory leaves those labels empty.
  std::string udev_data = "/run/udev/data";
};

// A host collector. Collect() is called from one scrape at a time (the
// HostCollectors wrapper serializes calls); implementations need not be
// thread-safe. A failing collector returns a non-OK Status; the scrape goes on.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual std::string_view Name() const = 0;
  virtual Status Collect(std::vector<prometheus::MetricFamily>* out) = 0;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_COLLECTOR_H_
