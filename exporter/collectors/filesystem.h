// The `filesystem` collector: node_filesystem_{size,free,avail}_bytes,
// node_filesystem_{files,files_free,readonly,device_error}
// {device,mountpoint,fstype} for real file systems, like node_exporter 1.5:
// mounts from <procfs>/1/mounts (falling back to <procfs>/mounts), its
// default mount point and fs type excludes, statfs(2) on <rootfs>/<mount
// point> with a timeout after which a mount is "stuck" and skipped
// (device_error 1) until its statfs returns.
#ifndef PROPMON_EXPORTER_COLLECTORS_FILESYSTEM_H_
#define PROPMON_EXPORTER_COLLECTORS_FILESYSTEM_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"
#include "exporter/collectors/name_filter.h"

namespace propmon::exporter {

// Defaults of Debian 12's node_exporter 1.5.0 (Debian patches the mount
// point exclude to add run, mnt and media; upstream 1.5.0 uses
// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`).
inline constexpr char kDefaultMountPointsExclude[] =
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/"
    "storage/.+)($|/)";
inline constexpr char kDefaultFsTypesExclude[] =
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|"
    "fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_"
    "pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

struct MountEntry {
  std::string device;
  std::string mount_point;  // Octal escapes (\040 = space) decoded.
  std::string fs_type;
  std::string options;
};

// Decodes the kernel's \ooo escapes (space, tab, newline, backslash) in a
// /proc/mounts field. A backslash not followed by three octal digits is kept.
std::string UnescapeMountField(std::string_view field);

// Parses /proc/mounts (or /proc/<pid>/mounts). A non-empty line with fewer
// than four fields is InvalidArgument naming it.
StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text);

// What statfs(2) says, in node_exporter's terms.
struct FsStats {
  uint64_t blocks = 0;  // f_blocks
  uint64_t bfree = 0;   // f_bfree
  uint64_t bavail = 0;  // f_bavail
  uint64_t files = 0;   // f_files
  uint64_t ffree = 0;   // f_ffree
  uint64_t bsize = 0;   // f_bsize (node_exporter multiplies by Bsize)
};
// The statfs seam: fills *out for `path` or returns an error. May block (a
// hung NFS server); it then runs on past the collector's timeout on its own
// thread. Must be thread-safe and must not throw.
using StatfsFunc = std::function<Status(const std::string& path, FsStats* out)>;
// statfs(2).
Status SystemStatfs(const std::string& path, FsStats* out);

// Not thread-safe (HostCollectors serializes calls); the stuck-mount set is
// shared with the statfs helper threads under its own mutex.
class FilesystemCollector : public Collector {
 public:
  struct Options {
    NameFilter mount_points_exclude;
    NameFilter fs_types_exclude;
    std::chrono::milliseconds statfs_timeout{5000};
    StatfsFunc statfs;  // Null: SystemStatfs.
  };
  FilesystemCollector(HostPaths paths, Options options);
  std::string_view Name() const override { return "filesystem"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

  // Returns true while `mount_point` (as labelled) is considered stuck.
  bool IsStuck(const std::string& mount_point) const;

 private:
  struct StuckSet {
    std::mutex mu;
    std::set<std::string> mounts;
  };
  Status StatWithTimeout(const std::string& path, const std::string& label,
                         FsStats* out);

  HostPaths paths_;
  Options options_;
  std::shared_ptr<StuckSet> stuck_ = std::make_shared<StuckSet>();
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_FILESYSTEM_H_
