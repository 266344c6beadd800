// Unit tests of the MQTT client wrapper that need no broker: option
// validation and the client's behaviour with nothing to connect to. Topic
// names, filters and matching: mqtt_topic_test.cc. Broker tests:
// mqtt_broker_test.cc.
#include "common/mqtt_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testutil/testutil.h"

namespace propmon {
namespace {

MqttOptions Base() {
  MqttOptions o;
  o.url = "tcp://127.0.0.1:1883";
  o.client_id = "unit";
  return o;
}

TEST(MqttOptionsTest, DefaultsMatchTheContract) {
  MqttOptions o;
  EXPECT_EQ(o.keepalive_seconds, 30);
  EXPECT_FALSE(o.clean_start);
  EXPECT_EQ(o.qos, 1);
  EXPECT_EQ(o.mqtt_version, 3);
  EXPECT_EQ(o.max_buffered_messages, 10000u);
  EXPECT_EQ(o.reconnect_min_seconds, 1);
  EXPECT_EQ(o.reconnect_max_seconds, 30);
  EXPECT_FALSE(o.insecure);
  EXPECT_FALSE(o.will.has_value());
}

struct UrlCase {
  std::string in;
  std::string want;  // Empty: must be rejected.
};

TEST(MqttOptionsTest, NormalizesAcceptedUrlsAndRejectsOthers) {
  const std::vector<UrlCase> cases = {
      {"tcp://broker:1883", "tcp://broker:1883"},
      {"tcp://broker", "tcp://broker:1883"},
      {"mqtt://broker:1884", "tcp://broker:1884"},
      {"mqtt://broker/", "tcp://broker:1883"},
      {"ssl://broker:8884", "ssl://broker:8884"},
      {"mqtts://broker", "ssl://broker:8883"},
      {"tcp://[::1]:1883", "tcp://[::1]:1883"},
      {"tcp://[::1]", "tcp://[::1]:1883"},
      {"tcp://10.0.0.5:65535", "tcp://10.0.0.5:65535"},
      {"http://broker:1883", ""},
      {"ws://broker:8080", ""},
      {"broker:1883", ""},
      {"", ""},
      {"tcp://", ""},
      {"tcp://:1883", ""},
      {"tcp://broker:", ""},
      {"tcp://broker:0", ""},
      {"tcp://broker:65536", ""},
      {"tcp://broker:18x3", ""},
      {"tcp://broker:-1", ""},
      {"tcp://broker:1883/path", ""},
      {"tcp://user@broker:1883", ""},
      {"tcp://::1:1883", ""},
      {"tcp://[::1", ""},
      {"tcp://[]:1883", ""},
  };
  for (const UrlCase& c : cases) {
    MqttOptions o = Base();
    o.url = c.in;
    if (MqttUrlUsesTls(c.in)) o.insecure = true;
    StatusOr<MqttOptions> v = ValidateMqttOptions(o);
    if (c.want.empty()) {
      ASSERT_FALSE(v.ok()) << c.in;
      EXPECT_NE(v.status().message().find("url"), std::string::npos)
          << v.status().message();
    } else {
      ASSERT_TRUE(v.ok()) << c.in << ": " << v.status().message();
      EXPECT_EQ(v->url, c.want) << c.in;
    }
  }
}

TEST(MqttOptionsTest, RejectsBadFieldsWithMessagesNamingThem) {
  testutil::TempDir dir;
  const std::string pem = dir.Write("x.pem", "not really a pem\n");
  struct Case {
    std::string name;
    std::function<void(MqttOptions*)> mutate;
    std::string expect_in_message;
  };
  const std::vector<Case> cases = {
      {"qos 3", [](MqttOptions* o) { o->qos = 3; }, "qos"},
      {"qos -1", [](MqttOptions* o) { o->qos = -1; }, "qos"},
      {"version 4", [](MqttOptions* o) { o->mqtt_version = 4; },
       "mqtt_version"},
      {"keepalive", [](MqttOptions* o) { o->keepalive_seconds = 70000; },
       "keepalive_seconds"},
      {"buffer 0", [](MqttOptions* o) { o->max_buffered_messages = 0; },
       "max_buffered_messages"},
      {"inflight 0", [](MqttOptions* o) { o->max_inflight = 0; },
       "max_inflight"},
      {"min 0", [](MqttOptions* o) { o->reconnect_min_seconds = 0; },
       "reconnect_min_seconds"},
      {"max < min",
       [](MqttOptions* o) {
         o->reconnect_min_seconds = 5;
         o->reconnect_max_seconds = 1;
       },
       "reconnect_max_seconds"},
      {"connect timeout",
       [](MqttOptions* o) { o->connect_timeout_seconds = 0; },
       "connect_timeout_seconds"},
      {"password alone", [](MqttOptions* o) { o->password = "p"; }, "password"},
      {"persistent session without id",
       [](MqttOptions* o) { o->client_id.clear(); }, "client_id"},
      {"ssl without ca or insecure",
       [](MqttOptions* o) { o->url = "ssl://broker:8883"; }, "ca_file"},
      {"mqtts without ca or insecure",
       [](MqttOptions* o) { o->url = "mqtts://broker"; }, "insecure"},
      {"cert without key",
       [&](MqttOptions* o) {
         o->url = "ssl://broker:8883";
         o->ca_file = pem;
         o->cert_file = pem;
       },
       "key_file"},
      {"key without cert",
       [&](MqttOptions* o) {
         o->url = "ssl://broker:8883";
         o->ca_file = pem;
         o->key_file = pem;
       },
       "cert_file"},
      {"ca on plain tcp", [&](MqttOptions* o) { o->ca_file = pem; }, "ca_file"},
      {"missing ca file",
       [&](MqttOptions* o) {
         o->url = "ssl://broker:8883";
         o->ca_file = dir.File("missing.pem");
       },
       "missing.pem"},
      {"will with wildcard",
       [](MqttOptions* o) {
         o->will = MqttWill{"propmon/+/status", "x", 1};
       },
       "will"},
      {"will qos",
       [](MqttOptions* o) {
         o->will = MqttWill{"a/b", "x", 5};
       },
       "will qos"},
  };
  for (const Case& c : cases) {
    MqttOptions o = Base();
    c.mutate(&o);
    StatusOr<MqttOptions> v = ValidateMqttOptions(o);
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(v.status().message().find(c.expect_in_message), std::string::npos)
        << c.name << ": " << v.status().message();
    // Create() validates the same way.
    EXPECT_FALSE(MqttClient::Create(o).ok()) << c.name;
  }
}

TEST(MqttOptionsTest, AcceptsTlsWithCaOrInsecureAndClientCertificate) {
  testutil::TempDir dir;
  const std::string pem = dir.Write("x.pem", "x\n");
  MqttOptions o = Base();
  o.url = "ssl://broker:8883";
  o.insecure = true;
  EXPECT_TRUE(ValidateMqttOptions(o).ok());
  o.insecure = false;
  o.ca_file = pem;
  EXPECT_TRUE(ValidateMqttOptions(o).ok());
  o.cert_file = pem;
  o.key_file = pem;
  EXPECT_TRUE(ValidateMqttOptions(o).ok());
}

TEST(MqttOptionsTest, CleanStartWithoutClientIdGetsRandomId) {
  MqttOptions o = Base();
  o.client_id.clear();
  o.clean_start = true;
  StatusOr<MqttOptions> a = ValidateMqttOptions(o);
  StatusOr<MqttOptions> b = ValidateMqttOptions(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->client_id.rfind("propmon-", 0), 0u) << a->client_id;
  EXPECT_NE(a->client_id, b->client_id);
}

TEST(MqttClientTest, PublishRejectsBadTopicAndQosAndCountsThem) {
  MqttOptions o = Base();
  o.url = "tcp://127.0.0.1:" + std::to_string(testutil::FreePort());
  auto client = MqttClient::Create(o);
  ASSERT_TRUE(client.ok()) << client.status().message();
  MqttClient& c = **client;
  Status s = c.Publish("a/+/b", "x", 1, false);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Publish("", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Publish("a/b", "x", 3, false).code(),
            StatusCode::kInvalidArgument);
  MqttStats st = c.stats();
  EXPECT_EQ(st.failed_total, 3u);
  EXPECT_EQ(st.buffered, 0u);
  EXPECT_NE(st.last_error.find("qos"), std::string::npos) << st.last_error;
}

TEST(MqttClientTest, SubscribeRejectsBadArguments) {
  auto client = MqttClient::Create(Base());
  ASSERT_TRUE(client.ok());
  auto noop = [](std::string_view, std::string_view) {};
  EXPECT_FALSE((*client)->Subscribe({}, 1, noop).ok());
  EXPECT_FALSE((*client)->Subscribe({"a/#/b"}, 1, noop).ok());
  EXPECT_FALSE((*client)->Subscribe({"a/#"}, 3, noop).ok());
  EXPECT_FALSE((*client)->Subscribe({"a/#"}, 1, nullptr).ok());
  EXPECT_TRUE((*client)->Subscribe({"a/#"}, 1, noop).ok());
}

// Nothing listens on the port: Start() returns at once, messages wait in the
// buffer, Stop() returns and counts them as dropped, the client keeps a
// readable error and later calls are refused, not crashed on.
TEST(MqttClientTest, WithoutBrokerBuffersRetriesAndStopsCleanly) {
  MqttOptions o = Base();
  o.url = "tcp://127.0.0.1:" + std::to_string(testutil::FreePort());
  o.reconnect_min_seconds = 0.05;
  o.reconnect_max_seconds = 0.1;
  auto client = MqttClient::Create(o);
  ASSERT_TRUE(client.ok());
  MqttClient& c = **client;
  int connected_calls = 0;
  EXPECT_TRUE(c.SetConnectedHandler([&] { ++connected_calls; }));
  ASSERT_TRUE(c.Start().ok());
  EXPECT_FALSE(c.Start().ok());
  EXPECT_FALSE(c.SetConnectedHandler([] {}));  // Too late.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Publish("a/b", "x").ok());
  ASSERT_TRUE(
      testutil::WaitUntil([&] { return c.stats().connect_failures_total >= 3; },
                          std::chrono::seconds(10)));
  MqttStats st = c.stats();
  EXPECT_FALSE(st.connected);
  EXPECT_EQ(st.buffered, 3u);
  EXPECT_NE(st.last_error.find("connect to tcp://127.0.0.1:"),
            std::string::npos)
      << st.last_error;
  c.Stop();
  st = c.stats();
  EXPECT_EQ(st.dropped_total, 3u);
  EXPECT_EQ(st.buffered, 0u);
  EXPECT_EQ(st.published_total, 0u);
  EXPECT_EQ(c.Publish("a/b", "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.stats().failed_total, 1u);
  EXPECT_FALSE(c.Start().ok());
  c.Stop();  // Idempotent.
  EXPECT_EQ(connected_calls, 0);
}

}  // namespace
}  // namespace propmon
