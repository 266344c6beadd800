#include "exporter/collectors/filesystem.h"

#include <errno.h>
#include <sys/statfs.h>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <thread>
#include <tuple>
#include <utility>

#include "common/file.h"
#include "common/log.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// node_exporter's rootfsStripPrefix.
std::string StripRootfs(const std::string& rootfs, std::string mp) {
  if (rootfs.empty() || rootfs == "/") return mp;
  std::string_view r = rootfs;
  while (r.size() > 1 && r.back() == '/') r.remove_suffix(1);
  if (mp.compare(0, r.size(), r) == 0 &&
      (mp.size() == r.size() || mp[r.size()] == '/')) {
    mp.erase(0, r.size());
    if (mp.empty()) mp = "/";
  }
  return mp;
}

bool HasOption(std::string_view options, std::string_view want) {
  while (!options.empty()) {
    size_t comma = options.find(',');
    std::string_view opt = options.substr(0, comma);
    if (opt == want) return true;
    if (comma == std::string_view::npos) break;
    options.remove_prefix(comma + 1);
  }
  return false;
}
}  // namespace

std::string UnescapeMountField(std::string_view field) {
  std::string r;
  r.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      int v = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
              (field[i + 3] - '0');
      if (v <= 0xff) {
        r.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    r.push_back(field[i]);
  }
  return r;
}

StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  std::vector<std::string_view> f;
  std::string_view line;
  while (NextLine(&text, &line)) {
    SplitFields(line, &f);
    if (f.empty()) continue;
    if (f.size() < 4) {
      return InvalidArgument("mounts: malformed line \"" +
                             std::string(line.substr(0, 160)) + "\"");
    }
    MountEntry m;
    m.device = UnescapeMountField(f[0]);
    m.mount_point = UnescapeMountField(f[1]);
    m.fs_type = UnescapeMountField(f[2]);
    m.options.assign(f[3]);
    mounts.push_back(std::move(m));
  }
  return mounts;
}

Status SystemStatfs(const std::string& path, FsStats* out) {
  struct statfs buf;
  std::memset(&buf, 0, sizeof(buf));
  if (statfs(path.c_str(), &buf) != 0) {
    return Unavailable("statfs " + path + ": " + std::strerror(errno));
  }
  out->blocks = buf.f_blocks;
  out->bfree = buf.f_bfree;
  out->bavail = buf.f_bavail;
  out->files = buf.f_files;
  out->ffree = buf.f_ffree;
  out->bsize = static_cast<uint64_t>(buf.f_bsize);
  return Status::Ok();
}

FilesystemCollector::FilesystemCollector(HostPaths paths, Options options)
    : paths_(std::move(paths)), options_(std::move(options)) {
  if (!options_.statfs) options_.statfs = SystemStatfs;
}

bool FilesystemCollector::IsStuck(const std::string& mount_point) const {
  std::lock_guard<std::mutex> l(stuck_->mu);
  return stuck_->mounts.count(mount_point) > 0;
}

Status FilesystemCollector::StatWithTimeout(const std::string& path,
                                            const std::string& label,
                                            FsStats* out) {
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool abandoned = false;
    Status status;
    FsStats stats;
  };
  auto call = std::make_shared<Call>();
  try {
    std::thread([call, stuck = stuck_, fn = options_.statfs, path, label] {
      FsStats st;
      Status s;
      try {
        s = fn(path, &st);
      } catch (const std::exception& e) {
        s = Internal(std::string("statfs threw: ") + e.what());
      } catch (...) {
        s = Internal("statfs threw");
      }
      std::lock_guard<std::mutex> l(call->mu);
      call->done = true;
      call->status = std::move(s);
      call->stats = st;
      if (call->abandoned) {
        std::lock_guard<std::mutex> l2(stuck->mu);
        stuck->mounts.erase(label);
      }
      call->cv.notify_all();
    }).detach();
  } catch (const std::exception& e) {
    return Unavailable(std::string("statfs: cannot start thread: ") + e.what());
  }
  std::unique_lock<std::mutex> l(call->mu);
  if (!call->cv.wait_for(l, options_.statfs_timeout,
                         [&] { return call->done; })) {
    call->abandoned = true;
    std::lock_guard<std::mutex> l2(stuck_->mu);
    stuck_->mounts.insert(label);
    return Unavailable("statfs " + path + ": timed out; mount marked stuck");
  }
  *out = call->stats;
  return call->status;
}

Status FilesystemCollector::Collect(
    std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "1/mounts"), &buf_);
  if (s.code() == StatusCode::kNotFound) {
    // /proc/1 hidden (hidepid) or absent: use our own mount namespace.
    s = ReadFileTo(JoinPath(paths_.procfs, "mounts"), &buf_);
  }
  if (!s.ok()) return s;
  auto mounts = ParseMounts(buf_);
  if (!mounts.ok()) return mounts.status();

  using prometheus::MetricType;
  FamilyBuilder size("node_filesystem_size_bytes", "Filesystem size in bytes.",
                     MetricType::Gauge);
  FamilyBuilder free_b("node_filesystem_free_bytes",
                       "Filesystem free space in bytes.", MetricType::Gauge);
  FamilyBuilder avail("node_filesystem_avail_bytes",
                      "Filesystem space available to non-root users in bytes.",
                      MetricType::Gauge);
  FamilyBuilder files("node_filesystem_files", "Filesystem total file nodes.",
                      MetricType::Gauge);
  FamilyBuilder files_free("node_filesystem_files_free",
                           "Filesystem total free file nodes.",
                           MetricType::Gauge);
  FamilyBuilder readonly("node_filesystem_readonly",
                         "Filesystem read-only status.", MetricType::Gauge);
  FamilyBuilder device_error(
      "node_filesystem_device_error",
      "Whether an error occurred while getting statistics for the given "
      "device.",
      MetricType::Gauge);

  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const MountEntry& m : *mounts) {
    std::string mp = StripRootfs(paths_.rootfs, m.mount_point);
    if (options_.mount_points_exclude.Ignored(mp)) continue;
    if (options_.fs_types_exclude.Ignored(m.fs_type)) continue;
    if (!seen.emplace(m.device, mp, m.fs_type).second) continue;
    Labels labels{
        {"device", m.device}, {"fstype", m.fs_type}, {"mountpoint", mp}};
    readonly.Add(labels, HasOption(m.options, "ro") ? 1 : 0);
    FsStats st;
    Status ss;
    if (IsStuck(mp)) {
      ss = Unavailable("mount point " + mp + " is stuck");
    } else {
      std::string path = paths_.rootfs.empty() || paths_.rootfs == "/"
                             ? mp
                             : JoinPath(paths_.rootfs, mp);
      ss = StatWithTimeout(path, mp, &st);
    }
    if (!ss.ok()) {
      PM_LOG_EVERY_30S(kWarn) << "filesystem: " << ss.message();
      device_error.Add(labels, 1);
      continue;
    }
    device_error.Add(labels, 0);
    const double bs = static_cast<double>(st.bsize);
    size.Add(labels, static_cast<double>(st.blocks) * bs);
    free_b.Add(labels, static_cast<double>(st.bfree) * bs);
    avail.Add(labels, static_cast<double>(st.bavail) * bs);
    files.Add(labels, static_cast<double>(st.files));
    files_free.Add(labels, static_cast<double>(st.ffree));
  }
  avail.MoveTo(out);
  device_error.MoveTo(out);
  files.MoveTo(out);
  files_free.MoveTo(out);
  free_b.MoveTo(out);
  readonly.MoveTo(out);
  size.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
