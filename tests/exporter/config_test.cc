#include "exporter/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Fixtures() {
  const char* f = getenv("PROPMON_FIXTURES");
  return std::string(f ? f : "tests/fixtures");
}

// A fake environment for ApplyPropletEnv / LoadConfig.
std::map<std::string, std::string>& FakeEnv() {
  static std::map<std::string, std::string> env;
  return env;
}
const char* FakeLookup(const char* name) {
  auto it = FakeEnv().find(name);
  return it == FakeEnv().end() ? nullptr : it->second.c_str();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { FakeEnv().clear(); }
  void TearDown() override { FakeEnv().clear(); }
  static StatusOr<Config> Parse(const std::string& yaml) {
    return ParseConfig(yaml, "test.yaml", "/etc/propmon");
  }
};

TEST_F(ConfigTest, NoFileGivesDefaults) {
  auto c = LoadConfig("", FakeLookup);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->file, "");
  EXPECT_EQ(c->proplet_id, "");
  EXPECT_FALSE(c->privacy);
  EXPECT_TRUE(c->enable_monitoring);
  EXPECT_FALSE(c->default_profile);
  EXPECT_EQ(c->listen_address, "");
  EXPECT_TRUE(c->tasks.empty());
  EXPECT_FALSE(c->mqtt.enabled());
  EXPECT_EQ(c->mqtt.qos, 1);
  EXPECT_FALSE(c->mqtt.clean_start);
  EXPECT_EQ(c->mqtt.max_buffered_messages, 10000u);
  EXPECT_EQ(c->mqtt.max_buffered_bytes, 16u << 20);
  EXPECT_EQ(c->mqtt.liveliness_interval_seconds, 10);
  EXPECT_EQ(c->mqtt.metrics_interval_seconds, 10);
  EXPECT_EQ(c->ProfileFor(false).name, "standard");
  EXPECT_EQ(c->ProfileFor(true).name, "daemon");
}

TEST_F(ConfigTest, EmptyAndCommentOnlyFilesGiveDefaults) {
  for (const char* text : {"", "# nothing here\n", "---\n"}) {
    auto c = Parse(text);
    ASSERT_TRUE(c.ok()) << text << ": " << c.status().message();
    EXPECT_TRUE(c->tasks.empty());
  }
}

// The example in docs/configuration.md is this fixture, verbatim; it loads
// as written and means what the comments say.
TEST_F(ConfigTest, DocumentedExampleLoads) {
  std::string path = Fixtures() + "/config/example.yaml";
  std::string text = testutil::ReadFileOrEmpty(path);
  ASSERT_FALSE(text.empty());
  std::string doc = testutil::ReadFileOrEmpty(testutil::SourceDir() +
                                              "/docs/configuration.md");
  EXPECT_NE(doc.find("```yaml\n" + text + "```"), std::string::npos)
      << "docs/configuration.md must contain "
         "tests/fixtures/config/example.yaml "
         "verbatim";

  auto c = LoadConfig(path, FakeLookup);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->proplet_id, "worker-01");
  EXPECT_EQ(c->listen_address, ":9652");
  EXPECT_EQ(c->discovery_interval_seconds, 5);
  EXPECT_FALSE(c->enable_write_api);
  EXPECT_EQ(c->max_tasks, 4096u);
  ASSERT_TRUE(c->default_profile);
  EXPECT_EQ(c->default_profile->name, "standard");
  ASSERT_EQ(c->tasks.size(), 4u);

  const TaskRule& shard = c->tasks[0];
  EXPECT_EQ(shard.id.text(), "shard-{{.Matches.shard}}");
  ASSERT_EQ(shard.cmdline.size(), 1u);
  EXPECT_EQ(shard.cmdline[0].pattern(), R"(worker --shard=(?P<shard>\d+))");
  EXPECT_EQ(shard.profile.name, "intensive");
  EXPECT_TRUE(shard.include_children);
  EXPECT_THAT(shard.where, StartsWith(path + ":18:5"));

  const TaskRule& nginx = c->tasks[1];
  EXPECT_TRUE(nginx.daemon);
  // defaults.profile applies to tasks that name none, daemons included.
  EXPECT_EQ(nginx.profile.name, "standard");
  std::string dir = path.substr(0, path.rfind('/'));
  if (dir.front() != '/') dir = std::string(getenv("PWD")) + "/" + dir;
  EXPECT_EQ(nginx.pidfile, dir + "/run/nginx.pid");

  const TaskRule& redis = c->tasks[2];
  EXPECT_EQ(redis.comm, std::vector<std::string>{"redis-server"});
  EXPECT_FALSE(redis.include_children);
  EXPECT_EQ(redis.profile.name, "custom");
  EXPECT_EQ(redis.profile.interval_seconds, 15);
  EXPECT_FALSE(redis.profile.collect_network_io);
  EXPECT_TRUE(redis.profile.collect_disk_io);  // Missing: standard's value.
  EXPECT_EQ(redis.profile.history_size, 200);

  const TaskRule& pod = c->tasks[3];
  ASSERT_EQ(pod.cgroup.size(), 1u);
  EXPECT_EQ(pod.exe,
            (std::vector<std::string>{"python3", "/usr/local/bin/app"}));

  EXPECT_EQ(
      c->collectors.enabled,
      (std::vector<std::string>{"cpu", "meminfo", "loadavg", "filesystem"}));
  EXPECT_EQ(c->collectors.disabled, std::vector<std::string>{"hwmon"});
  EXPECT_TRUE(c->mqtt.enabled());
  EXPECT_EQ(c->mqtt.url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c->mqtt.domain_id, "domain-123");
  EXPECT_EQ(c->mqtt.channel_id, "channel-456");
  EXPECT_EQ(c->mqtt.password, "secret");
  EXPECT_EQ(c->mqtt.keepalive_seconds, 30);
}

TEST_F(ConfigTest, DaemonTasksGetDaemonProfileWithoutDefaults) {
  auto c = Parse("tasks:\n  - comm: a\n    daemon: true\n  - comm: b\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tasks[0].profile.name, "daemon");
  EXPECT_EQ(c->tasks[1].profile.name, "standard");
  EXPECT_EQ(c->tasks[1].id.text(), "{{.Comm}}-{{.PID}}");
  EXPECT_EQ(c->tasks[1].name.text(), "{{.Comm}}");
}

TEST_F(ConfigTest, AbsolutePidfileKeptAndProfilePresetByName) {
  auto c = Parse(
      "defaults:\n  profile: {interval: 7}\ntasks:\n"
      "  - pidfile: /run/x.pid\n    id: x\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tasks[0].pidfile, "/run/x.pid");
  EXPECT_EQ(c->tasks[0].profile.interval_seconds, 7);
  auto rel = Parse("tasks:\n  - pidfile: x.pid\n");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->tasks[0].pidfile, "/etc/propmon/x.pid");
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* want;  // The whole message starts with this.
};

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileLineColumnAndKey) {
  auto c = ParseConfig(GetParam().yaml, "test.yaml", "/etc/propmon");
  ASSERT_FALSE(c.ok()) << GetParam().name;
  EXPECT_THAT(c.status().message(), StartsWith(GetParam().want))
      << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{"BadYaml", "tasks: [\n  - a\n",
                  "test.yaml:2:3: invalid YAML: illegal block entry"},
        ErrorCase{"BadYamlMapValue", "web:\n  listen_address: a: b\n",
                  "test.yaml:2:20: invalid YAML"},
        ErrorCase{"TopLevelNotMap", "- a\n- b\n",
                  "test.yaml:1:1: (top level): must be a mapping"},
        ErrorCase{"UnknownTopKey", "proplet_id: a\nfoo: 1\n",
                  "test.yaml:2:1: foo: unknown key (known: proplet_id,"},
        ErrorCase{"UnknownNestedKey", "mqtt:\n  url: tcp://a:1\n  qoss: 1\n",
                  "test.yaml:3:3: mqtt.qoss: unknown key"},
        ErrorCase{"UnknownTaskKey", "tasks:\n  - comm: x\n    colour: red\n",
                  "test.yaml:3:5: tasks[0].colour: unknown key"},
        ErrorCase{"UnknownDefaultsKey", "defaults:\n  profil: standard\n",
                  "test.yaml:2:3: defaults.profil: unknown key"},
        ErrorCase{"DuplicateKey", "privacy: true\nprivacy: false\n",
                  "test.yaml:2:1: privacy: duplicate key"},
        ErrorCase{"WrongTypeBool", "privacy: maybe\n",
                  "test.yaml:1:10: privacy: must be true or false"},
        ErrorCase{"QuotedBoolIsAString", "privacy: \"true\"\n",
                  "test.yaml:1:10: privacy: must be true or false"},
        ErrorCase{
            "WrongTypeInt", "mqtt:\n  qos: high\n",
            "test.yaml:2:8: mqtt.qos: must be an integer between 0 and 2"},
        ErrorCase{
            "IntOutOfRange", "mqtt:\n  qos: 3\n",
            "test.yaml:2:8: mqtt.qos: must be an integer between 0 and 2"},
        ErrorCase{"WrongTypeString", "proplet_id: [a]\n",
                  "test.yaml:1:13: proplet_id: must be a string"},
        ErrorCase{"EmptyValue", "proplet_id:\n",
                  "test.yaml:1:1: proplet_id: must be a string"},
        ErrorCase{"SectionNotMap", "web: 5\n",
                  "test.yaml:1:6: web: must be a mapping"},
        ErrorCase{"TasksNotList", "tasks: 5\n",
                  "test.yaml:1:8: tasks: must be a list of tasks"},
        ErrorCase{"TaskNotMap", "tasks:\n  - x\n",
                  "test.yaml:2:5: tasks[0]: must be a mapping"},
        ErrorCase{"NoSelector", "tasks:\n  - id: a\n    daemon: true\n",
                  "test.yaml:2:5: tasks[0]: needs at least one selector"},
        ErrorCase{"PidAndPidfile",
                  "tasks:\n  - pid: 1\n    pidfile: /run/a.pid\n",
                  "test.yaml:3:14: tasks[0].pidfile: pid and pidfile are "
                  "exclusive"},
        ErrorCase{"BadPid", "tasks:\n  - pid: -4\n",
                  "test.yaml:2:10: tasks[0].pid: must be an integer between 1"},
        ErrorCase{"BadProfileField",
                  "tasks:\n  - comm: x\n  - comm: y\n    profile:\n"
                  "      collect_cpu: true\n      interval: 500\n",
                  "test.yaml:6:17: tasks[1].profile.interval: must be an "
                  "integer between 1 and 120"},
        ErrorCase{"BadProfileFieldType",
                  "tasks:\n  - comm: x\n    profile:\n      enabled: yes\n",
                  "test.yaml:4:16: tasks[0].profile.enabled: must be true or "
                  "false"},
        ErrorCase{"UnknownProfileField",
                  "defaults:\n  profile:\n    interval: 5\n    colour: red\n",
                  "test.yaml:4:13: defaults.profile.colour: unknown field"},
        ErrorCase{"NegativeHistory",
                  "defaults:\n  profile:\n    history_size: -1\n",
                  "test.yaml:3:19: defaults.profile.history_size: must be "
                  "between 0 and"},
        ErrorCase{"UnknownPreset", "defaults:\n  profile: turbo\n",
                  "test.yaml:2:12: defaults.profile: unknown monitoring "
                  "profile \"turbo\""},
        ErrorCase{"ProfileList", "defaults:\n  profile: [a]\n",
                  "test.yaml:2:12: defaults.profile: must be a preset name or "
                  "a profile mapping"},
        ErrorCase{"BadRegex", "tasks:\n  - cmdline: 'a(b'\n",
                  "test.yaml:2:14: tasks[0].cmdline: invalid regex \"a(b\": "
                  "missing ): a(b"},
        ErrorCase{"BadRegexInList", "tasks:\n  - cgroup: [ok, '[z-a]']\n",
                  "test.yaml:2:18: tasks[0].cgroup[1]: invalid regex "
                  "\"[z-a]\": invalid character class range"},
        ErrorCase{"DuplicateGroupName",
                  "tasks:\n  - cmdline: '(?P<a>x)(?P<a>y)'\n",
                  "test.yaml:2:14: tasks[0].cmdline: invalid regex "
                  "\"(?P<a>x)(?P<a>y)\": duplicate capture group name \"a\""},
        ErrorCase{"BackReference",
                  "tasks:\n  - cmdline: '(?P<w>\\w+)-(?P=w)'\n",
                  "test.yaml:2:14: tasks[0].cmdline: invalid regex "
                  "\"(?P<w>\\w+)-(?P=w)\": invalid perl operator: (?P "
                  "(RE2 syntax, as in Go's regexp: back-references and "
                  "look-around are not supported)"},
        ErrorCase{"TemplateUnknownGroup",
                  "tasks:\n  - cmdline: '(?P<app>\\w+)'\n    id: "
                  "'{{.Matches.ap}}'\n",
                  "test.yaml:3:9: tasks[0].id: {{.Matches.ap}}: no named "
                  "group \"ap\""},
        ErrorCase{"TemplateUnknownField",
                  "tasks:\n  - comm: x\n    name: '{{.Cmd}}'\n",
                  "test.yaml:3:11: tasks[0].name: unknown template field "
                  "\"{{.Cmd}}\""},
        ErrorCase{"EmptyComm", "tasks:\n  - comm: ['']\n",
                  "test.yaml:2:12: tasks[0].comm[0]: must not be empty"},
        ErrorCase{"BadListenAddress", "web:\n  listen_address: 'nonsense'\n",
                  "test.yaml:2:19: web.listen_address: "},
        ErrorCase{"DiscoveryIntervalTooSmall", "discovery_interval: 0.5\n",
                  "test.yaml:1:21: discovery_interval: must be a number "
                  "between 1 and 3600"},
        ErrorCase{"CollectorBothWays",
                  "collectors:\n  enabled: [cpu]\n  disabled: [cpu]\n",
                  "test.yaml:2:3: collectors: collector \"cpu\" is both "
                  "enabled and disabled"},
        ErrorCase{"CollectorsNotList", "collectors:\n  enabled: {a: 1}\n",
                  "test.yaml:2:12: collectors.enabled: must be a string or a "
                  "list of strings"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return std::string(info.param.name);
    });

TEST_F(ConfigTest, LoadConfigNamesUnreadableFile) {
  auto c = LoadConfig("/nonexistent/propmon.yaml", FakeLookup);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              StartsWith("/nonexistent/propmon.yaml: cannot read"));
}

TEST_F(ConfigTest, LoadConfigErrorsNameTheRealFile) {
  testutil::TempDir dir;
  std::string path = dir.Write("c.yaml", "mqtt:\n  insecure: 1\n");
  auto c = LoadConfig(path, FakeLookup);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              StartsWith(path + ":2:13: mqtt.insecure: must be true or false"));
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  auto c = Parse(
      "proplet_id: file-id\nenable_monitoring: true\nmqtt:\n"
      "  url: tcp://file:1883\n  domain_id: file-dom\n  channel_id: file-ch\n"
      "  client_id: file-client\n  password: file-pw\n  qos: 0\n"
      "  liveliness_interval_seconds: 30\n  metrics_interval_seconds: 20\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  FakeEnv() = {{"PROPLET_TENANT_ID", "tenant-1"},
               {"PROPLET_CHANNEL_ID", "env-ch"},
               {"PROPLET_ENTITY_ID", "entity-1"},
               {"PROPLET_API_KEY", "api-key"},
               {"PROPLET_MQTT_ADDRESS", "ssl://broker.example:8883"},
               {"PROPLET_LIVELINESS_INTERVAL", "15s"},
               {"PROPLET_METRICS_INTERVAL", "5"},
               {"PROPLET_ENABLE_MONITORING", "false"},
               {"PROPLET_MQTT_QOS", "2"}};
  ASSERT_TRUE(ApplyPropletEnv(&*c, FakeLookup).ok());
  EXPECT_EQ(c->mqtt.domain_id, "tenant-1");
  EXPECT_EQ(c->mqtt.channel_id, "env-ch");
  EXPECT_EQ(c->mqtt.client_id, "entity-1");
  EXPECT_EQ(c->mqtt.username, "entity-1");
  EXPECT_EQ(c->proplet_id, "entity-1");
  EXPECT_EQ(c->mqtt.password, "api-key");
  EXPECT_EQ(c->mqtt.url, "ssl://broker.example:8883");
  EXPECT_EQ(c->mqtt.liveliness_interval_seconds, 15);
  EXPECT_EQ(c->mqtt.metrics_interval_seconds, 5);
  EXPECT_EQ(c->mqtt.qos, 2);
  EXPECT_FALSE(c->enable_monitoring);
  MonitoringGlobals g = c->Globals();
  EXPECT_FALSE(g.enable_monitoring);
  EXPECT_EQ(g.metrics_interval_seconds, 5);
  EXPECT_EQ(c->origins["mqtt.url"], "PROPLET_MQTT_ADDRESS");
  EXPECT_EQ(c->origins["mqtt.keepalive_seconds"], "");  // Never set.
}

TEST_F(ConfigTest, PreferredVariableWinsOverItsAlias) {
  Config c;
  FakeEnv() = {{"PROPLET_DOMAIN_ID", "dom"},    {"PROPLET_TENANT_ID", "tenant"},
               {"PROPLET_CLIENT_ID", "client"}, {"PROPLET_ENTITY_ID", "entity"},
               {"PROPLET_CLIENT_KEY", "key"},   {"PROPLET_API_KEY", "api"},
               {"PROPLET_METRICS_INTERVAL", ""}};  // Empty = unset.
  ASSERT_TRUE(ApplyPropletEnv(&c, FakeLookup).ok());
  EXPECT_EQ(c.mqtt.domain_id, "dom");
  EXPECT_EQ(c.mqtt.client_id, "client");
  EXPECT_EQ(c.mqtt.password, "key");
  EXPECT_EQ(c.mqtt.metrics_interval_seconds, 10);
}

TEST_F(ConfigTest, FileFillsWhatTheEnvironmentLeavesOut) {
  auto c = Parse("mqtt:\n  url: tcp://file:1883\n  domain_id: d\n");
  ASSERT_TRUE(c.ok());
  FakeEnv() = {{"PROPLET_CHANNEL_ID", "env-ch"}};
  ASSERT_TRUE(ApplyPropletEnv(&*c, FakeLookup).ok());
  EXPECT_EQ(c->mqtt.url, "tcp://file:1883");
  EXPECT_EQ(c->mqtt.domain_id, "d");
  EXPECT_EQ(c->mqtt.channel_id, "env-ch");
  EXPECT_TRUE(FinalizeConfig(*c).ok());
}

TEST_F(ConfigTest, BadEnvironmentValuesNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  } cases[] = {{"PROPLET_MQTT_QOS", "3"},
               {"PROPLET_MQTT_QOS", "one"},
               {"PROPLET_LIVELINESS_INTERVAL", "0"},
               {"PROPLET_LIVELINESS_INTERVAL", "10m"},
               {"PROPLET_METRICS_INTERVAL", "fast"},
               {"PROPLET_ENABLE_MONITORING", "perhaps"}};
  for (const auto& k : cases) {
    Config c;
    FakeEnv() = {{k.var, k.value}};
    Status s = ApplyPropletEnv(&c, FakeLookup);
    ASSERT_FALSE(s.ok()) << k.var << "=" << k.value;
    EXPECT_THAT(s.message(), StartsWith(std::string(k.var) + ": "))
        << k.var << "=" << k.value;
  }
}

TEST_F(ConfigTest, FinalizeChecksMqttCrossFields) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"mqtt:\n  url: http://a:1\n  domain_id: d\n  channel_id: c\n",
       "test.yaml:2:8: mqtt.url: must start with tcp:// or ssl://"},
      {"mqtt:\n  url: tcp://a:99999\n  domain_id: d\n  channel_id: c\n",
       "test.yaml:2:8: mqtt.url: bad port"},
      {"mqtt:\n  url: tcp://:1883\n  domain_id: d\n  channel_id: c\n",
       "test.yaml:2:8: mqtt.url: want SCHEME://HOST:PORT"},
      {"mqtt:\n  url: tcp://a:1883\n  channel_id: c\n",
       "test.yaml:2:8: mqtt.domain_id: required with mqtt.url"},
      {"mqtt:\n  url: tcp://a:1883\n  domain_id: d\n",
       "test.yaml:2:8: mqtt.channel_id: required with mqtt.url"},
      {"mqtt:\n  url: tcp://a:1883\n  domain_id: d\n  channel_id: c\n"
       "  ca_file: /etc/ssl/certs/ca-certificates.crt\n",
       "test.yaml:5:12: mqtt.ca_file: TLS settings need an ssl:// url"},
      {"mqtt:\n  url: ssl://a:8883\n  domain_id: d\n  channel_id: c\n"
       "  cert_file: /etc/hostname\n",
       "test.yaml:5:14: mqtt.cert_file: cert_file and key_file go together"},
      {"mqtt:\n  url: ssl://a:8883\n  domain_id: d\n  channel_id: c\n"
       "  ca_file: /nonexistent/ca.pem\n",
       "test.yaml:5:12: mqtt.ca_file: cannot read /nonexistent/ca.pem"},
      {"mqtt:\n  insecure: true\n",
       "test.yaml:2:13: mqtt.insecure: set without mqtt.url"},
  };
  for (const auto& k : cases) {
    auto c = Parse(k.yaml);
    ASSERT_TRUE(c.ok()) << k.yaml << c.status().message();
    Status s = FinalizeConfig(*c);
    ASSERT_FALSE(s.ok()) << k.yaml;
    EXPECT_THAT(s.message(), StartsWith(k.want)) << k.yaml;
  }
  auto ok = Parse(
      "mqtt:\n  url: ssl://[::1]:8883\n  domain_id: d\n  channel_id: c\n"
      "  ca_file: /etc/hostname\n  insecure: true\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(FinalizeConfig(*ok).ok()) << FinalizeConfig(*ok).message();
}

TEST_F(ConfigTest, EnvironmentSetUrlErrorsNameTheVariable) {
  FakeEnv() = {{"PROPLET_MQTT_ADDRESS", "localhost:1883"},
               {"PROPLET_DOMAIN_ID", "d"},
               {"PROPLET_CHANNEL_ID", "c"}};
  auto c = LoadConfig("", FakeLookup);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              StartsWith("PROPLET_MQTT_ADDRESS: mqtt.url: must start with"));
}

}  // namespace
}  // namespace propmon::exporter
