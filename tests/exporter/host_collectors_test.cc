// HostCollectors: configuration by name, per-collector success/duration, a
// failing or throwing collector never failing the scrape, thread-safe
// Collect, and the whole fixture-tree scrape accepted by promtool.
#include "exporter/collectors/host_collectors.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::FindSample;
using testutil::FindSamples;
using testutil::Sample;

std::string Fixtures() { return testutil::SourceDir() + "/tests/fixtures"; }

HostCollectorOptions FixtureOptions() {
  HostCollectorOptions o;
  o.paths.procfs = Fixtures() + "/proc";
  o.paths.sysfs = Fixtures() + "/sys";
  o.paths.rootfs = "/nonexistent-rootfs";
  o.paths.udev_data = "/nonexistent-udev";
  o.statfs = [](const std::string&, FsStats* out) {
    out->bsize = 4096;
    out->blocks = 100;
    return Status::Ok();
  };
  o.gpu.library = "/nonexistent/libnvidia-ml.so.1";
  o.gpu.hostname = "testhost";
  return o;
}

std::string Render(const prometheus::Collectable& c) {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, c.Collect());
  return os.str();
}

TEST(MakeHostCollectorsTest, AllByDefault) {
  auto h = MakeHostCollectors(FixtureOptions(), {}, {});
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ((*h)->Names(), HostCollectorNames());
  EXPECT_NE((*h)->gpu(), nullptr);
}

TEST(MakeHostCollectorsTest, EnableAndDisableByName) {
  auto only = MakeHostCollectors(FixtureOptions(), {"meminfo", "cpu"}, {});
  ASSERT_TRUE(only.ok());
  EXPECT_EQ((*only)->Names(), (std::vector<std::string>{"cpu", "meminfo"}));
  EXPECT_EQ((*only)->gpu(), nullptr);
  EXPECT_TRUE((*only)->GpuProcessMemory().empty());

  auto minus = MakeHostCollectors(FixtureOptions(), {}, {"gpu", "hwmon"});
  ASSERT_TRUE(minus.ok());
  auto names = (*minus)->Names();
  EXPECT_EQ(names.size(), HostCollectorNames().size() - 2);
  EXPECT_EQ(std::count(names.begin(), names.end(), "hwmon"), 0);
  EXPECT_EQ((*minus)->gpu(), nullptr);
}

TEST(MakeHostCollectorsTest, RejectsUnknownAndContradictoryNames) {
  auto bad = MakeHostCollectors(FixtureOptions(), {"cpu", "cpus"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"cpus\""), std::string::npos);
  EXPECT_NE(bad.status().message().find("known: cpu, diskstats"),
            std::string::npos);
  EXPECT_FALSE(MakeHostCollectors(FixtureOptions(), {}, {"nvidia"}).ok());
  auto both = MakeHostCollectors(FixtureOptions(), {"cpu"}, {"cpu"});
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("both"), std::string::npos);

  HostCollectorOptions o = FixtureOptions();
  o.diskstats_device_exclude = "^(loop";
  auto re = MakeHostCollectors(o, {}, {});
  ASSERT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("diskstats"), std::string::npos);
}

TEST(HostCollectorsTest, FixtureScrapeReportsEveryCollector) {
  auto h = MakeHostCollectors(FixtureOptions(), {}, {"os"});
  ASSERT_TRUE(h.ok());
  auto s = testutil::ParseProm(Render(**h));
  for (const auto& name : (*h)->Names()) {
    EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                         {{"collector", name}}),
              1.0)
        << name;
    auto d = FindSample(s, "propmon_exporter_collector_duration_seconds",
                        {{"collector", name}});
    ASSERT_TRUE(d.has_value()) << name;
    EXPECT_GE(*d, 0);
  }
  EXPECT_TRUE(FindSample(s, "node_memory_MemTotal_bytes"));
  EXPECT_TRUE(FindSample(s, "node_load1"));
  EXPECT_TRUE(FindSample(s, "node_uname_info"));
  EXPECT_TRUE(
      FindSample(s, "node_filesystem_size_bytes", {{"mountpoint", "/"}}));
  // No NVML library: the GPU collector succeeds with no samples.
  EXPECT_TRUE(FindSamples(s, "DCGM_FI_DEV_GPU_UTIL").empty());
}

TEST(HostCollectorsTest, FailingCollectorNeverFailsTheScrape) {
  HostCollectorOptions o = FixtureOptions();
  o.paths.procfs = "/nonexistent-procfs";
  auto h = MakeHostCollectors(o, {"cpu", "meminfo", "hwmon"}, {});
  ASSERT_TRUE(h.ok());
  auto s = testutil::ParseProm(Render(**h));
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "cpu"}}),
            0.0);
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "meminfo"}}),
            0.0);
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "hwmon"}}),
            1.0);
  EXPECT_TRUE(FindSamples(s, "node_cpu_seconds_total").empty());
  EXPECT_TRUE(FindSample(s, "node_hwmon_temp_celsius"));
}

// Emits one family, then fails or throws.
class BrokenCollector : public Collector {
 public:
  explicit BrokenCollector(bool throws) : throws_(throws) {}
  std::string_view Name() const override {
    return throws_ ? "thrower" : "partial";
  }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override {
    FamilyBuilder b(throws_ ? "thrower_partial" : "partial_output", "x",
                    prometheus::MetricType::Gauge);
    b.Add(Labels{}, 1);
    b.MoveTo(out);
    if (throws_) throw std::runtime_error("boom");
    return Internal("half way");
  }

 private:
  bool throws_;
};

TEST(HostCollectorsTest, PartialOutputOfAFailedCollectorIsDiscarded) {
  std::vector<std::unique_ptr<Collector>> list;
  list.push_back(std::make_unique<BrokenCollector>(false));
  list.push_back(std::make_unique<BrokenCollector>(true));
  HostCollectors h(std::move(list), nullptr);
  auto s = testutil::ParseProm(Render(h));
  EXPECT_FALSE(FindSample(s, "partial_output"));
  EXPECT_FALSE(FindSample(s, "thrower_partial"));
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "partial"}}),
            0.0);
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "thrower"}}),
            0.0);
}

TEST(HostCollectorsTest, ConcurrentScrapesAreSerialized) {
  auto h =
      MakeHostCollectors(FixtureOptions(), {"cpu", "diskstats", "netdev"}, {});
  ASSERT_TRUE(h.ok());
  std::vector<std::thread> threads;
  std::vector<size_t> sizes(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) sizes[t] = (*h)->Collect().size();
    });
  }
  for (auto& t : threads) t.join();
  for (size_t n : sizes) EXPECT_EQ(n, sizes[0]);
  EXPECT_GT(sizes[0], 10u);
}

// The fixture scrape is valid exposition text. promtool's only complaints
// may be the camelCase names node_exporter itself uses for /proc/meminfo
// fields and dcgm-exporter's upper-case names.
TEST(HostCollectorsTest, FixtureScrapePassesPromtool) {
  auto h = MakeHostCollectors(FixtureOptions(), {}, {});
  ASSERT_TRUE(h.ok());
  testutil::TempDir dir;
  std::string in = dir.Write("scrape.prom", Render(**h));
  std::string out = dir.File("promtool.out");
  std::string cmd =
      "promtool check metrics < '" + in + "' > '" + out + "' 2>&1";
  int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1);
  int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::string report = testutil::ReadFileOrEmpty(out);
  EXPECT_TRUE(code == 0 || code == 3) << "promtool exit " << code << "\n"
                                      << report;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    bool allowed = line.rfind("node_memory_", 0) == 0 &&
                   line.find("camelCase") != std::string::npos;
    EXPECT_TRUE(allowed) << line;
  }
}

}  // namespace
}  // namespace propmon::exporter
