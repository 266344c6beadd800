#include "bridge/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using ::testing::HasSubstr;

// The default session is persistent, keyed by a stable id from the host name
// and the listen port, so two bridges on one host differ and a restarted
// bridge resumes its session; port 0 has no identity: clean and random.
TEST(BridgeConfigTest, DefaultSessionIsPersistentWithAStableClientId) {
  char host[256] = {0};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  BridgeConfig c;
  MqttOptions o = c.EffectiveMqttOptions();
  EXPECT_FALSE(o.clean_start);
  EXPECT_EQ(o.client_id.rfind("propmon-bridge-", 0), 0u) << o.client_id;
  EXPECT_NE(o.client_id.find("-9641"), std::string::npos) << o.client_id;
  EXPECT_EQ(o.client_id, c.EffectiveMqttOptions().client_id);  // stable
  c.listen_address = "127.0.0.1:9642";
  EXPECT_NE(c.EffectiveMqttOptions().client_id, o.client_id);
  c.mqtt.client_id = "mine";
  EXPECT_EQ(c.EffectiveMqttOptions().client_id, "mine");
  c.mqtt.client_id.clear();
  c.listen_address = "127.0.0.1:0";
  EXPECT_TRUE(c.EffectiveMqttOptions().clean_start);
  EXPECT_TRUE(c.EffectiveMqttOptions().client_id.empty());
  EXPECT_EQ(DefaultClientId("[::1]:9641").substr(15),
            DefaultClientId(":9641").substr(15));
}

TEST(BridgeConfigTest, DefaultsSubscribeToPropellerTopics) {
  BridgeConfig c;
  EXPECT_EQ(c.listen_address, ":9641");
  EXPECT_EQ(c.mqtt.url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c.mqtt.qos, 1);
  EXPECT_FALSE(c.mqtt.clean_start);  // persistent: nothing lost while away
  EXPECT_EQ(c.max_payload_bytes, 65536u);
  EXPECT_EQ(c.series_limit, 200000u);
  EXPECT_EQ(c.history_per_id, 1000u);
  EXPECT_EQ(c.propeller.alive_timeout_seconds, 10);
  EXPECT_EQ(c.propeller.expiry_min_seconds, 30);
  EXPECT_EQ(c.propeller.expiry_intervals, 3);
  EXPECT_EQ(c.SubscriptionFilters(),
            (std::vector<std::string>{"m/+/c/+/control/proplet/#",
                                      "m/+/c/+/metrics/proplet"}));
  EXPECT_EQ(c.EffectiveMqttOptions().mqtt_version, 3);
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(BridgeConfigTest, ParsesEveryKey) {
  testutil::TempDir dir;
  std::string pw = dir.Write("pw", "s3cret\n");
  auto c = ParseConfig(
      "mqtt:\n"
      "  url: tcp://broker:1884\n"
      "  client_id: bridge-a\n"
      "  username: u\n"
      "  password_file: " +
          pw +
          "\n"
          "  qos: 2\n"
          "  clean_start: false\n"
          "  session_expiry: 2h\n"
          "  keepalive: 45s\n"
          "  protocol_version: 5\n"
          "  shared_group: grp\n"
          "  topics: [\"m/+/c/+/control/proplet/#\"]\n"
          "web:\n"
          "  listen_address: 127.0.0.1:9999\n"
          "  max_stream_clients: 3\n"
          "limits:\n"
          "  max_payload_bytes: 128KiB\n"
          "  series_limit: 5000\n"
          "  queue_size: 77\n"
          "  history_per_id: 10\n"
          "  history_memory_bytes: 8MiB\n"
          "  expiry: 1m\n"
          "  expiry_intervals: 5\n"
          "propeller:\n"
          "  alive_timeout: 15s\n"
          "  finished_grace: 2m30s\n",
      "test.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mqtt.url, "tcp://broker:1884");
  EXPECT_EQ(c->mqtt.client_id, "bridge-a");
  EXPECT_EQ(c->mqtt.username, "u");
  EXPECT_EQ(c->mqtt.password, "s3cret");
  EXPECT_EQ(c->mqtt.qos, 2);
  EXPECT_FALSE(c->mqtt.clean_start);
  EXPECT_EQ(c->mqtt.session_expiry_seconds, 7200u);
  EXPECT_EQ(c->mqtt.keepalive_seconds, 45);
  EXPECT_EQ(c->EffectiveMqttOptions().mqtt_version, 5);
  EXPECT_EQ(c->SubscriptionFilters(),
            (std::vector<std::string>{"$share/grp/m/+/c/+/control/proplet/#"}));
  EXPECT_EQ(c->listen_address, "127.0.0.1:9999");
  EXPECT_EQ(c->max_stream_clients, 3u);
  EXPECT_EQ(c->max_payload_bytes, 131072u);
  EXPECT_EQ(c->series_limit, 5000u);
  EXPECT_EQ(c->queue_size, 77u);
  EXPECT_EQ(c->history_per_id, 10u);
  EXPECT_EQ(c->history_memory_bytes, 8u << 20);
  EXPECT_EQ(c->propeller.expiry_min_seconds, 60);
  EXPECT_EQ(c->propeller.expiry_intervals, 5);
  EXPECT_EQ(c->propeller.alive_timeout_seconds, 15);
  EXPECT_EQ(c->propeller.finished_grace_seconds, 150);
}

TEST(BridgeConfigTest, EmptyFileGivesDefaults) {
  auto c = ParseConfig("", "empty.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->series_limit, 200000u);
  c = ParseConfig("# only a comment\nmqtt:\n", "c.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
}

TEST(BridgeConfigTest, ErrorsNameFileLineAndColumn) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"mqtt:\n  urll: x\n", "bad.yml:2:3: unknown key mqtt.urll"},
      {"web: {}\nlimitz: {}\n", "bad.yml:2:1: unknown key limitz"},
      {"limits:\n  series_limit: many\n",
       "bad.yml:2:17: limits.series_limit: want an integer"},
      {"limits:\n  series_limit: 0\n", "bad.yml:2:17: limits.series_limit"},
      {"mqtt:\n  qos: 3\n", "bad.yml:2:8: mqtt.qos: 3 is outside 0..2"},
      {"mqtt:\n  clean_start: maybe\n",
       "bad.yml:2:16: mqtt.clean_start: want true or false"},
      {"limits:\n  expiry: soon\n", "bad.yml:2:11: limits.expiry: invalid"},
      {"limits:\n  max_payload_bytes: 12XB\n",
       "bad.yml:2:22: limits.max_payload_bytes: invalid size unit"},
      {"mqtt:\n  topics: [\"a/#/b\"]\n", "bad.yml:2:12: mqtt.topics"},
      {"web:\n  listen_address: nope\n", "bad.yml:2:19: web.listen_address"},
      {"mqtt: [1, 2]\n", "bad.yml:1:7: mqtt: want a mapping"},
      {"- a\n- b\n", "bad.yml:1:1: the config must be a mapping"},
      {"mqtt:\n  url: [unclosed\n", "bad.yml:"},
      {"mappings: {a: 1}\n", "bad.yml:1:11: mappings: want a list"},
      {"mqtt:\n  protocol_version: 3\n  shared_group: g\n",
       "bad.yml: mqtt.shared_group needs MQTT 5"},
  };
  for (const auto& c : cases) {
    auto r = ParseConfig(c.yaml, "bad.yml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_THAT(r.status().message(), HasSubstr(c.want)) << c.yaml;
  }
}

TEST(BridgeConfigTest, ParsesDurationsAndSizes) {
  EXPECT_EQ(*ParseDuration("30s"), 30);
  EXPECT_EQ(*ParseDuration("1m30s"), 90);
  EXPECT_EQ(*ParseDuration("500ms"), 0.5);
  EXPECT_EQ(*ParseDuration("2h"), 7200);
  EXPECT_EQ(*ParseDuration("1.5"), 1.5);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10x").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_EQ(*ParseBytes("65536"), 65536u);
  EXPECT_EQ(*ParseBytes("64KiB"), 65536u);
  EXPECT_EQ(*ParseBytes("1MB"), 1000000u);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("-1").ok());
  EXPECT_FALSE(ParseBytes("99999999999999999999GiB").ok());
}

TEST(BridgeConfigTest, FlagsOverrideTheFile) {
  testutil::TempDir dir;
  std::string path = dir.Write(
      "c.yml",
      "mqtt:\n  url: tcp://from-file:1883\nweb:\n  listen_address: :1111\n"
      "limits:\n  queue_size: 50\n");
  FlagSet flags;
  DeclareFlags(&flags);
  ASSERT_TRUE(flags
                  .Parse({"--config.file", path, "--web.listen-address=:2222",
                          "--mqtt.shared-group", "g1", "--limits.queue-size",
                          "8", "--debug.worker-delay", "5ms"})
                  .ok());
  auto c = ConfigFromFlags(flags);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mqtt.url, "tcp://from-file:1883");
  EXPECT_EQ(c->listen_address, ":2222");
  EXPECT_EQ(c->shared_group, "g1");
  EXPECT_EQ(c->EffectiveMqttOptions().mqtt_version, 5);
  EXPECT_EQ(c->queue_size, 8u);
  EXPECT_DOUBLE_EQ(c->debug_worker_delay_seconds, 0.005);

  FlagSet bad;
  DeclareFlags(&bad);
  ASSERT_TRUE(bad.Parse({"--limits.queue-size", "zero"}).ok());
  EXPECT_FALSE(ConfigFromFlags(bad).ok());
  FlagSet missing;
  DeclareFlags(&missing);
  ASSERT_TRUE(missing.Parse({"--config.file", dir.File("nope.yml")}).ok());
  auto r = ConfigFromFlags(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nope.yml"));
}

}  // namespace
}  // namespace propmon::bridge
