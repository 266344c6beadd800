// HostCollectors: the registry of host collectors (the one place that lists
// them) and the prometheus::Collectable that runs the enabled ones per
// scrape, adding propmon_exporter_collector_success{collector} and
// propmon_exporter_collector_duration_seconds{collector}.
#ifndef PROPMON_EXPORTER_COLLECTORS_HOST_COLLECTORS_H_
#define PROPMON_EXPORTER_COLLECTORS_HOST_COLLECTORS_H_

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "exporter/collectors/collector.h"
#include "exporter/collectors/diskstats.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/collectors/gpu.h"
#include "exporter/collectors/netdev.h"

namespace propmon::exporter {

// Everything configurable about the host collectors. Defaults match Debian
// 12's prometheus-node-exporter 1.5.0 so both emit the same label sets.
struct HostCollectorOptions {
  HostPaths paths;
  std::string diskstats_device_exclude = kDefaultDiskstatsDeviceExclude;
  std::string filesystem_mount_points_exclude = kDefaultMountPointsExclude;
  std::string filesystem_fs_types_exclude = kDefaultFsTypesExclude;
  std::string netdev_device_exclude = kDefaultNetdevDeviceExclude;
  std::chrono::milliseconds statfs_timeout{5000};
  StatfsFunc statfs;  // Null: statfs(2). Tests inject a fake.
  GpuCollector::Options gpu;
  // The config's `privacy`: no host name in any label (node_uname_info's
  // nodename and domainname, the GPU series' Hostname are "").
  bool privacy = false;
};

// The known collector names, in the order they run: cpu, diskstats,
// filesystem, hwmon, loadavg, meminfo, netdev, os, processes, stat, uname,
// vmstat, gpu.
const std::vector<std::string>& HostCollectorNames();

class HostCollectors : public prometheus::Collectable {
 public:
  // Runs `collectors` in order, then `gpu` (null: GPU collector disabled).
  HostCollectors(std::vector<std::unique_ptr<Collector>> collectors,
                 std::shared_ptr<GpuCollector> gpu,
                 const Clock* clock = SystemClock::Get());

  // Runs every enabled collector and returns their families followed by
  // the success/duration families. A collector that returns an error has
  // its partial output discarded and success 0; the scrape itself never
  // fails. Thread-safe: concurrent calls are serialized.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Names of the enabled collectors, in run order.
  std::vector<std::string> Names() const;

  // The GPU collector (for proplet_task_gpu_memory_bytes:
  // gpu()->ProcessMemory()), or null when disabled. Thread-safe.
  std::shared_ptr<GpuCollector> gpu() const { return gpu_; }
  // Convenience: gpu()->ProcessMemory(), or empty when disabled.
  std::map<pid_t, uint64_t> GpuProcessMemory() const;

 private:
  mutable std::mutex mu_;  // Serializes Collect() (collectors keep state).
  std::vector<std::unique_ptr<Collector>> collectors_;
  std::shared_ptr<GpuCollector> gpu_;
  const Clock* clock_;
};

// Builds the collectors named in `enabled` (empty: all of
// HostCollectorNames()) minus those in `disabled`. Unknown names, a name
// both enabled and disabled, and bad exclude patterns are InvalidArgument
// errors with a clear message (config time, not scrape time).
StatusOr<std::unique_ptr<HostCollectors>> MakeHostCollectors(
    const HostPaths& paths, const std::vector<std::string>& enabled_names,
    const std::vector<std::string>& disabled_names);
StatusOr<std::unique_ptr<HostCollectors>> MakeHostCollectors(
    const HostCollectorOptions& options,
    const std::vector<std::string>& enabled_names,
    const std::vector<std::string>& disabled_names);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_HOST_COLLECTORS_H_
