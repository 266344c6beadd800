// Table-driven tests of the host collectors' pure parsers: real text, odd
// devices, truncated and garbage input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "exporter/collectors/cpu.h"
#include "exporter/collectors/diskstats.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/collectors/hwmon.h"
#include "exporter/collectors/loadavg.h"
#include "exporter/collectors/meminfo.h"
#include "exporter/collectors/name_filter.h"
#include "exporter/collectors/netdev.h"
#include "exporter/collectors/os.h"
#include "exporter/collectors/processes.h"
#include "exporter/collectors/vmstat.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {
namespace {

// ---------------------------------------------------------------- numbers

TEST(ParseUtilTest, NumbersRejectJunk) {
  struct Case {
    const char* in;
    bool ok;
    uint64_t want;
  };
  const Case cases[] = {
      {"0", true, 0},
      {"18446744073709551615", true, UINT64_MAX},
      {"18446744073709551616", false, 0},  // Overflow.
      {"-1", false, 0},
      {"12a", false, 0},
      {"", false, 0},
      {" 1", false, 0},
  };
  for (const Case& c : cases) {
    uint64_t v = 0;
    EXPECT_EQ(ParseU64(c.in, &v), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(v, c.want) << c.in;
    }
  }
  double d = 0;
  EXPECT_TRUE(ParseDouble("+0.25", &d));
  EXPECT_DOUBLE_EQ(d, 0.25);
  EXPECT_FALSE(ParseDouble("nan", &d));
  EXPECT_FALSE(ParseDouble("inf", &d));
  EXPECT_FALSE(ParseDouble("1.5x", &d));
}

TEST(ParseUtilTest, JoinPath) {
  EXPECT_EQ(JoinPath("/proc", "stat"), "/proc/stat");
  EXPECT_EQ(JoinPath("/proc/", "/stat"), "/proc/stat");
  EXPECT_EQ(JoinPath("/host", "/"), "/host");
  EXPECT_EQ(JoinPath("/", "/"), "/");
  EXPECT_EQ(JoinPath("/", "data"), "/data");
}

// ------------------------------------------------------------- /proc/stat

constexpr char kProcStat[] =
    "cpu  11089 5 2062 117586 427 0 86 94 7 1\n"
    "cpu0 5354 2 1081 58879 306 0 37 52 7 1\n"
    "cpu1 5734 3 980 58706 120 0 48 42 0 0\n"
    "intr 234453 0 0 5\n"
    "ctxt 383824\n"
    "btime 1795313090\n"
    "processes 8513\n"
    "procs_running 2\n"
    "procs_blocked 1\n"
    "softirq 135699 0 14508\n";

TEST(HostStatParserTest, ParsesRealLayoutInSeconds) {
  auto st = ParseHostStat(kProcStat, 100);
  ASSERT_TRUE(st.ok()) << st.status().message();
  ASSERT_TRUE(st->total.has_value());
  EXPECT_EQ(st->total->columns, 10);
  EXPECT_DOUBLE_EQ(st->total->Get(CpuMode::kUser), 110.89);
  EXPECT_DOUBLE_EQ(st->total->Get(CpuMode::kIdle), 1175.86);
  ASSERT_EQ(st->cpus.size(), 2u);
  EXPECT_EQ(st->cpus[1].first, 1);
  EXPECT_DOUBLE_EQ(st->cpus[1].second.Get(CpuMode::kSystem), 9.80);
  EXPECT_DOUBLE_EQ(st->cpus[0].second.Get(CpuMode::kGuest), 0.07);
  EXPECT_EQ(st->intr, 234453u);
  EXPECT_EQ(st->ctxt, 383824u);
  EXPECT_EQ(st->btime, 1795313090u);
  EXPECT_EQ(st->processes, 8513u);
  EXPECT_EQ(st->procs_running, 2u);
  EXPECT_EQ(st->procs_blocked, 1u);
}

TEST(HostStatParserTest, OldKernelWithFourColumns) {
  auto st = ParseHostStat("cpu 1 2 3 4\ncpu0 1 2 3 4\n", 100);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->cpus[0].second.columns, 4);
  EXPECT_FALSE(st->cpus[0].second.Has(CpuMode::kIowait));
  EXPECT_FALSE(st->btime.has_value());  // Absent, not zero.
}

TEST(HostStatParserTest, RejectsMalformed) {
  const char* cases[] = {
      "cpu0 1 2 3\n",                        // Too few columns.
      "cpu0 1 2 x 4\n",                      // Garbage number.
      "cpu0 1 2 -3 4\n",                     // Negative.
      "cpuX 1 2 3 4\n",                      // Bad CPU id.
      "ctxt\n",                              // Missing value.
      "btime 12abc\n",                       // Junk.
      "cpu  1 2 3 4 5 6 7 8 9 1\ncpu0 1 2",  // Truncated mid-line.
  };
  for (const char* c : cases) {
    EXPECT_FALSE(ParseHostStat(c, 100).ok()) << c;
  }
  EXPECT_TRUE(ParseHostStat("", 100).ok());  // Empty: nothing, no crash.
  EXPECT_FALSE(ParseHostStat(kProcStat, 0).ok());
}

TEST(CpuUsageRatioTest, BusyOverTotal) {
  auto a = ParseHostStat("cpu 100 0 100 700 100 0 0 0 0 0\n", 100);
  auto b = ParseHostStat("cpu 150 0 150 800 100 0 0 0 0 0\n", 100);
  ASSERT_TRUE(a.ok() && b.ok());
  auto r = CpuUsageRatio(*a->total, *b->total);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 100.0 / 200.0);
  // Guest time is inside user time: it must not be counted twice.
  auto g1 = ParseHostStat("cpu 100 0 0 100 0 0 0 0 50 0\n", 100);
  auto g2 = ParseHostStat("cpu 200 0 0 100 0 0 0 0 150 0\n", 100);
  EXPECT_DOUBLE_EQ(*CpuUsageRatio(*g1->total, *g2->total), 1.0);
  // No time passed, or time went backwards: no figure.
  EXPECT_FALSE(CpuUsageRatio(*a->total, *a->total).has_value());
  EXPECT_FALSE(CpuUsageRatio(*b->total, *a->total).has_value());
}

// ---------------------------------------------------------------- meminfo

TEST(MeminfoParserTest, NamesLikeNodeExporter) {
  auto m = ParseMeminfo(
      "MemTotal:       24731700 kB\n"
      "Active(anon):       1544 kB\n"
      "HugePages_Total:       0\n"
      "Hugepagesize:       2048 kB\n"
      "\n");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].name, "MemTotal_bytes");
  EXPECT_DOUBLE_EQ((*m)[0].value, 24731700.0 * 1024);
  EXPECT_EQ((*m)[1].name, "Active_anon_bytes");
  EXPECT_EQ((*m)[2].name, "HugePages_Total");
  EXPECT_DOUBLE_EQ((*m)[2].value, 0);
  EXPECT_EQ((*m)[3].name, "Hugepagesize_bytes");
}

TEST(MeminfoParserTest, RejectsMalformed) {
  const char* cases[] = {
      "MemTotal 123 kB\n",       // No colon.
      "MemTotal: abc kB\n",      // Not a number.
      "MemTotal: 1 kB extra\n",  // Too many fields.
      "MemTotal: 1 MB\n",        // Unknown unit.
      "MemTotal:\n",             // Truncated.
      "",                        // Empty file.
      "\x01\x02\x03",            // Garbage.
  };
  for (const char* c : cases) EXPECT_FALSE(ParseMeminfo(c).ok()) << c;
}

// ---------------------------------------------------------------- loadavg

TEST(LoadavgParserTest, Table) {
  struct Case {
    const char* in;
    bool ok;
    double l1, l5, l15;
  };
  const Case cases[] = {
      {"0.24 0.20 0.10 1/234 5678\n", true, 0.24, 0.20, 0.10},
      {"12.00 7.5 3\n", true, 12, 7.5, 3},
      {"0.24 0.20\n", false, 0, 0, 0},
      {"0.24 abc 0.10 1/2 3\n", false, 0, 0, 0},
      {"-1 0 0 1/1 1\n", false, 0, 0, 0},
      {"", false, 0, 0, 0},
  };
  for (const Case& c : cases) {
    auto l = ParseLoadavg(c.in);
    ASSERT_EQ(l.ok(), c.ok) << c.in;
    if (!c.ok) continue;
    EXPECT_DOUBLE_EQ((*l)[0], c.l1);
    EXPECT_DOUBLE_EQ((*l)[1], c.l5);
    EXPECT_DOUBLE_EQ((*l)[2], c.l15);
  }
}

// -------------------------------------------------------------- diskstats

TEST(DiskstatsParserTest, AllKernelLayouts) {
  auto d = ParseDiskstats(
      " 254 0 vda 29101 5519 2243490 7728 17091 7731 2278728 13558 0 5204 "
      "21679 5177 13 224504 321 2852 70\n"
      " 253 1 dm-0 900 0 73728 400 700 0 57344 850 2 1000 1250 10 0 4096 3\n"
      " 179 0 mmcblk0 310 12 2480 150 20 3 184 40 0 170 190\n");
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].device, "vda");
  EXPECT_EQ((*d)[0].major, 254u);
  EXPECT_EQ((*d)[0].stats.size(), 17u);
  EXPECT_EQ((*d)[0].stats[2], 2243490u);
  EXPECT_EQ((*d)[1].stats.size(), 15u);
  EXPECT_EQ((*d)[2].stats.size(), 11u);
}

TEST(DiskstatsParserTest, RejectsMalformed) {
  const char* cases[] = {
      " 8 0 sda 1 2 3\n",                     // Truncated.
      " 8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n",    // Garbage.
      " x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n",   // Bad major.
      " 8 0 sda 1 2 3 4 5 6 7 8 9 10 -11\n",  // Negative.
  };
  for (const char* c : cases) EXPECT_FALSE(ParseDiskstats(c).ok()) << c;
}

TEST(DiskstatsFilterTest, DefaultExcludeMatchesNodeExporter) {
  auto f = NameFilter::Exclude("x", kDefaultDiskstatsDeviceExclude);
  ASSERT_TRUE(f.ok());
  struct Case {
    const char* dev;
    bool ignored;
  };
  const Case cases[] = {
      {"loop0", true},      {"loop12", true},   {"ram0", true},
      {"sda1", true},       {"vda2", true},     {"xvda1", true},
      {"nvme0n1p1", true},  {"fd0", true},      {"sda", false},
      {"vda", false},       {"nvme0n1", false}, {"dm-0", false},
      {"md0", false},       {"zram0", false},   {"mmcblk0", false},
      {"mmcblk0p1", false},
  };
  for (const Case& c : cases) EXPECT_EQ(f->Ignored(c.dev), c.ignored) << c.dev;
  EXPECT_FALSE(NameFilter::Exclude("bad", "([").ok());
}

TEST(UdevParserTest, PicksInfoFields) {
  UdevDiskInfo u = ParseUdevData(
      "S:disk/by-id/x\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_WWN=0x5000\n"
      "E:ID_MODEL=Samsung_SSD\nE:SCSI_IDENT_SERIAL=S1\nE:ID_REVISION=1B6Q\n"
      "E:broken\n");
  EXPECT_EQ(u.path, "pci-0000:00:1f.2-ata-1");
  EXPECT_EQ(u.wwn, "0x5000");
  EXPECT_EQ(u.model, "Samsung_SSD");
  EXPECT_EQ(u.serial, "S1");  // Falls back to SCSI_IDENT_SERIAL.
  EXPECT_EQ(u.revision, "1B6Q");
  EXPECT_EQ(
      ParseUdevData("E:ID_SERIAL_SHORT=A\nE:SCSI_IDENT_SERIAL=B\n").serial,
      "A");
}

// ------------------------------------------------------------- /proc/mounts

TEST(MountsParserTest, UnescapesOctal) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      {"/data/my\\040disk", "/data/my disk"},
      {"/a\\011b", "/a\tb"},
      {"/a\\134b", "/a\\b"},
      {"/a\\012b", "/a\nb"},
      {"/trailing\\04", "/trailing\\04"},  // Truncated escape kept.
      {"/not\\999octal", "/not\\999octal"},
      {"/plain", "/plain"},
  };
  for (const Case& c : cases) EXPECT_EQ(UnescapeMountField(c.in), c.want);
}

TEST(MountsParserTest, ParsesAndRejects) {
  auto m = ParseMounts(
      "/dev/vda / ext4 rw,relatime 0 0\n"
      "/dev/sdb1 /data/my\\040disk ext4 ro,relatime 0 0\n\n");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[1].mount_point, "/data/my disk");
  EXPECT_EQ((*m)[1].options, "ro,relatime");
  EXPECT_FALSE(ParseMounts("/dev/vda / ext4\n").ok());  // Truncated.
}

TEST(FilesystemFilterTest, DefaultExcludes) {
  auto mp = NameFilter::Exclude("mp", kDefaultMountPointsExclude);
  auto fs = NameFilter::Exclude("fs", kDefaultFsTypesExclude);
  ASSERT_TRUE(mp.ok() && fs.ok());
  EXPECT_TRUE(mp->Ignored("/proc"));
  EXPECT_TRUE(mp->Ignored("/dev/shm"));
  EXPECT_TRUE(mp->Ignored("/run"));
  EXPECT_TRUE(mp->Ignored("/var/lib/docker/overlay2/x"));
  EXPECT_FALSE(mp->Ignored("/"));
  EXPECT_FALSE(mp->Ignored("/var/lib/docker"));
  EXPECT_FALSE(mp->Ignored("/devices"));
  EXPECT_FALSE(mp->Ignored("/data/my disk"));
  EXPECT_TRUE(fs->Ignored("cgroup2"));
  EXPECT_TRUE(fs->Ignored("squashfs"));
  EXPECT_TRUE(fs->Ignored("overlay"));
  EXPECT_FALSE(fs->Ignored("ext4"));
  EXPECT_FALSE(fs->Ignored("tmpfs"));
  EXPECT_FALSE(fs->Ignored("nfs4"));
}

// ------------------------------------------------------------ /proc/net/dev

constexpr char kNetDevHeader[] =
    "Inter-|   Receive                                                |  "
    "Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes "
    "   packets errs drop fifo colls carrier compressed\n";

TEST(NetDevParserTest, ParsesColumnsFromHeader) {
  std::string text = std::string(kNetDevHeader) +
                     "    lo:  271601     308    0    0    0     0          0 "
                     "        0   271601     308    0    0    0     0       0 "
                     "         0\n"
                     "veth1a2b3c4:123456789 98765 1 2 0 0 0 7 987654321 87654 "
                     "3 4 0 0 0 0\n";
  auto t = ParseNetDev(text);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->receive_columns.size(), 8u);
  EXPECT_EQ(t->transmit_columns[5], "colls");
  ASSERT_EQ(t->devices.size(), 2u);
  EXPECT_EQ(t->devices[1].name, "veth1a2b3c4");
  EXPECT_EQ(t->devices[1].receive[0], 123456789u);  // No space after ':'.
  EXPECT_EQ(t->devices[1].receive[7], 7u);
  EXPECT_EQ(t->devices[1].transmit[3], 4u);
}

TEST(NetDevParserTest, RejectsMalformed) {
  const std::string h = kNetDevHeader;
  const std::string cases[] = {
      "",
      "Inter-|\n",
      "Inter-|\n face bytes packets\n",  // No column separators.
      h + "eth0 1 2 3\n",                // No colon.
      h + "eth0: 1 2 3\n",               // Truncated.
      h + "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
      h + ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",  // No name.
  };
  for (const auto& c : cases) EXPECT_FALSE(ParseNetDev(c).ok()) << c;
}

// --------------------------------------------------------------- os-release

TEST(OsReleaseParserTest, QuotesCommentsAndEscapes) {
  auto kv = ParseOsRelease(
      "# comment\n"
      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
      "NAME='Single Quoted'\n"
      "ID=debian\n"
      "VERSION_ID=\"12\"\n"
      "ESCAPED=\"a \\\"b\\\" \\$c\"\n"
      "TRAILING=value # comment\n"
      "not a pair\n"
      "1BAD=x\n");
  EXPECT_EQ(kv["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(kv["NAME"], "Single Quoted");
  EXPECT_EQ(kv["ID"], "debian");
  EXPECT_EQ(kv["VERSION_ID"], "12");
  EXPECT_EQ(kv["ESCAPED"], "a \"b\" $c");
  EXPECT_EQ(kv["TRAILING"], "value");
  EXPECT_EQ(kv.count("1BAD"), 0u);
  EXPECT_EQ(kv.size(), 6u);
}

TEST(OsReleaseParserTest, VersionNumber) {
  struct Case {
    const char* in;
    bool ok;
    double want;
  };
  const Case cases[] = {{"12", true, 12},       {"22.04", true, 22.04},
                        {"3.18.4", true, 3.18}, {"8.", true, 8},
                        {"rolling", false, 0},  {"", false, 0}};
  for (const Case& c : cases) {
    auto v = OsVersionNumber(c.in);
    ASSERT_EQ(v.has_value(), c.ok) << c.in;
    if (c.ok) {
      EXPECT_DOUBLE_EQ(*v, c.want) << c.in;
    }
  }
}

// ------------------------------------------------------------ process state

TEST(ProcessStateParserTest, CommWithParensAndSpaces) {
  struct Case {
    const char* in;
    std::optional<char> want;
  };
  const Case cases[] = {
      {"1 (init) S 0 1 1 0", 'S'},
      {"42 (a) b) (c) R 1 2", 'R'},  // comm "a) b) (c"
      {"7 (kworker/0:1) I 2 0", 'I'},
      {"9 (zomb) Z 1", 'Z'},
      {"9 (x) Q 1", std::nullopt},  // Unknown state.
      {"9 (x)", std::nullopt},      // Truncated.
      {"9 x S 1", std::nullopt},    // No parens.
      {"", std::nullopt},
  };
  for (const Case& c : cases) EXPECT_EQ(ParseStatState(c.in), c.want) << c.in;
  EXPECT_EQ(ProcessStateName('D'), "disk_sleep");
  EXPECT_EQ(ProcessStateName('t'), "tracing_stop");
  EXPECT_EQ(ProcessStateName('?'), "");
}

// --------------------------------------------------------------------- hwmon

TEST(HwmonNameTest, LikeNodeExporter) {
  EXPECT_EQ(CleanHwmonName("Package id 0"), "package_id_0");
  EXPECT_EQ(CleanHwmonName("__x-Y__"), "x_y");
  EXPECT_EQ(CleanHwmonName("---"), "");
  EXPECT_EQ(HwmonChipName("/sys/devices/platform/coretemp.0", "coretemp\n",
                          "/sys/devices/platform/coretemp.0/hwmon/hwmon0"),
            "platform_coretemp_0");
  EXPECT_EQ(HwmonChipName("", "acpitz\n", "/sys/class/hwmon/hwmon1"), "acpitz");
  EXPECT_EQ(HwmonChipName("", "", "/sys/devices/virtual/hwmon/hwmon3"),
            "hwmon3");
}

// -------------------------------------------------------------------- vmstat

TEST(VmstatParserTest, SelectsDefaultFields) {
  EXPECT_TRUE(VmstatFieldSelected("oom_kill"));
  EXPECT_TRUE(VmstatFieldSelected("pgpgin"));
  EXPECT_TRUE(VmstatFieldSelected("pswpout"));
  EXPECT_TRUE(VmstatFieldSelected("pgmajfault"));
  EXPECT_TRUE(VmstatFieldSelected("pgfault"));
  EXPECT_FALSE(VmstatFieldSelected("nr_free_pages"));
  EXPECT_FALSE(VmstatFieldSelected("pgsteal_kswapd"));
  auto v = ParseVmstat("pgfault 12\noom_kill 0\n");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 2u);
  EXPECT_FALSE(ParseVmstat("pgfault\n").ok());
  EXPECT_FALSE(ParseVmstat("pg-fault 1\n").ok());
  EXPECT_FALSE(ParseVmstat("pgfault 1 2\n").ok());
}

}  // namespace
}  // namespace propmon::exporter
