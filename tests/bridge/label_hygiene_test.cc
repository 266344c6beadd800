// Label hygiene in the bridge (common/label.h, docs/bridge.md): ids of
// Propeller messages (task_id, proplet_id, domain, channel) are refused,
// descriptive values (namespace, proplet_info metadata, a configured
// mapping's topic groups, topic_label, JSON label values and fan-out keys)
// repaired; every case counted in propmon_bridge_label_values_total, and
// /metrics stays valid exposition text (promtool) of valid UTF-8. The
// propmon-bridge binary with the real mosquitto for what a broker carries
// (60 KiB values, long topic levels); the in-process pipeline for topics
// mosquitto refuses to carry (control characters, invalid UTF-8).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "bridge/config.h"
#include "common/label.h"
#include "tests/bridge/bridge_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using testing::MosquittoPub;
using testutil::FindSample;
using testutil::FreePort;
using testutil::HttpGet;
using testutil::ParseProm;
using testutil::Subprocess;
using testutil::WaitUntil;
using namespace std::chrono_literals;

const std::string kFffd = "\xEF\xBF\xBD";

constexpr char kConfig[] = R"yaml(mappings:
  - name: lab
    topics: ["lab/+/reading"]
    topic_regex: "lab/(?P<room>[^/]+)/reading"
    topic_label: topic
    metrics:
      - name: lab_temp_celsius
        value: temp
        labels: {owner: owner}
      - name: lab_slot_value
        value: "slots.*"
        fanout_labels: [slot]
)yaml";

double LabelCount(const std::vector<testutil::Sample>& s,
                  const std::string& source, const std::string& reason,
                  const std::string& action) {
  return FindSample(
             s, "propmon_bridge_label_values_total",
             {{"source", source}, {"reason", reason}, {"action", action}})
      .value_or(-1);
}

void ExpectValidExposition(const std::string& text) {
  std::string fixed;
  EXPECT_FALSE(label::ReplaceInvalidUtf8(text, &fixed))
      << "/metrics holds invalid UTF-8";
  std::string report;
  EXPECT_EQ(testutil::PromtoolCheckMetrics(text, &report), 0) << report;
  EXPECT_EQ(report, "");
}

// Every series a bridge can meet is present from the start, at 0.
TEST(BridgeLabelCountsTest, PreCreatedAtZero) {
  BridgeConfig c;
  c.listen_address = "127.0.0.1:0";
  Bridge b(c);
  ASSERT_TRUE(b.Start(/*connect_mqtt=*/false).ok());
  auto s = ParseProm(HttpGet(b.port(), "/metrics").body);
  for (const char* reason : {"invalid_utf8", "control_char", "too_long"}) {
    EXPECT_EQ(LabelCount(s, "topic", reason, "refused"), 0) << reason;
    EXPECT_EQ(LabelCount(s, "topic", reason, "repaired"), 0) << reason;
    EXPECT_EQ(LabelCount(s, "payload", reason, "refused"), 0) << reason;
    EXPECT_EQ(LabelCount(s, "payload", reason, "repaired"), 0) << reason;
  }
  EXPECT_EQ(LabelCount(s, "payload", "empty", "refused"), 0);
  EXPECT_EQ(LabelCount(s, "mapping", "control_char", "repaired"), 0);
  EXPECT_EQ(LabelCount(s, "mapping", "too_long", "repaired"), 0);
  // Never repaired: an empty value stays empty (an absent label).
  EXPECT_EQ(LabelCount(s, "payload", "empty", "repaired"), -1);
}

// Topics no MQTT broker delivers (mosquitto refuses control characters and
// invalid UTF-8 in topics), through the in-process pipeline.
TEST(BridgeLabelPipelineTest, HostileTopicLevelsAreRefusedOrRepaired) {
  BridgeConfig base;
  base.listen_address = "127.0.0.1:0";
  auto c = ParseConfig(kConfig, "labels.yml", base);
  ASSERT_TRUE(c.ok()) << c.status().message();
  Bridge b(*c);
  ASSERT_TRUE(b.Start(/*connect_mqtt=*/false).ok());
  // Propeller: the domain and channel are ids, refused.
  b.Enqueue("m/d\x01/c/ch/control/proplet/alive", R"({"proplet_id":"p"})");
  b.Enqueue("m/d/c/ch\xff/control/proplet/alive", R"({"proplet_id":"p"})");
  // A configured mapping: topic groups and topic_label are repaired.
  b.Enqueue("lab/r\xff\x01/reading", R"({"temp":20,"owner":"o"})");
  ASSERT_TRUE(b.WaitIdle(10s));
  std::string text = HttpGet(b.port(), "/metrics").body;
  auto s = ParseProm(text);
  EXPECT_EQ(LabelCount(s, "topic", "control_char", "refused"), 1);
  EXPECT_EQ(LabelCount(s, "topic", "invalid_utf8", "refused"), 1);
  // topic_label: invalid UTF-8. The room group: the regex engine reads the
  // topic with invalid bytes as U+FFFD already (common/regex.h), so what is
  // left to repair there is the control character.
  EXPECT_EQ(LabelCount(s, "topic", "invalid_utf8", "repaired"), 1);
  EXPECT_EQ(LabelCount(s, "topic", "control_char", "repaired"), 1);
  EXPECT_EQ(b.rejected_total("label_invalid"), 2u);
  EXPECT_EQ(FindSample(s, "lab_temp_celsius",
                       {{"room", "r" + kFffd + kFffd},
                        {"topic", "lab/r" + kFffd + kFffd + "/reading"},
                        {"owner", "o"}}),
            20);
  ExpectValidExposition(text);
}

class BridgeLabelE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_port_ = FreePort();
    ASSERT_TRUE(testutil::StartMosquitto(&broker_, broker_port_, dir_));
    port_ = FreePort();
    std::string path = dir_.Write("bridge.yaml", kConfig);
    log_ = dir_.File("bridge.log");
    ASSERT_TRUE(bridge_.Start(
        {testutil::BridgeBinary(), "--config.file=" + path,
         "--mqtt.url=tcp://127.0.0.1:" + std::to_string(broker_port_),
         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        log_));
    ASSERT_TRUE(WaitUntil(
        [&] { return HttpGet(port_, "/-/ready").status == 200; }, 20s))
        << testutil::ReadFileOrEmpty(log_);
  }
  void Pub(const std::string& topic, const std::string& payload) {
    ASSERT_EQ(MosquittoPub(broker_port_, topic, payload, dir_), 0) << topic;
  }
  std::string Metrics() { return HttpGet(port_, "/metrics").body; }

  testutil::TempDir dir_;
  Subprocess broker_, bridge_;
  int broker_port_ = 0, port_ = 0;
  std::string log_;
};

// 60 KiB values through a real broker: a Propeller task_id is refused (the
// message dropped as label_invalid), a proplet_info value and a device
// mapping's JSON label value are cut to 256 bytes; control characters in
// ids are refused, in descriptive values repaired; a 300-byte topic level is
// cut. Everything counted by source and reason.
TEST_F(BridgeLabelE2eTest, SixtyKibValuesAndControlCharacters) {
  const std::string pre = "m/dom/c/chan/control/proplet/";
  std::string big_id(60 * 1024, 't');
  Pub(pre + "task_metrics",
      R"({"task_id":")" + big_id +
          R"(","proplet_id":"p1","metrics":{"thread_count":1}})");
  Pub(pre + "task_metrics",
      R"({"task_id":"t\u0001","proplet_id":"p1","metrics":{"thread_count":1}})");
  Pub(pre + "alive",
      R"({"proplet_id":"p1","status":"alive","namespace":"ns\u0001"})");
  Pub(pre + "create", R"({"proplet_id":"p1","namespace":"ns","metadata":)"
                      R"({"hostname":"h\u0007","os":")" +
                          std::string(60 * 1024, 'o') + R"("}})");
  std::string room(300, 'r');
  Pub("lab/" + room + "/reading", R"({"temp":21,"owner":")" +
                                      std::string(60 * 1024, 'w') +
                                      R"(","slots":{"a\u0001":1,"b":2}})");
  Pub(pre + "task_metrics",
      R"({"task_id":"t-ok","proplet_id":"p1","metrics":{"thread_count":3}})");

  ASSERT_TRUE(WaitUntil(
      [&] {
        auto s = ParseProm(Metrics());
        return FindSample(s, "proplet_task_threads", {{"task_id", "t-ok"}}) &&
               FindSample(s, "lab_temp_celsius");
      },
      15s))
      << Metrics() << testutil::ReadFileOrEmpty(log_);
  std::string text = Metrics();
  auto s = ParseProm(text);
  // Propeller ids: refused, the messages dropped.
  EXPECT_EQ(LabelCount(s, "payload", "too_long", "refused"), 1);
  EXPECT_EQ(LabelCount(s, "payload", "control_char", "refused"), 1);
  EXPECT_EQ(FindSample(s, "propmon_bridge_messages_rejected_total",
                       {{"reason", "label_invalid"}}),
            2);
  EXPECT_FALSE(FindSample(s, "proplet_task_threads", {{"task_id", "t"}}));
  // Propeller descriptive values: repaired (namespace, hostname; os cut).
  EXPECT_EQ(LabelCount(s, "payload", "control_char", "repaired"), 2);
  EXPECT_EQ(LabelCount(s, "payload", "too_long", "repaired"), 1);
  EXPECT_EQ(FindSample(s, "proplet_info",
                       {{"proplet_id", "p1"},
                        {"namespace", "ns"},
                        {"hostname", "h" + kFffd},
                        {"os", std::string(256, 'o')}}),
            1);
  // The device mapping: room and topic cut, owner cut, a key repaired.
  EXPECT_EQ(LabelCount(s, "topic", "too_long", "repaired"), 2);
  EXPECT_EQ(LabelCount(s, "mapping", "too_long", "repaired"), 1);
  EXPECT_EQ(LabelCount(s, "mapping", "control_char", "repaired"), 1);
  std::string topic = ("lab/" + room + "/reading").substr(0, 256);
  EXPECT_EQ(FindSample(s, "lab_temp_celsius",
                       {{"room", std::string(256, 'r')},
                        {"topic", topic},
                        {"owner", std::string(256, 'w')}}),
            21);
  EXPECT_EQ(FindSample(s, "lab_slot_value", {{"slot", "a" + kFffd}}), 1);
  EXPECT_EQ(FindSample(s, "lab_slot_value", {{"slot", "b"}}), 2);
  EXPECT_EQ(text.find(std::string(257, 'w')), std::string::npos);
  ExpectValidExposition(text);
}

}  // namespace
}  // namespace propmon::bridge
