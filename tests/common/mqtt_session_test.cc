// MqttClient sessions against the real mosquitto, with a TCP proxy in
// between to make disconnects deterministic: QoS 1 messages in flight at a
// disconnect, and the last will.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::mqtt_test {
namespace {

struct InflightCase {
  int version;
  bool clean_start;
};

class MqttInflightTest : public testing::TestWithParam<InflightCase> {};

// Persistent session: the broker resumes it and Paho re-sends the
// unacknowledged messages. Clean session: Paho forgets them and the client
// re-queues them itself. Either way all arrive, in order, once.
TEST_P(MqttInflightTest, UnacknowledgedQos1MessagesSurviveDisconnect) {
  const InflightCase tc = GetParam();
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscriber(Options(broker.Url(), "if-sub"), {"if/t"}, 1, &inbox);
  ASSERT_TRUE(sub);
  TcpProxy proxy(broker.port());
  MqttOptions po =
      Options("tcp://127.0.0.1:" + std::to_string(proxy.port()), "if-pub");
  po.mqtt_version = tc.version;
  po.clean_start = tc.clean_start;
  auto pub = Connected(po);
  ASSERT_TRUE(pub);

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->Publish("if/t", Seq(i)).ok());
  ASSERT_TRUE(inbox.WaitFor(3));
  // The subscriber can have the third message before the publisher has its
  // PUBACK (seen under ASan on a loaded machine): wait for all three.
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().published_total == 3; },
                        seconds(10)));

  proxy.SetSwallowing(true);
  for (int i = 3; i < 8; ++i) ASSERT_TRUE(pub->Publish("if/t", Seq(i)).ok());
  // All five written to the socket by Paho, none acknowledged.
  ASSERT_TRUE(WaitUntil(
      [&] { return proxy.Swallowed().find(Seq(7)) != std::string::npos; },
      seconds(10)));
  EXPECT_EQ(pub->stats().inflight, 5u);
  EXPECT_EQ(pub->stats().published_total, 3u);

  proxy.SetRefusing(true);
  proxy.CutAll();
  ASSERT_TRUE(WaitUntil([&] { return !pub->stats().connected; }, seconds(10)));
  for (int i = 8; i < 10; ++i) ASSERT_TRUE(pub->Publish("if/t", Seq(i)).ok());
  MqttStats ps = pub->stats();
  EXPECT_EQ(ps.buffered + ps.inflight, 7u);
  EXPECT_EQ(inbox.size(), 3u);  // Nothing leaked past the proxy.

  proxy.SetSwallowing(false);
  proxy.SetRefusing(false);
  ASSERT_TRUE(inbox.WaitFor(10));
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().published_total == 10; },
                        seconds(10)));
  std::this_thread::sleep_for(milliseconds(300));  // Let duplicates show.
  EXPECT_EQ(inbox.Seqs(), Range(0, 10));
  ps = pub->stats();
  EXPECT_EQ(ps.failed_total, 0u);
  EXPECT_EQ(ps.dropped_total, 0u);
  EXPECT_EQ(ps.inflight, 0u);
  EXPECT_EQ(ps.reconnects_total, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Sessions, MqttInflightTest,
    testing::Values(InflightCase{3, false}, InflightCase{3, true},
                    InflightCase{5, false}, InflightCase{5, true}),
    [](const testing::TestParamInfo<InflightCase>& info) {
      return std::string(info.param.clean_start ? "Clean" : "Persistent") +
             "Mqtt" + std::to_string(info.param.version);
    });

// A last will goes out when the connection dies uncleanly (here: the proxy
// cuts it), and not on Stop()'s clean disconnect.
// A broker that drops the resumed session at once, every time, before
// acknowledging anything (mosquitto 2.0 has been seen to do so after a
// SIGKILL, "malformed packet"): after three such sessions the client starts
// a clean one, takes its unacknowledged messages back and sends them again.
// Nothing is lost and the reset is counted.
TEST(MqttSessionTest, ResumedSessionDroppedAtOnceIsResetToAClean) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscriber(Options(broker.Url(), "rs-sub"), {"rs/t"}, 1, &inbox);
  ASSERT_TRUE(sub);
  TcpProxy proxy(broker.port());
  MqttOptions po =
      Options("tcp://127.0.0.1:" + std::to_string(proxy.port()), "rs-pub");
  po.clean_start = false;
  po.reconnect_min_seconds = 0.1;
  po.reconnect_max_seconds = 0.2;
  auto pub = Connected(po);
  ASSERT_TRUE(pub);
  proxy.SetSwallowing(true);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pub->Publish("rs/t", Seq(i)).ok());
  ASSERT_TRUE(
      WaitUntil([&] { return pub->stats().inflight == 4; }, seconds(10)));
  proxy.SetSwallowing(false);
  proxy.SetCutAfterConnack(true);
  proxy.CutAll();
  // Resumed sessions that end at once, until the client gives up on them.
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().session_resets_total >= 1; },
                        seconds(20)));
  proxy.SetCutAfterConnack(false);
  ASSERT_TRUE(inbox.WaitFor(4));
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().published_total == 4; },
                        seconds(10)));
  // Every message arrived; one the broker took before its acknowledgement
  // was cut may arrive twice (QoS 1: at least once).
  std::vector<int> seqs = inbox.Seqs();
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  EXPECT_EQ(seqs, Range(0, 4));
  MqttStats ps = pub->stats();
  EXPECT_EQ(ps.session_resets_total, 1u);
  EXPECT_EQ(ps.dropped_total, 0u);
  // The first CONNECTs resume (clean bit 0x02 off); after three short
  // sessions one is clean.
  std::vector<int> flags = proxy.ConnectFlags();
  ASSERT_GE(flags.size(), 4u);
  EXPECT_EQ(flags[0] & 0x02, 0);
  EXPECT_EQ(flags[1] & 0x02, 0);
  int clean = 0;
  for (int f : flags) clean += (f & 0x02) ? 1 : 0;
  EXPECT_GE(clean, 1);
  pub->Stop();
}

TEST(MqttSessionTest, WillIsPublishedOnUncleanDisconnectOnly) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox wills;
  auto observer =
      Subscriber(Options(broker.Url(), "observer"), {"will/#"}, 1, &wills);
  ASSERT_TRUE(observer);
  TcpProxy proxy(broker.port());
  MqttOptions o =
      Options("tcp://127.0.0.1:" + std::to_string(proxy.port()), "dying");
  o.will = MqttWill{"will/propmon", "gone", 1, false};
  auto c = Connected(o);
  ASSERT_TRUE(c);
  proxy.CutAll();
  ASSERT_TRUE(wills.WaitFor(1));
  EXPECT_EQ(wills.payloads(), std::vector<std::string>{"gone"});
  ASSERT_TRUE(WaitUntil(
      [&] { return c->stats().reconnects_total == 1 && c->stats().connected; },
      seconds(10)));
  c->Stop();
  ASSERT_TRUE(observer->Publish("will/marker", "after stop").ok());
  ASSERT_TRUE(wills.WaitFor(2));
  EXPECT_EQ(wills.payloads(), (std::vector<std::string>{"gone", "after stop"}));
}

// Stop() right as a connection comes up: the connected handler (the
// exporter's create and alive) may still be running when the buffer looks
// empty. Stop waits for it and drains what it publishes; before it did, a
// short `propmon-exporter run` sometimes lost its create message.
TEST(MqttSessionTest, StopDrainsWhatTheConnectedHandlerPublishes) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto observer =
      Subscriber(Options(broker.Url(), "observer"), {"hello/#"}, 1, &inbox);
  ASSERT_TRUE(observer);
  auto c = MustCreate(Options(broker.Url(), "greeter"));
  ASSERT_TRUE(c);
  MqttClient* raw = c.get();
  std::atomic<bool> in_handler{false};
  ASSERT_TRUE(c->SetConnectedHandler([raw, &in_handler] {
    in_handler = true;
    // Long enough for Stop() to begin while the handler is still here.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(raw->Publish("hello/create", "c").ok());
  }));
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return in_handler.load(); }, seconds(10)));
  c->Stop(std::chrono::seconds(5));
  ASSERT_TRUE(inbox.WaitFor(1));
  EXPECT_EQ(inbox.payloads(), std::vector<std::string>{"c"});
  EXPECT_EQ(c->stats().failed_total, 0u);
}

}  // namespace
}  // namespace propmon::mqtt_test
