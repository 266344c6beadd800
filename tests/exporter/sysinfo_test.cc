#include "exporter/sysinfo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "exporter/api.h"
#include "exporter/collectors/os.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using testutil::TempDir;

constexpr char kX86CpuInfo[] =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) "
    "Gold 6130 CPU @ 2.10GHz\ncpu MHz\t\t: 2000.000\nphysical id\t: 0\n"
    "core id\t\t: 0\nflags\t\t: fpu vme sse4_2 avx2\n\n"
    "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) "
    "Gold 6130 CPU @ 2.10GHz\ncpu MHz\t\t: 3000.000\nphysical id\t: 0\n"
    "core id\t\t: 0\nflags\t\t: fpu vme sse4_2 avx2\n\n"
    "processor\t: 2\nphysical id\t: 1\ncore id\t\t: 0\ncpu MHz\t\t: bogus\n";

constexpr char kArmCpuInfo[] =
    "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32\n"
    "CPU implementer\t: 0x41\nCPU part\t: 0xd08\n\n"
    "processor\t: 1\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32\n"
    "CPU implementer\t: 0x41\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 "
    "Model B Rev 1.4\n";

TEST(ParseCpuInfoTest, X86) {
  CpuInfoFacts f = ParseCpuInfo(kX86CpuInfo);
  EXPECT_EQ(f.model, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz");
  EXPECT_EQ(f.vendor, "GenuineIntel");
  EXPECT_EQ(f.threads, 3);
  EXPECT_EQ(f.cores, 2);  // (0,0) twice (hyper-threads) and (1,0).
  EXPECT_THAT(f.features, ElementsAre("fpu", "vme", "sse4_2", "avx2"));
  ASSERT_TRUE(f.mhz);
  EXPECT_DOUBLE_EQ(*f.mhz, 2500);  // The unparsable value is skipped.
}

TEST(ParseCpuInfoTest, ArmAndMalformed) {
  CpuInfoFacts f = ParseCpuInfo(kArmCpuInfo);
  EXPECT_EQ(f.model, "BCM2835");  // "Hardware" comes before "Model" here.
  EXPECT_EQ(f.vendor, "0x41");
  EXPECT_EQ(f.threads, 2);
  EXPECT_EQ(f.cores, 0);  // Not listed: sysfs topology decides.
  EXPECT_THAT(f.features, ElementsAre("fp", "asimd", "evtstrm", "crc32"));
  EXPECT_FALSE(f.mhz);
  for (const char* junk : {"", ":", "processor", "\n\n\n", "model name :"}) {
    CpuInfoFacts j = ParseCpuInfo(junk);
    EXPECT_TRUE(j.model.empty()) << junk;
    EXPECT_EQ(j.threads, 0) << junk;
  }
}

TEST(ParseMemInfoTest, TotalAndAvailable) {
  MemInfoFacts m = ParseMemInfo(
      "MemTotal:       16318480 kB\nMemFree:  1 kB\nMemAvailable:   8000000 "
      "kB\n"
      "HugePages_Total:       0\n");
  EXPECT_EQ(m.total_bytes, 16318480ull * 1024);
  EXPECT_EQ(m.available_bytes, 8000000ull * 1024);
  MemInfoFacts bad = ParseMemInfo("MemTotal: lots kB\nMemAvailable:\n");
  EXPECT_FALSE(bad.total_bytes);
  EXPECT_FALSE(bad.available_bytes);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

// procfs, sysfs and a root file system with known contents.
class SysFixture {
 public:
  SysFixture() {
    std::string p = proc(), s = sys(), r = root();
    WriteFile(p + "/cpuinfo", kX86CpuInfo);
    WriteFile(p + "/meminfo",
              "MemTotal:       2048 kB\nMemAvailable:   1024 kB\n");
    WriteFile(p + "/mounts",
              "/dev/sda1 / ext4 rw 0 0\n"
              "tmpfs /run tmpfs rw 0 0\n"
              "/dev/nvme0n1p2 /data\\040disk xfs rw 0 0\n"
              "server:/export /nfs nfs rw 0 0\n");
    WriteFile(p + "/sys/kernel/ostype", "Linux\n");
    WriteFile(p + "/sys/kernel/osrelease", "6.1.0-test-amd64\n");
    WriteFile(p + "/sys/kernel/hostname", "fixture-host\n");
    WriteFile(p + "/uptime", "12345.67 999.00\n");
    WriteFile(r + "/etc/os-release",
              "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"
              "VERSION_ID=\"12\"\n");
    std::filesystem::create_directories(r + "/data disk");
    for (int cpu : {0, 1, 2}) {
      std::string d = s + "/devices/system/cpu/cpu" + std::to_string(cpu);
      WriteFile(d + "/topology/core_id", cpu == 2 ? "1\n" : "0\n");
      WriteFile(d + "/topology/physical_package_id", "0\n");
    }
    std::string f = s + "/devices/system/cpu/cpu0/cpufreq/";
    WriteFile(f + "cpuinfo_min_freq", "800000\n");
    WriteFile(f + "cpuinfo_max_freq", "3700000\n");
    WriteFile(f + "base_frequency", "2100000\n");
    // Disks: partitions link to their disk's directory, as in sysfs.
    std::string dev = s + "/devices/pci0000:00";
    WriteFile(dev + "/sda/queue/rotational", "1\n");
    WriteFile(dev + "/sda/sda1/partition", "1\n");
    WriteFile(dev + "/nvme0n1/queue/rotational", "0\n");
    WriteFile(dev + "/nvme0n1/nvme0n1p2/partition", "2\n");
    WriteFile(dev + "/vdb/queue/rotational", "0\n");
    std::filesystem::create_directories(s + "/class/block");
    for (const char* link : {"sda/sda1", "nvme0n1/nvme0n1p2", "vdb"}) {
      std::string name = std::filesystem::path(link).filename();
      std::filesystem::create_symlink(
          std::string("../../devices/pci0000:00/") + link,
          s + "/class/block/" + name);
    }
    // Interfaces.
    std::string n = s + "/class/net/";
    WriteFile(n + "eth9/address", "52:54:00:12:34:56\n");
    WriteFile(n + "eth9/speed", "1000\n");
    WriteFile(n + "eth9/operstate", "up\n");
    WriteFile(n + "eth9/flags", "0x1003\n");
    WriteFile(n + "eth9/mtu", "1500\n");
    WriteFile(n + "lo9/address", "00:00:00:00:00:00\n");
    WriteFile(n + "lo9/operstate", "unknown\n");
    WriteFile(n + "lo9/flags", "0x9\n");
    WriteFile(n + "down9/address", "52:54:00:00:00:01\n");
    WriteFile(n + "down9/speed", "-1\n");
    WriteFile(n + "down9/operstate", "down\n");
    WriteFile(n + "down9/flags", "0x1002\n");
  }
  std::string proc() const { return dir_.path() + "/proc"; }
  std::string sys() const { return dir_.path() + "/sys"; }
  std::string root() const { return dir_.path() + "/root"; }
  SysInfoOptions Options() const {
    SysInfoOptions o;
    o.procfs = proc();
    o.sysfs = sys();
    o.rootfs = root();
    o.proplet_id = "p-1";
    return o;
  }

 private:
  TempDir dir_;
};

TEST(DiskTypeTest, FromSysfsRotational) {
  SysFixture f;
  EXPECT_EQ(DiskType(f.sys(), "/dev/sda1"), "HDD");
  EXPECT_EQ(DiskType(f.sys(), "/dev/nvme0n1p2"), "NVMe");
  EXPECT_EQ(DiskType(f.sys(), "/dev/vdb"), "SSD");
  EXPECT_EQ(DiskType(f.sys(), "/dev/nonexistent9"), std::nullopt);
  EXPECT_EQ(DiskType(f.sys(), ""), std::nullopt);
}

TEST(CollectSystemInfoTest, FixtureTree) {
  SysFixture f;
  FakeClock clock(1700000000.25);
  SysInfoOptions o = f.Options();
  o.clock = &clock;
  json j = CollectSystemInfo(o);
  EXPECT_EQ(j["proplet_id"], "p-1");
  EXPECT_EQ(j["timestamp"], 1700000000250);
  const json& cpu = j["hardware"]["cpu"];
  EXPECT_EQ(cpu["model"], "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz");
  EXPECT_EQ(cpu["vendor"], "GenuineIntel");
  EXPECT_EQ(cpu["cores"], 2);    // sysfs: cpu0 and cpu1 share core 0.
  EXPECT_EQ(cpu["threads"], 3);  // cpuinfo processors.
  EXPECT_EQ(cpu["base_frequency_ghz"], 2.1);
  EXPECT_EQ(cpu["min_frequency_ghz"], 0.8);
  EXPECT_EQ(cpu["max_frequency_ghz"], 3.7);
  EXPECT_EQ(cpu["current_frequency_ghz"], 2.5);
  EXPECT_EQ(cpu["features"], json({"fpu", "vme", "sse4_2", "avx2"}));
  EXPECT_EQ(j["hardware"]["memory"], json({{"total_bytes", 2048 * 1024},
                                           {"available_bytes", 1024 * 1024}}));
  EXPECT_EQ(j["hardware"]["core_count"], 2);
  EXPECT_EQ(j["hardware"]["thread_count"], 3);
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(j["hardware"]["architecture"], u.machine);

  // Block-device mounts only; the escaped space decoded; sizes from
  // statvfs(2) under the root given.
  const json& disks = j["hardware"]["disks"];
  ASSERT_EQ(disks.size(), 2u) << disks;
  EXPECT_EQ(disks[0]["device"], "/dev/sda1");
  EXPECT_EQ(disks[0]["mount_point"], "/");
  EXPECT_EQ(disks[0]["filesystem"], "ext4");
  EXPECT_EQ(disks[0]["disk_type"], "HDD");
  EXPECT_EQ(disks[1]["device"], "/dev/nvme0n1p2");
  EXPECT_EQ(disks[1]["mount_point"], "/data disk");
  EXPECT_EQ(disks[1]["filesystem"], "xfs");
  EXPECT_EQ(disks[1]["disk_type"], "NVMe");
  for (const auto& d : disks) {
    ASSERT_TRUE(d.contains("total_bytes")) << d;
    EXPECT_GT(d["total_bytes"].get<uint64_t>(), 0u);
    EXPECT_LE(d["available_bytes"].get<uint64_t>(),
              d["total_bytes"].get<uint64_t>());
  }

  const json& os = j["software"]["os"];
  EXPECT_EQ(os["name"], "Linux");
  EXPECT_EQ(os["version"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(os["distribution"], "debian");
  EXPECT_EQ(os["version_id"], "12");
  EXPECT_EQ(os["kernel_version"], "6.1.0-test-amd64");
  EXPECT_EQ(j["software"]["hostname"], "fixture-host");
  EXPECT_EQ(j["software"]["uptime_seconds"], 12345);

  std::map<std::string, json> nics;
  for (const auto& n : j["network_interfaces"]) nics[n["name"]] = n;
  ASSERT_EQ(nics.size(), 3u);
  EXPECT_EQ(nics["eth9"]["mac_address"], "52:54:00:12:34:56");
  EXPECT_EQ(nics["eth9"]["speed_mbps"], 1000);
  EXPECT_EQ(nics["eth9"]["is_up"], true);
  EXPECT_EQ(nics["eth9"]["mtu"], 1500);
  EXPECT_TRUE(nics["eth9"]["ip_addresses"].is_array());
  EXPECT_EQ(nics["lo9"]["is_up"], true);  // "unknown" with IFF_UP.
  EXPECT_FALSE(nics["lo9"].contains("speed_mbps"));
  EXPECT_EQ(nics["down9"]["is_up"], false);
  EXPECT_FALSE(nics["down9"].contains("speed_mbps"));  // -1: unknown.
}

TEST(CollectSystemInfoTest, PrivacyOmitsHostnameAddressesAndMacs) {
  SysFixture f;
  SysInfoOptions o = f.Options();
  o.privacy = true;
  json j = CollectSystemInfo(o);
  EXPECT_FALSE(j["software"].contains("hostname"));
  ASSERT_EQ(j["network_interfaces"].size(), 3u);
  for (const auto& n : j["network_interfaces"]) {
    EXPECT_FALSE(n.contains("mac_address")) << n;
    EXPECT_FALSE(n.contains("ip_addresses")) << n;
    EXPECT_TRUE(n.contains("is_up")) << n;
  }
  EXPECT_EQ(j["hardware"]["cpu"]["cores"], 2);
}

TEST(CollectSystemInfoTest, EmptyTreesGiveAbsentFactsNotZeros) {
  TempDir empty;
  SysInfoOptions o;
  o.procfs = empty.path() + "/proc";
  o.sysfs = empty.path() + "/sys";
  o.rootfs = empty.path();
  json j = CollectSystemInfo(o);
  EXPECT_EQ(j["hardware"]["cpu"], json({{"features", json::array()}}));
  EXPECT_EQ(j["hardware"]["memory"], json::object());
  EXPECT_EQ(j["hardware"]["disks"], json::array());
  EXPECT_FALSE(j["hardware"].contains("core_count"));
  EXPECT_FALSE(j["software"].contains("uptime_seconds"));
  EXPECT_EQ(j["network_interfaces"], json::array());
}

// On this machine, through real /proc and /sys: every field the seed lists,
// checked against independent sources.
TEST(CollectSystemInfoTest, ThisMachineHasEveryField) {
  json j = CollectSystemInfo(SysInfoOptions{});
  SCOPED_TRACE(j.dump(2));
  const json& cpu = j["hardware"]["cpu"];
  ASSERT_TRUE(cpu.contains("model"));
  EXPECT_FALSE(cpu["model"].get<std::string>().empty());
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_TRUE(cpu.contains("threads"));
  ASSERT_TRUE(cpu.contains("cores"));
  EXPECT_GE(cpu["threads"].get<long>(), online);
  EXPECT_GE(cpu["threads"].get<int>(), cpu["cores"].get<int>());
  EXPECT_GT(cpu["cores"].get<int>(), 0);
  EXPECT_FALSE(cpu["features"].empty());
  // Frequencies where the machine tells them.
  std::string freq = "/sys/devices/system/cpu/cpu0/cpufreq/";
  EXPECT_EQ(cpu.contains("max_frequency_ghz"),
            access((freq + "cpuinfo_max_freq").c_str(), R_OK) == 0);
  EXPECT_EQ(cpu.contains("min_frequency_ghz"),
            access((freq + "cpuinfo_min_freq").c_str(), R_OK) == 0);
  bool cpuinfo_mhz =
      testutil::ReadFileOrEmpty("/proc/cpuinfo").find("cpu MHz") !=
      std::string::npos;
  if (cpuinfo_mhz) EXPECT_GT(cpu["current_frequency_ghz"].get<double>(), 0);

  std::string meminfo = testutil::ReadFileOrEmpty("/proc/meminfo");
  uint64_t kb = std::stoull(meminfo.substr(meminfo.find(':') + 1));
  EXPECT_EQ(j["hardware"]["memory"]["total_bytes"], kb * 1024);

  // Every block-device mount is listed with its sizes.
  std::set<std::string> want_points;
  std::string mounts = testutil::ReadFileOrEmpty("/proc/1/mounts");
  if (mounts.empty()) mounts = testutil::ReadFileOrEmpty("/proc/mounts");
  std::istringstream in(mounts);
  std::string dev, point, rest;
  while (in >> dev >> point && std::getline(in, rest)) {
    if (dev.rfind("/dev/", 0) == 0 && point.find('\\') == std::string::npos) {
      want_points.insert(point);
    }
  }
  std::set<std::string> got_points;
  for (const auto& d : j["hardware"]["disks"]) {
    got_points.insert(d["mount_point"]);
    for (const char* k : {"device", "mount_point", "filesystem", "total_bytes",
                          "available_bytes"}) {
      EXPECT_TRUE(d.contains(k)) << k << " in " << d;
    }
    std::string name = d["device"].get<std::string>().substr(5);
    if (access(("/sys/class/block/" + name + "/queue/rotational").c_str(),
               R_OK) == 0) {
      EXPECT_TRUE(d.contains("disk_type")) << d;
    }
  }
  for (const auto& p : want_points) EXPECT_TRUE(got_points.count(p)) << p;

  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(j["hardware"]["architecture"], u.machine);
  const json& os = j["software"]["os"];
  EXPECT_EQ(os["name"], u.sysname);
  EXPECT_EQ(os["kernel_version"], u.release);
  auto rel = ParseOsRelease(testutil::ReadFileOrEmpty("/etc/os-release"));
  if (rel.count("PRETTY_NAME")) EXPECT_EQ(os["version"], rel["PRETTY_NAME"]);
  char host[256] = {0};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(j["software"]["hostname"], host);
  double uptime = std::stod(testutil::ReadFileOrEmpty("/proc/uptime"));
  EXPECT_NEAR(j["software"]["uptime_seconds"].get<double>(), uptime, 5);

  bool saw_lo = false;
  for (const auto& n : j["network_interfaces"]) {
    std::string name = n["name"];
    for (const char* k : {"name", "mac_address", "ip_addresses", "is_up"}) {
      EXPECT_TRUE(n.contains(k)) << k << " in " << n;
    }
    std::string speed =
        testutil::ReadFileOrEmpty("/sys/class/net/" + name + "/speed");
    bool known = !speed.empty() && std::stol(speed) > 0;
    EXPECT_EQ(n.contains("speed_mbps"), known) << n;
    if (name == "lo") {
      saw_lo = true;
      EXPECT_EQ(n["is_up"], true);
      EXPECT_THAT(n["ip_addresses"], Contains("127.0.0.1"));
    }
  }
  EXPECT_TRUE(saw_lo);
}

TEST(SystemApiTest, ServesJsonOverHttp) {
  HttpServer server;
  SysInfoOptions o;
  o.proplet_id = "node-http";
  RegisterSystemApi(&server, o);
  HttpServer::Options so;
  so.listen_address = "127.0.0.1:0";
  ASSERT_TRUE(server.Start(so).ok());
  auto r = testutil::Http(server.port(), "GET", "/api/v1/system");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["proplet_id"], "node-http");
  EXPECT_TRUE(j["hardware"]["cpu"].is_object());
  EXPECT_TRUE(j["software"]["os"].is_object());
  EXPECT_TRUE(j["network_interfaces"].is_array());
  server.Stop();
}

}  // namespace
}  // namespace propmon::exporter
