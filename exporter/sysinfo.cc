#include "exporter/sysinfo.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/collectors/os.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;

std::optional<std::string> ReadTrimmed(const std::string& path) {
  std::string buf;
  if (!ReadFileTo(path, &buf, 64 * 1024).ok()) return std::nullopt;
  std::string_view t = TrimSpace(buf);
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

std::optional<uint64_t> ReadU64(const std::string& path) {
  auto s = ReadTrimmed(path);
  uint64_t v = 0;
  if (!s || !ParseU64(*s, &v)) return std::nullopt;
  return v;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// "key\t: value" -> (key, value).
bool SplitCpuInfoLine(std::string_view line, std::string_view* key,
                      std::string_view* value) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  *key = TrimSpace(line.substr(0, colon));
  *value = TrimSpace(line.substr(colon + 1));
  return true;
}

double KhzToGhz(uint64_t khz) { return static_cast<double>(khz) / 1e6; }

double Round3(double v) { return std::round(v * 1000) / 1000; }

// cpu0..cpuN under <sysfs>/devices/system/cpu.
std::vector<std::string> CpuDirs(const std::string& sysfs) {
  std::vector<std::string> out;
  std::string base = sysfs + "/devices/system/cpu";
  for (const auto& n : ListDir(base)) {
    if (n.size() > 3 && n.compare(0, 3, "cpu") == 0 &&
        std::all_of(n.begin() + 3, n.end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      out.push_back(base + "/" + n);
    }
  }
  return out;
}

json CpuJson(const SysInfoOptions& o, int* cores_out, int* threads_out) {
  std::string text;
  CpuInfoFacts f;
  if (ReadFileTo(o.procfs + "/cpuinfo", &text, 4 << 20).ok()) {
    f = ParseCpuInfo(text);
  }
  // Cores from sysfs topology first (every architecture has it), then the
  // cpuinfo ids.
  std::set<std::pair<uint64_t, uint64_t>> sys_cores;
  int sys_threads = 0;
  for (const auto& dir : CpuDirs(o.sysfs)) {
    auto core = ReadU64(dir + "/topology/core_id");
    auto pkg = ReadU64(dir + "/topology/physical_package_id");
    if (!core) continue;
    ++sys_threads;
    sys_cores.insert({pkg.value_or(0), *core});
  }
  int cores = !sys_cores.empty() ? static_cast<int>(sys_cores.size()) : f.cores;
  int threads = f.threads > 0 ? f.threads : sys_threads;
  json cpu = json::object();
  if (!f.model.empty()) cpu["model"] = f.model;
  if (!f.vendor.empty()) cpu["vendor"] = f.vendor;
  if (cores > 0) cpu["cores"] = cores;
  if (threads > 0) cpu["threads"] = threads;
  std::string freq = o.sysfs + "/devices/system/cpu/cpu0/cpufreq/";
  if (auto v = ReadU64(freq + "base_frequency")) {
    cpu["base_frequency_ghz"] = Round3(KhzToGhz(*v));
  }
  if (auto v = ReadU64(freq + "cpuinfo_min_freq")) {
    cpu["min_frequency_ghz"] = Round3(KhzToGhz(*v));
  }
  if (auto v = ReadU64(freq + "cpuinfo_max_freq")) {
    cpu["max_frequency_ghz"] = Round3(KhzToGhz(*v));
  }
  if (f.mhz) {
    cpu["current_frequency_ghz"] = Round3(*f.mhz / 1000);
  } else if (auto v = ReadU64(freq + "scaling_cur_freq")) {
    cpu["current_frequency_ghz"] = Round3(KhzToGhz(*v));
  }
  cpu["features"] = f.features;
  *cores_out = cores;
  *threads_out = threads;
  return cpu;
}

json DisksJson(const SysInfoOptions& o) {
  std::string text;
  if (!ReadFileTo(o.procfs + "/1/mounts", &text).ok() &&
      !ReadFileTo(o.procfs + "/mounts", &text).ok()) {
    return json::array();
  }
  auto mounts = ParseMounts(text);
  if (!mounts.ok()) return json::array();
  // A later mount on the same point hides the earlier one.
  std::map<std::string, MountEntry> by_point;
  for (auto& m : *mounts) {
    if (m.device.compare(0, 5, "/dev/") != 0) continue;  // Not a block device.
    by_point[m.mount_point] = m;
  }
  json out = json::array();
  for (const auto& [point, m] : by_point) {
    json d = {{"device", m.device},
              {"mount_point", point},
              {"filesystem", m.fs_type}};
    std::string path = o.rootfs == "/" ? point : JoinPath(o.rootfs, point);
    struct statvfs st {};
    if (statvfs(path.c_str(), &st) == 0) {
      uint64_t frsize = st.f_frsize ? st.f_frsize : st.f_bsize;
      d["total_bytes"] = static_cast<uint64_t>(st.f_blocks) * frsize;
      d["available_bytes"] = static_cast<uint64_t>(st.f_bavail) * frsize;
    }
    if (auto type = DiskType(o.sysfs, m.device)) d["disk_type"] = *type;
    out.push_back(std::move(d));
  }
  return out;
}

json InterfacesJson(const SysInfoOptions& o) {
  std::map<std::string, std::vector<std::string>> addrs;
  ifaddrs* list = nullptr;
  if (!o.privacy && getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || a->ifa_name == nullptr) continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* src = nullptr;
      if (a->ifa_addr->sa_family == AF_INET) {
        src = &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr;
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        src = &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(a->ifa_addr->sa_family, src, buf, sizeof(buf)) == nullptr) {
        continue;
      }
      std::string name = a->ifa_name;
      size_t colon = name.find(':');  // "eth0:1" aliases.
      if (colon != std::string::npos) name.resize(colon);
      addrs[name].push_back(buf);
    }
    freeifaddrs(list);
  }
  json out = json::array();
  std::string base = o.sysfs + "/class/net";
  for (const auto& name : ListDir(base)) {
    std::string dir = base + "/" + name;
    json i = {{"name", name}};
    if (!o.privacy) {
      if (auto mac = ReadTrimmed(dir + "/address")) i["mac_address"] = *mac;
      i["ip_addresses"] = addrs[name];
    }
    // `speed` is EINVAL (unreadable) or -1 when unknown.
    if (auto s = ReadTrimmed(dir + "/speed")) {
      int64_t v = 0;
      if (ParseI64(*s, &v) && v > 0) i["speed_mbps"] = v;
    }
    auto oper = ReadTrimmed(dir + "/operstate");
    std::optional<uint64_t> flags;
    if (auto f = ReadTrimmed(dir + "/flags")) {
      char* end = nullptr;
      unsigned long long v = std::strtoull(f->c_str(), &end, 16);
      if (end != nullptr && *end == '\0') flags = v;
    }
    if (oper) i["operstate"] = *oper;
    if (oper || flags) {
      // "unknown" (loopback, many virtual devices): go by IFF_UP.
      bool up = oper == "up" ||
                ((!oper || *oper == "unknown") && flags && (*flags & IFF_UP));
      i["is_up"] = up;
    }
    if (auto mtu = ReadU64(dir + "/mtu")) i["mtu"] = *mtu;
    out.push_back(std::move(i));
  }
  return out;
}

// "proplet-" + the first 12 hex digits of SHA-256(key || id).
std::optional<std::string> HashedId(const std::string& id) {
  static constexpr char kKey[] = "propmon-exporter proplet id\n";
  std::string input = kKey + id;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  int ok =
      EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr);
  if (ok != 1 || len < 6) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "proplet-";
  for (int i = 0; i < 6; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string AnonymousPropletId(const std::string& rootfs,
                               const std::string& procfs) {
  try {
    for (const std::string& path : {JoinPath(rootfs, "etc/machine-id"),
                                    JoinPath(rootfs, "var/lib/dbus/machine-id"),
                                    procfs + "/sys/kernel/random/boot_id"}) {
      auto id = ReadTrimmed(path);
      if (!id) continue;
      if (auto h = HashedId(*id)) return *h;
    }
  } catch (const std::exception&) {
    // Only allocation failures can get here.
  }
  return "proplet";
}

CpuInfoFacts ParseCpuInfo(std::string_view text) {
  CpuInfoFacts f;
  std::set<std::pair<std::string, std::string>> cores;
  std::string physical_id;
  double mhz_sum = 0;
  int mhz_n = 0;
  std::string_view line;
  std::string_view rest = text;
  while (NextLine(&rest, &line)) {
    std::string_view key, value;
    if (!SplitCpuInfoLine(line, &key, &value)) continue;
    if (key == "processor") {
      ++f.threads;
    } else if (key == "model name" && f.model.empty()) {
      f.model = std::string(value);
    } else if ((key == "Model" || key == "Hardware") && f.model.empty() &&
               !value.empty()) {
      f.model = std::string(value);
    } else if (key == "vendor_id" && f.vendor.empty()) {
      f.vendor = std::string(value);
    } else if (key == "CPU implementer" && f.vendor.empty()) {
      f.vendor = std::string(value);
    } else if (key == "physical id") {
      physical_id = std::string(value);
    } else if (key == "core id") {
      cores.insert({physical_id, std::string(value)});
    } else if ((key == "flags" || key == "Features") && f.features.empty()) {
      std::vector<std::string_view> fields;
      SplitFields(value, &fields);
      for (auto v : fields) f.features.emplace_back(v);
    } else if (key == "cpu MHz") {
      double v = 0;
      if (ParseDouble(value, &v) && v > 0 && std::isfinite(v)) {
        mhz_sum += v;
        ++mhz_n;
      }
    }
  }
  f.cores = static_cast<int>(cores.size());
  if (mhz_n > 0) f.mhz = mhz_sum / mhz_n;
  return f;
}

MemInfoFacts ParseMemInfo(std::string_view text) {
  MemInfoFacts m;
  std::string_view line;
  std::string_view rest = text;
  std::vector<std::string_view> fields;
  while (NextLine(&rest, &line)) {
    SplitFields(line, &fields);
    if (fields.size() < 2) continue;
    uint64_t v = 0;
    if (!ParseU64(fields[1], &v)) continue;
    bool kb = fields.size() >= 3 && fields[2] == "kB";
    if (kb && v > UINT64_MAX / 1024) continue;
    uint64_t bytes = kb ? v * 1024 : v;
    if (fields[0] == "MemTotal:") m.total_bytes = bytes;
    if (fields[0] == "MemAvailable:") m.available_bytes = bytes;
  }
  return m;
}

std::optional<std::string> DiskType(const std::string& sysfs,
                                    const std::string& device) {
  std::string dev = device;
  char resolved[PATH_MAX];
  if (realpath(device.c_str(), resolved) != nullptr) dev = resolved;
  size_t slash = dev.rfind('/');
  std::string name = slash == std::string::npos ? dev : dev.substr(slash + 1);
  if (name.empty()) return std::nullopt;
  std::string dir = sysfs + "/class/block/" + name;
  if (access((dir + "/partition").c_str(), F_OK) == 0) {
    // The disk is the partition's parent directory (through the symlink).
    if (realpath(dir.c_str(), resolved) == nullptr) return std::nullopt;
    dir = resolved;
    size_t s = dir.rfind('/');
    if (s == std::string::npos || s == 0) return std::nullopt;
    dir.resize(s);
    name = dir.substr(dir.rfind('/') + 1);
  }
  auto rot = ReadTrimmed(dir + "/queue/rotational");
  if (!rot) return std::nullopt;
  if (*rot == "1") return std::string("HDD");
  if (*rot == "0") {
    return std::string(name.compare(0, 4, "nvme") == 0 ? "NVMe" : "SSD");
  }
  return std::nullopt;
}

nlohmann::json CollectSystemInfo(const SysInfoOptions& o) {
  json out = json::object();
  try {
    const Clock* clock = o.clock ? o.clock : SystemClock::Get();
    if (!o.proplet_id.empty()) out["proplet_id"] = o.proplet_id;
    out["timestamp"] = static_cast<int64_t>(std::floor(clock->Now() * 1000));

    int cores = 0, threads = 0;
    json hw = json::object();
    hw["cpu"] = CpuJson(o, &cores, &threads);
    std::string text;
    json mem = json::object();
    if (ReadFileTo(o.procfs + "/meminfo", &text).ok()) {
      MemInfoFacts m = ParseMemInfo(text);
      if (m.total_bytes) mem["total_bytes"] = *m.total_bytes;
      if (m.available_bytes) mem["available_bytes"] = *m.available_bytes;
    }
    hw["memory"] = mem;
    hw["disks"] = DisksJson(o);
    utsname u{};
    bool have_uname = uname(&u) == 0;
    if (have_uname) hw["architecture"] = u.machine;
    if (cores > 0) hw["core_count"] = cores;
    if (threads > 0) hw["thread_count"] = threads;
    out["hardware"] = std::move(hw);

    json sw = json::object();
    json os = json::object();
    if (auto t = ReadTrimmed(o.procfs + "/sys/kernel/ostype")) {
      os["name"] = *t;
    } else if (have_uname) {
      os["name"] = u.sysname;
    }
    std::string rel;
    if (ReadFileTo(JoinPath(o.rootfs, "etc/os-release"), &rel).ok() ||
        ReadFileTo(JoinPath(o.rootfs, "usr/lib/os-release"), &rel).ok()) {
      auto kv = ParseOsRelease(rel);
      if (auto it = kv.find("PRETTY_NAME");
          it != kv.end() && !it->second.empty()) {
        os["version"] = it->second;
      } else if (auto n = kv.find("NAME"); n != kv.end()) {
        os["version"] =
            n->second + (kv.count("VERSION") ? " " + kv["VERSION"] : "");
      }
      if (auto it = kv.find("ID"); it != kv.end() && !it->second.empty()) {
        os["distribution"] = it->second;
      }
      if (auto it = kv.find("VERSION_ID");
          it != kv.end() && !it->second.empty()) {
        os["version_id"] = it->second;
      }
    }
    if (auto k = ReadTrimmed(o.procfs + "/sys/kernel/osrelease")) {
      os["kernel_version"] = *k;
    } else if (have_uname) {
      os["kernel_version"] = u.release;
    }
    sw["os"] = std::move(os);
    if (!o.privacy) {
      if (auto h = ReadTrimmed(o.procfs + "/sys/kernel/hostname")) {
        sw["hostname"] = *h;
      } else if (have_uname) {
        sw["hostname"] = u.nodename;
      }
    }
    if (auto up = ReadTrimmed(o.procfs + "/uptime")) {
      std::vector<std::string_view> fields;
      SplitFields(*up, &fields);
      double v = 0;
      if (!fields.empty() && ParseDouble(fields[0], &v) && v >= 0) {
        sw["uptime_seconds"] = static_cast<uint64_t>(v);
      }
    }
    out["software"] = std::move(sw);
    out["network_interfaces"] = InterfacesJson(o);
  } catch (const std::exception&) {
    // Only allocation failures can get here; return what there is.
  }
  return out;
}

}  // namespace propmon::exporter
