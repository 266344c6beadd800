#include "exporter/task_monitor.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/metrics.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::FindSample;
using testutil::ParseProm;

std::string Fixtures() {
  const char* f = getenv("PROPMON_FIXTURES");
  return std::string(f ? f : "tests/fixtures");
}

class FixtureMonitorTest : public ::testing::Test {
 protected:
  FixtureMonitorTest() {
    TaskMonitor::Options o;
    o.procfs = Fixtures() + "/taskproc";
    o.proplet_id = "node-1";
    o.clock = &clock_;
    monitor_ = std::make_unique<TaskMonitor>(o);
  }
  TaskSpec Spec(const std::string& id, pid_t pid, const std::string& profile) {
    TaskSpec s;
    s.id = id;
    s.name = id + "-name";
    s.pid = pid;
    s.profile = *PresetProfile(profile);
    return s;
  }
  std::string Render() {
    MetricsEndpoint m;
    m.Add(monitor_.get());
    return m.Render();
  }
  FakeClock clock_;
  std::unique_ptr<TaskMonitor> monitor_;
};

TEST_F(FixtureMonitorTest, TreeTotalsFromFixture) {
  ASSERT_TRUE(monitor_->AddTask(Spec("t100", 100, "standard")).ok());
  monitor_->RunOnce();
  auto s = ParseProm(Render());
  std::map<std::string, std::string> l = {{"task_id", "t100"},
                                          {"proplet_id", "node-1"}};
  // 100 + child 101 + zombie 102: (150+50+20+10) + (300+100) + (40+10) ticks.
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_cpu_seconds_total", l), 6.8);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_memory_bytes", l),
                   (2048 + 1024) * 4096.0);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_memory_usage_ratio", l),
                   (2048 + 1024) * 4096.0 / (25165824.0 * 1024));
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_disk_read_bytes_total", l),
                   5096);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_disk_write_bytes_total", l),
                   11192);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_threads", l), 6);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_open_fds", l), 8);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_max_fds", l), 1024);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_uptime_seconds", l), 1000.5);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_start_time_seconds", l),
                   1700004000);
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_processes", l), 3);
  // Same network namespace as the exporter: no network series (SPEC §2).
  EXPECT_FALSE(FindSample(s, "proplet_task_network_receive_bytes_total", l));
  // First sample: no interval yet, so no usage ratio (absent, not zero).
  EXPECT_FALSE(FindSample(s, "proplet_task_cpu_usage_ratio", l));
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_info",
                               {{"task_id", "t100"},
                                {"name", "t100-name"},
                                {"profile", "standard"},
                                {"daemon", "false"}}),
                   1);
}

TEST_F(FixtureMonitorTest, OwnNetworkNamespaceAndProfileFlags) {
  ASSERT_TRUE(monitor_->AddTask(Spec("net", 300, "realtime_api")).ok());
  monitor_->RunOnce();
  auto s = ParseProm(Render());
  std::map<std::string, std::string> l = {{"task_id", "net"}};
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "proplet_task_network_receive_bytes_total", l), 123456);
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "proplet_task_network_transmit_bytes_total", l), 654321);
  // realtime_api does not collect disk I/O: the series is absent.
  EXPECT_FALSE(FindSample(s, "proplet_task_disk_write_bytes_total", l));
  // Unlimited fd limit: absent.
  EXPECT_FALSE(FindSample(s, "proplet_task_max_fds", l));
  EXPECT_DOUBLE_EQ(*FindSample(s, "proplet_task_open_fds", l), 1);
}

TEST_F(FixtureMonitorTest, MinimalProfileCollectsOnlyCpuAndMemory) {
  ASSERT_TRUE(monitor_->AddTask(Spec("min", 100, "minimal")).ok());
  monitor_->RunOnce();
  auto s = ParseProm(Render());
  std::map<std::string, std::string> l = {{"task_id", "min"}};
  EXPECT_TRUE(FindSample(s, "proplet_task_cpu_seconds_total", l));
  EXPECT_TRUE(FindSample(s, "proplet_task_memory_bytes", l));
  for (const char* absent :
       {"proplet_task_disk_read_bytes_total", "proplet_task_threads",
        "proplet_task_open_fds", "proplet_task_max_fds",
        "proplet_task_history_samples", "proplet_task_cpu_usage_ratio_avg"}) {
    EXPECT_FALSE(FindSample(s, absent, l)) << absent;
  }
}

TEST_F(FixtureMonitorTest, RejectsBadRegistrations) {
  EXPECT_EQ(monitor_->AddTask(Spec("x", 99999, "standard")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_NE(
      monitor_->AddTask(Spec("x", 99999, "standard")).message().find("pid"),
      std::string::npos);
  ASSERT_TRUE(monitor_->AddTask(Spec("dup", 100, "standard")).ok());
  EXPECT_EQ(monitor_->AddTask(Spec("dup", 101, "standard")).code(),
            StatusCode::kAlreadyExists);
  TaskSpec bad = Spec("bad", 100, "standard");
  bad.profile.interval_seconds = 0;
  EXPECT_EQ(monitor_->AddTask(bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(monitor_->RemoveTask("nope").code(), StatusCode::kNotFound);
}

TEST_F(FixtureMonitorTest, EachTaskOnItsOwnInterval) {
  ASSERT_TRUE(monitor_->AddTask(Spec("fast", 100, "intensive")).ok());
  ASSERT_TRUE(monitor_->AddTask(Spec("slow", 101, "daemon")).ok());
  double next = monitor_->RunOnce();
  EXPECT_DOUBLE_EQ(next - clock_.Monotonic(), 1.0);  // The 1 s task is next.
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1.0);
    next = monitor_->RunOnce();
  }
  EXPECT_EQ(monitor_->GetTask("fast")->samples, 11);
  EXPECT_EQ(monitor_->GetTask("slow")->samples, 1);
  ASSERT_TRUE(monitor_->RemoveTask("fast").ok());
  next = monitor_->RunOnce();
  // Only the 120 s task is left: the next wakeup is its due time, no sooner:
  // the first tick of its grid (multiples of 120 s) more than 60 s after its
  // first sample at 1000, which is 1080.
  EXPECT_NEAR(next, 1080.0, 1e-6);
}

// Tasks that share an interval are sampled in one pass, whenever each was
// added: the thread wakes once per tick of the interval's grid, not once per
// task. A task added mid-interval gets its first sample at once and its
// second on the grid, between half an interval and one and a half later.
TEST_F(FixtureMonitorTest, TasksOfOneIntervalShareOnePass) {
  ASSERT_TRUE(monitor_->AddTask(Spec("a", 100, "standard")).ok());  // 10 s
  double next = monitor_->RunOnce();
  EXPECT_DOUBLE_EQ(next, 1010.0);
  clock_.Advance(3.0);  // 1003: b joins 3 s after a.
  ASSERT_TRUE(monitor_->AddTask(Spec("b", 101, "standard")).ok());
  next = monitor_->RunOnce();  // b's first sample only.
  EXPECT_EQ(monitor_->GetTask("a")->samples, 1);
  EXPECT_EQ(monitor_->GetTask("b")->samples, 1);
  EXPECT_DOUBLE_EQ(next, 1010.0);  // Both next at the same tick.
  clock_.Advance(4.0);             // 1007: nothing due.
  EXPECT_DOUBLE_EQ(monitor_->RunOnce(), 1010.0);
  EXPECT_EQ(monitor_->GetTask("a")->samples, 1);
  clock_.Advance(3.0);  // 1010: one pass samples both.
  next = monitor_->RunOnce();
  EXPECT_EQ(monitor_->GetTask("a")->samples, 2);
  EXPECT_EQ(monitor_->GetTask("b")->samples, 2);
  EXPECT_DOUBLE_EQ(next, 1020.0);
  clock_.Advance(6.0);  // 1016: c, 6 s into the tick: its second sample
  ASSERT_TRUE(monitor_->AddTask(Spec("c", 100, "standard")).ok());
  EXPECT_DOUBLE_EQ(monitor_->RunOnce(), 1020.0);  // is at 1030, not 1020.
  clock_.Advance(4.0);
  EXPECT_DOUBLE_EQ(monitor_->RunOnce(), 1030.0);
  EXPECT_EQ(monitor_->GetTask("c")->samples, 1);
  EXPECT_EQ(monitor_->GetTask("a")->samples, 3);
  clock_.Advance(10.0);
  EXPECT_DOUBLE_EQ(monitor_->RunOnce(), 1040.0);
  EXPECT_EQ(monitor_->GetTask("c")->samples, 2);
  EXPECT_EQ(monitor_->GetTask("a")->samples, 4);
}

TEST_F(FixtureMonitorTest, HistoryRingKeepsNewestAndPages) {
  TaskSpec spec = Spec("h", 100, "intensive");
  spec.profile.history_size = 5;
  ASSERT_TRUE(monitor_->AddTask(spec).ok());
  for (int i = 0; i < 8; ++i) {
    monitor_->RunOnce();
    clock_.Advance(1.0);
  }
  auto page = monitor_->History("h", 0, 100);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 5u);
  ASSERT_EQ(page->samples.size(), 5u);
  // Oldest first: the 4th..8th samples.
  EXPECT_DOUBLE_EQ(page->samples[1].timestamp - page->samples[0].timestamp,
                   1.0);
  EXPECT_DOUBLE_EQ(page->samples[4].timestamp, clock_.Now() - 1.0);
  auto p2 = monitor_->History("h", 3, 10);
  EXPECT_EQ(p2->samples.size(), 2u);
  EXPECT_EQ(p2->total, 5u);
  EXPECT_DOUBLE_EQ(p2->samples[0].timestamp, page->samples[3].timestamp);
  ASSERT_TRUE(page->aggregates);
  EXPECT_EQ(page->aggregates->sample_count, 5u);
  EXPECT_DOUBLE_EQ(*page->aggregates->max_memory_bytes, (2048 + 1024) * 4096.0);
  // Fixture values are static: zero CPU used between samples.
  EXPECT_DOUBLE_EQ(*page->aggregates->avg_cpu_usage_ratio, 0.0);
  EXPECT_EQ(monitor_->History("nope", 0, 1).status().code(),
            StatusCode::kNotFound);
}

TEST_F(FixtureMonitorTest, GoldenScrape) {
  ASSERT_TRUE(monitor_->AddTask(Spec("t100", 100, "standard")).ok());
  ASSERT_TRUE(monitor_->AddTask(Spec("net", 300, "realtime_api")).ok());
  monitor_->RunOnce();
  clock_.Advance(10);
  monitor_->RunOnce();
  std::string text = Render();
  // Drop the lines that measure the exporter's own CPU time.
  std::string stable;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("propmon_exporter_task_collection") != std::string::npos)
      continue;
    stable += line + "\n";
  }
  std::string golden_path = Fixtures() + "/golden/exporter_tasks.prom";
  if (getenv("PROPMON_UPDATE_GOLDEN")) {
    std::ofstream(golden_path) << stable;
  }
  EXPECT_EQ(stable, testutil::ReadFileOrEmpty(golden_path))
      << "run with PROPMON_UPDATE_GOLDEN=1 to rewrite " << golden_path;
  // The full output passes promtool check metrics.
  testutil::TempDir dir;
  std::string path = dir.Write("scrape.prom", text);
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;
}

// A private copy of the fixture procfs in `dir`, so that its processes can
// "exit"; returns its root.
std::string CopyFixtureProc(const testutil::TempDir& dir) {
  std::string root = dir.path();
  EXPECT_EQ(
      system(("cp -a " + Fixtures() + "/taskproc/. " + root + "/").c_str()), 0);
  return root;
}

TEST(TaskMonitorEndTest, EndedTaskGetsFinalSampleAndLeavesAfterGrace) {
  FakeClock clock;
  testutil::TempDir dir;
  const std::string root = CopyFixtureProc(dir);
  TaskMonitor::Options o;
  o.procfs = root;
  o.proplet_id = "n";
  o.clock = &clock;
  TaskMonitor m(o);
  struct Obs : TaskObserver {
    int samples = 0, ended = 0;
    void OnSample(const TaskInfo&, const TaskSample&) override { ++samples; }
    void OnEnded(const TaskInfo&) override { ++ended; }
  } obs;
  m.AddObserver(&obs);
  TaskSpec s;
  s.id = "e";
  s.pid = 300;
  s.profile = *PresetProfile("standard");
  ASSERT_TRUE(m.AddTask(s).ok());
  m.RunOnce();
  ASSERT_EQ(system(("rm -rf " + root + "/300").c_str()), 0);
  clock.Advance(10);
  m.RunOnce();
  EXPECT_EQ(obs.samples, 2);
  EXPECT_EQ(obs.ended, 1);
  auto info = m.GetTask("e");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, TaskState::kEnded);
  MetricsEndpoint ep;
  ep.Add(&m);
  auto scrape = ParseProm(ep.Render());
  EXPECT_DOUBLE_EQ(
      *FindSample(scrape, "proplet_task_running", {{"task_id", "e"}}), 0);
  // Counters keep their last values in the final sample; gauges are gone.
  EXPECT_DOUBLE_EQ(
      *FindSample(scrape, "proplet_task_cpu_seconds_total", {{"task_id", "e"}}),
      10);
  EXPECT_FALSE(
      FindSample(scrape, "proplet_task_memory_bytes", {{"task_id", "e"}}));
  clock.Advance(19);  // Still within 2 intervals.
  m.RunOnce();
  EXPECT_TRUE(FindSample(ParseProm(ep.Render()), "proplet_task_running",
                         {{"task_id", "e"}}));
  clock.Advance(2);
  m.RunOnce();
  EXPECT_FALSE(FindSample(ParseProm(ep.Render()), "proplet_task_running",
                          {{"task_id", "e"}}));
  // Still listed (ended) for the API.
  EXPECT_TRUE(m.GetTask("e"));
  // The id of an ended task may be reused.
  s.pid = 100;
  EXPECT_TRUE(m.AddTask(s).ok());
}

// Ended tasks stay listed for ended_retention_seconds, and at most
// max_ended_tasks of them (the oldest go first); the counts behind
// RunningTasks() and WatchesRootPid() follow every end, removal and reuse.
TEST(TaskMonitorEndTest, EndedTasksLeaveAfterRetentionOrBeyondTheCap) {
  FakeClock clock;
  testutil::TempDir dir;
  const std::string root = CopyFixtureProc(dir);
  const std::string src = Fixtures() + "/taskproc";
  TaskMonitor::Options o;
  o.procfs = root;
  o.clock = &clock;
  o.ended_retention_seconds = 100;
  o.max_ended_tasks = 2;
  TaskMonitor m(o);
  auto add = [&](const std::string& id, pid_t pid) {
    TaskSpec s;
    s.id = id;
    s.pid = pid;
    s.profile = *PresetProfile("intensive");  // 1 s
    return m.AddTask(s);
  };
  // A fresh process PID, a copy of the fixture's 300 (no children).
  auto spawn = [&](pid_t pid) {
    const std::string d = root + "/" + std::to_string(pid);
    ASSERT_EQ(system(("rm -rf " + d + " && cp -a " + src + "/300 " + d +
                      " && sed -i 's/^300 /" + std::to_string(pid) + " /' " +
                      d + "/stat")
                         .c_str()),
              0);
  };
  auto end = [&](pid_t pid) {
    ASSERT_EQ(system(("rm -rf " + root + "/" + std::to_string(pid)).c_str()),
              0);
  };
  spawn(400);
  spawn(500);
  ASSERT_TRUE(add("a", 100).ok());
  ASSERT_TRUE(add("b", 400).ok());
  ASSERT_TRUE(add("c", 300).ok());
  ASSERT_TRUE(add("c2", 300).ok());  // Two tasks on one root.
  m.RunOnce();
  EXPECT_EQ(m.RunningTasks(), 4u);
  EXPECT_TRUE(m.WatchesRootPid(300));
  ASSERT_TRUE(m.RemoveTask("c2").ok());
  EXPECT_TRUE(m.WatchesRootPid(300));
  EXPECT_EQ(m.RunningTasks(), 3u);

  end(300);  // c ends at 1001.
  clock.Advance(1);
  m.RunOnce();
  EXPECT_EQ(m.GetTask("c")->state, TaskState::kEnded);
  EXPECT_FALSE(m.WatchesRootPid(300));
  EXPECT_EQ(m.RunningTasks(), 2u);
  end(400);  // b ends at 1011.
  clock.Advance(10);
  double next = m.RunOnce();
  EXPECT_EQ(m.GetTask("b")->state, TaskState::kEnded);
  EXPECT_DOUBLE_EQ(next, 1012.0);  // a's next sample.
  // Past c's retention (ended at 1001, kept 100 s): c leaves, b stays.
  clock.Advance(90.5);  // 1101.5
  m.RunOnce();
  EXPECT_FALSE(m.GetTask("c"));
  EXPECT_TRUE(m.GetTask("b"));
  // A new task reuses the ended b's id: b is replaced, not counted ended.
  ASSERT_TRUE(add("b", 500).ok());
  EXPECT_EQ(m.RunningTasks(), 2u);
  // Three more endings with a cap of two: the oldest ended one leaves.
  end(500);  // b (the new one) and a (100 and its children) end in one
             // pass.
  end(100);
  end(101);
  end(102);
  clock.Advance(1.5);  // 1103: a's tick (1101.5 was half-way to 1102).
  m.RunOnce();
  EXPECT_EQ(m.RunningTasks(), 0u);
  EXPECT_EQ(m.GetTask("a")->state, TaskState::kEnded);
  EXPECT_EQ(m.GetTask("b")->state, TaskState::kEnded);
  spawn(600);
  ASSERT_TRUE(add("d", 600).ok());
  end(600);
  clock.Advance(1);
  m.RunOnce();  // d ends: three ended, one too many.
  m.RunOnce();  // The cap applies at the start of a pass.
  auto left = m.ListTasks();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_TRUE(m.GetTask("d"));
  EXPECT_FALSE(m.WatchesRootPid(100));
}

TEST(TaskMonitorGlobalsTest, MonitoringDisabledGloballySamplesNothing) {
  FakeClock clock;
  TaskMonitor::Options o;
  o.procfs = Fixtures() + "/taskproc";
  o.clock = &clock;
  o.globals.enable_monitoring = false;
  TaskMonitor m(o);
  TaskSpec s;
  s.id = "off";
  s.pid = 100;
  s.profile = *PresetProfile("standard");
  ASSERT_TRUE(m.AddTask(s).ok());
  m.RunOnce(true);
  EXPECT_EQ(m.GetTask("off")->samples, 0);
  MetricsEndpoint ep;
  ep.Add(&m);
  auto scrape = ParseProm(ep.Render());
  EXPECT_TRUE(FindSample(scrape, "proplet_task_info", {{"task_id", "off"}}));
  EXPECT_FALSE(FindSample(scrape, "proplet_task_cpu_seconds_total",
                          {{"task_id", "off"}}));
}

}  // namespace
}  // namespace propmon::exporter

namespace propmon::exporter {
namespace {

TEST_F(FixtureMonitorTest, GpuMemoryIsSummedOverTheTasksProcesses) {
  monitor_->SetGpuMemorySource([] {
    return std::map<pid_t, uint64_t>{
        {100, 1000}, {101, 24}, {300, 7}, {999, 5}};
  });
  ASSERT_TRUE(monitor_->AddTask(Spec("t100", 100, "standard")).ok());
  monitor_->RunOnce();
  auto s = ParseProm(Render());
  EXPECT_DOUBLE_EQ(
      *FindSample(s, "proplet_task_gpu_memory_bytes", {{"task_id", "t100"}}),
      1024);
}

// A source without a figure (no NVML on the host, or a failed pass) leaves
// the series absent: 0 would invent a measurement.
TEST_F(FixtureMonitorTest, GpuSourceWithoutAFigureMeansNoGpuSeries) {
  monitor_->SetGpuMemorySource(
      []() -> std::optional<std::map<pid_t, uint64_t>> {
        return std::nullopt;
      });
  ASSERT_TRUE(monitor_->AddTask(Spec("t100", 100, "standard")).ok());
  monitor_->RunOnce();
  EXPECT_FALSE(
      FindSample(ParseProm(Render()), "proplet_task_gpu_memory_bytes"));
}

TEST_F(FixtureMonitorTest, NoGpuSourceMeansNoGpuSeries) {
  ASSERT_TRUE(monitor_->AddTask(Spec("t100", 100, "standard")).ok());
  monitor_->RunOnce();
  EXPECT_FALSE(
      FindSample(ParseProm(Render()), "proplet_task_gpu_memory_bytes"));
}

}  // namespace
}  // namespace propmon::exporter
