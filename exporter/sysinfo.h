// System information for GET /api/v1/system, in the layout of nodelink's
// "Agent System Information" (hardware, software, network_interfaces):
// CPU model, cores, threads, frequencies and flags; memory; disks with type;
// architecture; OS, kernel, hostname, uptime; network interfaces. Read from
// the procfs and sysfs roots the exporter was given (fixture trees in tests),
// statvfs(2) on mount points, uname(2) and getifaddrs(3).
//
// A fact that cannot be found is absent from the JSON, never zero or "".
// Thread-safe: every function is pure or reads the file system only.
#ifndef PROPMON_EXPORTER_SYSINFO_H_
#define PROPMON_EXPORTER_SYSINFO_H_

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace propmon::exporter {

// What /proc/cpuinfo says (x86 and ARM layouts).
struct CpuInfoFacts {
  std::string model;   // "model name" (x86), else "Model" / "Hardware".
  std::string vendor;  // "vendor_id" (x86), else "CPU implementer".
  int threads = 0;     // "processor" entries.
  int cores = 0;       // Distinct (physical id, core id); 0 when not listed.
  std::vector<std::string> features;  // "flags" (x86) or "Features" (ARM).
  std::optional<double> mhz;          // Mean "cpu MHz", when listed.
};
// Never fails: unknown lines are skipped, missing facts stay empty.
CpuInfoFacts ParseCpuInfo(std::string_view text);

// The "MemTotal" and "MemAvailable" lines of /proc/meminfo, in bytes.
struct MemInfoFacts {
  std::optional<uint64_t> total_bytes;
  std::optional<uint64_t> available_bytes;
};
MemInfoFacts ParseMemInfo(std::string_view text);

// Classifies a block device from sysfs: "NVMe" (nvme*, non-rotational),
// "SSD" (rotational 0), "HDD" (rotational 1); nullopt when sysfs does not
// say. `device` is a /dev path (symlinks such as /dev/mapper/x resolved);
// partitions are classified by their disk.
std::optional<std::string> DiskType(const std::string& sysfs,
                                    const std::string& device);

struct SysInfoOptions {
  std::string procfs = "/proc";
  std::string sysfs = "/sys";
  std::string rootfs = "/";  // For etc/os-release and statvfs(2) of mounts.
  bool privacy = false;      // Omit hostname, IP addresses and MACs.
  std::string proplet_id;
  const Clock* clock = nullptr;  // SystemClock when null.
};

// Returns the system information object (see docs/api.md). Never throws.
nlohmann::json CollectSystemInfo(const SysInfoOptions& options);

// The proplet id used with `privacy: true` when none is configured (instead
// of the hostname): "proplet-" and the first 12 hex digits of SHA-256 over
// an application key and the machine id (`rootfs`/etc/machine-id, else
// `rootfs`/var/lib/dbus/machine-id), so it is stable across restarts, differs
// between machines, and neither names the host nor reveals its machine id
// (machine-id(5) asks for such a keyed hash). Without a machine id, the same
// hash of the boot id (`procfs`/sys/kernel/random/boot_id: new every boot);
// without either, "proplet". Never throws.
std::string AnonymousPropletId(const std::string& rootfs,
                               const std::string& procfs);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_SYSINFO_H_
