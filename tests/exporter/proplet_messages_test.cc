// One sample, one form on every path: the MQTT task_metrics payload, the
// REST API's `last_sample` and the history page all come from
// BuildTaskMetrics (exporter/proplet_messages.h), and the history page is
// the Propeller manager's form, the one the bridge serves. (The builders'
// golden-file tests are in publisher_test.cc; the end-to-end byte comparison
// of the two daemons' pages is in tests/integration/stack_test.py.)
#include "exporter/proplet_messages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/manager_json.h"
#include "common/payload.h"
#include "exporter/api.h"
#include "exporter/history.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;

TaskInfo HistoryTask() {
  TaskInfo info;
  info.spec.id = "t-1";
  info.spec.name = "t";
  info.spec.pid = 1;
  info.spec.profile.retain_history = true;
  info.spec.profile.history_size = 10;
  return info;
}

// The `"cpu_percent":...` text of a JSON document.
std::string CpuPercentText(const std::string& doc) {
  size_t at = doc.find("\"cpu_percent\":");
  if (at == std::string::npos) return "(absent)";
  size_t end = doc.find_first_of(",}", at);
  return doc.substr(at, end - at);
}

TEST(PropletMessagesTest, OneSampleReadsTheSameOnEveryPath) {
  ASSERT_TRUE(HistoryTask().spec.profile.KeepsHistory());
  TaskSample s;
  s.timestamp = 1700000000.25;
  s.cpu_usage_ratio = 0.235;  // × 100 = 23.499999999999996 unrounded
  s.memory_bytes = 123456;
  TaskHistory history(10);
  history.Add(s);
  TaskInfo info = HistoryTask();
  info.last = s;
  info.aggregates = history.Aggregate();
  info.samples = 1;

  const std::string mqtt = payload::Encode(BuildTaskMetrics("p", info, s));
  const std::string task = TaskToJson(info, "p");
  const std::string page = HistoryPageJson("t-1", "p", {s}, 0, 10, 1, true);
  EXPECT_EQ(CpuPercentText(mqtt), "\"cpu_percent\":23.5") << mqtt;
  EXPECT_EQ(CpuPercentText(task), "\"cpu_percent\":23.5") << task;
  EXPECT_EQ(CpuPercentText(page), "\"cpu_percent\":23.5") << page;
  // And the aggregates beside them.
  for (const std::string& doc : {mqtt, task, page}) {
    EXPECT_NE(doc.find("\"avg_cpu_usage\":23.5"), std::string::npos) << doc;
  }
  // `last_sample` is the MQTT message itself, not a re-encoding of it.
  json j = json::parse(task);
  EXPECT_EQ(j["last_sample"], json::parse(mqtt));
}

// A built message holds what the wire carries: decoding its encoding gives
// it back (integer fields such as uptime and the average memory are whole
// numbers already; the timestamp is kept to the microsecond on the wire).
TEST(PropletMessagesTest, BuiltMessageSurvivesTheWire) {
  TaskSample s;
  s.timestamp = 1700000000.1234567;
  s.cpu_usage_ratio = 1.0 / 3;
  s.memory_bytes = 7;
  s.memory_usage_ratio = 2.0 / 3;
  s.uptime_seconds = 12.5;
  s.threads = 3;
  TaskHistory history(10);
  history.Add(s);
  s.memory_bytes = 8;  // average 7.5
  history.Add(s);
  TaskInfo info = HistoryTask();
  info.aggregates = history.Aggregate();
  payload::TaskMetrics built = BuildTaskMetrics("p", info, s);
  EXPECT_EQ(built.metrics.uptime_seconds, 13);
  EXPECT_EQ(built.aggregated->avg_memory_usage, 8);
  auto decoded =
      payload::Decode(payload::MessageKind::kTaskMetrics,
                      payload::Encode(built), payload::DecodeOptions{});
  ASSERT_TRUE(decoded.ok());
  payload::TaskMetrics back = *decoded->As<payload::TaskMetrics>();
  EXPECT_NEAR(back.timestamp, built.timestamp, 1e-6);
  back.timestamp = built.timestamp;
  EXPECT_EQ(back, built) << payload::Encode(back) << "\n"
                         << payload::Encode(built);
}

// The exporter's page against the bridge's way of making one: the published
// payloads decoded and written by common/manager_json (Bridge::
// ServeTaskHistory). The same bytes, so that a client can read either.
TEST(PropletMessagesTest, HistoryPageIsTheBridgesPageForTheSamePayloads) {
  std::vector<TaskSample> samples;
  for (int i = 0; i < 7; ++i) {
    TaskSample s;
    s.timestamp = 1700000000 + i + (i % 3) * 0.1 + (i == 4 ? 0.000001 : 0);
    s.cpu_usage_ratio = i == 2 ? std::nullopt : std::optional(0.1 * i + 0.235);
    s.memory_bytes = 1000000 + 4097 * i * i;  // averages with fractions
    s.memory_usage_ratio = 0.0123 * i;
    if (i != 5) s.disk_read_bytes = 512 * i;
    s.threads = 1 + i;
    if (i % 2) s.open_fds = 3 + i;
    s.uptime_seconds = 0.5 * i + 0.2;  // whole seconds on the wire
    samples.push_back(s);
  }
  TaskInfo info = HistoryTask();
  for (bool keeps : {true, false}) {
    for (auto [offset, limit] : {std::pair<size_t, size_t>{0, 100}, {2, 3}}) {
      SCOPED_TRACE(testing::Message() << "keeps " << keeps << " offset "
                                      << offset << " limit " << limit);
      // What the publisher sent for each sample, as it went out.
      TaskHistory history(keeps ? 10 : 0);
      std::vector<std::string> items;
      for (size_t i = 0; i < samples.size(); ++i) {
        history.Add(samples[i]);
        info.spec.profile.retain_history = keeps;
        info.aggregates = history.Aggregate();
        std::string wire =
            payload::Encode(BuildTaskMetrics("p", info, samples[i]));
        if (i < offset || i - offset >= limit) continue;
        auto decoded = payload::Decode(payload::MessageKind::kTaskMetrics, wire,
                                       payload::DecodeOptions{});
        ASSERT_TRUE(decoded.ok()) << wire;
        std::string item;
        AppendManagerItem(*decoded->As<payload::TaskMetrics>(), &item);
        items.push_back(item);
      }
      EXPECT_EQ(HistoryPageJson("t-1", "p", samples, offset, limit,
                                samples.size(), keeps),
                ManagerPage(offset, limit, samples.size(), items));
    }
  }
}

}  // namespace
}  // namespace propmon::exporter
