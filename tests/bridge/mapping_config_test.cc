// The configuration of mappings: the native `mappings:` section and
// mqtt2prometheus config files (bridge/config.cc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/config.h"
#include "bridge/device_mapping.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using StringPairs = std::vector<std::pair<std::string, std::string>>;

std::optional<std::string> NoEnv(const std::string&) { return std::nullopt; }

StatusOr<BridgeConfig> Parse(const std::string& yaml,
                             const std::string& file = "bridge.yaml") {
  return ParseConfig(yaml, file, BridgeConfig(), NoEnv);
}

std::string FixturePath(const std::string& name) {
  const char* dir = std::getenv("PROPMON_FIXTURES");
  std::string base = dir ? dir : testutil::SourceDir() + "/tests/fixtures";
  return base + "/bridge/mqtt2prometheus/" + name;
}

StatusOr<BridgeConfig> ParseFixture(const std::string& name) {
  std::string text = testutil::ReadFileOrEmpty(FixturePath(name));
  EXPECT_FALSE(text.empty()) << "missing fixture " << name;
  return ParseConfig(text, name, BridgeConfig(), NoEnv);
}

// The keys of a path of plain keys ("a.b" -> {"a", "b"}).
std::vector<std::string> Keys(const ValuePath& path) {
  std::vector<std::string> out;
  for (const PathStep& s : path.steps) {
    out.push_back(s.kind == PathStep::Kind::kKey ? s.key : "?");
  }
  return out;
}

// The named groups `re` finds in `text` ("" when it does not match).
std::map<std::string, std::string> Groups(const Regex& re,
                                          const std::string& text) {
  std::vector<std::pair<std::string, std::string>> g;
  if (!re.Search(text, &g)) return {};
  return {g.begin(), g.end()};
}

struct ErrorCase {
  const char* yaml;
  const char* want;
};

void ExpectErrors(const std::vector<ErrorCase>& cases,
                  const std::string& file) {
  for (const auto& c : cases) {
    auto r = Parse(c.yaml, file);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_THAT(r.status().message(), HasSubstr(c.want)) << c.yaml;
  }
}

// ---- Native `mappings:` ----

constexpr char kFullMapping[] = R"(mappings:
  - name: dht22
    topics: ["sensors/+/dht22", "legacy/+/dht22"]
    topic_regex: '^(sensors|legacy)/(?P<room>[^/]+)/'
    topic_labels: {place: room}
    require_topic_match: false
    topic_label: topic
    payload: json
    expiry: 5m
    receive_timestamps: true
    metrics:
      - name: room_temperature_celsius
        help: Room temperature
        type: gauge
        value: readings[*].temp
        fanout_labels: [sensor]
        labels: {unit: meta.unit, model: 'readings[*]["model.name"]'}
        const_labels: {sensor_type: dht22, site: home}
        scale: 0.1
        offset: -2.5
        value_map: {on: 1, off: 0, "n/a": -1}
        error_value: -1
        expiry: 1m
        timestamp: ts
        when: {room: "^kitchen$"}
      - name: relay_switches_total
        type: counter
        value: relay.count
        force_monotonic: true
  - name: plain
    topic: plain/value
    payload: value
    metrics:
      - name: plain_value
)";

TEST(MappingConfigTest, ParsesEveryKeyOfAMapping) {
  auto c = Parse(kFullMapping);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->mqtt2prometheus);
  EXPECT_TRUE(c->propeller_enabled);
  EXPECT_THAT(c->notices, IsEmpty());
  ASSERT_THAT(c->mappings, SizeIs(2));
  const MappingSpec& m = c->mappings[0];
  EXPECT_EQ(m.name, "dht22");
  EXPECT_EQ(m.origin, "bridge.yaml:2");
  EXPECT_THAT(m.topics, ElementsAre("sensors/+/dht22", "legacy/+/dht22"));
  EXPECT_EQ(m.topic_regex.pattern(), "^(sensors|legacy)/(?P<room>[^/]+)/");
  EXPECT_EQ(Groups(m.topic_regex, "legacy/kitchen/dht22")["room"], "kitchen");
  EXPECT_THAT(m.topic_labels, ElementsAre(Pair("place", "room")));
  EXPECT_FALSE(m.topic_labels_default);
  EXPECT_FALSE(m.require_topic_match);
  EXPECT_EQ(m.topic_label, "topic");
  EXPECT_EQ(m.payload, PayloadKind::kJson);
  EXPECT_EQ(m.expiry_seconds, 300);
  EXPECT_TRUE(m.receive_timestamps);
  EXPECT_EQ(m.state_directory, "");
  ASSERT_THAT(m.metrics, SizeIs(2));

  const MetricSpec& t = m.metrics[0];
  EXPECT_EQ(t.name, "room_temperature_celsius");
  EXPECT_EQ(t.help, "Room temperature");
  EXPECT_EQ(t.type, MetricType::kGauge);
  EXPECT_EQ(t.value.text, "readings[*].temp");
  EXPECT_EQ(t.value.wildcards(), 1u);
  EXPECT_THAT(t.fanout_labels, ElementsAre("sensor"));
  ASSERT_THAT(t.json_labels, SizeIs(2));  // in file order
  EXPECT_EQ(t.json_labels[0].first, "unit");
  EXPECT_THAT(Keys(t.json_labels[0].second), ElementsAre("meta", "unit"));
  EXPECT_EQ(t.json_labels[1].first, "model");
  ASSERT_THAT(t.json_labels[1].second.steps, SizeIs(3));
  EXPECT_EQ(t.json_labels[1].second.steps[1].kind, PathStep::Kind::kWildcard);
  EXPECT_EQ(t.json_labels[1].second.steps[2].key, "model.name");
  EXPECT_EQ(t.const_labels,
            (StringPairs{{"sensor_type", "dht22"}, {"site", "home"}}));
  EXPECT_DOUBLE_EQ(t.scale, 0.1);
  EXPECT_DOUBLE_EQ(t.offset, -2.5);
  // YAML 1.1 booleans as keys stay as written.
  EXPECT_EQ(t.value_map, (std::map<std::string, double>{
                             {"on", 1}, {"off", 0}, {"n/a", -1}}));
  EXPECT_EQ(t.error_value, -1);
  EXPECT_EQ(t.expiry_seconds, 60);
  EXPECT_THAT(Keys(t.timestamp), ElementsAre("ts"));
  EXPECT_FALSE(t.force_monotonic);
  ASSERT_THAT(t.when, SizeIs(1));
  EXPECT_EQ(t.when[0].first, "room");
  EXPECT_EQ(t.when[0].second.pattern(), "^kitchen$");
  EXPECT_EQ(t.first_match_key, "");

  const MetricSpec& r = m.metrics[1];
  EXPECT_EQ(r.type, MetricType::kCounter);
  EXPECT_TRUE(r.force_monotonic);
  EXPECT_EQ(r.help, "relay_switches_total from MQTT mapping dht22");
  EXPECT_FALSE(r.error_value);
  EXPECT_FALSE(r.expiry_seconds);

  const MappingSpec& plain = c->mappings[1];
  EXPECT_EQ(plain.origin, "bridge.yaml:30");
  EXPECT_THAT(plain.topics, ElementsAre("plain/value"));
  EXPECT_EQ(plain.payload, PayloadKind::kValue);
  EXPECT_TRUE(plain.topic_regex.empty());
  EXPECT_TRUE(plain.topic_labels_default);
  EXPECT_TRUE(plain.require_topic_match);
  EXPECT_EQ(plain.topic_label, "");
  EXPECT_EQ(plain.expiry_seconds, 0);
  EXPECT_FALSE(plain.receive_timestamps);
  ASSERT_THAT(plain.metrics, SizeIs(1));
  EXPECT_TRUE(plain.metrics[0].value.empty());
  EXPECT_EQ(plain.metrics[0].type, MetricType::kGauge);
  EXPECT_DOUBLE_EQ(plain.metrics[0].scale, 1);
  EXPECT_EQ(plain.metrics[0].help, "plain_value from MQTT mapping plain");
}

TEST(MappingConfigTest, TopicLabelsDefaultToEveryNamedGroup) {
  auto c = Parse(
      "mappings:\n"
      "  - name: m\n"
      "    topic: a/+/+\n"
      "    topic_regex: '^a/(?P<x>[^/]+)/(?P<y>[^/]+)$'\n"
      "    metrics: [{name: v}]\n"
      "  - name: n\n"
      "    topic: b/+\n"
      "    topic_regex: '^b/(?P<x>[^/]+)$'\n"
      "    topic_labels: {}\n"
      "    metrics: [{name: w, value: \"\"}]\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->mappings[0].topic_labels_default);
  EXPECT_THAT(c->mappings[0].topic_labels, IsEmpty());
  // Given (even empty): only those.
  EXPECT_FALSE(c->mappings[1].topic_labels_default);
  EXPECT_THAT(c->mappings[1].topic_labels, IsEmpty());
  EXPECT_TRUE(c->mappings[1].metrics[0].value.empty());
}

TEST(MappingConfigTest, EmptyMappingsListMeansNone) {
  auto c = Parse("mappings: []\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->mappings, IsEmpty());
  c = Parse("mappings:\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->mappings, IsEmpty());
}

TEST(MappingConfigTest, ErrorsNameFileLineColumnAndKey) {
  // Lines 1-5 of most cases; the metric's keys follow on line 6.
#define PM_HEAD "mappings:\n  - name: m\n    topic: a/b\n"
#define PM_METRIC "    metrics:\n      - name: x\n"
  ExpectErrors(
      {
          {PM_HEAD PM_METRIC "        value: \"a[1\"\n",
           "bridge.yaml:6:16: mappings[0].metrics[0].value: invalid path "
           "\"a[1\": unterminated ["},
          {PM_HEAD "    topic_regex: \"(unclosed\"\n" PM_METRIC,
           "bridge.yaml:4:18: mappings[0].topic_regex: invalid regex "
           "\"(unclosed\""},
          {PM_HEAD PM_METRIC "        valu: x\n",
           "bridge.yaml:6:9: unknown key mappings[0].metrics[0].valu (known: "
           "const_labels, error_value, expiry, fanout_labels, force_monotonic, "
           "help, labels, name, offset, scale, timestamp, type, value, "
           "value_map, when)"},
          {PM_HEAD "    topik: a\n" PM_METRIC,
           "bridge.yaml:4:5: unknown key mappings[0].topik (known: expiry, "
           "metrics, name, payload, receive_timestamps, require_topic_match, "
           "state_directory, "
           "topic, topic_label, topic_labels, topic_regex, topics)"},
          {"mappings:\n  - topic: a/b\n" PM_METRIC,
           "bridge.yaml:2:5: mappings[0]: missing key name"},
          {"mappings:\n  - name: m\n" PM_METRIC,
           "bridge.yaml:2:5: mappings[0]: missing key topics"},
          {PM_HEAD, "bridge.yaml:2:5: mappings[0]: missing key metrics"},
          {PM_HEAD "    metrics: []\n",
           "bridge.yaml:4:14: mappings[0].metrics: want a non-empty list"},
          {PM_HEAD "    metrics: {a: 1}\n",
           "bridge.yaml:4:14: mappings[0].metrics: want a non-empty list"},
          {PM_HEAD "    metrics:\n      - help: h\n",
           "bridge.yaml:5:9: mappings[0].metrics[0]: missing key name"},
          {PM_HEAD "    metrics:\n      - name: 9bad\n",
           "bridge.yaml:5:15: mappings[0].metrics[0].name: \"9bad\" is not a "
           "valid metric name"},
          {PM_HEAD PM_METRIC "        type: histogram\n",
           "bridge.yaml:6:15: mappings[0].metrics[0].type: want gauge or "
           "counter"},
          {PM_HEAD PM_METRIC "        force_monotonic: true\n",
           "bridge.yaml:6:26: mappings[0].metrics[0].force_monotonic: only "
           "for type counter"},
          {PM_HEAD PM_METRIC "        expiry: soon\n",
           "bridge.yaml:6:17: mappings[0].metrics[0].expiry: invalid "
           "duration"},
          {PM_HEAD "    expiry: -5s\n" PM_METRIC,
           "bridge.yaml:4:13: mappings[0].expiry: invalid duration"},
          {PM_HEAD PM_METRIC "        const_labels: {bad-label: x}\n",
           "bridge.yaml:6:24: mappings[0].metrics[0].const_labels.bad-label: "
           "\"bad-label\" is not a valid label name"},
          {PM_HEAD PM_METRIC "        labels: {__x: a.b}\n",
           "bridge.yaml:6:18: mappings[0].metrics[0].labels.__x: \"__x\" is "
           "not a valid label name"},
          {PM_HEAD PM_METRIC "        fanout_labels: [ok, 1bad]\n",
           "bridge.yaml:6:29: mappings[0].metrics[0].fanout_labels[1]: "
           "\"1bad\" is not a valid label name"},
          {PM_HEAD "    topic_label: top-ic\n" PM_METRIC,
           "bridge.yaml:4:18: mappings[0].topic_label: \"top-ic\" is not a "
           "valid label name"},
          {PM_HEAD PM_METRIC
           "        value: \"a[*].b[*].c\"\n        fanout_labels: [x]\n",
           "bridge.yaml:7:24: mappings[0].metrics[0].fanout_labels: names 1 "
           "labels, the value path \"a[*].b[*].c\" has 2 wildcards"},
          // Found by ValidateMappingSpec, placed at the metric.
          {PM_HEAD PM_METRIC "        value: \"a[*].b[*].c\"\n",
           "bridge.yaml:5:9: mappings[0].metrics[0]: mapping m: metric x: "
           "the value path has 2 wildcards: name them in fanout_labels"},
          {PM_HEAD PM_METRIC "        when: {room: \"^k\"}\n",
           "bridge.yaml:5:9: mappings[0].metrics[0]: mapping m: metric x: "
           "when: topic_regex has no group \"room\""},
          {PM_HEAD "    topic_label: x\n" PM_METRIC
                   "        const_labels: {x: y}\n",
           "bridge.yaml:6:9: mappings[0].metrics[0]: mapping m: metric x: "
           "const label \"x\" is used twice"},
          {PM_HEAD PM_METRIC "        value_map: {on: yes}\n",
           "bridge.yaml:6:25: mappings[0].metrics[0].value_map.on: want a "
           "number"},
          {PM_HEAD PM_METRIC "        scale: ten\n",
           "bridge.yaml:6:16: mappings[0].metrics[0].scale: want a number"},
          {PM_HEAD PM_METRIC "        when: {room: \"(\"}\n",
           "bridge.yaml:6:22: mappings[0].metrics[0].when.room: invalid "
           "regex"},
          {PM_HEAD "    topic_regex: '^(?P<room>[^/]+)/'\n"
                   "    topic_labels: {floor: level}\n" PM_METRIC,
           "bridge.yaml:5:27: mappings[0].topic_labels.floor: topic_regex has "
           "no group \"level\""},
          {PM_HEAD "    payload: xml\n" PM_METRIC,
           "bridge.yaml:4:14: mappings[0].payload: want json or value"},
          {"mappings:\n  - name: m\n    topic: \"a/#/b\"\n" PM_METRIC,
           "bridge.yaml:3:12: mappings[0].topic: "},
          {"mappings:\n  - name: m\n    topics: []\n" PM_METRIC,
           "bridge.yaml:3:13: mappings[0].topics: want a non-empty list of "
           "topic filters"},
          {PM_HEAD "    topics: [c/d]\n" PM_METRIC,
           "bridge.yaml:3:12: mappings[0].topic: give topics or topic, not "
           "both"},
          {"mappings:\n  - name: \"bad name\"\n    topic: a/b\n" PM_METRIC,
           "bridge.yaml:2:11: mappings[0].name: \"bad name\" is not a valid "
           "mapping name"},
          {"mappings:\n  - name: propeller\n    topic: a/b\n" PM_METRIC,
           "bridge.yaml:2:11: mappings[0].name: \"propeller\" is the built-in "
           "Propeller mapping's name"},
          {"mappings: {a: 1}\n", "bridge.yaml:1:11: mappings: want a list"},
          {"mappings:\n  - just-a-string\n",
           "bridge.yaml:2:5: mappings[0]: want a mapping"},
          {"mappings:\n  - name: m\n    topic: a/b\n"
           "    metrics:\n      - name: x\n      - name: y\n"
           "        labels: {l: \"a..b\"}\n",
           "bridge.yaml:7:21: mappings[0].metrics[1].labels.l: invalid path"},
      },
      "bridge.yaml");
#undef PM_HEAD
#undef PM_METRIC
}

// The example of docs/bridge.md ("Mappings"), through the mapping engine.
TEST(MappingConfigTest, DocumentedExampleGivesTheDocumentedSeries) {
  auto c = Parse(
      "mappings:\n"
      "  - name: multi\n"
      "    topic: sensors/+/multi\n"
      "    topic_regex: '^sensors/(?P<room>[^/]+)/'\n"
      "    metrics:\n"
      "      - name: room_temperature_celsius\n"
      "        value: readings[*].temp\n"
      "        fanout_labels: [position]\n"
      "        labels: {probe: \"readings[*].id\"}\n"
      "        timestamp: ts\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  FakeClock clock;
  SeriesStore store(SeriesStore::Options{100}, &clock);
  auto m = DeviceMapping::Create(c->mappings[0], &store);
  ASSERT_TRUE(m.ok()) << m.status().message();
  (*m)->Apply("sensors/kitchen/multi",
              R"({"readings":[{"id":"a","temp":21.5},)"
              R"({"id":"b","temp":19}],"ts":1700000000})",
              1700000001);
  std::string out;
  store.Render(&out);
  EXPECT_THAT(out, HasSubstr("room_temperature_celsius{room=\"kitchen\","
                             "position=\"0\",probe=\"a\"} 21.5 "
                             "1700000000000\n"
                             "room_temperature_celsius{room=\"kitchen\","
                             "position=\"1\",probe=\"b\"} 19 "
                             "1700000000000\n"));
}

TEST(MappingConfigTest, DuplicateNamesAreAnErrorAtTheSecond) {
  auto r = Parse(
      "mappings:\n"
      "  - name: m\n"
      "    topic: a/b\n"
      "    metrics: [{name: x}]\n"
      "  - name: n\n"
      "    topic: a/c\n"
      "    metrics: [{name: y}]\n"
      "  - name: m\n"
      "    topic: a/d\n"
      "    metrics: [{name: z}]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("bridge.yaml:8:11: mappings[2].name: mapping name "
                        "\"m\" is already used by mappings[0]"));
}

TEST(MappingConfigTest, SubscriptionFiltersAreTheUnionInOrder) {
  const std::string yaml =
      "mappings:\n"
      "  - name: a\n"
      "    topics: [x/+, m/+/c/+/metrics/proplet]\n"
      "    metrics: [{name: v}]\n"
      "  - name: b\n"
      "    topics: [x/+, y/#]\n"
      "    metrics: [{name: w}]\n";
  auto c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->SubscriptionFilters(),
              ElementsAre("m/+/c/+/control/proplet/#",
                          "m/+/c/+/metrics/proplet", "x/+", "y/#"));

  c = Parse(yaml + "propeller:\n  enabled: false\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->SubscriptionFilters(),
              ElementsAre("x/+", "m/+/c/+/metrics/proplet", "y/#"));

  c = Parse(yaml + "mqtt:\n  shared_group: grp\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->SubscriptionFilters(),
              ElementsAre("$share/grp/m/+/c/+/control/proplet/#",
                          "$share/grp/m/+/c/+/metrics/proplet",
                          "$share/grp/x/+", "$share/grp/y/#"));

  // Without mappings: the Propeller topics, as before.
  BridgeConfig plain;
  EXPECT_THAT(
      plain.SubscriptionFilters(),
      ElementsAre("m/+/c/+/control/proplet/#", "m/+/c/+/metrics/proplet"));
}

TEST(MappingConfigTest, NothingToSubscribeToIsAnError) {
  auto r = Parse("propeller:\n  enabled: false\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("bridge.yaml: nothing to subscribe to"));
}

// ---- mqtt2prometheus config files ----

TEST(Mqtt2PromConfigTest, Dht22FileIsOneObjectPerTopicMapping) {
  auto c = ParseFixture("dht22.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->mqtt2prometheus);
  EXPECT_FALSE(c->propeller_enabled);
  EXPECT_THAT(c->notices, IsEmpty());
  EXPECT_EQ(c->mqtt.url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c->mqtt.qos, 0);
  EXPECT_EQ(c->listen_address, ":9641");
  EXPECT_THAT(c->SubscriptionFilters(), ElementsAre("devices/+/dht22"));
  ASSERT_THAT(c->mappings, SizeIs(1));
  const MappingSpec& m = c->mappings[0];
  EXPECT_EQ(m.name, "mqtt2prometheus");
  EXPECT_EQ(m.origin, "dht22.yaml:1");
  EXPECT_THAT(m.topics, ElementsAre("devices/+/dht22"));
  EXPECT_EQ(m.topic_regex.pattern(), "^devices/(?P<deviceid>[^/]+)/dht22$");
  EXPECT_EQ(Groups(m.topic_regex, "devices/livingroom/dht22")["deviceid"],
            "livingroom");
  EXPECT_THAT(m.topic_labels, ElementsAre(Pair("sensor", "deviceid")));
  EXPECT_FALSE(m.topic_labels_default);
  EXPECT_EQ(m.topic_label, "topic");
  EXPECT_FALSE(m.require_topic_match);
  EXPECT_EQ(m.payload, PayloadKind::kJson);
  EXPECT_EQ(m.expiry_seconds, 300);
  EXPECT_TRUE(m.receive_timestamps);
  EXPECT_EQ(m.state_directory, "");
  ASSERT_THAT(m.metrics, SizeIs(3));
  struct Want {
    const char* name;
    const char* help;
    std::vector<std::string> path;
    const char* key;
  } want[] = {
      {"temperature",
       "DHT22 temperature reading",
       {"temperature"},
       "temperature"},
      {"humidity", "DHT22 humidity reading", {"humidity"}, "humidity"},
      {"heat_index",
       "DHT22 heatIndex calculation",
       {"computed", "heat_index"},
       "computed.heat_index"},
  };
  for (std::size_t i = 0; i < 3; ++i) {
    const MetricSpec& s = m.metrics[i];
    EXPECT_EQ(s.name, want[i].name);
    EXPECT_EQ(s.help, want[i].help);
    EXPECT_EQ(s.type, MetricType::kGauge);
    EXPECT_EQ(Keys(s.value), want[i].path) << s.name;
    EXPECT_EQ(s.first_match_key, want[i].key);
    EXPECT_EQ(s.const_labels, (StringPairs{{"sensor_type", "dht22"}}));
    EXPECT_THAT(s.when, IsEmpty());
    EXPECT_THAT(s.json_labels, IsEmpty());
    EXPECT_DOUBLE_EQ(s.scale, 1);
    EXPECT_FALSE(s.force_monotonic);
    EXPECT_FALSE(s.error_value);
  }
}

TEST(Mqtt2PromConfigTest, PerTopicFileSelectsTheMetricByTopic) {
  auto c = ParseFixture("per_topic.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->notices, IsEmpty());
  const MappingSpec& m = c->mappings[0];
  EXPECT_THAT(m.topics, ElementsAre("shellies/+/sensor/+"));
  EXPECT_EQ(m.payload, PayloadKind::kValue);
  EXPECT_EQ(m.expiry_seconds, 86400);
  EXPECT_EQ(
      Groups(m.topic_regex, "shellies/shellyht-1/sensor/humidity")["deviceid"],
      "shellyht-1");
  ASSERT_THAT(m.metrics, SizeIs(3));
  for (const MetricSpec& s : m.metrics) {
    EXPECT_TRUE(s.value.empty()) << s.name;  // the payload itself
    ASSERT_THAT(s.when, Not(IsEmpty()));
    EXPECT_EQ(s.when[0].first, "@metricname");
    EXPECT_EQ(s.when[0].second.pattern(),
              "shellies/[^/]+/sensor/(?P<metricname>[^/]+)");
  }
  EXPECT_EQ(m.metrics[0].first_match_key, "temperature");
  EXPECT_EQ(Groups(m.metrics[0].when[0].second,
                   "shellies/s1/sensor/temperature")["metricname"],
            "temperature");
  EXPECT_EQ(m.metrics[1].first_match_key, "humidity");
  // sensor_name_filter: a condition on the deviceid group.
  const MetricSpec& battery = m.metrics[2];
  EXPECT_EQ(battery.name, "shelly_battery_percent");
  ASSERT_THAT(battery.when, SizeIs(2));
  EXPECT_EQ(battery.when[1].first, "deviceid");
  EXPECT_EQ(battery.when[1].second.pattern(), "^shellyht-");
}

TEST(Mqtt2PromConfigTest, StringValueMappingFile) {
  auto c = ParseFixture("string_mapping.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->notices, IsEmpty());
  const MappingSpec& m = c->mappings[0];
  EXPECT_EQ(m.payload, PayloadKind::kJson);
  EXPECT_EQ(m.expiry_seconds, 0);  // timeout: -1 never expires
  ASSERT_THAT(m.metrics, SizeIs(3));
  const MetricSpec& power = m.metrics[0];
  EXPECT_EQ(power.value_map,
            (std::map<std::string, double>{{"on", 1}, {"off", 0}}));
  EXPECT_EQ(power.error_value, -1);
  const MetricSpec& energy = m.metrics[1];
  EXPECT_EQ(energy.type, MetricType::kCounter);
  EXPECT_TRUE(energy.force_monotonic);
  const MetricSpec& status = m.metrics[2];
  EXPECT_EQ(status.value_map,
            (std::map<std::string, double>{{"ok", 1}, {"error", 0}}));
  EXPECT_FALSE(status.error_value);
}

// The specs built from the fixtures, through the mapping engine: the series
// mqtt2prometheus would give.
class Mqtt2PromEngineTest : public ::testing::Test {
 protected:
  Mqtt2PromEngineTest() : store_(SeriesStore::Options{1000}, &clock_) {}
  void Load(const std::string& fixture) {
    auto c = ParseFixture(fixture);
    ASSERT_TRUE(c.ok()) << c.status().message();
    auto m = DeviceMapping::Create(c->mappings[0], &store_);
    ASSERT_TRUE(m.ok()) << m.status().message();
    mapping_ = std::move(m).value();
  }
  void Apply(const std::string& topic, const std::string& payload) {
    mapping_->Apply(topic, payload, 1700000000.5);
  }
  std::string Render() {
    std::string out;
    store_.Render(&out);
    return out;
  }
  FakeClock clock_;
  SeriesStore store_;
  std::unique_ptr<DeviceMapping> mapping_;
};

TEST_F(Mqtt2PromEngineTest, Dht22) {
  Load("dht22.yaml");
  Apply(
      "devices/livingroom/dht22",
      R"({"temperature":23.2,"humidity":51.6,"computed":{"heat_index":22.92}})");
  std::string out = Render();
  EXPECT_THAT(out,
              HasSubstr("# TYPE temperature gauge\n"
                        "temperature{sensor=\"livingroom\",topic=\"devices/"
                        "livingroom/dht22\",sensor_type=\"dht22\"} 23.2 "
                        "1700000000500\n"));
  EXPECT_THAT(out,
              HasSubstr("heat_index{sensor=\"livingroom\",topic=\"devices/"
                        "livingroom/dht22\",sensor_type=\"dht22\"} 22.92 "));
}

// The native equivalent of dht22.yaml in docs/migrating-from-mqtt2prometheus.md
// gives the same series.
TEST_F(Mqtt2PromEngineTest, NativeEquivalentOfDht22GivesTheSameSeries) {
  Load("dht22.yaml");
  auto native = Parse(
      "propeller:\n"
      "  enabled: false\n"
      "mappings:\n"
      "  - name: dht22\n"
      "    topic: devices/+/dht22\n"
      "    topic_regex: '^devices/(?P<deviceid>[^/]+)/dht22$'\n"
      "    topic_labels: {sensor: deviceid}\n"
      "    require_topic_match: false\n"
      "    topic_label: topic\n"
      "    expiry: 5m\n"
      "    receive_timestamps: true\n"
      "    metrics:\n"
      "      - name: temperature\n"
      "        help: DHT22 temperature reading\n"
      "        value: temperature\n"
      "        const_labels: {sensor_type: dht22}\n"
      "      - name: humidity\n"
      "        help: DHT22 humidity reading\n"
      "        value: humidity\n"
      "        const_labels: {sensor_type: dht22}\n"
      "      - name: heat_index\n"
      "        help: DHT22 heatIndex calculation\n"
      "        value: computed.heat_index\n"
      "        const_labels: {sensor_type: dht22}\n");
  ASSERT_TRUE(native.ok()) << native.status().message();
  FakeClock clock;
  SeriesStore other(SeriesStore::Options{1000}, &clock);
  auto m = DeviceMapping::Create(native->mappings[0], &other);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const std::string payload =
      R"({"temperature":23.2,"humidity":"n/a","computed":{"heat_index":22.9}})";
  Apply("devices/cellar/dht22", payload);
  (*m)->Apply("devices/cellar/dht22", payload, 1700000000.5);
  std::string want;
  other.Render(&want);
  // Only the mapping label of the self-metrics differs.
  std::string got = Render();
  EXPECT_THAT(got, HasSubstr("temperature{sensor=\"cellar\""));
  auto series = [](const std::string& text) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (line.find("propmon_") == std::string::npos) out += line + "\n";
      start = end + 1;
    }
    return out;
  };
  EXPECT_THAT(series(got), HasSubstr("heat_index{"));
  EXPECT_EQ(series(got), series(want));
}

TEST_F(Mqtt2PromEngineTest, PerTopic) {
  Load("per_topic.yaml");
  Apply("shellies/shellyht-1/sensor/temperature", "21.5");
  Apply("shellies/shellyht-1/sensor/battery", "98");
  Apply("shellies/plug-1/sensor/battery", "50");   // filtered out
  Apply("shellies/plug-1/sensor/voltage", "230");  // no such metric
  std::string out = Render();
  EXPECT_THAT(out,
              HasSubstr("shelly_temperature_celsius{sensor=\"shellyht-1\","
                        "topic=\"shellies/shellyht-1/sensor/temperature\"} "
                        "21.5 "));
  EXPECT_THAT(out, HasSubstr("shelly_battery_percent{sensor=\"shellyht-1\","));
  EXPECT_THAT(out, Not(HasSubstr("sensor=\"plug-1\"")));
}

TEST_F(Mqtt2PromEngineTest, StringMapping) {
  Load("string_mapping.yaml");
  Apply("plugs/kitchen/state",
        R"({"power":"on","energy_wh":10,"status":"ok"})");
  Apply("plugs/hall/state", R"({"power":"jammed","status":"??"})");
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("plug_power_on{sensor=\"kitchen\",topic=\"plugs/"
                             "kitchen/state\"} 1 "));
  EXPECT_THAT(out, HasSubstr("plug_power_on{sensor=\"hall\",topic=\"plugs/"
                             "hall/state\"} -1 "));
  EXPECT_THAT(out, HasSubstr("plug_status_ok{sensor=\"kitchen\","));
  EXPECT_THAT(out, Not(HasSubstr("plug_status_ok{sensor=\"hall\"")));
  EXPECT_THAT(out, HasSubstr("# TYPE plug_energy_watthours_total counter\n"));
}

// mqtt2prometheus' regexes are Go's (RE2): inline flags and Unicode classes
// work unchanged (std::regex, before, refused them).
TEST_F(Mqtt2PromEngineTest, GoRegexSyntaxInDeviceIdRegexAndSensorFilter) {
  auto c = Parse(
      "mqtt:\n"
      "  topic_path: 'home/+/sensor'\n"
      "  device_id_regex: '(?i)^HOME/(?P<deviceid>\\pL+)/SENSOR$'\n"
      "metrics:\n"
      "  - prom_name: temperature\n"
      "    mqtt_name: t\n"
      "    sensor_name_filter: '^\\p{Lu}'\n",
      "go.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto m = DeviceMapping::Create(c->mappings[0], &store_);
  ASSERT_TRUE(m.ok()) << m.status().message();
  (*m)->Apply("home/Küche/sensor", R"({"t":21})", 1700000000.5);
  (*m)->Apply("home/bad/sensor", R"({"t":22})", 1700000000.5);    // lower case
  (*m)->Apply("home/Room1/sensor", R"({"t":23})", 1700000000.5);  // a digit
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("temperature{sensor=\"Küche\",topic=\"home/"
                             "Küche/sensor\"} 21 "));
  EXPECT_THAT(out, Not(HasSubstr("} 22 ")));
  // Room1 does not match the regex: sensor is "" (as in mqtt2prometheus),
  // and "" fails the sensor_name_filter.
  EXPECT_THAT(out, Not(HasSubstr("} 23 ")));
}

TEST(Mqtt2PromConfigTest, DefaultsWithOnlyMetrics) {
  auto c = Parse("metrics:\n  - prom_name: t\n    mqtt_name: a.b\n", "m.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->mqtt2prometheus);
  EXPECT_FALSE(c->propeller_enabled);
  EXPECT_EQ(c->mqtt.url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c->mqtt.qos, 0);
  EXPECT_EQ(c->mqtt.username, "");
  const MappingSpec& m = c->mappings[0];
  EXPECT_THAT(m.topics, ElementsAre("v1/devices/me"));
  EXPECT_EQ(m.topic_regex.pattern(), "(.*/)?(?P<deviceid>.*)");
  EXPECT_EQ(Groups(m.topic_regex, "v1/devices/me")["deviceid"], "me");
  EXPECT_EQ(m.payload, PayloadKind::kJson);
  EXPECT_EQ(m.expiry_seconds, 120);
  EXPECT_TRUE(m.receive_timestamps);
  const MetricSpec& s = m.metrics[0];
  EXPECT_EQ(s.type, MetricType::kUntyped);  // no type: untyped
  EXPECT_EQ(s.help, "");
  EXPECT_THAT(Keys(s.value), ElementsAre("a", "b"));  // separator "."
}

TEST(Mqtt2PromConfigTest, MqttKeysAndEnvironment) {
  testutil::TempDir dir;
  const std::string ca = dir.Write("ca.pem", "x");
  const std::string cert = dir.Write("c.pem", "x");
  const std::string key = dir.Write("k.pem", "x");
  const std::string yaml =
      "mqtt:\n"
      "  server: ssl://broker:8883\n"
      "  user: bob\n"
      "  password: happylittleclouds\n"
      "  ca_cert: " +
      ca + "\n  client_cert: " + cert + "\n  client_key: " + key +
      "\n"
      "  client_id: m2p\n"
      "  qos: 1\n"
      "metrics:\n  - prom_name: t\n    mqtt_name: t\n";
  auto c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mqtt.url, "ssl://broker:8883");
  EXPECT_EQ(c->mqtt.username, "bob");
  EXPECT_EQ(c->mqtt.password, "happylittleclouds");
  EXPECT_EQ(c->mqtt.ca_file, ca);
  EXPECT_EQ(c->mqtt.cert_file, cert);
  EXPECT_EQ(c->mqtt.key_file, key);
  EXPECT_EQ(c->mqtt.client_id, "m2p");
  EXPECT_EQ(c->mqtt.qos, 1);

  std::map<std::string, std::string> env = {
      {"MQTT2PROM_MQTT_USER", "alice"}, {"MQTT2PROM_MQTT_PASSWORD", "s3cret"}};
  auto lookup = [&env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  c = ParseConfig(yaml, "m.yaml", BridgeConfig(), lookup);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mqtt.username, "alice");
  EXPECT_EQ(c->mqtt.password, "s3cret");
  // Only the password set (an empty variable counts as unset, as in
  // mqtt2prometheus): the user stays the file's.
  env["MQTT2PROM_MQTT_USER"] = "";
  c = ParseConfig(yaml, "m.yaml", BridgeConfig(), lookup);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mqtt.username, "bob");
  EXPECT_EQ(c->mqtt.password, "s3cret");
}

TEST(Mqtt2PromConfigTest, MetricKeys) {
  auto c = Parse(
      "mqtt:\n"
      "  topic_path: tele/+/SENSOR\n"
      "  topic_paths: [tele/+/STATE, tele/+/SENSOR]\n"
      "cache:\n"
      "  timeout: 1h30m\n"
      "  state_directory: /var/lib/m2p\n"
      "json_parsing:\n"
      "  separator: /\n"
      "metrics:\n"
      "  - prom_name: energy_total\n"
      "    mqtt_name: ENERGY/Total\n"
      "    type: counter\n"
      "    mqtt_value_scale: 1000\n"
      "    force_monotonicy: true\n"
      "    dynamic_labels:\n"
      "      phase: ENERGY/Phase\n"
      "    sensor_name_filter: ^plug\n"
      "    error_value: 7\n"
      "    string_value_mapping:\n"
      "      map: {n/a: 0}\n"
      "      error_value: -1\n"
      "  - prom_name: power_watts\n"
      "    mqtt_name: ENERGY/Power\n"
      "    mqtt_value_scale: 0\n"
      "    string_value_mapping:\n"
      "      error_value: -1\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const MappingSpec& m = c->mappings[0];
  EXPECT_THAT(m.topics, ElementsAre("tele/+/SENSOR", "tele/+/STATE"));
  EXPECT_EQ(m.expiry_seconds, 5400);
  EXPECT_EQ(m.state_directory, "/var/lib/m2p");
  const MetricSpec& e = m.metrics[0];
  EXPECT_EQ(e.type, MetricType::kCounter);
  EXPECT_THAT(Keys(e.value), ElementsAre("ENERGY", "Total"));
  EXPECT_EQ(e.first_match_key, "ENERGY/Total");
  EXPECT_DOUBLE_EQ(e.scale, 1000);
  EXPECT_TRUE(e.force_monotonic);
  ASSERT_THAT(e.json_labels, SizeIs(1));
  EXPECT_EQ(e.json_labels[0].first, "phase");
  EXPECT_THAT(Keys(e.json_labels[0].second), ElementsAre("ENERGY", "Phase"));
  ASSERT_THAT(e.when, SizeIs(1));
  EXPECT_EQ(e.when[0].first, "deviceid");
  EXPECT_EQ(e.when[0].second.pattern(), "^plug");
  EXPECT_EQ(e.value_map, (std::map<std::string, double>{{"n/a", 0}}));
  EXPECT_EQ(e.error_value, 7);  // the metric's error_value wins
  const MetricSpec& p = m.metrics[1];
  EXPECT_DOUBLE_EQ(p.scale, 1);  // 0: no scaling
  EXPECT_EQ(p.error_value, -1);  // string_value_mapping's
}

TEST(Mqtt2PromConfigTest, IgnoredKeysGiveNoticesAndParse) {
  auto c = Parse(
      "enable_profiling_metrics: true\n"
      "metrics:\n"
      "  - prom_name: a\n"
      "    mqtt_name: a\n"
      "    type: gauge\n"
      "    expression: \"value * 2\"\n"
      "  - prom_name: b\n"
      "    mqtt_name: b\n"
      "    type: summary\n"
      "    raw_expression: \"raw_value + 1\"\n"
      "    inherit_labels: true\n"
      "    payload_field: x\n"
      "  - prom_name: c\n"
      "    mqtt_name: c\n"
      "    type: summary\n"
      "    inherit_labels: true\n",
      "m.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(
      c->notices,
      ElementsAre(
          HasSubstr("m.yaml:1: enable_profiling_metrics ignored"),
          "m.yaml:3: metrics[0] (prom_name a): expression: propmon-bridge "
          "has no expression language, and the raw value would be another "
          "number: this metric is not exported",
          "m.yaml:7: metrics[1] (prom_name b): raw_expression: "
          "propmon-bridge has no expression language, and the raw value "
          "would be another number: this metric is not exported",
          HasSubstr("m.yaml:7: metrics[1] (prom_name b): inherit_labels "
                    "ignored"),
          HasSubstr("m.yaml:7: metrics[1] (prom_name b): type \"summary\" is "
                    "not gauge or counter: exposed as untyped"),
          HasSubstr("m.yaml:7: metrics[1] (prom_name b): payload_field "
                    "ignored"),
          HasSubstr("m.yaml:13: metrics[2] (prom_name c): inherit_labels "
                    "ignored"),
          HasSubstr("m.yaml:13: metrics[2] (prom_name c): type \"summary\" "
                    "is not gauge or counter")));
  // Metrics that need an expression are absent, never a raw number; the
  // others are kept.
  ASSERT_EQ(c->mappings[0].metrics.size(), 1u);
  EXPECT_EQ(c->mappings[0].metrics[0].name, "c");
  EXPECT_EQ(c->mappings[0].metrics[0].type, MetricType::kUntyped);
  EXPECT_THAT(Keys(c->mappings[0].metrics[0].value), ElementsAre("c"));
  // Only expression metrics: nothing to export is an error.
  auto none = Parse(
      "metrics:\n"
      "  - prom_name: a\n"
      "    mqtt_name: a\n"
      "    expression: \"value * 2\"\n",
      "m.yaml");
  EXPECT_FALSE(none.ok());
}

TEST(Mqtt2PromConfigTest, TimestampsArePerMapping) {
  const std::string one = "  - prom_name: a\n    mqtt_name: a\n";
  const std::string omit =
      "  - prom_name: b\n    mqtt_name: b\n    omit_timestamp: true\n";
  auto c = Parse("metrics:\n" + omit);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->mappings[0].receive_timestamps);
  EXPECT_THAT(c->notices, IsEmpty());
  // Metrics disagree: timestamps on, and a notice names those that omit.
  c = Parse("metrics:\n" + one + omit);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->mappings[0].receive_timestamps);
  EXPECT_THAT(c->notices,
              ElementsAre(HasSubstr("omit_timestamp is set on some metrics "
                                    "only; propmon-bridge sets timestamps per "
                                    "mapping, so these carry the receive time "
                                    "too: metrics[1] (prom_name b)")));
}

TEST(Mqtt2PromConfigTest, CacheTimeoutSign) {
  struct Case {
    const char* timeout;
    double want;
  } cases[] = {{"-1", 0}, {"-1s", 0},  {"\"-5m\"", 0},
               {"0", 0},  {"90s", 90}, {"2h", 7200}};
  for (const auto& tc : cases) {
    auto c = Parse(std::string("cache:\n  timeout: ") + tc.timeout +
                   "\nmetrics:\n  - prom_name: t\n    mqtt_name: t\n");
    ASSERT_TRUE(c.ok()) << tc.timeout << ": " << c.status().message();
    EXPECT_EQ(c->mappings[0].expiry_seconds, tc.want) << tc.timeout;
  }
}

TEST(Mqtt2PromConfigTest, EncodingAndBothPerTopicConfigs) {
  const std::string metrics = "metrics:\n  - prom_name: t\n    mqtt_name: t\n";
  auto c = Parse("mqtt:\n  object_per_topic_config:\n    encoding: json\n" +
                 metrics);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mappings[0].payload, PayloadKind::kJson);
  // Object per topic wins, as in mqtt2prometheus.
  c = Parse(
      "mqtt:\n  object_per_topic_config:\n    encoding: JSON\n"
      "  metric_per_topic_config:\n"
      "    metric_name_regex: \"(?P<metricname>.*)\"\n" +
      metrics);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mappings[0].payload, PayloadKind::kJson);
  EXPECT_THAT(c->mappings[0].metrics[0].when, IsEmpty());
  EXPECT_THAT(c->notices,
              ElementsAre(HasSubstr("mqtt.metric_per_topic_config ignored")));
  // metric_per_topic_config without a regex: the default one.
  c = Parse("mqtt:\n  metric_per_topic_config:\n" + metrics);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->mappings[0].payload, PayloadKind::kValue);
  EXPECT_EQ(c->mappings[0].metrics[0].when[0].second.pattern(),
            "(.*/)?(?P<metricname>.*)");
}

TEST(Mqtt2PromConfigTest, ForceMonotonicyOnAGaugeIsAppliedAnyway) {
  auto c = Parse(
      "metrics:\n"
      "  - prom_name: total_energy\n"
      "    mqtt_name: aenergy.total\n"
      "    type: gauge\n"
      "    force_monotonicy: true\n",
      "m.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const MetricSpec& s = c->mappings[0].metrics[0];
  EXPECT_EQ(s.type, MetricType::kGauge);
  EXPECT_TRUE(s.force_monotonic);
  EXPECT_THAT(c->notices,
              ElementsAre(HasSubstr("metrics[0] (prom_name total_energy): "
                                    "force_monotonicy on a gauge: applied "
                                    "anyway")));
}

TEST(Mqtt2PromConfigTest, ErrorsNameFileLineColumnAndKey) {
#define PM_METRICS "metrics:\n  - prom_name: t\n    mqtt_name: t\n"
  ExpectErrors(
      {
          {"mqtt:\n  device_id_regex: \"devices/(?P<id>[^/]+)\"\n" PM_METRICS,
           "m2p.yaml:2:20: mqtt.device_id_regex: device id regex "
           "\"devices/(?P<id>[^/]+)\" does not contain required regex group "
           "\"deviceid\""},
          {"mqtt:\n  metric_per_topic_config:\n"
           "    metric_name_regex: \"(?P<name>.*)\"\n" PM_METRICS,
           "m2p.yaml:3:24: mqtt.metric_per_topic_config.metric_name_regex: "
           "metric name regex \"(?P<name>.*)\" does not contain required "
           "regex group \"metricname\""},
          {"mqtt:\n  object_per_topic_config:\n    encoding: XML\n" PM_METRICS,
           "m2p.yaml:3:15: mqtt.object_per_topic_config.encoding: unsupported "
           "object format \"XML\" (only JSON)"},
          {"mqtt:\n  device_id_regex: \"(?P<deviceid>\"\n" PM_METRICS,
           "m2p.yaml:2:20: mqtt.device_id_regex: invalid regex"},
          {PM_METRICS "web:\n  listen_address: \":1\"\n",
           "m2p.yaml:4:1: unknown key web (known: cache, "
           "enable_profiling_metrics, json_parsing, metrics, mqtt)"},
          {PM_METRICS "    colour: red\n",
           "m2p.yaml:4:5: unknown key metrics[0].colour (known: const_labels, "
           "dynamic_labels, error_value, expression, force_monotonicy, help, "
           "inherit_labels, mqtt_name, mqtt_value_scale, omit_timestamp, "
           "payload_field, prom_name, raw_expression, sensor_name_filter, "
           "string_value_mapping, type)"},
          {"mqtt:\n  server: tcp://x:1883\n  url: tcp://y:1883\n" PM_METRICS,
           "m2p.yaml:3:3: unknown key mqtt.url (known: ca_cert, client_cert, "
           "client_id, client_key, device_id_regex, metric_per_topic_config, "
           "object_per_topic_config, password, qos, server, topic_path, "
           "topic_paths, user)"},
          {"cache:\n  timeout: 5m\n  size: 3\n" PM_METRICS,
           "m2p.yaml:3:3: unknown key cache.size (known: state_directory, "
           "timeout)"},
          {PM_METRICS "    string_value_mapping:\n      default: 1\n",
           "m2p.yaml:5:7: unknown key metrics[0].string_value_mapping.default "
           "(known: error_value, map)"},
          {"metrics:\n  - prom_name: t\n",
           "m2p.yaml:2:5: metrics[0]: missing key mqtt_name"},
          {"metrics:\n  - mqtt_name: t\n",
           "m2p.yaml:2:5: metrics[0]: missing key prom_name"},
          {"metrics:\n  - prom_name: 1t\n    mqtt_name: t\n",
           "m2p.yaml:2:16: metrics[0].prom_name: \"1t\" is not a valid metric "
           "name"},
          {"mqtt:\n  server: tcp://x:1883\n",
           "m2p.yaml:1:1: metrics: want a non-empty list"},
          {"metrics: []\n", "m2p.yaml:1:10: metrics: want a non-empty list"},
          {PM_METRICS "    const_labels: {sensor: x}\n",
           "m2p.yaml:2:5: metrics[0] (prom_name t): mapping mqtt2prometheus: "
           "metric t: const label \"sensor\" is used twice"},
          {PM_METRICS "    dynamic_labels: {topic: a}\n",
           "m2p.yaml:2:5: metrics[0] (prom_name t): mapping mqtt2prometheus: "
           "metric t: label \"topic\" is used twice"},
          {"cache:\n  timeout: soon\n" PM_METRICS,
           "m2p.yaml:2:12: cache.timeout: invalid duration"},
          {"cache:\n  timeout: -soon\n" PM_METRICS,
           "m2p.yaml:2:12: cache.timeout: invalid duration"},
          {"mqtt:\n  qos: 3\n" PM_METRICS,
           "m2p.yaml:2:8: mqtt.qos: 3 is outside 0..2"},
          {"mqtt:\n  topic_path: \"a/#/b\"\n" PM_METRICS,
           "m2p.yaml:2:15: mqtt.topic_path: "},
          {PM_METRICS "    sensor_name_filter: \"(\"\n",
           "m2p.yaml:4:25: metrics[0].sensor_name_filter: invalid regex"},
          {PM_METRICS "    mqtt_value_scale: big\n",
           "m2p.yaml:4:23: metrics[0].mqtt_value_scale: want a number"},
          {PM_METRICS "    omit_timestamp: sometimes\n",
           "m2p.yaml:4:21: metrics[0].omit_timestamp: want true or false"},
          {PM_METRICS "    string_value_mapping:\n      map: {on: one}\n",
           "m2p.yaml:5:17: metrics[0].string_value_mapping.map.on: want a "
           "number"},
      },
      "m2p.yaml");
#undef PM_METRICS
}

TEST(Mqtt2PromConfigTest, DetectionDoesNotMisfireOnNativeFiles) {
  // Keys both formats share (mqtt.password, client_id, qos) and the native
  // `mappings:` with metrics inside: native.
  auto c = Parse(
      "mqtt:\n  url: tcp://b:1883\n  username: u\n  password: x\n  client_id: "
      "c\n"
      "  qos: 2\n"
      "mappings:\n  - name: m\n    topic: a/b\n    metrics: [{name: v}]\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->mqtt2prometheus);
  EXPECT_TRUE(c->propeller_enabled);
  EXPECT_EQ(c->mqtt.qos, 2);
  ASSERT_THAT(c->mappings, SizeIs(1));
  EXPECT_EQ(c->mappings[0].name, "m");
  // An empty or comment-only file: native defaults.
  c = Parse("# nothing\n");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->mqtt2prometheus);
  // One mqtt2prometheus key in mqtt: is enough; native keys then are unknown.
  auto r = Parse("mqtt:\n  server: tcp://b:1883\n  url: tcp://b:1883\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unknown key mqtt.url"));
  r = Parse(
      "mqtt:\n  user: u\n"
      "web:\n  listen_address: \":1\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unknown key web"));
}

TEST(Mqtt2PromConfigTest, BridgeFlagsStillApply) {
  testutil::TempDir dir;
  std::string path = dir.Write(
      "m2p.yaml", testutil::ReadFileOrEmpty(FixturePath("dht22.yaml")));
  FlagSet flags;
  DeclareFlags(&flags);
  ASSERT_TRUE(
      flags
          .Parse({"--config.file", path, "--web.listen-address=127.0.0.1:19641",
                  "--mqtt.url=tcp://other:1884", "--mqtt.shared-group=m2p"})
          .ok());
  auto c = ConfigFromFlags(flags);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->mqtt2prometheus);
  EXPECT_EQ(c->listen_address, "127.0.0.1:19641");
  EXPECT_EQ(c->mqtt.url, "tcp://other:1884");
  EXPECT_THAT(c->SubscriptionFilters(),
              ElementsAre("$share/m2p/devices/+/dht22"));
  EXPECT_EQ(c->mappings[0].origin, path + ":1");
}

}  // namespace
}  // namespace propmon::bridge
