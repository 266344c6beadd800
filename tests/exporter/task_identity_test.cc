// A registration proves which process it means: start_time_ticks, when
// given, must be the pid's start time (else 400 naming the field); without
// it the start time is pinned when the task is registered, and a process
// that reuses the pid afterwards is never adopted as the task.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "exporter/api.h"
#include "exporter/procfs.h"
#include "exporter/task_monitor.h"
#include "exporter/task_sampler.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;
using ::testing::StartsWith;
using testutil::Http;
using testutil::HttpResult;
using testutil::Subprocess;

std::string Fixtures() {
  const char* f = getenv("PROPMON_FIXTURES");
  return std::string(f ? f : "tests/fixtures");
}

std::string ErrorOf(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_string()
             ? j["error"].get<std::string>()
             : "(no JSON error in: " + r.body + ")";
}

class StartTimeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TaskMonitor::Options o;
    o.proplet_id = "node-s";
    o.clock = &clock_;
    monitor_ = std::make_unique<TaskMonitor>(o);
    RegisterTaskApi(&server_, monitor_.get(), {});
    HttpServer::Options so;
    so.listen_address = "127.0.0.1:0";
    ASSERT_TRUE(server_.Start(so).ok());
    port_ = server_.port();
    ASSERT_TRUE(worker_.Start({testutil::TestHelperBinary(), "sleep", "60"}));
    // The start time as the exporter's one /proc/PID/stat parser reads it.
    ProcReader reader;
    auto st = reader.ReadStat(worker_.pid());
    ASSERT_TRUE(st.ok()) << st.status().message();
    start_ = st->starttime;
  }
  void TearDown() override { server_.Stop(); }

  HttpResult Post(const std::string& id, const std::string& extra) {
    return Http(port_, "POST", "/api/v1/tasks",
                R"({"id": ")" + id + R"(", "pid": )" +
                    std::to_string(worker_.pid()) + extra + "}",
                {"Content-Type: application/json"});
  }
  std::optional<double> Refused(const char* reason) {
    MetricsEndpoint m;
    m.Add(monitor_.get());
    return testutil::FindSample(testutil::ParseProm(m.Render()),
                                "propmon_exporter_tasks_refused_total",
                                {{"reason", reason}});
  }

  FakeClock clock_;
  std::unique_ptr<TaskMonitor> monitor_;
  HttpServer server_;
  int port_ = 0;
  Subprocess worker_;
  uint64_t start_ = 0;
};

TEST_F(StartTimeApiTest, WrongStartTimeIsRefusedNamingTheField) {
  HttpResult r =
      Post("wrong", ", \"start_time_ticks\": " + std::to_string(start_ + 1));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ErrorOf(r),
            "start_time_ticks: process " + std::to_string(worker_.pid()) +
                " started " + std::to_string(start_) +
                " clock ticks after boot, not " + std::to_string(start_ + 1) +
                " (the pid names another process)");
  EXPECT_FALSE(monitor_->GetTask("wrong"));
  EXPECT_EQ(monitor_->refused(TaskMonitor::Refusal::kStartTimeMismatch), 1);
  EXPECT_EQ(Refused("start_time_mismatch"), 1);
  EXPECT_EQ(Refused("max_tasks"), 0);
}

TEST_F(StartTimeApiTest, RightStartTimeIsAccepted) {
  HttpResult r =
      Post("right", ", \"start_time_ticks\": " + std::to_string(start_));
  ASSERT_EQ(r.status, 201) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["start_time_ticks"], start_);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(Refused("start_time_mismatch"), 0);
}

TEST_F(StartTimeApiTest, WithoutItTheStartTimeIsPinnedAtRegistration) {
  HttpResult r = Post("pinned", "");
  ASSERT_EQ(r.status, 201) << r.body;
  json j = json::parse(r.body);
  // Pinned before any sample was taken.
  EXPECT_EQ(j["samples"], 0);
  EXPECT_EQ(j["start_time_ticks"], start_);
  EXPECT_EQ(monitor_->GetTask("pinned")->spec.start_time_ticks, start_);
}

TEST_F(StartTimeApiTest, BadValuesAre400) {
  for (const char* bad :
       {"-1", "1.5", "\"123\"", "true", "[1]", "18446744073709551616"}) {
    SCOPED_TRACE(bad);
    HttpResult r = Post("bad", std::string(", \"start_time_ticks\": ") + bad);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(ErrorOf(r),
                StartsWith("start_time_ticks: must be a non-negative integer"));
  }
  // null is the same as absent.
  EXPECT_EQ(Post("null", ", \"start_time_ticks\": null").status, 201);
}

// The fixture procfs tree, copied so that a test can rewrite it: the honest
// stand-in for a pid that is reused, which a test cannot make happen on a
// live system.
class RecycledPidTest : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    root_ = dir_.path() + "/proc";
    fs::copy(Fixtures() + "/taskproc", root_,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    TaskMonitor::Options o;
    o.procfs = root_;
    o.proplet_id = "node-r";
    o.clock = &clock_;
    monitor_ = std::make_unique<TaskMonitor>(o);
  }
  // Makes pid 100 a different process: same pid, a later start time (field
  // 22: 400000 -> 900000), another name.
  void RecyclePid100() {
    std::ofstream(root_ + "/100/stat", std::ios::trunc)
        << "100 (impostor) S 1 100 100 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 "
           "0 900000 3133440 512 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 "
           "0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
  }
  TaskSpec Spec(const std::string& id) {
    TaskSpec s;
    s.id = id;
    s.pid = 100;
    s.profile = *PresetProfile("standard");
    return s;
  }

  testutil::TempDir dir_;
  std::string root_;
  FakeClock clock_;
  std::unique_ptr<TaskMonitor> monitor_;
};

TEST_F(RecycledPidTest, PidReusedBeforeTheFirstSampleIsNotAdopted) {
  ASSERT_TRUE(monitor_->AddTask(Spec("t")).ok());
  EXPECT_EQ(monitor_->GetTask("t")->spec.start_time_ticks, 400000u);
  EXPECT_EQ(monitor_->GetTask("t")->samples, 0);
  RecyclePid100();  // The task's process exits; another gets pid 100.
  monitor_->RunOnce(true);
  auto t = monitor_->GetTask("t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->state, TaskState::kEnded);
  ASSERT_TRUE(t->last);
  EXPECT_EQ(t->last->processes, 0);
  EXPECT_FALSE(t->last->memory_bytes);  // Nothing of the impostor's.
  EXPECT_FALSE(t->last->cpu_seconds && *t->last->cpu_seconds > 0);
}

TEST_F(RecycledPidTest, PidReusedLaterIsNotAdoptedEither) {
  ASSERT_TRUE(monitor_->AddTask(Spec("t")).ok());
  monitor_->RunOnce(true);
  ASSERT_EQ(monitor_->GetTask("t")->state, TaskState::kRunning);
  RecyclePid100();
  clock_.Advance(10);
  monitor_->RunOnce(true);
  // Its children (101 and zombie 102) still live in the fixture, so the task
  // goes on, without the impostor at its root.
  auto t = monitor_->GetTask("t");
  ASSERT_TRUE(t && t->last);
  EXPECT_EQ(t->last->processes, 2);
}

TEST_F(RecycledPidTest, ImpostorIsRefusedWhenTheOriginalStartIsGiven) {
  RecyclePid100();
  TaskSpec s = Spec("t");
  s.start_time_ticks = 400000;  // What the registrant saw earlier.
  Status st = monitor_->AddTask(s);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), StartsWith("start_time_ticks: process 100 "
                                       "started 900000 clock ticks"));
  // Registered as it is now, the new process is the task (pinned to it).
  ASSERT_TRUE(monitor_->AddTask(Spec("t")).ok());
  EXPECT_EQ(monitor_->GetTask("t")->spec.start_time_ticks, 900000u);
  monitor_->RunOnce(true);
  EXPECT_EQ(monitor_->GetTask("t")->state, TaskState::kRunning);
}

TEST_F(RecycledPidTest, SamplerComparesThePinnedStartTime) {
  ProcReader reader(root_);
  SampleErrors errors;
  TaskSample s;
  TaskSampler pinned(100, /*include_children=*/false, "", 400000);
  EXPECT_TRUE(pinned.Sample(&reader, *PresetProfile("standard"), 1, 1,
                            std::nullopt, &s, &errors));
  RecyclePid100();
  TaskSampler pinned_before(100, false, "", 400000);
  EXPECT_FALSE(pinned_before.Sample(&reader, *PresetProfile("standard"), 2, 2,
                                    std::nullopt, &s, &errors));
  EXPECT_EQ(s.processes, 0);
  // Control: unpinned, the first sample would take whatever has the pid.
  TaskSampler unpinned(100, false, "");
  EXPECT_TRUE(unpinned.Sample(&reader, *PresetProfile("standard"), 3, 3,
                              std::nullopt, &s, &errors));
  EXPECT_EQ(unpinned.root_start_ticks(), 900000u);
}

}  // namespace
}  // namespace propmon::exporter
