// Ground truth: real processes with a known footprint, measured through the
// real /proc. Tolerances as issue 2 states them.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "exporter/task_monitor.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::Subprocess;
using testutil::TempDir;
using testutil::WaitUntil;

constexpr double kMiB = 1024.0 * 1024.0;

class GroundTruthTest : public ::testing::Test {
 protected:
  GroundTruthTest() {
    TaskMonitor::Options o;
    o.proplet_id = "gt";
    monitor_ = std::make_unique<TaskMonitor>(o);
  }
  // Starts the workload with `args`, registers it as task `id`.
  void Start(const std::string& id, std::vector<std::string> args,
             const std::string& profile = "intensive") {
    args.insert(args.begin(), testutil::TestHelperBinary());
    ASSERT_TRUE(proc_.Start(args));
    TaskSpec s;
    s.id = id;
    s.pid = proc_.pid();
    s.profile = *PresetProfile(profile);
    ASSERT_TRUE(monitor_->AddTask(s).ok());
  }
  bool WaitFile(const std::string& path) {
    return WaitUntil([&] { return std::filesystem::exists(path); },
                     std::chrono::seconds(60));
  }
  TaskSample Sample(const std::string& id) {
    monitor_->RunOnce(true);
    auto info = monitor_->GetTask(id);
    EXPECT_TRUE(info && info->last);
    return info && info->last ? *info->last : TaskSample{};
  }
  std::unique_ptr<TaskMonitor> monitor_;
  Subprocess proc_;
  TempDir dir_;
};

TEST_F(GroundTruthTest, BurnsTwoSecondsOfCpu) {
  std::string ready = dir_.File("ready");
  Start("cpu", {"burn", "2.0", "ready", ready, "sleep", "60"});
  ASSERT_TRUE(WaitFile(ready));
  TaskSample s = Sample("cpu");
  ASSERT_TRUE(s.cpu_seconds);
  EXPECT_NEAR(*s.cpu_seconds, 2.0, 2.0 * 0.05);
}

TEST_F(GroundTruthTest, CpuUsageRatioOfABusyLoopIsAboutOneCore) {
  Start("spin", {"spin", "1.0"});
  Sample("spin");
  usleep(1500 * 1000);
  TaskSample s = Sample("spin");
  ASSERT_TRUE(s.cpu_usage_ratio);
  // Two cores shared with other tests: a good part of a core, at most one.
  EXPECT_GT(*s.cpu_usage_ratio, 0.3);
  EXPECT_LT(*s.cpu_usage_ratio, 1.05);
}

TEST_F(GroundTruthTest, AllocatesAndTouches64MiB) {
  std::string before = dir_.File("before"), after = dir_.File("after");
  Start("mem", {"ready", before, "sleep", "0.5", "alloc", "64", "ready", after,
                "sleep", "60"});
  ASSERT_TRUE(WaitFile(before));
  TaskSample s0 = Sample("mem");
  ASSERT_TRUE(WaitFile(after));
  TaskSample s1 = Sample("mem");
  ASSERT_TRUE(s0.memory_bytes && s1.memory_bytes);
  double grown = static_cast<double>(*s1.memory_bytes) -
                 static_cast<double>(*s0.memory_bytes);
  EXPECT_NEAR(grown, 64 * kMiB, 64 * kMiB * 0.05);
  ASSERT_TRUE(s1.memory_usage_ratio);
  EXPECT_GT(*s1.memory_usage_ratio, 0.0);
}

TEST_F(GroundTruthTest, Writes32MiBWithFsync) {
  // Under the build tree, which is on a real file system (tmpfs would count
  // no storage writes at all).
  std::string out = std::string(PROPMON_BINARY_DIR) + "/gt-write-" +
                    std::to_string(getpid()) + ".dat";
  std::string ready = dir_.File("ready");
  Start("disk", {"write", out, "32", "ready", ready, "sleep", "60"});
  ASSERT_TRUE(WaitFile(ready));
  TaskSample s = Sample("disk");
  unlink(out.c_str());
  ASSERT_TRUE(s.disk_write_bytes);
  EXPECT_GE(*s.disk_write_bytes, 32 * kMiB);
  EXPECT_LE(*s.disk_write_bytes, 33 * kMiB);
}

TEST_F(GroundTruthTest, FourExtraThreadsAndTwentyExtraFilesExactly) {
  std::string before = dir_.File("before"), after = dir_.File("after");
  Start("tf", {"ready", before, "sleep", "0.3", "threads", "4", "files", "20",
               "ready", after, "sleep", "60"});
  ASSERT_TRUE(WaitFile(before));
  TaskSample s0 = Sample("tf");
  ASSERT_TRUE(WaitFile(after));
  TaskSample s1 = Sample("tf");
  ASSERT_TRUE(s0.threads && s1.threads && s0.open_fds && s1.open_fds);
  EXPECT_EQ(*s1.threads - *s0.threads, 4);
  EXPECT_EQ(*s1.open_fds - *s0.open_fds, 20);
  ASSERT_TRUE(s1.max_fds);
  EXPECT_GT(*s1.max_fds, 0u);
}

TEST_F(GroundTruthTest, ChildExitDoesNotDecreaseCounters) {
  std::string ready = dir_.File("ready");
  Start("tree",
        {"burn", "0.3", "child-burn", "1.0", "ready", ready, "sleep", "60"});
  // Sample while the child burns (it is part of the task).
  bool saw_child = WaitUntil(
      [&] {
        return Sample("tree").processes == 2 || std::filesystem::exists(ready);
      },
      std::chrono::seconds(30), std::chrono::milliseconds(20));
  ASSERT_TRUE(saw_child);
  double prev = 0;
  bool decreased = false;
  while (!std::filesystem::exists(ready)) {
    TaskSample s = Sample("tree");
    if (s.cpu_seconds) {
      if (*s.cpu_seconds + 1e-9 < prev) decreased = true;
      prev = *s.cpu_seconds;
    }
    usleep(50 * 1000);
  }
  TaskSample end = Sample("tree");
  EXPECT_FALSE(decreased);
  EXPECT_EQ(end.processes, 1);
  ASSERT_TRUE(end.cpu_seconds);
  EXPECT_GE(*end.cpu_seconds + 1e-9, prev);
  // The child's second of CPU stays in the task's total after it exited.
  EXPECT_NEAR(*end.cpu_seconds, 1.3, 1.3 * 0.05);
}

TEST_F(GroundTruthTest, TaskEndsWhenItsProcessesAreGone) {
  Start("short", {"sleep", "0.2", "exit", "0"});
  Sample("short");
  proc_.Wait(std::chrono::seconds(10));  // Reaped: gone from /proc.
  monitor_->RunOnce(true);
  auto info = monitor_->GetTask("short");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, TaskState::kEnded);
}

}  // namespace
}  // namespace propmon::exporter
