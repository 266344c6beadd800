// The bridge's whole pipeline (Enqueue -> queue -> worker -> decode ->
// mapping -> store/history/stream -> HTTP) without a broker: rejects by
// reason, the manager-compatible REST API against recorded output, SSE, and
// the other endpoints. The MQTT side is in mqtt_e2e_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "tests/bridge/bridge_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using testing::BridgeFixture;
using testing::DecodeHexEscapes;
using testing::FixtureLines;
using ::testing::HasSubstr;
using testing::SseClient;
using testing::TopicFor;
using testutil::FindSample;
using testutil::HttpGet;
using testutil::ParseProm;

BridgeConfig TestConfig() {
  BridgeConfig c;
  c.listen_address = "127.0.0.1:0";
  return c;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bridge_ = std::make_unique<Bridge>(TestConfig());
    ASSERT_TRUE(bridge_->Start(/*connect_mqtt=*/false).ok());
    port_ = bridge_->port();
  }
  void Send(const std::string& topic, const std::string& payload) {
    bridge_->Enqueue(topic, payload);
    ASSERT_TRUE(bridge_->WaitIdle(std::chrono::seconds(10)));
  }
  std::vector<testutil::Sample> Scrape() {
    auto r = HttpGet(port_, "/metrics");
    EXPECT_EQ(r.status, 200);
    return ParseProm(r.body);
  }

  std::unique_ptr<Bridge> bridge_;
  int port_ = 0;
};

struct MalformedCase {
  std::string reason;
  std::string topic;
  std::string payload;
  std::string line;
};

std::vector<MalformedCase> MalformedCases(std::size_t max_payload) {
  std::vector<MalformedCase> out;
  for (const std::string& line : FixtureLines("malformed.txt")) {
    size_t a = line.find(' ');
    size_t b = line.find(' ', a + 1);
    MalformedCase c;
    c.line = line;
    c.reason = line.substr(0, a);
    c.topic = TopicFor(line.substr(a + 1, b - a - 1));
    std::string p = b == std::string::npos ? "" : line.substr(b + 1);
    c.payload = p == "<empty>" ? "" : DecodeHexEscapes(p);
    out.push_back(c);
  }
  // Generated: nesting deeper than the codec's bound, and oversize payloads
  // (rejected unparsed, whatever they contain).
  std::string deep =
      "{\"task_id\":\"t\",\"proplet_id\":\"p\",\"x\":" + std::string(200, '[') +
      std::string(200, ']') + "}";
  out.push_back({"invalid_json", TopicFor("task"), deep, "generated: deep"});
  std::string big = "{\"task_id\":\"t\",\"proplet_id\":\"p\",\"pad\":\"" +
                    std::string(max_payload, 'x') + "\"}";
  out.push_back({"too_large", TopicFor("task"), big, "generated: oversize"});
  out.push_back({"too_large", TopicFor("alive"),
                 std::string(max_payload + 1, '{'),
                 "generated: oversize garbage"});
  return out;
}

TEST_F(PipelineTest, CountsEveryMalformedMessageUnderItsReasonAndKeepsServing) {
  auto cases = MalformedCases(bridge_->config().max_payload_bytes);
  ASSERT_GE(cases.size(), 50u);
  std::map<std::string, std::uint64_t> want;
  for (const MalformedCase& c : cases) {
    std::uint64_t before = bridge_->rejected_total(c.reason);
    Send(c.topic, c.payload);
    EXPECT_EQ(bridge_->rejected_total(c.reason), before + 1)
        << "want " << c.reason << " for: " << c.line;
    ++want[c.reason];
  }
  // The same counts through /metrics, every message received, nothing
  // turned into series.
  auto samples = Scrape();
  std::uint64_t total = 0;
  for (const auto& [reason, n] : want) {
    auto v = FindSample(samples, "propmon_bridge_messages_rejected_total",
                        {{"reason", reason}});
    ASSERT_TRUE(v.has_value()) << reason;
    EXPECT_EQ(*v, static_cast<double>(n)) << reason;
    total += n;
  }
  EXPECT_EQ(bridge_->received_total(), total);
  EXPECT_EQ(FindSample(samples, "propmon_bridge_messages_rejected_total",
                       {{"reason", "cardinality_limit"}}),
            0);
  EXPECT_EQ(FindSample(samples, "propmon_bridge_series"), 0);
  EXPECT_EQ(FindSample(samples, "propmon_bridge_messages_received_total",
                       {{"kind", "unknown"}}),
            8);  // unknown_topic, and label_invalid topics
  // Still serving, and still translating good messages.
  EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200);
  Send(TopicFor("alive"),
       R"({"proplet_id":"p1","status":"alive","namespace":"ns"})");
  EXPECT_EQ(FindSample(Scrape(), "proplet_up", {{"proplet_id", "p1"}}), 1);
}

TEST_F(PipelineTest, CountsDroppedFieldsOfUsableMessages) {
  Send(
      TopicFor("task"),
      R"({"task_id":"t","proplet_id":"p","metrics":{"cpu_percent":"x","memory_bytes":-1,"thread_count":2}})");
  auto s = Scrape();
  EXPECT_EQ(FindSample(s, "propmon_bridge_fields_dropped_total",
                       {{"problem", "wrong_type"}}),
            1);
  EXPECT_EQ(FindSample(s, "propmon_bridge_fields_dropped_total",
                       {{"problem", "negative"}}),
            1);
  EXPECT_EQ(FindSample(s, "proplet_task_threads", {{"task_id", "t"}}), 2);
  EXPECT_EQ(FindSample(s, "propmon_bridge_messages_received_total",
                       {{"kind", "task_metrics"}}),
            1);
}

TEST_F(PipelineTest, MetricsPassPromtoolCheck) {
  for (const std::string name :
       {"task_metrics_rust.json", "proplet_metrics_rust.json", "create.json",
        "alive.json"}) {
    std::string kind = name.rfind("task", 0) == 0      ? "task"
                       : name.rfind("proplet", 0) == 0 ? "proplet"
                       : name.rfind("create", 0) == 0  ? "create"
                                                       : "alive";
    Send(TopicFor(kind), BridgeFixture("variants/" + name));
  }
  auto r = HttpGet(port_, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.headers["content-type"],
              HasSubstr("text/plain; version=0.0.4"));
  testutil::TempDir dir;
  std::string path = dir.Write("m.prom", r.body);
  std::string cmd =
      "promtool check metrics < " + path + " > " + dir.File("out") + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0)
      << testutil::ReadFileOrEmpty(dir.File("out"));
  auto s = ParseProm(r.body);
  EXPECT_EQ(FindSample(s, "propmon_bridge_build_info"), 1);
  EXPECT_EQ(FindSample(s, "propmon_bridge_queue_capacity"), 100000);
  EXPECT_EQ(FindSample(s, "propmon_bridge_series_limit"), 200000);
  EXPECT_EQ(FindSample(s, "propmon_bridge_mqtt_connected"), 0);
  EXPECT_GT(*FindSample(s, "propmon_bridge_series"), 20);
  EXPECT_EQ(FindSample(s, "propmon_bridge_mapping_series",
                       {{"mapping", "propeller"}}),
            FindSample(s, "propmon_bridge_series"));
}

void SendLines(Bridge* b, const std::string& topic, const std::string& file) {
  for (const std::string& line : FixtureLines(file)) b->Enqueue(topic, line);
  ASSERT_TRUE(b->WaitIdle(std::chrono::seconds(10)));
}

TEST_F(PipelineTest, RestIsByteCompatibleWithRecordedManagerOutput) {
  SendLines(bridge_.get(), "m/dom-1/c/chan-1/control/proplet/task_metrics",
            "manager_task_metrics_input.txt");
  SendLines(bridge_.get(), "m/dom-1/c/chan-1/control/proplet/metrics",
            "manager_proplet_metrics_input.txt");
  const std::string task =
      "/tasks/550e8400-e29b-41d4-a716-446655440001/metrics";
  auto r = HttpGet(port_, task + "?offset=0&limit=2");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body, BridgeFixture("manager_task_metrics_page1.json"));
  r = HttpGet(port_, task + "?offset=2");
  EXPECT_EQ(r.body, BridgeFixture("manager_task_metrics_page2.json"));
  r = HttpGet(port_, "/tasks/no-such-task/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, BridgeFixture("manager_unknown_id_page.json"));
  r = HttpGet(port_, "/proplets/p-1/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, BridgeFixture("manager_proplet_metrics_page.json"));
  // Percent-encoded ids; offset past the end.
  r = HttpGet(port_, "/proplets/p%2D1/metrics?offset=5&limit=1");
  EXPECT_EQ(r.body, "{\"offset\":5,\"limit\":1,\"total\":2,\"metrics\":[]}\n");
}

// The HTTP server hands handlers the path percent-decoded, once; the bridge
// does not decode it again, so an id reads as it does on the exporter's API
// ("%2541" is "%41", not "A").
TEST_F(PipelineTest, RestDecodesThePathOnce) {
  auto j =
      nlohmann::json::parse(BridgeFixture("variants/task_metrics_rust.json"));
  j["task_id"] = "100%41";
  Send(TopicFor("task"), j.dump());
  auto r = HttpGet(port_, "/tasks/100%2541/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["total"], 1) << r.body;
  r = HttpGet(port_, "/tasks/100A/metrics");
  EXPECT_EQ(nlohmann::json::parse(r.body)["total"], 0) << r.body;
}

TEST_F(PipelineTest, RestRejectsBadPagingWith400) {
  for (const std::string q :
       {"?offset=-1", "?limit=abc", "?offset=", "?limit=1.5", "?offset=1e3",
        "?limit=99999999999999999999999", "?offset=%20"}) {
    auto r = HttpGet(port_, "/tasks/t/metrics" + q);
    EXPECT_EQ(r.status, 400) << q;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j["error"].is_string()) << r.body;
  }
  EXPECT_EQ(HttpGet(port_, "/tasks/t").status, 404);
  EXPECT_EQ(HttpGet(port_, "/tasks/a/b/metrics").status, 404);
  EXPECT_EQ(HttpGet(port_, "/proplets//metrics").status, 404);
}

TEST_F(PipelineTest, ListsProplets) {
  Send(TopicFor("create"), BridgeFixture("variants/create.json"));
  Send(TopicFor("task"), BridgeFixture("variants/task_metrics_rust.json"));
  auto r = HttpGet(port_, "/api/v1/proplets");
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["total"], 1);
  auto p = j["proplets"][0];
  EXPECT_EQ(p["id"], "prop-1");
  EXPECT_EQ(p["namespace"], "ns-1");
  EXPECT_EQ(p["domain"], "dom");
  EXPECT_EQ(p["channel"], "chan");
  EXPECT_EQ(p["alive"], true);
  EXPECT_TRUE(p["last_seen"].is_string());
  EXPECT_EQ(p["running_tasks"], nlohmann::json::array({"task-1"}));
}

TEST_F(PipelineTest, HealthReadyAndLanding) {
  EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200);
  EXPECT_EQ(HttpGet(port_, "/-/ready").status, 200);
  auto r = HttpGet(port_, "/health");
  EXPECT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["mqtt"]["enabled"], false);
  EXPECT_EQ(j["queue"]["capacity"], 100000);
  r = HttpGet(port_, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("/metrics"));
  EXPECT_EQ(HttpGet(port_, "/nope").status, 404);
}

std::string TaskMsg(const std::string& task, const std::string& proplet) {
  return R"({"task_id":")" + task + R"(","proplet_id":")" + proplet +
         R"(","metrics":{"cpu_percent":42}})";
}

TEST_F(PipelineTest, StreamDeliversMessagesPublishedAfterConnectFiltered) {
  SseClient by_task;
  ASSERT_TRUE(by_task.Connect(port_, "/api/v1/stream?task_id=wanted"));
  ASSERT_TRUE(by_task.ReadUntil(": connected", std::chrono::seconds(5)));
  SseClient by_proplet;
  ASSERT_TRUE(by_proplet.Connect(port_, "/api/v1/stream?proplet_id=p2"));
  ASSERT_TRUE(by_proplet.ReadUntil(": connected", std::chrono::seconds(5)));
  SseClient all;
  ASSERT_TRUE(all.Connect(port_, "/api/v1/stream"));
  ASSERT_TRUE(all.ReadUntil(": connected", std::chrono::seconds(5)));

  Send(TopicFor("task"), TaskMsg("other", "p1"));
  Send(TopicFor("alive"), R"({"proplet_id":"p2","status":"alive"})");
  Send(TopicFor("task"), TaskMsg("wanted", "p1"));

  ASSERT_TRUE(
      by_task.ReadUntil("\"task_id\":\"wanted\"", std::chrono::seconds(5)))
      << by_task.received();
  EXPECT_THAT(by_task.received(), HasSubstr("event: task_metrics\ndata: {"));
  EXPECT_THAT(by_task.received(), ::testing::Not(HasSubstr("\"other\"")));
  EXPECT_THAT(by_task.received(), ::testing::Not(HasSubstr("event: alive")));

  ASSERT_TRUE(by_proplet.ReadUntil("event: alive", std::chrono::seconds(5)))
      << by_proplet.received();
  EXPECT_THAT(by_proplet.received(), ::testing::Not(HasSubstr("task_metrics")));

  ASSERT_TRUE(all.ReadUntil("\"wanted\"", std::chrono::seconds(5)));
  EXPECT_THAT(all.received(), HasSubstr("\"other\""));
  EXPECT_THAT(all.received(), HasSubstr("event: alive"));
  EXPECT_THAT(
      all.received(),
      HasSubstr("\"topic\":\"m/dom/c/chan/control/proplet/task_metrics\""));
  // Each data line is one JSON object.
  size_t pos = all.received().find("data: ");
  size_t end = all.received().find('\n', pos);
  auto j = nlohmann::json::parse(all.received().substr(pos + 6, end - pos - 6));
  EXPECT_EQ(j["domain"], "dom");
  EXPECT_EQ(j["message"]["metrics"]["cpu_percent"], 42);
}

TEST(BridgeStopTest, StopEndsOpenStreams) {
  BridgeConfig c = TestConfig();
  Bridge b(c);
  ASSERT_TRUE(b.Start(false).ok());
  SseClient s;
  ASSERT_TRUE(s.Connect(b.port(), "/api/v1/stream"));
  ASSERT_TRUE(s.ReadUntil(": connected", std::chrono::seconds(5)));
  b.Stop();  // returns (a hang here fails the test by ctest's timeout)
  EXPECT_FALSE(s.ReadUntil("never sent", std::chrono::seconds(5)));
  EXPECT_TRUE(s.closed());
}

}  // namespace
}  // namespace propmon::bridge
