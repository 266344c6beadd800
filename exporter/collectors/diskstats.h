// The `diskstats` collector: node_disk_*{device} from /proc/diskstats, with
// node_exporter 1.5's names, units and default device exclude, plus
// node_disk_info{device,major,minor,path,wwn,model,serial,revision} whose
// last five labels come from udev's database when it exists.
#ifndef PROPMON_EXPORTER_COLLECTORS_DISKSTATS_H_
#define PROPMON_EXPORTER_COLLECTORS_DISKSTATS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"
#include "exporter/collectors/name_filter.h"

namespace propmon::exporter {

// The default --collector.diskstats.device-exclude of the node_exporter we
// compare against (Debian 12's 1.5.0). Upstream 1.6+ also excludes zram
// (`^(z?ram|...`); set the option to that to match a newer node_exporter.
inline constexpr char kDefaultDiskstatsDeviceExclude[] =
    "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$";

struct DiskStats {
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string device;
  // The numbers after the name, in kernel order (11 before Linux 4.18, 15
  // with discards, 17 with flushes).
  std::vector<uint64_t> stats;
};

// Parses /proc/diskstats. A line with fewer than 11 statistics or a
// non-numeric field is InvalidArgument naming it.
StatusOr<std::vector<DiskStats>> ParseDiskstats(std::string_view text);

// The udev properties node_disk_info carries.
struct UdevDiskInfo {
  std::string path;      // ID_PATH
  std::string wwn;       // ID_WWN
  std::string model;     // ID_MODEL
  std::string serial;    // ID_SERIAL_SHORT, else SCSI_IDENT_SERIAL
  std::string revision;  // ID_REVISION
};
// Parses a udev database file ("E:KEY=VALUE" lines; others ignored).
UdevDiskInfo ParseUdevData(std::string_view text);

// Not thread-safe (HostCollectors serializes calls).
class DiskstatsCollector : public Collector {
 public:
  DiskstatsCollector(HostPaths paths, NameFilter exclude)
      : paths_(std::move(paths)), exclude_(std::move(exclude)) {}
  std::string_view Name() const override { return "diskstats"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  NameFilter exclude_;
  std::string buf_;
  std::string udev_buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_DISKSTATS_H_
