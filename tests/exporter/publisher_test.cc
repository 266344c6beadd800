// The publisher's pure parts: payload builders against the codec's golden
// files, wait-status texts, the /proc/self, /proc/stat and cgroup v2 parsers
// (table-driven, malformed input included), the self-stats reader on a fake
// tree, the config mapping and the self-metrics before any connection.
#include "exporter/publisher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/metrics.h"
#include "common/payload.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::TempDir;

const char kPropletId[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const char kTaskId[] = "550e8400-e29b-41d4-a716-446655440001";

std::string ReadPayloadFixture(const std::string& rel) {
  const char* env = std::getenv("PROPMON_FIXTURES");
  std::string base =
      env != nullptr ? env : testutil::SourceDir() + "/tests/fixtures";
  std::string path = base + "/payload/" + rel;
  std::string s = testutil::ReadFileOrEmpty(path);
  EXPECT_FALSE(s.empty()) << "missing fixture " << path;
  return s;
}

double Rfc3339(const char* text) {
  auto t = payload::ParseRfc3339(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

int Exited(int code) { return (code & 0xff) << 8; }

// ---------------------------------------------------------------------------
// task_metrics
// ---------------------------------------------------------------------------

// The exporter's state that must encode to tests/fixtures/payload/
// task_metrics.json: ratios become percents, integers become bytes/counts.
TEST(PublisherBuildTest, TaskMetricsFromSampleReproducesGolden) {
  TaskInfo task;
  task.spec.id = kTaskId;
  task.spec.profile = *PresetProfile("standard");
  Aggregates a;
  a.avg_cpu_usage_ratio = 0.382;
  a.max_cpu_usage_ratio = 0.65;
  a.avg_memory_bytes = 62914560;
  a.max_memory_bytes = 71303168;
  a.total_disk_read_bytes = 2097152;
  a.total_disk_write_bytes = 1048576;
  a.total_network_rx_bytes = 12288;
  a.total_network_tx_bytes = 24576;
  a.sample_count = 24;
  task.aggregates = a;
  TaskSample s;
  s.timestamp = Rfc3339("2025-01-15T10:35:22.123456Z");
  s.cpu_seconds = 99;  // not on the wire (exporter-only counter)
  s.cpu_usage_ratio = 0.235;
  s.memory_bytes = 52428800;
  s.memory_usage_ratio = 0.012;
  s.disk_read_bytes = 1048576;
  s.disk_write_bytes = 524288;
  s.network_rx_bytes = 2048;
  s.network_tx_bytes = 4096;
  s.uptime_seconds = 45;
  s.threads = 2;
  s.open_fds = 8;
  s.max_fds = 1024;  // not on the wire
  EXPECT_EQ(payload::Encode(BuildTaskMetrics(kPropletId, task, s)),
            ReadPayloadFixture("task_metrics.json"));
}

TEST(PublisherBuildTest, TaskMetricsWithoutHistoryHasNullAggregated) {
  TaskInfo task;
  task.spec.id = kTaskId;
  task.spec.profile = *PresetProfile("standard");
  task.spec.profile.retain_history = false;
  // Even if aggregates were computed, a profile without history sends null.
  task.aggregates = Aggregates{};
  TaskSample s;
  s.timestamp = Rfc3339("2025-01-15T10:35:22.000001Z");
  s.cpu_usage_ratio = 0.0075;
  s.memory_bytes = 3145728;
  s.memory_usage_ratio = 0.00019;
  s.disk_read_bytes = 0;
  s.disk_write_bytes = 0;
  s.uptime_seconds = 3600;
  s.threads = 1;
  s.open_fds = 4;
  EXPECT_EQ(payload::Encode(BuildTaskMetrics(kPropletId, task, s)),
            ReadPayloadFixture("task_metrics_no_history.json"));
}

TEST(PublisherBuildTest, TaskMetricsOmitsWhatWasNotMeasured) {
  TaskInfo task;
  task.spec.id = "t";
  task.spec.profile = *PresetProfile("minimal");  // no history
  TaskSample s;
  s.timestamp = 1700000000.5;
  s.memory_bytes = 4096;  // first sample: no cpu ratio yet, nothing else
  std::string json = payload::Encode(BuildTaskMetrics("p", task, s));
  EXPECT_EQ(
      json,
      R"({"task_id":"t","proplet_id":"p","metrics":{"memory_bytes":4096},)"
      R"("aggregated":null,"timestamp":"2023-11-14T22:13:20.500000Z"})");
}

TEST(PublisherBuildTest, PercentsCarryNoBinaryNoise) {
  EXPECT_EQ(RatioToPercent(0.235), 23.5);
  EXPECT_EQ(RatioToPercent(0.65), 65.0);
  EXPECT_EQ(RatioToPercent(1.0), 100.0);
  EXPECT_EQ(RatioToPercent(2.5), 250.0);  // two and a half cores
  EXPECT_EQ(RatioToPercent(0), 0.0);
  EXPECT_DOUBLE_EQ(RatioToPercent(0.123456789), 12.345679);
}

// ---------------------------------------------------------------------------
// results
// ---------------------------------------------------------------------------

TEST(PublisherBuildTest, ResultsOfFailedTaskReproducesGolden) {
  EXPECT_EQ(payload::Encode(BuildResults(kPropletId, kTaskId, Exited(3))),
            ReadPayloadFixture("results_failed.json"));
}

TEST(PublisherBuildTest, ResultsOfSuccessfulTaskHaveNullError) {
  std::string json = payload::Encode(BuildResults("p", "t", Exited(0)));
  EXPECT_EQ(json,
            R"({"task_id":"t","proplet_id":"p","results":"","error":null})");
  auto d = payload::Decode(payload::MessageKind::kResults, json, {});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->As<payload::Results>()->error.has_value());
}

TEST(PublisherBuildTest, WaitStatusErrorTexts) {
  struct Case {
    int wait_status;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {Exited(0), std::nullopt},
      {Exited(1), "exited with status 1"},
      {Exited(3), "exited with status 3"},
      {Exited(255), "exited with status 255"},
      {SIGKILL, "killed by signal 9 (Killed)"},
      {SIGTERM, "killed by signal 15 (Terminated)"},
      {SIGSEGV | 0x80, "killed by signal 11 (Segmentation fault), core dumped"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(WaitStatusError(c.wait_status), c.want) << c.wait_status;
  }
}

// ---------------------------------------------------------------------------
// proplet metrics, create
// ---------------------------------------------------------------------------

TEST(PublisherBuildTest, PropletMetricsReproducesGolden) {
  SelfStats self;
  self.user_seconds = 12.34;
  self.system_seconds = 3.0;
  self.rss_bytes = 41943040;
  self.container_usage_bytes = 268435456;
  self.container_limit_bytes = 1073741824;
  EXPECT_EQ(payload::Encode(BuildPropletMetrics(
                kPropletId, "default", Rfc3339("2025-01-15T10:35:22.5Z"), self,
                0.1725)),
            ReadPayloadFixture("proplet_metrics.json"));
}

TEST(PublisherBuildTest, PropletMetricsWithoutCgroupOrPercentHasNoHeap) {
  SelfStats self;
  self.user_seconds = 0.5;
  self.system_seconds = 0.25;
  self.rss_bytes = 8192;
  std::string json = payload::Encode(
      BuildPropletMetrics("p", "default", 1700000000, self, std::nullopt));
  EXPECT_EQ(json, R"({"proplet_id":"p","namespace":"default",)"
                  R"("timestamp":"2023-11-14T22:13:20.000000Z",)"
                  R"("cpu_metrics":{"user_seconds":0.5,"system_seconds":0.25},)"
                  R"("memory_metrics":{"rss_bytes":8192}})");
  EXPECT_EQ(json.find("heap"), std::string::npos);
}

TEST(PublisherBuildTest, CreateReproducesExporterGolden) {
  NodeFacts f;
  f.cpu_arch = "x86_64";
  f.total_memory_bytes = 16777216000;
  f.hostname = "worker-1";
  f.ip = "10.0.0.5";
  EXPECT_EQ(payload::Encode(BuildCreate(kPropletId, "default",
                                        "propmon-exporter 0.1.0", f)),
            ReadPayloadFixture("exporter/create.json"));
}

TEST(PublisherBuildTest, CreateUnderPrivacyHasNoHostnameOrIp) {
  NodeFacts f = ReadNodeFacts("/proc", /*privacy=*/true);
  EXPECT_TRUE(f.hostname.empty());
  EXPECT_TRUE(f.ip.empty());
  EXPECT_FALSE(f.cpu_arch.empty());
  EXPECT_TRUE(f.total_memory_bytes.has_value());
  NodeFacts fixed;
  fixed.cpu_arch = "aarch64";
  fixed.total_memory_bytes = 8589934592;
  EXPECT_EQ(payload::Encode(BuildCreate(kPropletId, "default",
                                        "propmon-exporter 0.1.0", fixed)),
            ReadPayloadFixture("exporter/create_privacy.json"));
}

TEST(PublisherReadTest, NodeFactsMatchTheHost) {
  NodeFacts f = ReadNodeFacts("/proc", /*privacy=*/false);
  char host[256] = {0};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(f.hostname, host);
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(f.cpu_arch, u.machine);
  EXPECT_EQ(f.os, "linux");
  std::string meminfo = testutil::ReadFileOrEmpty("/proc/meminfo");
  unsigned long long kb = 0;
  ASSERT_EQ(std::sscanf(meminfo.c_str(), "MemTotal: %llu kB", &kb), 1);
  EXPECT_EQ(f.total_memory_bytes, kb * 1024);
}

// ---------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------

TEST(CgroupParserTest, V2PathFromProcSelfCgroup) {
  struct Case {
    const char* text;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"0::/\n", "/"},
      {"0::/system.slice/propmon.service\n", "/system.slice/propmon.service"},
      {"12:memory:/docker/abc\n0::/docker/abc\n", "/docker/abc"},
      {"4:memory:/process_api/x\n1:cpu:/\n", std::nullopt},  // v1 only
      {"0::\n", std::nullopt},
      {"0::relative\n", std::nullopt},
      {"0::/gone (deleted)\n", std::nullopt},
      {"", std::nullopt},
      {"0::/no-newline", "/no-newline"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseCgroupV2Path(c.text), c.want) << c.text;
  }
}

TEST(CgroupParserTest, Cgroup2MountFromMountinfo) {
  const char* hybrid =
      "25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
      "31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro\n"
      "32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 "
      "cgroup2 rw,nsdelegate\n"
      "33 31 0:28 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup "
      "rw,memory\n";
  auto m = ParseCgroup2Mount(hybrid);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m->root, "/");
  // No optional fields, an escaped space in the mount point, a non-/ root.
  auto e = ParseCgroup2Mount(
      "40 1 0:40 /kubepods /mnt/my\\040cg rw - cgroup2 none rw\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->mount_point, "/mnt/my cg");
  EXPECT_EQ(e->root, "/kubepods");
  for (const char* bad :
       {"", "garbage\n", "32 31 0:27 / /sys/fs/cgroup rw - cgroup cgroup rw\n",
        "32 31 / - cgroup2 cgroup2 rw\n", "1 2 3 4 5 6 -\n"}) {
    EXPECT_FALSE(ParseCgroup2Mount(bad).has_value()) << bad;
  }
}

TEST(CgroupParserTest, MemoryFileValues) {
  EXPECT_EQ(ParseCgroupBytes("268435456\n"), 268435456u);
  EXPECT_EQ(ParseCgroupBytes("0"), 0u);
  EXPECT_EQ(ParseCgroupBytes("max\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupBytes(""), std::nullopt);
  EXPECT_EQ(ParseCgroupBytes("-1"), std::nullopt);
  EXPECT_EQ(ParseCgroupBytes("12ab"), std::nullopt);
  EXPECT_EQ(ParseCgroupBytes("99999999999999999999999"), std::nullopt);
}

TEST(SelfStatParserTest, ParsesCommWithSpacesAndParens) {
  // utime 250, stime 100, rss 1000 pages.
  const std::string stat =
      "4242 (my (odd) exporter) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 100 "
      "0 0 20 0 7 0 12345 123456789 1000 18446744073709551615 1 1 0 0 0 0 0 "
      "0 0 0 0 0 17 1 0 0 0 0 0\n";
  SelfStats s;
  ASSERT_TRUE(ParseSelfStat(stat, 100, 4096, &s));
  EXPECT_DOUBLE_EQ(*s.user_seconds, 2.5);
  EXPECT_DOUBLE_EQ(*s.system_seconds, 1.0);
  EXPECT_EQ(*s.rss_bytes, 1000u * 4096u);
}

TEST(SelfStatParserTest, RejectsTruncatedAndGarbage) {
  for (const char* bad :
       {"", "4242 (x) S 1 2 3", "no parens at all 1 2 3 4 5 6 7 8 9 10 11",
        "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 100 0 0 20 0 7 0 1 1 1000\n"}) {
    SelfStats s;
    EXPECT_FALSE(ParseSelfStat(bad, 100, 4096, &s)) << bad;
    EXPECT_FALSE(s.user_seconds.has_value());
    EXPECT_FALSE(s.rss_bytes.has_value());
  }
}

// A fake /proc/self and cgroup2 mount in a temp dir.
class FakeSelfTree {
 public:
  FakeSelfTree(const std::string& cgroup_line, const std::string& current,
               const std::string& max) {
    self_ = dir_.path() + "/self";
    mkdir(self_.c_str(), 0755);
    const std::string cg = dir_.path() + "/cg";
    dir_.Write("self/stat",
               "77 (exporter) S 1 77 77 0 -1 0 0 0 0 0 300 50 0 0 20 0 3 0 1 "
               "1 256 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
    dir_.Write("self/cgroup", cgroup_line);
    dir_.Write("self/mountinfo",
               "30 25 0:26 / " + cg + " rw - cgroup2 cgroup2 rw\n");
    mkdir(cg.c_str(), 0755);
    mkdir((cg + "/app.slice").c_str(), 0755);
    if (!current.empty()) dir_.Write("cg/app.slice/memory.current", current);
    if (!max.empty()) dir_.Write("cg/app.slice/memory.max", max);
  }
  const std::string& self() const { return self_; }

 private:
  TempDir dir_;
  std::string self_;
};

TEST(SelfStatsReaderTest, ReadsProcessAndCgroupFigures) {
  FakeSelfTree t("0::/app.slice\n", "268435456\n", "1073741824\n");
  SelfStats s = ReadSelfStats(t.self());
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(*s.user_seconds, 300 / hz);
  EXPECT_DOUBLE_EQ(*s.system_seconds, 50 / hz);
  EXPECT_EQ(*s.rss_bytes, 256u * static_cast<uint64_t>(getpagesize()));
  EXPECT_EQ(s.container_usage_bytes, 268435456u);
  EXPECT_EQ(s.container_limit_bytes, 1073741824u);
}

TEST(SelfStatsReaderTest, UnlimitedCgroupHasUsageButNoLimit) {
  FakeSelfTree t("0::/app.slice\n", "1000\n", "max\n");
  SelfStats s = ReadSelfStats(t.self());
  EXPECT_EQ(s.container_usage_bytes, 1000u);
  EXPECT_FALSE(s.container_limit_bytes.has_value());
}

TEST(SelfStatsReaderTest, NoCgroupFiguresWithoutMemoryCurrentOrV2) {
  // The root cgroup has no memory.current.
  FakeSelfTree root("0::/\n", "", "");
  SelfStats s = ReadSelfStats(root.self());
  EXPECT_TRUE(s.user_seconds.has_value());
  EXPECT_FALSE(s.container_usage_bytes.has_value());
  EXPECT_FALSE(s.container_limit_bytes.has_value());
  // cgroup v1 only: no "0::" line, even though the files exist.
  FakeSelfTree v1("4:memory:/app.slice\n", "1000\n", "2000\n");
  s = ReadSelfStats(v1.self());
  EXPECT_FALSE(s.container_usage_bytes.has_value());
  // Nothing readable at all.
  s = ReadSelfStats("/nonexistent/self");
  EXPECT_FALSE(s.user_seconds.has_value());
  EXPECT_FALSE(s.rss_bytes.has_value());
}

TEST(SelfStatsReaderTest, RealProcSelfMatchesGetrusageAndStatm) {
  SelfStats s = ReadSelfStats("/proc/self");
  ASSERT_TRUE(s.user_seconds.has_value());
  ASSERT_TRUE(s.rss_bytes.has_value());
  std::string statm = testutil::ReadFileOrEmpty("/proc/self/statm");
  unsigned long long size = 0, resident = 0;
  ASSERT_EQ(std::sscanf(statm.c_str(), "%llu %llu", &size, &resident), 2);
  const double rss = static_cast<double>(resident) * getpagesize();
  EXPECT_NEAR(static_cast<double>(*s.rss_bytes), rss, rss * 0.05);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  EXPECT_LE(*s.user_seconds, user + 0.02);
  EXPECT_GE(*s.user_seconds, user - 0.05);
}

// ---------------------------------------------------------------------------
// Options and the Publisher before any connection
// ---------------------------------------------------------------------------

TEST(PublisherOptionsTest, MapsTheConfig) {
  Config c;
  c.privacy = true;
  c.enable_monitoring = false;
  c.mqtt.url = "tcp://127.0.0.1:1883";
  c.mqtt.domain_id = "d1";
  c.mqtt.channel_id = "c1";
  c.mqtt.username = "u";
  c.mqtt.password = "pw";
  c.mqtt.qos = 2;
  c.mqtt.keepalive_seconds = 7;
  c.mqtt.max_buffered_messages = 0;
  c.mqtt.liveliness_interval_seconds = 3;
  c.mqtt.metrics_interval_seconds = 4;
  PublisherOptions o = MakePublisherOptions(c, "node-9", "/proc");
  EXPECT_EQ(o.mqtt.client_id, "propmon-exporter-node-9");  // stable
  EXPECT_FALSE(o.mqtt.clean_start);                        // persistent
  EXPECT_EQ(o.mqtt.qos, 2);
  EXPECT_EQ(o.mqtt.keepalive_seconds, 7);
  EXPECT_EQ(o.mqtt.max_buffered_messages, 1u);
  EXPECT_EQ(o.mqtt.username, "u");
  EXPECT_EQ(o.mqtt.password, "pw");
  EXPECT_EQ(o.proplet_id, "node-9");
  EXPECT_EQ(o.proplet_version.rfind("propmon-exporter ", 0), 0u);
  EXPECT_EQ(o.liveliness_interval_seconds, 3);
  EXPECT_EQ(o.metrics_interval_seconds, 4);
  EXPECT_TRUE(o.privacy);
  EXPECT_FALSE(o.enable_monitoring);
  c.mqtt.client_id = "given";
  EXPECT_EQ(MakePublisherOptions(c, "node-9", "/proc").mqtt.client_id, "given");
  // Defaults of the config: QoS 1, persistent session.
  Config d;
  d.mqtt.url = "tcp://h:1";
  PublisherOptions od = MakePublisherOptions(d, "n", "/proc");
  EXPECT_EQ(od.mqtt.qos, 1);
  EXPECT_FALSE(od.mqtt.clean_start);
  EXPECT_EQ(od.mqtt.max_buffered_messages, 10000u);
}

PublisherOptions ValidOptions() {
  PublisherOptions o;
  o.mqtt.url = "tcp://127.0.0.1:1";
  o.mqtt.client_id = "c";
  o.domain_id = "d";
  o.channel_id = "ch";
  o.proplet_id = "p";
  return o;
}

TEST(PublisherCreateTest, RejectsBadIdsUrlAndIntervals) {
  EXPECT_TRUE(Publisher::Create(ValidOptions()).ok());
  struct Case {
    const char* name;
    void (*mutate)(PublisherOptions*);
    const char* want;
  };
  const Case cases[] = {
      {"empty domain", [](PublisherOptions* o) { o->domain_id = ""; },
       "domain_id"},
      {"slash in channel", [](PublisherOptions* o) { o->channel_id = "a/b"; },
       "channel"},
      {"wildcard", [](PublisherOptions* o) { o->domain_id = "+"; }, "'+'"},
      {"no proplet id", [](PublisherOptions* o) { o->proplet_id = ""; },
       "proplet id"},
      {"bad url", [](PublisherOptions* o) { o->mqtt.url = "http://x"; },
       "scheme"},
      {"zero interval",
       [](PublisherOptions* o) { o->liveliness_interval_seconds = 0; },
       "interval"},
  };
  for (const Case& c : cases) {
    PublisherOptions o = ValidOptions();
    c.mutate(&o);
    auto p = Publisher::Create(o);
    ASSERT_FALSE(p.ok()) << c.name;
    EXPECT_NE(p.status().message().find(c.want), std::string::npos)
        << c.name << ": " << p.status().message();
  }
}

TEST(PublisherCreateTest, SelfMetricsBeforeConnecting) {
  auto p = Publisher::Create(ValidOptions());
  ASSERT_TRUE(p.ok());
  MetricsEndpoint m;
  m.Add(p->get());
  auto samples = testutil::ParseProm(m.Render());
  EXPECT_EQ(testutil::FindSample(samples, "propmon_exporter_mqtt_connected"),
            0);
  for (const char* name : {"propmon_exporter_mqtt_buffered_messages",
                           "propmon_exporter_mqtt_published_total",
                           "propmon_exporter_mqtt_failed_total",
                           "propmon_exporter_mqtt_dropped_total",
                           "propmon_exporter_mqtt_reconnects_total"}) {
    EXPECT_EQ(testutil::FindSample(samples, name), 0) << name;
  }
  EXPECT_EQ((*p)->Topic(payload::MessageKind::kAlive),
            "m/d/c/ch/control/proplet/alive");
}

// OnSample before Start() only buffers; a profile without export_to_mqtt
// and the final sample of an ended task buffer nothing.
TEST(PublisherCreateTest, OnSampleHonoursProfileAndTaskState) {
  auto p = Publisher::Create(ValidOptions());
  ASSERT_TRUE(p.ok());
  TaskInfo task;
  task.spec.id = "t";
  TaskSample s;
  s.timestamp = 1700000000;
  s.memory_bytes = 1;
  task.spec.profile = *PresetProfile("intensive");
  (*p)->OnSample(task, s);
  EXPECT_EQ((*p)->mqtt_stats().buffered, 1u);
  task.spec.profile = *PresetProfile("minimal");  // export_to_mqtt false
  (*p)->OnSample(task, s);
  task.spec.profile = *PresetProfile("intensive");
  task.spec.profile.enabled = false;
  (*p)->OnSample(task, s);
  task.spec.profile.enabled = true;
  task.state = TaskState::kEnded;
  (*p)->OnSample(task, s);
  EXPECT_EQ((*p)->mqtt_stats().buffered, 1u);
  // An observed task's end (no exit status): no results message.
  (*p)->OnEnded(task);
  EXPECT_EQ((*p)->mqtt_stats().buffered, 1u);
  // A run task's end without a status waits for TaskExited...
  task.spec.source = "run";
  (*p)->OnEnded(task);
  EXPECT_EQ((*p)->mqtt_stats().buffered, 1u);
  (*p)->TaskExited("t", Exited(0));
  EXPECT_EQ((*p)->mqtt_stats().buffered, 2u);
  // ...and one whose status is known is published once, whichever comes
  // first.
  task.spec.id = "u";
  task.wait_status = Exited(3);
  (*p)->OnEnded(task);
  (*p)->TaskExited("u", Exited(3));
  EXPECT_EQ((*p)->mqtt_stats().buffered, 3u);
}

}  // namespace
}  // namespace propmon::exporter
