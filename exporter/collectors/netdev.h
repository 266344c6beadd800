// The `netdev` collector: node_network_{receive,transmit}_<column>_total
// {device} for every /proc/net/dev column (bytes, packets, errs, drop, fifo,
// frame, compressed, multicast; colls, carrier), plus
// node_network_receive_nohandler_total from sysfs where the kernel has it,
// which is what node_exporter 1.5 (netlink mode) exposes.
#ifndef PROPMON_EXPORTER_COLLECTORS_NETDEV_H_
#define PROPMON_EXPORTER_COLLECTORS_NETDEV_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"
#include "exporter/collectors/name_filter.h"

namespace propmon::exporter {

// Debian 12's node_exporter 1.5.0 default --collector.netdev.device-exclude
// (upstream has none, so it also reports lo).
inline constexpr char kDefaultNetdevDeviceExclude[] = "^lo$";

struct NetDevTable {
  std::vector<std::string> receive_columns;   // From the header: "bytes", ...
  std::vector<std::string> transmit_columns;  // "bytes", ..., "carrier", ...
  struct Device {
    std::string name;
    std::vector<uint64_t> receive;   // Parallel to receive_columns.
    std::vector<uint64_t> transmit;  // Parallel to transmit_columns.
  };
  std::vector<Device> devices;
};

// Parses /proc/net/dev, taking the column names from its second header line.
// A missing or malformed header, a line without "name:", or a wrong count of
// numbers is InvalidArgument naming the line.
StatusOr<NetDevTable> ParseNetDev(std::string_view text);

// Not thread-safe (HostCollectors serializes calls).
class NetdevCollector : public Collector {
 public:
  NetdevCollector(HostPaths paths, NameFilter exclude)
      : paths_(std::move(paths)), exclude_(std::move(exclude)) {}
  std::string_view Name() const override { return "netdev"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  NameFilter exclude_;
  std::string buf_;
  std::string small_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_NETDEV_H_
