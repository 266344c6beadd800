// Translation of every Propeller payload variant into series (the decoding
// itself is tested in tests/common/payload_test.cc), expiry with an
// injected clock, proplet_up, results, and the series limit.
#include "bridge/propeller_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/payload.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using testutil::FindSample;
using testutil::FindSamples;
using testutil::ParseProm;
using testutil::Sample;

std::string Fixture(const std::string& name) {
  const char* dir = std::getenv("PROPMON_FIXTURES");
  std::string base = dir ? dir : testutil::SourceDir() + "/tests/fixtures";
  std::string text =
      testutil::ReadFileOrEmpty(base + "/bridge/variants/" + name);
  EXPECT_FALSE(text.empty()) << "missing fixture " << name;
  return text;
}

std::string Topic(const std::string& suffix) {
  return "m/dom-1/c/chan-1/" + suffix;
}

class PropellerMappingTest : public ::testing::Test {
 protected:
  PropellerMappingTest()
      : task_history_(HistoryStore::Options{}),
        proplet_history_(HistoryStore::Options{}),
        hub_(StreamHub::Options{}) {
    Recreate(PropellerOptions{}, 200000);
  }

  void Recreate(const PropellerOptions& o, std::size_t limit) {
    mapping_.reset();
    store_ptr_ =
        std::make_unique<SeriesStore>(SeriesStore::Options{limit}, &clock_);
    mapping_ = std::make_unique<PropellerMapping>(
        o, store_ptr_.get(), &task_history_, &proplet_history_, &hub_, &clock_);
  }

  PropellerMapping::Outcome Feed(const std::string& suffix,
                                 const std::string& payload) {
    payload::DecodeOptions opt;
    opt.receive_time = clock_.Now();
    auto d = payload::DecodeMessage(Topic(suffix), payload, opt);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().detail) << "\n" << payload;
    if (!d.ok()) return PropellerMapping::Outcome::kOk;
    std::string kept = payload;
    return mapping_->Apply(*d, Topic(suffix), clock_.Now(), clock_.Monotonic(),
                           &kept);
  }

  void Tick() {
    mapping_->Tick();
    store_ptr_->ExpireNow();
  }

  std::vector<Sample> Samples() {
    std::string out;
    store_ptr_->Render(&out);
    return ParseProm(out);
  }

  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& l) {
    return FindSample(Samples(), name, l);
  }

  FakeClock clock_;
  std::unique_ptr<SeriesStore> store_ptr_;
  HistoryStore task_history_;
  HistoryStore proplet_history_;
  StreamHub hub_;
  std::unique_ptr<PropellerMapping> mapping_;
};

const char kTaskMetrics[] = "control/proplet/task_metrics";
const char kLegacy[] = "metrics/proplet";
const char kPropletMetrics[] = "control/proplet/metrics";
const char kAlive[] = "control/proplet/alive";
const char kCreate[] = "control/proplet/create";
const char kResults[] = "control/proplet/results";

struct Expect {
  const char* name;
  double value;
};

struct VariantCase {
  const char* fixture;
  const char* suffix;
  std::map<std::string, std::string> labels;
  std::vector<Expect> present;
  std::vector<const char*> absent;
};

TEST_F(PropellerMappingTest, TranslatesEveryVariant) {
  const std::vector<VariantCase> cases = {
      {"task_metrics_rust.json",
       kTaskMetrics,
       {{"domain", "dom-1"},
        {"channel", "chan-1"},
        {"proplet_id", "prop-1"},
        {"task_id", "task-1"}},
       {{"proplet_task_cpu_usage_ratio", 0.235},
        {"proplet_task_memory_bytes", 52428800},
        {"proplet_task_memory_usage_ratio", 0.012},
        {"proplet_task_disk_read_bytes_total", 1048576},
        {"proplet_task_disk_write_bytes_total", 524288},
        {"proplet_task_network_receive_bytes_total", 2048},
        {"proplet_task_network_transmit_bytes_total", 4096},
        {"proplet_task_uptime_seconds", 45},
        {"proplet_task_start_time_seconds", 1736937322.123456 - 45},
        {"proplet_task_threads", 2},
        {"proplet_task_open_fds", 8},
        {"proplet_task_running", 1},
        {"proplet_task_cpu_usage_ratio_avg", 0.382},
        {"proplet_task_cpu_usage_ratio_max", 0.65},
        {"proplet_task_memory_bytes_avg", 62914560},
        {"proplet_task_memory_bytes_max", 71303168},
        {"proplet_task_history_samples", 24}},
       {}},
      {"task_metrics_legacy_go.json",
       kLegacy,
       {{"proplet_id", "prop-1"}, {"task_id", "task-2"}},
       {{"proplet_task_cpu_usage_ratio", 1.5},
        {"proplet_task_memory_bytes", 1048576},
        {"proplet_task_memory_usage_ratio", 0.005},
        {"proplet_task_network_receive_bytes_total", 30},
        {"proplet_task_network_transmit_bytes_total", 40},
        {"proplet_task_start_time_seconds", 1736937322.123456 - 100},
        {"proplet_task_cpu_usage_ratio_max", 2},
        {"proplet_task_history_samples", 7}},
       {}},
      {"task_metrics_systemtime_no_aggregated.json",
       kTaskMetrics,
       {{"proplet_id", "prop-2"}, {"task_id", "task-3"}},
       {{"proplet_task_cpu_usage_ratio", 0.05},
        {"proplet_task_memory_bytes", 4096},
        {"proplet_task_uptime_seconds", 12.5},
        {"proplet_task_start_time_seconds", 1736937342.5 - 12.5},
        {"proplet_task_threads", 1}},
       {"proplet_task_memory_usage_ratio", "proplet_task_disk_read_bytes_total",
        "proplet_task_open_fds", "proplet_task_cpu_usage_ratio_avg",
        "proplet_task_history_samples"}},
      {"task_metrics_embedded.json",
       kTaskMetrics,
       {{"proplet_id", "esp32-1"}, {"task_id", "task-4"}},
       {{"proplet_task_cpu_usage_ratio", 0.12},
        {"proplet_task_memory_bytes", 20480},
        {"proplet_task_threads", 1}},
       {"proplet_task_uptime_seconds", "proplet_task_start_time_seconds"}},
      {"proplet_metrics_rust.json",
       kPropletMetrics,
       {{"domain", "dom-1"}, {"channel", "chan-1"}, {"proplet_id", "prop-1"}},
       {{"proplet_cpu_usage_ratio", 0.125},
        {"proplet_cpu_user_seconds", 5.5},
        {"proplet_cpu_system_seconds", 1.25},
        {"proplet_memory_rss_bytes", 2048000},
        {"proplet_memory_heap_alloc_bytes", 512000},
        {"proplet_memory_heap_sys_bytes", 1024000},
        {"proplet_memory_heap_inuse_bytes", 768000},
        {"proplet_memory_container_usage_bytes", 104857600},
        {"proplet_memory_container_limit_bytes", 536870912},
        {"proplet_tasks_completed_total", 0},
        {"proplet_tasks_failed_total", 0}},
       {"proplet_memory_heap_free_bytes"}},
      {"proplet_metrics_nested.json",
       kPropletMetrics,
       {{"proplet_id", "prop-3"}},
       {{"proplet_cpu_usage_ratio", 0.5},
        {"proplet_cpu_user_seconds", 7},
        {"proplet_memory_rss_bytes", 3000000},
        {"proplet_memory_heap_inuse_bytes", 150}},
       {"proplet_memory_container_usage_bytes"}},
      {"proplet_metrics_embedded.json",
       kPropletMetrics,
       {{"proplet_id", "esp32-1"}},
       {{"proplet_cpu_usage_ratio", 0.4},
        {"proplet_memory_heap_alloc_bytes", 60000},
        {"proplet_memory_heap_free_bytes", 120000},
        {"proplet_memory_heap_max_alloc_bytes", 65536}},
       {"proplet_memory_rss_bytes", "proplet_cpu_user_seconds"}},
      {"alive.json",
       kAlive,
       {{"proplet_id", "prop-1"}},
       {{"proplet_up", 1}, {"proplet_last_seen_timestamp_seconds", 1700000000}},
       {}},
      {"create.json",
       kCreate,
       {{"proplet_id", "prop-1"},
        {"namespace", "ns-1"},
        {"os", "linux"},
        {"cpu_arch", "x86_64"},
        {"proplet_version", "0.4.0"},
        {"wasm_runtime", "wasmtime"},
        {"environment", "production"},
        {"hostname", "node-7"},
        {"ip", "10.0.0.7"}},
       {{"proplet_info", 1}},
       {}},
  };
  for (const VariantCase& c : cases) {
    SCOPED_TRACE(c.fixture);
    EXPECT_EQ(Feed(c.suffix, Fixture(c.fixture)),
              PropellerMapping::Outcome::kOk);
    auto samples = Samples();
    for (const Expect& e : c.present) {
      auto v = FindSample(samples, e.name, c.labels);
      ASSERT_TRUE(v.has_value()) << e.name;
      EXPECT_NEAR(*v, e.value, 1e-9 * std::max(1.0, std::abs(e.value)))
          << e.name;
    }
    for (const char* name : c.absent) {
      EXPECT_FALSE(FindSample(samples, name, c.labels).has_value()) << name;
    }
  }
  // Every task series carries all four labels and nothing else.
  for (const Sample& s : FindSamples(Samples(), "proplet_task_threads")) {
    EXPECT_EQ(s.labels.size(), 4u);
    EXPECT_EQ(s.labels.at("domain"), "dom-1");
    EXPECT_EQ(s.labels.at("channel"), "chan-1");
  }
  // proplet_info keeps only the bounded metadata keys.
  for (const Sample& s : FindSamples(Samples(), "proplet_info")) {
    EXPECT_EQ(s.labels.count("tags"), 0u);
    EXPECT_EQ(s.labels.count("custom"), 0u);
    EXPECT_EQ(s.labels.count("total_memory_bytes"), 0u);
  }
}

TEST_F(PropellerMappingTest, OneBadFieldKeepsTheOthers) {
  Feed(kTaskMetrics, Fixture("task_metrics_bad_field.json"));
  std::map<std::string, std::string> l = {{"task_id", "task-5"}};
  EXPECT_EQ(Value("proplet_task_threads", l), 3);
  EXPECT_EQ(Value("proplet_task_running", l), 1);
  EXPECT_FALSE(Value("proplet_task_cpu_usage_ratio", l).has_value());
  EXPECT_FALSE(Value("proplet_task_memory_bytes", l).has_value());
  EXPECT_FALSE(Value("proplet_task_open_fds", l).has_value());
  EXPECT_FALSE(Value("proplet_task_history_samples", l).has_value());
}

TEST_F(PropellerMappingTest, AbsentFigureRemovesItsSeries) {
  Feed(kTaskMetrics, Fixture("task_metrics_rust.json"));
  std::map<std::string, std::string> l = {{"task_id", "task-1"}};
  ASSERT_TRUE(Value("proplet_task_history_samples", l).has_value());
  Feed(
      kTaskMetrics,
      R"({"task_id":"task-1","proplet_id":"prop-1","metrics":{"cpu_percent":1},"aggregated":null})");
  EXPECT_EQ(Value("proplet_task_cpu_usage_ratio", l), 0.01);
  EXPECT_FALSE(Value("proplet_task_history_samples", l).has_value());
  EXPECT_FALSE(Value("proplet_task_memory_bytes", l).has_value());
  EXPECT_FALSE(Value("proplet_task_start_time_seconds", l).has_value());
}

std::string TaskPayload(const std::string& task, const std::string& proplet,
                        double uptime, double ts) {
  return R"({"task_id":")" + task + R"(","proplet_id":")" + proplet +
         R"(","metrics":{"cpu_percent":10,"uptime_seconds":)" +
         std::to_string(uptime) + R"(},"timestamp":")" +
         payload::FormatRfc3339(ts) + R"("})";
}

// Lost samples are counted from the proplet's own timestamps: 10 samples
// a second apart with samples 5 and 6 never delivered give 2 missed; one
// delivered twice is a duplicate; a task restart across a gap is not a
// loss; receive-time timestamps never count.
TEST_F(PropellerMappingTest, CountsMissedAndDuplicateSamples) {
  auto gaps = [&] {
    auto g = mapping_->SampleGaps();
    return g.empty() ? PropellerMapping::SampleGapCount{} : g[0];
  };
  double t0 = clock_.Now();
  for (int i = 0; i < 10; ++i) {
    if (i == 5 || i == 6) continue;
    Feed(kTaskMetrics, TaskPayload("t", "p", i, t0 + i));
    if (i == 8) Feed(kTaskMetrics, TaskPayload("t", "p", i, t0 + i));
  }
  ASSERT_EQ(mapping_->SampleGaps().size(), 1u);
  EXPECT_EQ(gaps().domain, "dom-1");
  EXPECT_EQ(gaps().channel, "chan-1");
  EXPECT_EQ(gaps().missed, 2);
  EXPECT_EQ(gaps().duplicates, 1);
  // The task restarts (a new start time) 30 s later: not a loss.
  clock_.Advance(30);
  Feed(kTaskMetrics, TaskPayload("t", "p", 1, t0 + 39));
  EXPECT_EQ(gaps().missed, 2);
  // A proplet's create (sent again on every reconnect) excuses nothing.
  Feed(kCreate, R"({"proplet_id":"p","namespace":"n","metadata":{}})");
  for (int i = 40; i < 44; ++i) {
    Feed(kTaskMetrics, TaskPayload("t", "p", i - 38, t0 + i));
  }
  Feed(kTaskMetrics, TaskPayload("t", "p", 9, t0 + 47));
  EXPECT_EQ(gaps().missed, 5);  // 44, 45, 46 never came
  // Without a usable timestamp the receive time is used: never counted.
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(i == 4 ? 5 : 1);
    Feed(kTaskMetrics,
         R"({"task_id":"u","proplet_id":"p","metrics":{"cpu_percent":1}})");
  }
  EXPECT_EQ(gaps().missed, 5);
}

TEST_F(PropellerMappingTest, TaskExpiresAfterThreeObservedIntervals) {
  std::map<std::string, std::string> l = {{"task_id", "t"}};
  for (int i = 0; i < 3; ++i) {
    Feed(kTaskMetrics, TaskPayload("t", "p", 60.0 * i, clock_.Now()));
    if (i < 2) clock_.Advance(60);
  }
  // Interval 60 s: the series live 180 s after the last message.
  clock_.Advance(179);
  Tick();
  EXPECT_TRUE(Value("proplet_task_cpu_usage_ratio", l).has_value());
  EXPECT_EQ(mapping_->tasks(), 1u);
  clock_.Advance(2);
  Tick();
  EXPECT_FALSE(Value("proplet_task_cpu_usage_ratio", l).has_value());
  EXPECT_FALSE(Value("proplet_task_running", l).has_value());
  EXPECT_EQ(mapping_->tasks(), 0u);
}

TEST_F(PropellerMappingTest, FastTasksExpireAfterTheMinimum) {
  std::map<std::string, std::string> l = {{"task_id", "fast"}};
  for (int i = 0; i < 5; ++i) {
    Feed(kTaskMetrics, TaskPayload("fast", "p", i, clock_.Now()));
    clock_.Advance(1);
  }
  // 3 x 1 s is below the 30 s minimum.
  clock_.Advance(28.5);
  Tick();
  EXPECT_TRUE(Value("proplet_task_cpu_usage_ratio", l).has_value());
  clock_.Advance(1);
  Tick();
  EXPECT_FALSE(Value("proplet_task_cpu_usage_ratio", l).has_value());
}

TEST_F(PropellerMappingTest, ExpiredSeriesAreCountedByTheStore) {
  Feed(kTaskMetrics, TaskPayload("t", "p", 1, clock_.Now()));
  size_t before = store_ptr_->size();
  ASSERT_GT(before, 0u);
  clock_.Advance(31);
  // The store alone expires them too (deadlines), and counts them.
  store_ptr_->ExpireNow();
  EXPECT_EQ(store_ptr_->Stats().expired_total, before);
  EXPECT_EQ(store_ptr_->size(), 0u);
  Tick();
  EXPECT_EQ(mapping_->tasks(), 0u);
}

TEST_F(PropellerMappingTest, PropletUpFollowsAliveWithTimeout) {
  std::map<std::string, std::string> l = {{"proplet_id", "prop-1"}};
  Feed(kAlive, Fixture("alive.json"));
  EXPECT_EQ(Value("proplet_up", l), 1);
  clock_.Advance(9.5);
  Tick();
  EXPECT_EQ(Value("proplet_up", l), 1);
  clock_.Advance(1);
  Tick();
  EXPECT_EQ(Value("proplet_up", l), 0);
  auto list = mapping_->Proplets();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(list[0].alive);
  Feed(kAlive, Fixture("alive.json"));
  EXPECT_EQ(Value("proplet_up", l), 1);
  EXPECT_EQ(Value("proplet_last_seen_timestamp_seconds", l), clock_.Now());
  // Silent for good: the proplet's series expire (3 x 10.5 s interval).
  clock_.Advance(40);
  Tick();
  EXPECT_FALSE(Value("proplet_up", l).has_value());
  EXPECT_FALSE(Value("proplet_last_seen_timestamp_seconds", l).has_value());
  EXPECT_TRUE(mapping_->Proplets().empty());
}

TEST_F(PropellerMappingTest, UpIsZeroOnlyAfterTheTimeoutWithoutAlive) {
  std::map<std::string, std::string> l = {{"proplet_id", "p"}};
  Feed(kTaskMetrics, TaskPayload("t", "p", 5, clock_.Now()));
  EXPECT_FALSE(Value("proplet_up", l).has_value());
  EXPECT_TRUE(Value("proplet_last_seen_timestamp_seconds", l).has_value());
  clock_.Advance(5);
  Tick();
  EXPECT_FALSE(Value("proplet_up", l).has_value());
  clock_.Advance(6);
  Tick();
  EXPECT_EQ(Value("proplet_up", l), 0);
}

TEST_F(PropellerMappingTest, ResultsCountAndFinishedTaskLeavesAfterGrace) {
  std::map<std::string, std::string> task = {{"task_id", "task-1"}};
  std::map<std::string, std::string> prop = {{"proplet_id", "prop-1"}};
  Feed(kTaskMetrics, Fixture("task_metrics_rust.json"));
  EXPECT_EQ(Value("proplet_tasks_completed_total", prop), 0);
  EXPECT_EQ(Feed(kResults, Fixture("results_success.json")),
            PropellerMapping::Outcome::kOk);
  EXPECT_EQ(Value("proplet_tasks_completed_total", prop), 1);
  EXPECT_EQ(Value("proplet_task_running", task), 0);
  EXPECT_TRUE(mapping_->Proplets()[0].running_tasks.empty());
  // No proplet_id: attributed through the task.
  EXPECT_EQ(Feed(kResults, Fixture("results_failed_no_proplet.json")),
            PropellerMapping::Outcome::kOk);
  EXPECT_EQ(Value("proplet_tasks_failed_total", prop), 1);
  EXPECT_EQ(Value("proplet_tasks_completed_total", prop), 1);
  // Keep the proplet present; the task's series go after the grace period.
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(10);
    Feed(kAlive, Fixture("alive.json"));
    Tick();
  }
  EXPECT_EQ(Value("proplet_task_running", task), std::nullopt);
  EXPECT_FALSE(Value("proplet_task_memory_bytes", task).has_value());
  EXPECT_EQ(Value("proplet_tasks_failed_total", prop), 1);
}

TEST_F(PropellerMappingTest,
       ResultsForUnknownTaskWithoutPropletAreUnattributed) {
  EXPECT_EQ(Feed(kResults, Fixture("results_failed_no_proplet.json")),
            PropellerMapping::Outcome::kUnattributed);
  EXPECT_TRUE(mapping_->Proplets().empty());
}

TEST_F(PropellerMappingTest, TaskMovingToAnotherPropletDropsOldSeries) {
  Feed(kTaskMetrics, TaskPayload("t", "p-old", 5, clock_.Now()));
  Feed(kTaskMetrics, TaskPayload("t", "p-new", 1, clock_.Now()));
  auto s = FindSamples(Samples(), "proplet_task_cpu_usage_ratio",
                       {{"task_id", "t"}});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].labels.at("proplet_id"), "p-new");
}

TEST_F(PropellerMappingTest, StartTimeIgnoresJitterButSeesRestarts) {
  std::map<std::string, std::string> l = {{"task_id", "t"}};
  double t0 = clock_.Now();
  Feed(kTaskMetrics, TaskPayload("t", "p", 45, t0));
  double start = *Value("proplet_task_start_time_seconds", l);
  EXPECT_NEAR(start, t0 - 45, 1e-6);
  clock_.Advance(10.9);
  Feed(kTaskMetrics, TaskPayload("t", "p", 55, t0 + 10.9));
  EXPECT_EQ(Value("proplet_task_start_time_seconds", l), start);
  clock_.Advance(10);
  Feed(kTaskMetrics, TaskPayload("t", "p", 3, t0 + 20.9));
  EXPECT_NEAR(*Value("proplet_task_start_time_seconds", l), t0 + 17.9, 1e-6);
}

TEST_F(PropellerMappingTest, NewCreateMetadataReplacesInfo) {
  Feed(kCreate, Fixture("create.json"));
  Feed(
      kCreate,
      R"({"proplet_id":"prop-1","namespace":"ns-1","metadata":{"os":"linux","proplet_version":"0.5.0","hostname":"bad\u0001host"}})");
  auto info =
      FindSamples(Samples(), "proplet_info", {{"proplet_id", "prop-1"}});
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].labels.at("proplet_version"), "0.5.0");
  // Descriptive: repaired, not dropped (common/label.h).
  EXPECT_EQ(info[0].labels.at("hostname"), "bad\xEF\xBF\xBDhost");
  EXPECT_EQ(info[0].labels.count("wasm_runtime"), 0u);
}

TEST_F(PropellerMappingTest, SeriesLimitRefusesNewSeriesAndSaysSo) {
  // The full task payload wants 17 task series plus 3 proplet series.
  Recreate(PropellerOptions{}, 15);
  std::string full = Fixture("task_metrics_rust.json");
  EXPECT_EQ(Feed(kTaskMetrics, full),
            PropellerMapping::Outcome::kCardinalityLimit);
  EXPECT_EQ(store_ptr_->size(), 15u);
  // Existing series keep updating (the first ones written got the room).
  std::string changed = full;
  changed.replace(changed.find("23.5"), 4, "99");
  EXPECT_EQ(Feed(kTaskMetrics, changed),
            PropellerMapping::Outcome::kCardinalityLimit);
  EXPECT_EQ(Value("proplet_task_cpu_usage_ratio", {{"task_id", "task-1"}}),
            0.99);
  EXPECT_EQ(Feed(kTaskMetrics, TaskPayload("other", "prop-1", 1, clock_.Now())),
            PropellerMapping::Outcome::kCardinalityLimit);
  EXPECT_FALSE(Value("proplet_task_cpu_usage_ratio", {{"task_id", "other"}})
                   .has_value());
  EXPECT_EQ(store_ptr_->size(), 15u);
  EXPECT_GT(store_ptr_->Stats().refused_total, 0u);
}

TEST_F(PropellerMappingTest, KeepsPayloadsForTheRestHistory) {
  Feed(kTaskMetrics, Fixture("task_metrics_rust.json"));
  Feed(kTaskMetrics, TaskPayload("task-1", "prop-1", 1, clock_.Now()));
  Feed(kPropletMetrics, Fixture("proplet_metrics_rust.json"));
  Feed(kAlive, Fixture("alive.json"));
  auto page = task_history_.Get("task-1", 0, 10);
  ASSERT_EQ(page.total, 2u);
  EXPECT_EQ(page.items[0].data, Fixture("task_metrics_rust.json"));
  EXPECT_EQ(page.items[0].time, clock_.Now());
  EXPECT_EQ(proplet_history_.Get("prop-1", 0, 10).total, 1u);
  EXPECT_EQ(task_history_.Get("prop-1", 0, 10).total, 0u);
}

TEST_F(PropellerMappingTest, PropletsListsRunningTasks) {
  Feed(kAlive, Fixture("alive.json"));
  Feed(kTaskMetrics, TaskPayload("b", "prop-1", 1, clock_.Now()));
  Feed(kTaskMetrics, TaskPayload("a", "prop-1", 1, clock_.Now()));
  Feed(kTaskMetrics, TaskPayload("c", "prop-9", 1, clock_.Now()));
  auto list = mapping_->Proplets();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "prop-1");
  EXPECT_EQ(list[0].namespace_name, "ns-1");
  EXPECT_TRUE(list[0].alive);
  EXPECT_EQ(list[0].running_tasks, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(list[1].id, "prop-9");
  EXPECT_FALSE(list[1].alive);
}

}  // namespace
}  // namespace propmon::bridge
