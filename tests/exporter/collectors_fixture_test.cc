// Each host collector run on fixture trees: tests/fixtures/{proc,sys}
// (captured from a real machine, plus hand-added odd devices: loop, dm-0,
// nvme partitions, a pre-4.18 disk, a veth, a mount point with a space) and
// small trees built per test. Expected values are recomputed from the
// fixture files by the test itself where they were captured, and spelled out
// where the fixture line was written by hand.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "exporter/collectors/cpu.h"
#include "exporter/collectors/diskstats.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/collectors/hwmon.h"
#include "exporter/collectors/loadavg.h"
#include "exporter/collectors/meminfo.h"
#include "exporter/collectors/netdev.h"
#include "exporter/collectors/os.h"
#include "exporter/collectors/processes.h"
#include "exporter/collectors/stat.h"
#include "exporter/collectors/uname.h"
#include "exporter/collectors/vmstat.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::FindSample;
using testutil::FindSamples;
using testutil::Sample;

std::string Fixtures() { return testutil::SourceDir() + "/tests/fixtures"; }

HostPaths FixturePaths() {
  HostPaths p;
  p.procfs = Fixtures() + "/proc";
  p.sysfs = Fixtures() + "/sys";
  p.rootfs = "/nonexistent-rootfs";
  p.udev_data = "/nonexistent-udev";
  return p;
}

std::string Render(const std::vector<prometheus::MetricFamily>& fams) {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, fams);
  return os.str();
}

// Runs `c` once; fails the test if it returns an error.
std::vector<Sample> MustCollect(Collector& c) {
  std::vector<prometheus::MetricFamily> fams;
  Status s = c.Collect(&fams);
  EXPECT_TRUE(s.ok()) << c.Name() << ": " << s.message();
  return testutil::ParseProm(Render(fams));
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

// ------------------------------------------------------------------- cpu

TEST(CpuCollectorTest, FixtureMatchesTicksOverUserHz) {
  CpuCollector c(FixturePaths());
  auto samples = MustCollect(c);
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  const char* modes[] = {"user",   "nice", "system",  "idle",
                         "iowait", "irq",  "softirq", "steal"};
  int cpus = 0;
  for (const auto& line : Lines(Fixtures() + "/proc/stat")) {
    auto w = Words(line);
    if (w.empty() || w[0].rfind("cpu", 0) != 0 || w[0] == "cpu") continue;
    ++cpus;
    std::string id = w[0].substr(3);
    for (int i = 0; i < 8; ++i) {
      auto v = FindSample(samples, "node_cpu_seconds_total",
                          {{"cpu", id}, {"mode", modes[i]}});
      ASSERT_TRUE(v.has_value()) << id << " " << modes[i];
      EXPECT_DOUBLE_EQ(*v, std::stod(w[i + 1]) / hz);
    }
    EXPECT_DOUBLE_EQ(*FindSample(samples, "node_cpu_guest_seconds_total",
                                 {{"cpu", id}, {"mode", "user"}}),
                     std::stod(w[9]) / hz);
  }
  ASSERT_GT(cpus, 0);
  EXPECT_EQ(FindSamples(samples, "node_cpu_seconds_total").size(),
            static_cast<size_t>(cpus) * 8);
}

TEST(CpuCollectorTest, CounterThatGoesBackwardsKeepsItsValue) {
  testutil::TempDir dir;
  HostPaths p;
  p.procfs = dir.path();
  CpuCollector c(p);
  dir.Write("stat", "cpu 0 0 0 0 0\ncpu0 100 0 100 1000 50 0 0 0 0 0\n");
  MustCollect(c);
  // iowait drops (a known kernel quirk): the counter must not go back.
  dir.Write("stat", "cpu 0 0 0 0 0\ncpu0 110 0 100 1100 40 0 0 0 0 0\n");
  auto s = MustCollect(c);
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_cpu_seconds_total",
                               {{"cpu", "0"}, {"mode", "iowait"}}),
                   50 / hz);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_cpu_seconds_total",
                               {{"cpu", "0"}, {"mode", "user"}}),
                   110 / hz);
  // Idle drops by much more than 3 s (CPU hotplug): start over.
  dir.Write("stat", "cpu 0 0 0 0 0\ncpu0 1 0 1 10 1 0 0 0 0 0\n");
  s = MustCollect(c);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_cpu_seconds_total",
                               {{"cpu", "0"}, {"mode", "idle"}}),
                   10 / hz);
}

TEST(CpuCollectorTest, ReadHostCpuTimesGivesAggregateLine) {
  auto t = ReadHostCpuTimes(FixturePaths());
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto w = Words(Lines(Fixtures() + "/proc/stat")[0]);
  ASSERT_EQ(w[0], "cpu");
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(t->Get(CpuMode::kIdle), std::stod(w[4]) / hz);
  HostPaths missing;
  missing.procfs = "/nonexistent";
  EXPECT_FALSE(ReadHostCpuTimes(missing).ok());
}

// ------------------------------------------------------------------ stat

TEST(StatCollectorTest, FixtureValues) {
  StatCollector c(FixturePaths());
  auto s = MustCollect(c);
  std::map<std::string, std::string> want_by_key = {
      {"btime", "node_boot_time_seconds"},
      {"ctxt", "node_context_switches_total"},
      {"processes", "node_forks_total"},
      {"intr", "node_intr_total"},
      {"procs_running", "node_procs_running"},
      {"procs_blocked", "node_procs_blocked"}};
  int found = 0;
  for (const auto& line : Lines(Fixtures() + "/proc/stat")) {
    auto w = Words(line);
    if (w.size() < 2 || !want_by_key.count(w[0])) continue;
    ++found;
    auto v = FindSample(s, want_by_key[w[0]]);
    ASSERT_TRUE(v.has_value()) << w[0];
    EXPECT_DOUBLE_EQ(*v, std::stod(w[1])) << w[0];
  }
  EXPECT_EQ(found, 6);
}

// --------------------------------------------------------------- meminfo

TEST(MeminfoCollectorTest, EveryFixtureFieldBecomesASeries) {
  MeminfoCollector c(FixturePaths());
  auto s = MustCollect(c);
  auto lines = Lines(Fixtures() + "/proc/meminfo");
  EXPECT_EQ(s.size(), lines.size());
  for (const auto& line : lines) {
    auto w = Words(line);
    if (w[0] == "MemTotal:") {
      EXPECT_DOUBLE_EQ(*FindSample(s, "node_memory_MemTotal_bytes"),
                       std::stod(w[1]) * 1024);
    }
    if (w[0] == "HugePages_Total:") {
      EXPECT_DOUBLE_EQ(*FindSample(s, "node_memory_HugePages_Total"),
                       std::stod(w[1]));
    }
  }
  EXPECT_TRUE(FindSample(s, "node_memory_Active_anon_bytes").has_value());
  EXPECT_TRUE(FindSample(s, "node_memory_Inactive_file_bytes").has_value());
}

TEST(MeminfoCollectorTest, RepeatedKeyIsReportedOnce) {
  testutil::TempDir dir;
  dir.Write("meminfo", "MemTotal: 10 kB\nMemTotal: 20 kB\n");
  HostPaths p;
  p.procfs = dir.path();
  MeminfoCollector c(p);
  auto s = MustCollect(c);
  ASSERT_EQ(FindSamples(s, "node_memory_MemTotal_bytes").size(), 1u);
  EXPECT_EQ(FindSamples(s, "node_memory_MemTotal_bytes")[0].value, 10240);
}

TEST(MeminfoCollectorTest, GarbageFailsTheCollector) {
  testutil::TempDir dir;
  dir.Write("meminfo", "MemTotal: lots\n");
  HostPaths p;
  p.procfs = dir.path();
  MeminfoCollector c(p);
  std::vector<prometheus::MetricFamily> fams;
  Status st = c.Collect(&fams);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("MemTotal"), std::string::npos);
}

// ------------------------------------------------------- loadavg, vmstat

TEST(LoadavgCollectorTest, FixtureValues) {
  LoadavgCollector c(FixturePaths());
  auto s = MustCollect(c);
  auto w = Words(Lines(Fixtures() + "/proc/loadavg")[0]);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_load1"), std::stod(w[0]));
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_load5"), std::stod(w[1]));
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_load15"), std::stod(w[2]));
}

TEST(VmstatCollectorTest, FixtureDefaultFields) {
  VmstatCollector c(FixturePaths());
  auto s = MustCollect(c);
  size_t want = 0;
  for (const auto& line : Lines(Fixtures() + "/proc/vmstat")) {
    auto w = Words(line);
    if (!VmstatFieldSelected(w[0])) {
      EXPECT_FALSE(FindSample(s, "node_vmstat_" + w[0]).has_value());
      continue;
    }
    ++want;
    EXPECT_DOUBLE_EQ(*FindSample(s, "node_vmstat_" + w[0]), std::stod(w[1]));
  }
  EXPECT_GT(want, 3u);
  EXPECT_EQ(s.size(), want);
}

// ------------------------------------------------------------- diskstats

TEST(DiskstatsCollectorTest, OddDevicesAndDefaultExclude) {
  testutil::TempDir udev;
  udev.Write("b8:0",
             "E:ID_PATH=pci-0000:00:17.0-ata-1\nE:ID_WWN=0x5002\n"
             "E:ID_MODEL=Fake_SSD\nE:ID_SERIAL_SHORT=SN1\n"
             "E:ID_REVISION=R1\n");
  HostPaths p = FixturePaths();
  p.udev_data = udev.path();
  auto ex = NameFilter::Exclude("d", kDefaultDiskstatsDeviceExclude);
  ASSERT_TRUE(ex.ok());
  DiskstatsCollector c(p, *ex);
  auto s = MustCollect(c);
  for (const char* gone : {"loop0", "loop7", "sda1", "nvme0n1p1"}) {
    EXPECT_TRUE(
        FindSamples(s, "node_disk_reads_completed_total", {{"device", gone}})
            .empty())
        << gone;
  }
  for (const char* kept :
       {"vda", "zram0", "sda", "dm-0", "nvme0n1", "mmcblk0"}) {
    EXPECT_TRUE(FindSample(s, "node_disk_info", {{"device", kept}})) << kept;
  }
  // Hand-written dm-0 line: 15 columns (discards, no flushes).
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_disk_read_bytes_total", {{"device", "dm-0"}}),
      73728.0 * 512);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_disk_io_now", {{"device", "dm-0"}}), 2);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_disk_discard_time_seconds_total",
                               {{"device", "dm-0"}}),
                   0.003);
  EXPECT_FALSE(
      FindSample(s, "node_disk_flush_requests_total", {{"device", "dm-0"}}));
  // Pre-4.18 layout: no discard series at all, never zeros.
  EXPECT_FALSE(FindSample(s, "node_disk_discards_completed_total",
                          {{"device", "mmcblk0"}}));
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_disk_io_time_weighted_seconds_total",
                               {{"device", "mmcblk0"}}),
                   0.19);
  // Captured vda line, recomputed from the file.
  for (const auto& line : Lines(Fixtures() + "/proc/diskstats")) {
    auto w = Words(line);
    if (w[2] != "vda") continue;
    EXPECT_DOUBLE_EQ(
        *FindSample(s, "node_disk_written_bytes_total", {{"device", "vda"}}),
        std::stod(w[9]) * 512);
    EXPECT_DOUBLE_EQ(
        *FindSample(s, "node_disk_io_time_seconds_total", {{"device", "vda"}}),
        std::stod(w[12]) / 1000);
    EXPECT_DOUBLE_EQ(
        *FindSample(s, "node_disk_flush_requests_total", {{"device", "vda"}}),
        std::stod(w[18]));
  }
  // udev labels where the database has the disk, empty strings elsewhere.
  EXPECT_TRUE(FindSample(s, "node_disk_info",
                         {{"device", "sda"},
                          {"major", "8"},
                          {"minor", "0"},
                          {"path", "pci-0000:00:17.0-ata-1"},
                          {"wwn", "0x5002"},
                          {"model", "Fake_SSD"},
                          {"serial", "SN1"},
                          {"revision", "R1"}}));
  EXPECT_TRUE(FindSample(s, "node_disk_info",
                         {{"device", "vda"}, {"model", ""}, {"serial", ""}}));
}

// ------------------------------------------------------------ filesystem

// A statfs stand-in: sizes derived from the path so each mount differs.
Status FakeStatfs(const std::string& path, FsStats* out) {
  if (path == "/srv/nfs") return Unavailable("statfs /srv/nfs: EIO");
  out->bsize = 4096;
  out->blocks = 1000 + path.size();
  out->bfree = 500;
  out->bavail = 400;
  out->files = 100;
  out->ffree = 60;
  return Status::Ok();
}

FilesystemCollector::Options DefaultFsOptions(StatfsFunc fn) {
  FilesystemCollector::Options o;
  o.mount_points_exclude =
      *NameFilter::Exclude("mp", kDefaultMountPointsExclude);
  o.fs_types_exclude = *NameFilter::Exclude("fs", kDefaultFsTypesExclude);
  o.statfs = std::move(fn);
  return o;
}

TEST(FilesystemCollectorTest, RealFilesystemsOnlyWithEscapes) {
  HostPaths p = FixturePaths();
  p.rootfs = "/";
  FilesystemCollector c(p, DefaultFsOptions(FakeStatfs));
  auto s = MustCollect(c);
  std::vector<std::string> mps;
  for (const auto& x : FindSamples(s, "node_filesystem_device_error")) {
    mps.push_back(x.labels.at("mountpoint"));
  }
  std::sort(mps.begin(), mps.end());
  // /proc, /sys, /dev/*, /run, /mnt/usb, cgroups, the docker overlay and
  // the squashfs snap are excluded; /home (listed twice) appears once.
  EXPECT_EQ(mps, (std::vector<std::string>{"/", "/data/my disk", "/home",
                                           "/srv/nfs", "/tmp"}));
  auto size = FindSample(s, "node_filesystem_size_bytes",
                         {{"mountpoint", "/data/my disk"},
                          {"device", "/dev/sdb1"},
                          {"fstype", "ext4"}});
  ASSERT_TRUE(size.has_value());
  EXPECT_DOUBLE_EQ(*size,
                   (1000.0 + std::string("/data/my disk").size()) * 4096);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_avail_bytes", {{"mountpoint", "/"}}),
      400.0 * 4096);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_files_free", {{"mountpoint", "/tmp"}}),
      60);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_filesystem_readonly",
                               {{"mountpoint", "/data/my disk"}}),
                   1);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_readonly", {{"mountpoint", "/"}}), 0);
  // A failing statfs: device_error 1 and no size (absent, not zero).
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_filesystem_device_error",
                               {{"mountpoint", "/srv/nfs"}}),
                   1);
  EXPECT_FALSE(FindSample(s, "node_filesystem_size_bytes",
                          {{"mountpoint", "/srv/nfs"}}));
}

TEST(FilesystemCollectorTest, PrefersPid1MountsAndStripsRootfs) {
  testutil::TempDir dir;
  dir.Write("mounts", "/dev/own /own ext4 rw 0 0\n");
  ASSERT_EQ(mkdir(dir.File("1").c_str(), 0755), 0);
  dir.Write("1/mounts",
            "/dev/vda /host ext4 rw 0 0\n/dev/vdb /host/data xfs ro 0 0\n"
            "/dev/vdc /data ext4 rw 0 0\n");
  HostPaths p;
  p.procfs = dir.path();
  p.rootfs = "/host";
  std::vector<std::string> statted;
  std::mutex mu;
  FilesystemCollector c(
      p, DefaultFsOptions([&](const std::string& path, FsStats* out) {
        std::lock_guard<std::mutex> l(mu);
        statted.push_back(path);
        out->bsize = 1;
        return Status::Ok();
      }));
  auto s = MustCollect(c);
  EXPECT_FALSE(
      FindSample(s, "node_filesystem_size_bytes", {{"mountpoint", "/own"}}));
  EXPECT_TRUE(FindSample(s, "node_filesystem_size_bytes",
                         {{"mountpoint", "/"}, {"device", "/dev/vda"}}));
  EXPECT_TRUE(FindSample(s, "node_filesystem_size_bytes",
                         {{"mountpoint", "/data"}, {"device", "/dev/vdb"}}));
  std::sort(statted.begin(), statted.end());
  EXPECT_EQ(statted,
            (std::vector<std::string>{"/host", "/host/data", "/host/data"}));
}

TEST(FilesystemCollectorTest, StuckMountIsSkippedUntilStatfsReturns) {
  testutil::TempDir dir;
  dir.Write("mounts", "/dev/vda / ext4 rw 0 0\nsrv:/x /nfs nfs4 rw 0 0\n");
  HostPaths p;
  p.procfs = dir.path();
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    int nfs_calls = 0;
  };
  auto gate = std::make_shared<Gate>();
  auto o = DefaultFsOptions([gate](const std::string& path, FsStats* out) {
    if (path == "/nfs") {
      std::unique_lock<std::mutex> l(gate->mu);
      ++gate->nfs_calls;
      gate->cv.wait(l, [&] { return gate->open; });  // A hung NFS server.
    }
    out->bsize = 512;
    out->blocks = 8;
    return Status::Ok();
  });
  o.statfs_timeout = std::chrono::milliseconds(100);
  FilesystemCollector c(p, std::move(o));

  auto s = MustCollect(c);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_device_error", {{"mountpoint", "/nfs"}}),
      1);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_size_bytes", {{"mountpoint", "/"}}),
      4096);
  EXPECT_TRUE(c.IsStuck("/nfs"));

  // While stuck, the mount is not statted again (no thread pile-up).
  s = MustCollect(c);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_device_error", {{"mountpoint", "/nfs"}}),
      1);
  {
    std::lock_guard<std::mutex> l(gate->mu);
    EXPECT_EQ(gate->nfs_calls, 1);
    gate->open = true;
  }
  gate->cv.notify_all();
  ASSERT_TRUE(testutil::WaitUntil([&] { return !c.IsStuck("/nfs"); },
                                  std::chrono::seconds(10)));
  s = MustCollect(c);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_device_error", {{"mountpoint", "/nfs"}}),
      0);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_filesystem_size_bytes", {{"mountpoint", "/nfs"}}),
      4096);
}

// ---------------------------------------------------------------- netdev

TEST(NetdevCollectorTest, FixtureWithVethAndDefaultExclude) {
  NetdevCollector c(FixturePaths(),
                    *NameFilter::Exclude("n", kDefaultNetdevDeviceExclude));
  auto s = MustCollect(c);
  EXPECT_TRUE(
      FindSamples(s, "node_network_receive_bytes_total", {{"device", "lo"}})
          .empty());
  // Hand-written veth line.
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_receive_bytes_total",
                               {{"device", "veth1a2b3c4"}}),
                   123456789);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_receive_multicast_total",
                               {{"device", "veth1a2b3c4"}}),
                   7);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_transmit_drop_total",
                               {{"device", "veth1a2b3c4"}}),
                   4);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_transmit_errs_total",
                               {{"device", "veth1a2b3c4"}}),
                   3);
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_receive_nohandler_total",
                               {{"device", "veth1a2b3c4"}}),
                   5);
  // docker0 has no sysfs statistics in the fixture: nohandler is absent.
  EXPECT_TRUE(FindSample(s, "node_network_transmit_colls_total",
                         {{"device", "docker0"}}));
  EXPECT_FALSE(FindSample(s, "node_network_receive_nohandler_total",
                          {{"device", "docker0"}}));
  // Captured eth0 line, recomputed.
  for (const auto& line : Lines(Fixtures() + "/proc/net/dev")) {
    if (line.find("eth0:") == std::string::npos) continue;
    auto w = Words(line.substr(line.find(':') + 1));
    EXPECT_DOUBLE_EQ(*FindSample(s, "node_network_transmit_bytes_total",
                                 {{"device", "eth0"}}),
                     std::stod(w[8]));
  }
  for (const char* n :
       {"receive_bytes", "receive_packets", "receive_errs", "receive_drop",
        "receive_fifo", "receive_frame", "receive_compressed",
        "receive_multicast", "transmit_bytes", "transmit_packets",
        "transmit_errs", "transmit_drop", "transmit_fifo", "transmit_colls",
        "transmit_carrier", "transmit_compressed"}) {
    EXPECT_EQ(
        FindSamples(s, std::string("node_network_") + n + "_total").size(), 5u)
        << n;
  }
}

// ------------------------------------------------------------- processes

TEST(ProcessesCollectorTest, CountsStatesOfATree) {
  testutil::TempDir dir;
  struct P {
    const char* pid;
    const char* stat;
  };
  const P procs[] = {
      {"1", "1 (init) S 0 1 1 0\n"},
      {"2", "2 (kthreadd) S 0 0 0 0\n"},
      {"30", "30 (busy) R 1 30 30 0\n"},
      {"31", "31 (a) b) R) R 1 31 31 0\n"},  // comm with ") R"
      {"40", "40 (defunct) Z 1 40 40 0\n"},
      {"50", "50 (kworker/0:1) I 2 0 0 0\n"},
      {"60", "60 (dd) D 1 60 60 0\n"},
      {"70", "garbage\n"},  // Skipped (warned), not counted.
  };
  for (const P& p : procs) {
    ASSERT_EQ(mkdir(dir.File(p.pid).c_str(), 0755), 0);
    dir.Write(std::string(p.pid) + "/stat", p.stat);
  }
  ASSERT_EQ(mkdir(dir.File("80").c_str(), 0755), 0);   // Exited: no stat.
  ASSERT_EQ(mkdir(dir.File("sys").c_str(), 0755), 0);  // Not a pid.
  dir.Write("stat", "cpu 1 1 1 1\n");
  HostPaths p;
  p.procfs = dir.path();
  ProcessesCollector c(p);
  auto s = MustCollect(c);
  auto n = [&](const char* state) {
    auto v = FindSample(s, "propmon_node_processes", {{"state", state}});
    return v ? *v : -1;
  };
  EXPECT_EQ(n("sleeping"), 2);
  EXPECT_EQ(n("running"), 2);
  EXPECT_EQ(n("zombie"), 1);
  EXPECT_EQ(n("idle"), 1);
  EXPECT_EQ(n("disk_sleep"), 1);
  EXPECT_EQ(n("stopped"), 0);  // Always reported, so alerts need no absent().
  EXPECT_EQ(n("parked"), -1);  // Rare states only when seen.
}

TEST(ProcessesCollectorTest, MissingProcfsFails) {
  HostPaths p;
  p.procfs = "/nonexistent-procfs";
  ProcessesCollector c(p);
  std::vector<prometheus::MetricFamily> fams;
  EXPECT_FALSE(c.Collect(&fams).ok());
}

// ------------------------------------------------------------- uname, os

TEST(UnameCollectorTest, FixtureLabels) {
  UnameCollector c(FixturePaths());
  auto s = MustCollect(c);
  auto first_line = [](const std::string& f) {
    return Lines(Fixtures() + "/proc/sys/kernel/" + f).at(0);
  };
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_uname_info",
                               {{"sysname", first_line("ostype")},
                                {"release", first_line("osrelease")},
                                {"version", first_line("version")},
                                {"machine", first_line("arch")},
                                {"nodename", first_line("hostname")},
                                {"domainname", first_line("domainname")}}),
                   1);
}

TEST(OsCollectorTest, OsReleaseAndFallback) {
  testutil::TempDir root;
  ASSERT_EQ(mkdir(root.File("usr").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(root.File("usr/lib").c_str(), 0755), 0);
  root.Write("usr/lib/os-release",
             "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n"
             "VERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n");
  HostPaths p;
  p.rootfs = root.path();
  OsCollector c(p);
  auto s = MustCollect(c);
  EXPECT_DOUBLE_EQ(
      *FindSample(
          s, "node_os_version",
          {{"id", "ubuntu"}, {"id_like", "debian"}, {"name", "Ubuntu"}}),
      22.04);
  EXPECT_TRUE(FindSample(s, "node_os_info",
                         {{"pretty_name", "Ubuntu 22.04.3 LTS"},
                          {"version_id", "22.04"},
                          {"build_id", ""},
                          {"variant", ""}}));
  // /etc/os-release wins over /usr/lib; no VERSION_ID: no node_os_version.
  ASSERT_EQ(mkdir(root.File("etc").c_str(), 0755), 0);
  root.Write("etc/os-release", "NAME=Arch\nID=arch\nBUILD_ID=rolling\n");
  s = MustCollect(c);
  EXPECT_TRUE(
      FindSample(s, "node_os_info", {{"id", "arch"}, {"build_id", "rolling"}}));
  EXPECT_FALSE(FindSample(s, "node_os_version"));

  HostPaths none;
  none.rootfs = "/nonexistent-root";
  OsCollector missing(none);
  std::vector<prometheus::MetricFamily> fams;
  EXPECT_FALSE(missing.Collect(&fams).ok());
}

// ------------------------------------------------------------------ hwmon

TEST(HwmonCollectorTest, FixtureChipsAndSensors) {
  HwmonCollector c(FixturePaths());
  auto s = MustCollect(c);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_hwmon_temp_celsius",
                  {{"chip", "platform_coretemp_0"}, {"sensor", "temp1"}}),
      45);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_hwmon_temp_celsius",
                  {{"chip", "platform_coretemp_0"}, {"sensor", "temp2"}}),
      43.5);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "node_hwmon_temp_crit_celsius",
                  {{"chip", "platform_coretemp_0"}, {"sensor", "temp1"}}),
      100);
  EXPECT_FALSE(
      FindSample(s, "node_hwmon_temp_crit_celsius",
                 {{"chip", "platform_coretemp_0"}, {"sensor", "temp2"}}));
  EXPECT_DOUBLE_EQ(*FindSample(s, "node_hwmon_temp_celsius",
                               {{"chip", "acpitz"}, {"sensor", "temp1"}}),
                   27.8);
  EXPECT_TRUE(FindSample(s, "node_hwmon_sensor_label",
                         {{"chip", "platform_coretemp_0"},
                          {"sensor", "temp1"},
                          {"label", "Package id 0"}}));
  EXPECT_TRUE(
      FindSample(s, "node_hwmon_chip_names",
                 {{"chip", "platform_coretemp_0"}, {"chip_name", "coretemp"}}));
  EXPECT_EQ(FindSamples(s, "node_hwmon_temp_celsius").size(), 3u);
}

TEST(HwmonCollectorTest, TwoDirsWithOneChipNameEmitNoDuplicates) {
  testutil::TempDir sys;
  for (const char* d :
       {"class", "class/hwmon", "class/hwmon/hwmon0", "class/hwmon/hwmon1"}) {
    ASSERT_EQ(mkdir(sys.File(d).c_str(), 0755), 0);
  }
  sys.Write("class/hwmon/hwmon0/name", "acpitz\n");
  sys.Write("class/hwmon/hwmon0/temp1_input", "30000\n");
  sys.Write("class/hwmon/hwmon1/name", "acpitz\n");
  sys.Write("class/hwmon/hwmon1/temp1_input", "31000\n");
  sys.Write("class/hwmon/hwmon1/temp2_input", "garbage\n");  // Skipped.
  HostPaths p;
  p.sysfs = sys.path();
  HwmonCollector c(p);
  auto s = MustCollect(c);
  auto temps = FindSamples(s, "node_hwmon_temp_celsius");
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(temps[0].value, 30);
}

TEST(HwmonCollectorTest, NoHwmonIsNotAnError) {
  HostPaths p;
  p.sysfs = "/nonexistent-sysfs";
  HwmonCollector c(p);
  EXPECT_TRUE(MustCollect(c).empty());
}

}  // namespace
}  // namespace propmon::exporter
