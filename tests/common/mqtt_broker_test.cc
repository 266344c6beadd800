// MqttClient against the real Debian mosquitto, started by each test on a
// free loopback port: round trips, retained messages, handlers,
// resubscription, broker outage, buffer overflow, shared subscriptions.
// Sessions and in-flight messages: mqtt_session_test.cc; authentication and
// TLS: mqtt_security_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::mqtt_test {
namespace {

struct RoundTripCase {
  int qos;
  int version;
};

class MqttRoundTripTest : public testing::TestWithParam<RoundTripCase> {};

// Publisher and subscriber are separate clients, as in production. 50
// messages back to back also exercise the in-flight window against
// mosquitto's default limit of 20 (see MqttOptions::max_inflight).
TEST_P(MqttRoundTripTest, DeliversEveryMessageInOrderBinarySafe) {
  const RoundTripCase tc = GetParam();
  Broker broker("log_type all\n");
  ASSERT_TRUE(broker.Start());
  MqttOptions so = Options(broker.Url(), "rt-sub");
  so.mqtt_version = tc.version;
  Inbox inbox;
  auto sub = Subscriber(so, {"rt/+/data"}, tc.qos, &inbox);
  ASSERT_TRUE(sub);
  MqttOptions po = Options(broker.Url("mqtt"), "rt-pub");
  po.mqtt_version = tc.version;
  auto pub = Connected(po);
  ASSERT_TRUE(pub);

  const std::string binary("\x00\x01\xff{\"k\":1}\n", 11);
  constexpr int kCount = 50;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub->Publish("rt/" + std::to_string(i % 3) + "/data", Seq(i),
                             tc.qos, false)
                    .ok());
  }
  ASSERT_TRUE(pub->Publish("rt/x/data", binary, tc.qos, false).ok());
  ASSERT_TRUE(pub->Publish("rt/x/other", "not subscribed", tc.qos, false).ok());
  ASSERT_TRUE(inbox.WaitFor(kCount + 1))
      << inbox.size() << " received: " << Join(inbox.Seqs())
      << "; published_total=" << pub->stats().published_total
      << "\nbroker log:\n"
      << broker.Log();
  ASSERT_TRUE(WaitUntil(
      [&] { return pub->stats().published_total == kCount + 2; }, seconds(10)));

  std::vector<int> seqs = inbox.Seqs();
  seqs.pop_back();
  EXPECT_EQ(seqs, Range(0, kCount));
  EXPECT_EQ(inbox.payloads().back(), binary);
  EXPECT_EQ(inbox.topics()[4], "rt/1/data");
  MqttStats ps = pub->stats();
  EXPECT_EQ(ps.failed_total, 0u);
  EXPECT_EQ(ps.dropped_total, 0u);
  EXPECT_EQ(ps.buffered, 0u);
  EXPECT_EQ(ps.inflight, 0u);
  EXPECT_EQ(ps.reconnects_total, 0u);
  EXPECT_EQ(ps.received_total, 0u);
  EXPECT_TRUE(ps.last_error.empty()) << ps.last_error;
  pub->Stop();
  EXPECT_FALSE(pub->stats().connected);
  EXPECT_EQ(pub->stats().dropped_total, 0u);
  sub->Stop();
  EXPECT_EQ(inbox.size(), static_cast<size_t>(kCount + 1));
  MqttStats ss = sub->stats();
  EXPECT_EQ(ss.received_total, static_cast<uint64_t>(kCount + 1));
  EXPECT_EQ(ss.unmatched_total, 0u);
  EXPECT_EQ(ss.published_total, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    QosAndVersion, MqttRoundTripTest,
    testing::Values(RoundTripCase{0, 3}, RoundTripCase{1, 3},
                    RoundTripCase{2, 3}, RoundTripCase{0, 5},
                    RoundTripCase{1, 5}, RoundTripCase{2, 5}),
    [](const testing::TestParamInfo<RoundTripCase>& info) {
      return "Qos" + std::to_string(info.param.qos) + "Mqtt" +
             std::to_string(info.param.version);
    });

TEST(MqttBrokerTest, RetainedMessageReachesLaterSubscription) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  auto c = Connected(Options(broker.Url(), "ret"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Publish("ret/state", "on", 1, true).ok());
  ASSERT_TRUE(
      WaitUntil([&] { return c->stats().published_total == 1; }, seconds(10)));
  Inbox inbox;
  ASSERT_TRUE(c->Subscribe({"ret/#"}, 1, inbox.Handler()).ok());
  ASSERT_TRUE(inbox.WaitFor(1));
  EXPECT_EQ(inbox.payloads(), std::vector<std::string>{"on"});
  EXPECT_TRUE(c->stats().subscribed);
}

TEST(MqttBrokerTest, HandlerExceptionIsCountedAndDeliveryGoesOn) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  std::atomic<int> handled{0};
  auto c = MustCreate(Options(broker.Url(), "h"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->Subscribe({"h/#"}, 1, [&](std::string_view, std::string_view p) {
         if (p == "boom") {
           throw std::runtime_error("handler failed");
         }
         ++handled;
       }).ok());
  // A second subscription on an overlapping filter sees every message too.
  Inbox all;
  ASSERT_TRUE(c->Subscribe({"h/+"}, 1, all.Handler()).ok());
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)));
  ASSERT_TRUE(c->Publish("h/a", "one").ok());
  ASSERT_TRUE(c->Publish("h/a", "boom").ok());
  ASSERT_TRUE(c->Publish("h/a", "two").ok());
  ASSERT_TRUE(WaitUntil([&] { return handled == 2; }, seconds(10)));
  ASSERT_TRUE(all.WaitFor(3));
  MqttStats st = c->stats();
  EXPECT_EQ(st.handler_errors_total, 1u);
  EXPECT_EQ(st.received_total, 3u);
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(all.payloads(), (std::vector<std::string>{"one", "boom", "two"}));
}

// Stop() from inside a callback would wait for itself: it is refused (with a
// log line) and the client keeps working until a proper Stop().
TEST(MqttBrokerTest, StopFromCallbackIsRefused) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  auto c = MustCreate(Options(broker.Url(), "selfstop"));
  ASSERT_TRUE(c);
  MqttClient* raw = c.get();
  std::atomic<int> handled{0};
  ASSERT_TRUE(c->SetConnectedHandler([raw] { raw->Stop(); }));
  ASSERT_TRUE(
      c->Subscribe({"self/#"}, 1, [&](std::string_view, std::string_view) {
         raw->Stop();
         ++handled;
       }).ok());
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)));
  ASSERT_TRUE(c->Publish("self/a", "x").ok());
  ASSERT_TRUE(WaitUntil([&] { return handled == 1; }, seconds(10)));
  EXPECT_TRUE(c->stats().connected);
  ASSERT_TRUE(c->Publish("self/a", "y").ok());
  ASSERT_TRUE(WaitUntil([&] { return handled == 2; }, seconds(10)));
  c->Stop();
  EXPECT_FALSE(c->stats().connected);
  EXPECT_EQ(c->Publish("self/a", "z").code(), StatusCode::kUnavailable);
}

// The broker restarts without persistence, so it forgets the subscription;
// the client must subscribe again by itself.
TEST(MqttBrokerTest, ResubscribesAfterReconnect) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  MqttOptions o = Options(broker.Url(), "rs");
  o.clean_start = true;
  Inbox inbox;
  std::atomic<int> connects{0};
  std::atomic<int> losses{0};
  auto c = MustCreate(o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->SetConnectedHandler([&] { ++connects; }));
  ASSERT_TRUE(
      c->SetConnectionLostHandler([&](const std::string&) { ++losses; }));
  ASSERT_TRUE(c->Subscribe({"rs/#"}, 1, inbox.Handler()).ok());
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)));

  broker.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !c->stats().connected; }, seconds(10)));
  EXPECT_FALSE(c->stats().subscribed);
  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)))
      << c->stats().last_error;
  ASSERT_TRUE(c->Publish("rs/x", "after restart").ok());
  ASSERT_TRUE(inbox.WaitFor(1));
  EXPECT_EQ(inbox.payloads(), std::vector<std::string>{"after restart"});
  EXPECT_EQ(c->stats().reconnects_total, 1u);
  EXPECT_TRUE(
      WaitUntil([&] { return connects == 2 && losses == 1; }, seconds(5)));
}

// The outage scenario: every 100 ms, for the whole test, one message at
// QoS 1 and one at QoS 2, while mosquitto is stopped for about 5 s and
// started again on the same port. The broker persists sessions and the
// subscriber has a persistent one, so whichever client reconnects first,
// every message reaches it.
// QoS 2 is exactly once: the subscriber sees exactly 0..n-1. QoS 1 is at
// least once: the only duplicates allowed are of messages that were in
// flight when the broker went down (handed to Paho while connected, not yet
// acknowledged); everything published during the outage arrives exactly once
// and in order.
TEST(MqttBrokerTest, BrokerOutageLosesNothingAndKeepsOrder) {
  Broker broker("log_type all\n", /*persistent=*/true);
  ASSERT_TRUE(broker.Start());
  Inbox q1;
  Inbox q2;
  auto sub = MustCreate(Options(broker.Url(), "outage-sub"));
  ASSERT_TRUE(sub);
  ASSERT_TRUE(sub->Subscribe({"outage/q1"}, 2, q1.Handler()).ok());
  ASSERT_TRUE(sub->Subscribe({"outage/q2"}, 2, q2.Handler()).ok());
  ASSERT_TRUE(sub->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return sub->stats().subscribed; }, seconds(10)));
  MqttOptions po = Options(broker.Url(), "outage-pub");
  po.reconnect_max_seconds = 1;
  auto pub = MustCreate(po);
  ASSERT_TRUE(pub);
  std::atomic<int> connects{0};
  std::atomic<int> losses{0};
  ASSERT_TRUE(pub->SetConnectedHandler([&] { ++connects; }));
  ASSERT_TRUE(
      pub->SetConnectionLostHandler([&](const std::string&) { ++losses; }));
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().connected; }, seconds(10)));

  std::atomic<bool> done{false};
  std::atomic<int> published{0};
  std::atomic<int> first_down{-1};  // First seq published while disconnected.
  std::atomic<int> published_while_down{0};
  std::thread publisher([&] {
    while (!done) {
      const int i = published;
      const bool up = pub->stats().connected;
      if (!pub->Publish("outage/q1", Seq(i), 1, false).ok()) break;
      if (!pub->Publish("outage/q2", Seq(i), 2, false).ok()) break;
      published = i + 1;
      if (!up) {
        ++published_while_down;
        int expected = -1;
        first_down.compare_exchange_strong(expected, i);
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  std::this_thread::sleep_for(seconds(1));
  broker.Stop();
  std::this_thread::sleep_for(seconds(5));
  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().connected; }, seconds(10)));
  std::this_thread::sleep_for(seconds(1));
  done = true;
  publisher.join();

  const int n = published;
  ASSERT_TRUE(q2.WaitFor(n))
      << q2.size() << " of " << n << ": " << Join(q2.Seqs());
  ASSERT_TRUE(q1.WaitFor(n)) << q1.size() << " of " << n << ": "
                             << Join(q1.Seqs()) << "\nbroker log:\n"
                             << broker.Log();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return pub->stats().published_total == static_cast<uint64_t>(2 * n);
      },
      seconds(10)));
  std::this_thread::sleep_for(milliseconds(300));  // Let duplicates show.
  ASSERT_GE(published_while_down, 35) << "the outage was not exercised";

  EXPECT_EQ(q2.Seqs(), Range(0, n));

  const int fd = first_down;
  std::vector<int> first_arrivals;
  std::vector<int> after_outage;
  std::set<int> seen;
  int duplicates = 0;
  for (int s : q1.Seqs()) {
    if (seen.insert(s).second) {
      first_arrivals.push_back(s);
    } else {
      ++duplicates;
      EXPECT_LT(s, fd) << "duplicate of a message published while "
                          "disconnected: "
                       << s;
    }
    if (s >= fd) after_outage.push_back(s);
  }
  EXPECT_EQ(first_arrivals, Range(0, n));
  EXPECT_EQ(after_outage, Range(fd, n));
  EXPECT_LE(duplicates, po.max_inflight);

  MqttStats ps = pub->stats();
  EXPECT_EQ(ps.dropped_total, 0u);
  EXPECT_EQ(ps.failed_total, 0u);
  EXPECT_EQ(ps.reconnects_total, 1u);
  EXPECT_GE(ps.connect_failures_total, 1u);
  EXPECT_EQ(connects, 2);
  EXPECT_EQ(losses, 1);
}

// max_buffered_messages=10, 25 published while the broker is down: the 15
// oldest are dropped and counted, the 10 newest arrive.
TEST(MqttBrokerTest, FullBufferDropsOldestAndCountsExactly) {
  Broker broker("", /*persistent=*/true);
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscriber(Options(broker.Url(), "ovf-sub"), {"ovf/t"}, 1, &inbox);
  ASSERT_TRUE(sub);
  broker.Stop();

  MqttOptions po = Options(broker.Url(), "ovf-pub");
  po.max_buffered_messages = 10;
  auto pub = MustCreate(po);
  ASSERT_TRUE(pub);
  ASSERT_TRUE(pub->Start().ok());
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(pub->Publish("ovf/t", Seq(i)).ok());
  MqttStats ps = pub->stats();
  EXPECT_FALSE(ps.connected);
  EXPECT_EQ(ps.buffered, 10u);
  EXPECT_EQ(ps.dropped_total, 15u);
  EXPECT_NE(ps.last_error.find("buffer full"), std::string::npos)
      << ps.last_error;

  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(inbox.WaitFor(10));
  ASSERT_TRUE(WaitUntil([&] { return pub->stats().published_total == 10; },
                        seconds(10)));
  pub->Stop();
  ps = pub->stats();
  EXPECT_EQ(ps.published_total, 10u);
  EXPECT_EQ(ps.dropped_total, 15u);
  EXPECT_EQ(ps.failed_total, 0u);
  EXPECT_EQ(inbox.Seqs(), Range(15, 25));
}

// The byte cap: 1 KiB payloads with max_buffered_bytes=8 KiB keep 7 (topic
// bytes count too), whatever the message cap; drops are counted by topic.
TEST(MqttBrokerTest, ByteCapDropsOldestAndCountsByTopic) {
  Broker broker("", /*persistent=*/true);
  ASSERT_TRUE(broker.Start());
  broker.Stop();
  MqttOptions po = Options(broker.Url(), "cap-pub");
  po.max_buffered_messages = 1000;
  po.max_buffered_bytes = 8192;
  auto pub = MustCreate(po);
  ASSERT_TRUE(pub);
  ASSERT_TRUE(pub->Start().ok());
  const std::string big(1024, 'x');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub->Publish("cap/a", big).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub->Publish("cap/b", big).ok());
  MqttStats ps = pub->stats();
  EXPECT_EQ(ps.buffered, 7u);
  EXPECT_EQ(ps.buffered_bytes, 7u * (1024 + 5));
  EXPECT_EQ(ps.dropped_total, 8u);
  std::map<std::string, std::uint64_t> by(ps.dropped_by_topic.begin(),
                                          ps.dropped_by_topic.end());
  EXPECT_EQ(by["cap/a"], 8u);  // the oldest go first: all from cap/a
  EXPECT_EQ(by.count("cap/b"), 0u);
  pub->Stop(std::chrono::milliseconds(100));
  // Unsent at stop: counted as dropped, by topic.
  ps = pub->stats();
  EXPECT_EQ(ps.dropped_total, 15u);
  by = {ps.dropped_by_topic.begin(), ps.dropped_by_topic.end()};
  EXPECT_EQ(by["cap/a"], 10u);
  EXPECT_EQ(by["cap/b"], 5u);
  EXPECT_EQ(ps.buffered_bytes, 0u);
}

// ---------------------------------------------------------------------------

// Two bridges in one MQTT 5 shared-subscription group split the feed: each
// gets part, together all, no message twice. A plain subscriber (which is
// also the publisher here) sees all.
TEST(MqttSharedSubscriptionTest, GroupMembersSplitTheFeed) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  const std::string filter = "$share/bridges/m/+/c/+/control/proplet/#";
  Inbox a;
  Inbox b;
  Inbox plain;
  MqttOptions o = Options(broker.Url(), "bridge-a");
  o.mqtt_version = 5;
  auto sa = Subscriber(o, {filter}, 1, &a);
  o.client_id = UniqueId("bridge-b");
  auto sb = Subscriber(o, {filter}, 1, &b);
  o.client_id = UniqueId("proplet");
  auto pub = Subscriber(o, {"m/+/c/+/control/proplet/#"}, 1, &plain);
  ASSERT_TRUE(sa && sb && pub);

  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(
        pub->Publish("m/dom/c/chan/control/proplet/task_metrics", Seq(i)).ok());
  }
  ASSERT_TRUE(pub->Publish("m/dom/c/chan/other", "ignored").ok());
  ASSERT_TRUE(plain.WaitFor(kCount));
  ASSERT_TRUE(
      WaitUntil([&] { return a.size() + b.size() >= kCount; }, seconds(20)));
  std::this_thread::sleep_for(milliseconds(300));  // Let duplicates show.

  EXPECT_GT(a.size(), 0u);
  EXPECT_GT(b.size(), 0u);
  EXPECT_EQ(a.size() + b.size(), static_cast<size_t>(kCount));
  std::set<int> all;
  for (int s : a.Seqs()) all.insert(s);
  for (int s : b.Seqs()) all.insert(s);
  EXPECT_EQ(all.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), kCount - 1);
  EXPECT_EQ(plain.Seqs(), Range(0, kCount));
  EXPECT_EQ(sa->stats().unmatched_total, 0u);
  EXPECT_EQ(sa->stats().received_total + sb->stats().received_total,
            static_cast<uint64_t>(kCount));
}

}  // namespace
}  // namespace propmon::mqtt_test
