// `propmon-exporter run`: exit status, signal forwarding, summary, /metrics.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/testutil/testutil.h"

namespace propmon {
namespace {

using testutil::Subprocess;
using testutil::TempDir;

int ExitCode(std::optional<int> st) {
  if (!st) return -1;
  return WIFEXITED(*st) ? WEXITSTATUS(*st) : 128 + WTERMSIG(*st);
}

TEST(RunCommandTest, ExitsWithCommandStatusAndPrintsSummary) {
  TempDir dir;
  Subprocess p;
  std::string log = dir.File("log");
  ASSERT_TRUE(
      p.Start({testutil::ExporterBinary(), "run", "--task-id", "t1", "--",
               testutil::TestHelperBinary(), "burn", "0.2", "exit", "3"},
              log));
  EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(30))), 3);
  std::string out = testutil::ReadFileOrEmpty(log);
  EXPECT_NE(out.find("task t1 exited with status 3"), std::string::npos) << out;
  EXPECT_NE(out.find("cpu time"), std::string::npos);
  EXPECT_NE(out.find("peak rss"), std::string::npos);
}

TEST(RunCommandTest, ForwardsSigtermAndExits128PlusSignal) {
  TempDir dir;
  Subprocess p;
  std::string ready = dir.File("ready");
  ASSERT_TRUE(
      p.Start({testutil::ExporterBinary(), "run", "--",
               testutil::TestHelperBinary(), "ready", ready, "sleep", "60"},
              dir.File("log")));
  ASSERT_TRUE(
      testutil::WaitUntil([&] { return access(ready.c_str(), F_OK) == 0; },
                          std::chrono::seconds(20)));
  p.Signal(SIGTERM);
  EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 128 + SIGTERM);
  EXPECT_NE(
      testutil::ReadFileOrEmpty(dir.File("log")).find("killed by signal 15"),
      std::string::npos);
}

TEST(RunCommandTest, CommandKilledBySigkillGives137) {
  TempDir dir;
  Subprocess p;
  ASSERT_TRUE(p.Start(
      {testutil::ExporterBinary(), "run", "--", "/bin/sh", "-c", "kill -9 $$"},
      dir.File("log")));
  EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 137);
}

TEST(RunCommandTest, MissingCommandIsUsageError) {
  TempDir dir;
  Subprocess p;
  ASSERT_TRUE(p.Start({testutil::ExporterBinary(), "run"}, dir.File("log")));
  EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 2);
  Subprocess q;
  ASSERT_TRUE(
      q.Start({testutil::ExporterBinary(), "run", "--", "/nonexistent/cmd"},
              dir.File("log2")));
  EXPECT_EQ(ExitCode(q.Wait(std::chrono::seconds(20))), 127);
  Subprocess r;
  ASSERT_TRUE(r.Start({testutil::ExporterBinary(), "run", "--profile", "turbo",
                       "--", "/bin/true"},
                      dir.File("log3")));
  EXPECT_EQ(ExitCode(r.Wait(std::chrono::seconds(20))), 2);
  EXPECT_NE(testutil::ReadFileOrEmpty(dir.File("log3")).find("turbo"),
            std::string::npos);
}

TEST(RunCommandTest, ServesMetricsWhileRunningCpuRisesAtAboutOneCore) {
  TempDir dir;
  Subprocess p;
  int port = testutil::FreePort();
  ASSERT_TRUE(p.Start(
      {testutil::ExporterBinary(), "run", "--task-id", "t1", "--profile",
       "intensive", "--web.listen-address", "127.0.0.1:" + std::to_string(port),
       "--", testutil::TestHelperBinary(), "spin", "1.0"},
      dir.File("log")));
  ASSERT_TRUE(testutil::WaitUntil([&] { return testutil::PortOpen(port); },
                                  std::chrono::seconds(20)));
  auto cpu = [&]() -> std::optional<double> {
    auto r = testutil::HttpGet(port, "/metrics");
    return testutil::FindSample(testutil::ParseProm(r.body),
                                "proplet_task_cpu_seconds_total",
                                {{"task_id", "t1"}});
  };
  ASSERT_TRUE(testutil::WaitUntil([&] { return cpu().has_value(); },
                                  std::chrono::seconds(10)));
  double c0 = *cpu();
  auto t0 = std::chrono::steady_clock::now();
  sleep(3);
  double c1 = *cpu();
  double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // Samples are 1 s apart (intensive): the rise over ~3 s is about 3 s of
  // CPU, minus up to one interval of sampling lag, on a shared 2-core box.
  EXPECT_GT(c1 - c0, (wall - 1.5) * 0.4);
  EXPECT_LT(c1 - c0, wall + 1.1);
  auto health = testutil::HttpGet(port, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"running_tasks\":1"), std::string::npos)
      << health.body;
  p.Signal(SIGINT);
  EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 128 + SIGINT);
}

}  // namespace
}  // namespace propmon
