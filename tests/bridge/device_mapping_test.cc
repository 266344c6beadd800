// DeviceMapping and the MappingSpec helpers: every feature of a configurable
// mapping, message by message, against the rendered series.
#include "bridge/device_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bridge/mapping_spec.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "common/file.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- paths and regexes ----

TEST(ValuePathTest, ParsesEveryForm) {
  struct Case {
    const char* text;
    std::vector<PathStep> steps;
  };
  using K = PathStep::Kind;
  const Case cases[] = {
      {"", {}},
      {"a", {{K::kKey, "a", 0}}},
      {"a.b.c", {{K::kKey, "a", 0}, {K::kKey, "b", 0}, {K::kKey, "c", 0}}},
      {"a[2].b", {{K::kKey, "a", 0}, {K::kIndex, "", 2}, {K::kKey, "b", 0}}},
      {"a[*].b", {{K::kKey, "a", 0}, {K::kWildcard, "", 0}, {K::kKey, "b", 0}}},
      {"a.*.b", {{K::kKey, "a", 0}, {K::kWildcard, "", 0}, {K::kKey, "b", 0}}},
      {"[\"x.y\"].z", {{K::kKey, "x.y", 0}, {K::kKey, "z", 0}}},
      {"a.0", {{K::kKey, "a", 0}, {K::kKey, "0", 0}}},
      {"[0][1]", {{K::kIndex, "", 0}, {K::kIndex, "", 1}}},
  };
  for (const Case& c : cases) {
    auto p = ParseValuePath(c.text);
    ASSERT_TRUE(p.ok()) << c.text << ": " << p.status().message();
    EXPECT_EQ(p->steps, c.steps) << c.text;
    EXPECT_EQ(p->text, c.text);
  }
}

TEST(ValuePathTest, RejectsMalformedPaths) {
  for (const char* bad :
       {"a.", ".a", "a..b", "a[", "a[x]", "a[-1]", "a[\"x", "a[0]b", "a]b"}) {
    auto p = ParseValuePath(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_THAT(p.status().message(), HasSubstr("invalid path"));
    }
  }
}

TEST(ValuePathTest, SeparatorPathsSplitOnTheSeparatorOnly) {
  ValuePath p = SplitSeparatorPath("key.name->nested", "->");
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[0].key, "key.name");
  EXPECT_EQ(p.steps[1].key, "nested");
  EXPECT_EQ(SplitSeparatorPath("a.b", ".").steps.size(), 2u);
  EXPECT_TRUE(SplitSeparatorPath("", ".").empty());
}

// The regex engine itself (common/regex.h) is tested in
// tests/common/regex_test.cc.

// ---- the mapping ----

MetricSpec Metric(const char* name, const char* value) {
  MetricSpec m;
  m.name = name;
  m.value = *ParseValuePath(value);
  return m;
}

MappingSpec Spec(std::vector<MetricSpec> metrics,
                 const char* topic = "dev/+/state") {
  MappingSpec s;
  s.name = "dev";
  s.topics = {topic};
  s.metrics = std::move(metrics);
  return s;
}

class DeviceMappingTest : public ::testing::Test {
 protected:
  DeviceMappingTest() : store_(SeriesStore::Options{100}, &clock_) {}

  void Build(MappingSpec spec) {
    auto m = DeviceMapping::Create(std::move(spec), &store_);
    ASSERT_TRUE(m.ok()) << m.status().message();
    mapping_ = std::move(m).value();
  }
  DeviceMapping::Result Apply(std::string_view topic,
                              std::string_view payload) {
    why_ = Explanation();
    return mapping_->Apply(topic, payload, 1700000000.5, &why_);
  }
  std::string Render() {
    std::string out;
    store_.Render(&out);
    return out;
  }
  std::uint64_t Field(const char* reason) {
    return mapping_->counters().field(std::string_view(reason));
  }
  std::uint64_t Rejected(const char* reason) {
    return mapping_->counters().rejected(std::string_view(reason));
  }

  FakeClock clock_;
  SeriesStore store_;
  std::unique_ptr<DeviceMapping> mapping_;
  Explanation why_;
};

TEST_F(DeviceMappingTest, JsonFieldsBecomeSeriesAndOneBadFieldDropsOnlyItself) {
  MappingSpec s = Spec({Metric("temp_celsius", "temperature"),
                        Metric("humidity_ratio", "env.humidity"),
                        Metric("pressure_pa", "pressure")});
  s.topic_regex = *Regex::Compile("^dev/(?P<device>[^/]+)/");
  s.metrics[1].scale = 0.01;
  Build(s);
  auto r =
      Apply("dev/kitchen/state", R"({"temperature":21.5,"env":{"humidity":40},)"
                                 R"("pressure":"high"})");
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.series, 2u);
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("temp_celsius{device=\"kitchen\"} 21.5\n"));
  EXPECT_THAT(out, HasSubstr("humidity_ratio{device=\"kitchen\"} 0.4\n"));
  EXPECT_THAT(out, Not(HasSubstr("pressure_pa{")));
  EXPECT_EQ(Field("not_a_number"), 1u);
  ASSERT_EQ(why_.fields.size(), 1u);
  EXPECT_EQ(why_.fields[0].metric, "pressure_pa");
  EXPECT_EQ(why_.fields[0].reason, "not_a_number");
  EXPECT_THAT(why_.fields[0].detail, HasSubstr("\"high\""));
  EXPECT_EQ(mapping_->counters().matched(), 1u);
  // Scales like 0.01 divide, so that 41 gives 0.41 (not 0.41000000000000003).
  Apply("dev/kitchen/state", R"({"env":{"humidity":41}})");
  EXPECT_THAT(Render(), HasSubstr("humidity_ratio{device=\"kitchen\"} 0.41\n"));
}

TEST_F(DeviceMappingTest, AbsentPathGivesNoSeriesNeverZero) {
  Build(Spec({Metric("a_value", "a"), Metric("b_value", "b")}));
  auto r = Apply("dev/x/state", R"({"a":1})");
  EXPECT_TRUE(r.accepted);
  EXPECT_THAT(Render(), Not(HasSubstr("b_value")));
  EXPECT_EQ(Field("absent"), 1u);
  // Nothing at all: the message is rejected as no_metrics.
  r = Apply("dev/x/state", R"({"c":1})");
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.rejected, DeviceMapping::kNoMetrics);
  EXPECT_EQ(Rejected("no_metrics"), 1u);
  EXPECT_EQ(why_.rejected, "no_metrics");
}

TEST_F(DeviceMappingTest, InvalidJsonIsRejectedAndCounted) {
  Build(Spec({Metric("a_value", "a")}));
  for (const char* bad : {"{", "{\"a\":}", "not json", "{\"a\":1} x"}) {
    auto r = Apply("dev/x/state", bad);
    EXPECT_FALSE(r.accepted) << bad;
    EXPECT_EQ(why_.rejected, "invalid_json") << bad;
  }
  EXPECT_EQ(Rejected("invalid_json"), 4u);
  // Deep nesting is refused before it is built.
  std::string deep(100000, '[');
  EXPECT_EQ(Apply("dev/x/state", deep).rejected, DeviceMapping::kInvalidJson);
  EXPECT_THAT(why_.detail, HasSubstr("nesting"));
}

TEST_F(DeviceMappingTest, ValueConversions) {
  struct Case {
    const char* payload;
    bool ok;
    double value;
  };
  const Case cases[] = {
      {R"({"v":3})", true, 3},           {R"({"v":-2.5e3})", true, -2500},
      {R"({"v":true})", true, 1},        {R"({"v":false})", true, 0},
      {R"({"v":"17.25"})", true, 17.25}, {R"({"v":" 4 "})", true, 4},
      {R"({"v":"on"})", true, 1},        {R"({"v":"off"})", true, 0},
      {R"({"v":"dim"})", false, 0},      {R"({"v":null})", false, 0},
      {R"({"v":[1]})", false, 0},        {R"({"v":{"x":1}})", false, 0},
  };
  MetricSpec m = Metric("v_value", "v");
  m.value_map = {{"on", 1}, {"off", 0}};
  Build(Spec({m}));
  for (const Case& c : cases) {
    auto r = Apply("dev/x/state", c.payload);
    EXPECT_EQ(r.accepted, c.ok) << c.payload;
    if (c.ok) {
      ASSERT_EQ(why_.series.size(), 1u) << c.payload;
      EXPECT_DOUBLE_EQ(why_.series[0].value, c.value) << c.payload;
    }
  }
  EXPECT_EQ(Field("not_a_number"), 1u);
  EXPECT_EQ(Field("wrong_type"), 3u);
}

TEST_F(DeviceMappingTest, BooleansThroughValueMapAndErrorValue) {
  MetricSpec m = Metric("door_open", "door");
  m.value_map = {{"true", 5}, {"open", 1}, {"closed", 0}};
  m.error_value = -1;
  Build(Spec({m}));
  Apply("dev/x/state", R"({"door":true})");
  EXPECT_DOUBLE_EQ(why_.series.at(0).value, 5);
  Apply("dev/x/state", R"({"door":false})");
  EXPECT_DOUBLE_EQ(why_.series.at(0).value, 0);
  Apply("dev/x/state", R"({"door":"ajar"})");
  EXPECT_DOUBLE_EQ(why_.series.at(0).value, -1);
  EXPECT_THAT(why_.series[0].note, HasSubstr("error_value"));
  Apply("dev/x/state", R"({"door":null})");
  EXPECT_DOUBLE_EQ(why_.series.at(0).value, -1);
  // error_value is for unreadable values, not for absent ones.
  EXPECT_FALSE(Apply("dev/x/state", R"({"window":1})").accepted);
  EXPECT_EQ(Field("absent"), 1u);
}

TEST_F(DeviceMappingTest, ScaleOffsetAndConstLabels) {
  MetricSpec m = Metric("temp_kelvin", "t");
  m.scale = 0.1;
  m.offset = 273.15;
  m.const_labels = {{"unit", "K"}, {"sensor_type", "dht22"}};
  Build(Spec({m}));
  Apply("dev/x/state", R"({"t":215})");
  EXPECT_THAT(
      Render(),
      HasSubstr("temp_kelvin{unit=\"K\",sensor_type=\"dht22\"} 294.65"));
}

TEST_F(DeviceMappingTest, FanOutOverArraysWithLabelsFromTheSameElement) {
  MetricSpec m = Metric("disk_free_bytes", "disks[*].free");
  m.fanout_labels = {"slot"};
  m.json_labels = {{"mount", *ParseValuePath("disks[*].mount")},
                   {"host", *ParseValuePath("host")}};
  Build(Spec({m}));
  auto r =
      Apply("dev/x/state",
            R"({"host":"h1","disks":[{"mount":"/","free":100},)"
            R"({"mount":"/data","free":"x"},{"mount":"/var","free":300}]})");
  EXPECT_EQ(r.series, 2u);
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("disk_free_bytes{slot=\"0\",mount=\"/\","
                             "host=\"h1\"} 100\n"));
  EXPECT_THAT(out, HasSubstr("disk_free_bytes{slot=\"2\",mount=\"/var\","
                             "host=\"h1\"} 300\n"));
  EXPECT_THAT(out, Not(HasSubstr("/data")));
  ASSERT_EQ(why_.fields.size(), 1u);
  EXPECT_EQ(why_.fields[0].path, "disks[*].free [1]");
}

TEST_F(DeviceMappingTest, FanOutOverObjectKeysAndNestedWildcards) {
  MetricSpec m = Metric("rack_temp_celsius", "racks.*.sensors[*]");
  m.fanout_labels = {"rack", "sensor"};
  Build(Spec({m}));
  auto r = Apply("dev/x/state", R"({"racks":{"a":{"sensors":[20,21]},)"
                                R"("b":{"sensors":[22]}}})");
  EXPECT_EQ(r.series, 3u);
  std::string out = Render();
  EXPECT_THAT(out,
              HasSubstr("rack_temp_celsius{rack=\"a\",sensor=\"1\"} 21\n"));
  EXPECT_THAT(out,
              HasSubstr("rack_temp_celsius{rack=\"b\",sensor=\"0\"} 22\n"));
}

TEST_F(DeviceMappingTest, DefaultFanOutLabelIsIndex) {
  Build(Spec({Metric("reading", "[*]")}));
  Apply("dev/x/state", "[5,6]");
  EXPECT_THAT(Render(), HasSubstr("reading{index=\"1\"} 6\n"));
}

TEST_F(DeviceMappingTest, MissingLabelRejectsOnlyThatSeries) {
  MetricSpec m = Metric("port_up", "ports[*].up");
  m.json_labels = {{"name", *ParseValuePath("ports[*].name")}};
  Build(Spec({m}));
  auto r = Apply("dev/x/state",
                 R"({"ports":[{"name":"eth0","up":true},{"up":false}]})");
  EXPECT_EQ(r.series, 1u);
  EXPECT_EQ(Field("label_absent"), 1u);
  EXPECT_THAT(why_.fields.at(0).detail, HasSubstr("ports[*].name"));
}

TEST_F(DeviceMappingTest, TopicRegexLabelsMismatchAndTopicLabel) {
  MappingSpec s = Spec({Metric("t_celsius", "t")}, "sensors/#");
  s.topic_regex = *Regex::Compile("^sensors/(?P<site>[^/]+)/(?P<room>[^/]+)$");
  s.topic_label = "topic";
  Build(s);
  Apply("sensors/berlin/lab", R"({"t":20})");
  EXPECT_THAT(Render(), HasSubstr("t_celsius{site=\"berlin\",room=\"lab\","
                                  "topic=\"sensors/berlin/lab\"} 20\n"));
  auto r = Apply("sensors/berlin", R"({"t":20})");
  EXPECT_EQ(r.rejected, DeviceMapping::kTopicMismatch);
  EXPECT_EQ(Rejected("topic_mismatch"), 1u);
}

TEST_F(DeviceMappingTest, LongTopicsAreMatched) {
  // With std::regex a 64 KiB topic (MQTT allows 65535 bytes) overflowed the
  // worker's stack with mqtt2prometheus' default device regex, and topics
  // over 1 KiB had to be rejected. RE2 does not recurse: they are matched.
  MappingSpec s = Spec({Metric("t_celsius", "t")}, "#");
  s.topic_regex = *Regex::Compile("(.*/)?(?P<deviceid>.*)");
  s.require_topic_match = false;
  Build(s);
  std::string topic(65535, 'a');
  for (std::size_t i = 0; i < topic.size(); i += 10) topic[i] = '/';
  topic.replace(topic.size() - 5, 5, "/dev9");
  auto r = Apply(topic, R"({"t":1})");
  ASSERT_TRUE(r.accepted) << why_.detail;
  ASSERT_EQ(why_.series.size(), 1u);
  EXPECT_THAT(Render(), HasSubstr("t_celsius{deviceid=\"dev9\"} 1\n"));
}

TEST_F(DeviceMappingTest, TopicLabelsRenameGroupsAndOptionalMatch) {
  MappingSpec s = Spec({Metric("t_celsius", "t")}, "#");
  s.topic_regex = *Regex::Compile("^home/(?P<deviceid>[^/]+)$");
  s.topic_labels = {{"sensor", "deviceid"}};
  s.topic_labels_default = false;
  s.require_topic_match = false;
  Build(s);
  Apply("home/d1", R"({"t":1})");
  Apply("elsewhere/d2", R"({"t":2})");
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("t_celsius{sensor=\"d1\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("t_celsius{sensor=\"\"} 2\n"));
}

TEST_F(DeviceMappingTest, ValuePayloadsWithNamesFromTheTopic) {
  MappingSpec s = Spec({Metric("shelly_${metric}", "")}, "shellies/+/sensor/+");
  s.topic_regex =
      *Regex::Compile("^shellies/(?P<device>[^/]+)/sensor/(?P<metric>[^/]+)$");
  s.topic_labels = {{"device", "device"}};
  s.topic_labels_default = false;
  s.payload = PayloadKind::kValue;
  Build(s);
  EXPECT_TRUE(Apply("shellies/s1/sensor/temperature", "23.5").accepted);
  EXPECT_TRUE(Apply("shellies/s1/sensor/humidity", " 51\n").accepted);
  EXPECT_TRUE(Apply("shellies/s1/sensor/motion", "true").accepted);
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("shelly_temperature{device=\"s1\"} 23.5\n"));
  EXPECT_THAT(out, HasSubstr("shelly_humidity{device=\"s1\"} 51\n"));
  EXPECT_THAT(out, HasSubstr("shelly_motion{device=\"s1\"} 1\n"));
  // A topic segment that makes an invalid metric name rejects the field.
  EXPECT_FALSE(Apply("shellies/s1/sensor/bad-name", "1").accepted);
  EXPECT_EQ(Field("invalid_name"), 1u);
  // Raw text that is no number.
  EXPECT_FALSE(Apply("shellies/s1/sensor/state", "on").accepted);
  EXPECT_EQ(Field("not_a_number"), 1u);
}

TEST_F(DeviceMappingTest, WhenConditionsAndFirstMatchKey) {
  MappingSpec s = Spec({}, "#");
  s.topic_regex = *Regex::Compile("(.*/)?(?P<deviceid>.*)");
  MetricSpec light = Metric("light_state", "state");
  light.when = {{"deviceid", *Regex::Compile("-light$")}};
  light.first_match_key = "state";
  MetricSpec other = Metric("other_state", "state");
  other.first_match_key = "state";
  s.metrics = {light, other};
  Build(s);
  Apply("home/desk-light", R"({"state":1})");
  Apply("home/fan", R"({"state":0})");
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("light_state{deviceid=\"desk-light\"} 1\n"));
  EXPECT_THAT(out, Not(HasSubstr("other_state{deviceid=\"desk-light\"}")));
  EXPECT_THAT(out, HasSubstr("other_state{deviceid=\"fan\"} 0\n"));
  EXPECT_THAT(why_.notes.at(0), HasSubstr("does not apply"));
}

TEST_F(DeviceMappingTest, MetricPerTopicSelection) {
  // mqtt2prometheus metric_per_topic_config: the metricname group of a
  // second regex picks the metric.
  MappingSpec s = Spec({}, "shellies/+/sensor/+");
  s.payload = PayloadKind::kValue;
  auto name_re = *Regex::Compile("shellies/[^/]+/sensor/(?P<metricname>[^/]+)");
  MetricSpec t = Metric("temperature", "");
  t.first_match_key = "temperature";
  t.when = {{"@metricname", name_re}};
  MetricSpec h = Metric("humidity", "");
  h.first_match_key = "humidity";
  h.when = {{"@metricname", name_re}};
  s.metrics = {t, h};
  Build(s);
  Apply("shellies/a/sensor/temperature", "20");
  Apply("shellies/a/sensor/humidity", "50");
  EXPECT_FALSE(Apply("shellies/a/sensor/battery", "99").accepted);
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("temperature 20\n"));
  EXPECT_THAT(out, HasSubstr("humidity 50\n"));
}

TEST_F(DeviceMappingTest, TimestampsFromThePayloadOrTheReceiveTime) {
  MetricSpec a = Metric("a_value", "a");
  a.timestamp = *ParseValuePath("ts");
  MetricSpec b = Metric("b_value", "b");
  MappingSpec s = Spec({a, b});
  s.receive_timestamps = true;
  Build(s);
  Apply("dev/x/state", R"({"a":1,"b":2,"ts":1700000100})");
  std::string out = Render();
  EXPECT_THAT(out, HasSubstr("a_value 1 1700000100000\n"));
  EXPECT_THAT(out, HasSubstr("b_value 2 1700000000500\n"));
  Apply("dev/x/state", R"({"a":1,"ts":1700000200123})");  // milliseconds
  EXPECT_THAT(Render(), HasSubstr("a_value 1 1700000200123\n"));
  Apply("dev/x/state", R"({"a":1,"ts":"2023-11-14T22:13:20.5Z"})");
  EXPECT_THAT(Render(), HasSubstr("a_value 1 1700000000500\n"));
  EXPECT_FALSE(Apply("dev/x/state", R"({"a":1,"ts":"yesterday"})").accepted);
  EXPECT_EQ(Field("bad_timestamp"), 1u);
}

TEST_F(DeviceMappingTest, ForceMonotonicSurvivesResetsAndRestarts) {
  testutil::TempDir dir;
  MetricSpec m = Metric("energy_wh_total", "wh");
  m.type = MetricType::kCounter;
  m.force_monotonic = true;
  MappingSpec s = Spec({m});
  s.state_directory = dir.path();
  Build(s);
  for (const char* p :
       {R"({"wh":100})", R"({"wh":150})", R"({"wh":20})", R"({"wh":30})"}) {
    Apply("dev/x/state", p);
  }
  EXPECT_DOUBLE_EQ(why_.series.at(0).value, 180);  // 150 + 30
  ASSERT_TRUE(mapping_->SaveState().ok());
  // A new bridge continues from the saved offset.
  SeriesStore store2(SeriesStore::Options{100}, &clock_);
  auto again = DeviceMapping::Create(s, &store2);
  ASSERT_TRUE(again.ok()) << again.status().message();
  Explanation why;
  (*again)->Apply("dev/x/state", R"({"wh":10})", 0, &why);
  // Offset 150, last raw 30: 10 < 30 is a reset, so 150 + 30 + 10.
  EXPECT_DOUBLE_EQ(why.series.at(0).value, 190);
  // A broken state file is a startup error naming the line.
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/dev.monotonic", "garbage\n").ok());
  auto broken = DeviceMapping::Create(s, &store2);
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("dev.monotonic:1"));
}

// Found reading Apply() while writing fuzz/device_mapping_fuzz: state was
// kept for every (name, labels) ever seen, refused and expired series
// included, so a publisher inventing device ids grew it without limit.
TEST_F(DeviceMappingTest, ForceMonotonicStateIsBoundedByTheLiveSeries) {
  testutil::TempDir dir;
  SeriesStore small(SeriesStore::Options{3}, &clock_);
  MetricSpec m = Metric("energy_wh_total", "wh");
  m.type = MetricType::kCounter;
  m.force_monotonic = true;
  MappingSpec s = Spec({m});
  s.topic_regex = *Regex::Compile("^dev/(?P<device>[^/]+)/state$");
  s.expiry_seconds = 60;
  s.state_directory = dir.path();
  auto made = DeviceMapping::Create(s, &small);
  ASSERT_TRUE(made.ok()) << made.status().message();
  DeviceMapping& dm = **made;
  for (int i = 0; i < 50; ++i) {
    dm.Apply("dev/d" + std::to_string(i) + "/state", R"({"wh":5})", 0);
  }
  // The store took 3 series and refused 47; only the 3 have state.
  EXPECT_EQ(small.size(), 3u);
  EXPECT_EQ(dm.monotonic_states(), 3u);
  EXPECT_EQ(dm.counters().field(std::string_view("series_limit")), 47u);
  // d0 keeps reporting (and resets); d1 and d2 go quiet and expire.
  clock_.Advance(40);
  dm.Apply("dev/d0/state", R"({"wh":2})", 0);
  clock_.Advance(30);
  small.ExpireNow();
  dm.Tick(clock_.Monotonic());
  EXPECT_EQ(small.size(), 1u);
  EXPECT_EQ(dm.monotonic_states(), 1u);
  // The saved file holds only d0's state, and d0 continues from it.
  ASSERT_TRUE(dm.SaveState().ok());
  std::ifstream in(dir.path() + "/dev.monotonic");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("d0"));
  EXPECT_THAT(text, Not(HasSubstr("d1")));
  Explanation why;
  dm.Apply("dev/d0/state", R"({"wh":3})", 0, &why);
  ASSERT_EQ(why.series.size(), 1u);
  EXPECT_DOUBLE_EQ(why.series[0].value, 8);  // offset 5, raw 3
  // A device that comes back after its series expired starts afresh (a
  // counter reset for Prometheus), and new devices fit again.
  Explanation why2;
  dm.Apply("dev/d1/state", R"({"wh":1})", 0, &why2);
  ASSERT_EQ(why2.series.size(), 1u);
  EXPECT_DOUBLE_EQ(why2.series[0].value, 1);
  EXPECT_EQ(dm.monotonic_states(), 2u);
  // Loaded state that no device claims within the expiry goes too.
  ASSERT_TRUE(dm.SaveState().ok());
  SeriesStore store2(SeriesStore::Options{3}, &clock_);
  auto again = DeviceMapping::Create(s, &store2);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ((*again)->monotonic_states(), 2u);
  clock_.Advance(61);
  (*again)->Tick(clock_.Monotonic());
  EXPECT_EQ((*again)->monotonic_states(), 0u);
}

TEST_F(DeviceMappingTest, SeriesLimitRefusesNewSeriesAndCountsThem) {
  SeriesStore small(SeriesStore::Options{2}, &clock_);
  auto m = DeviceMapping::Create(Spec({Metric("v_value", "[*]")}), &small);
  ASSERT_TRUE(m.ok());
  Explanation why;
  auto r = (*m)->Apply("dev/x/state", "[1,2,3]", 0, &why);
  EXPECT_EQ(r.series, 2u);
  EXPECT_EQ((*m)->counters().field(std::string_view("series_limit")), 1u);
  r = (*m)->Apply("dev/y/state", "{}", 0, &why);
  r = (*m)->Apply("dev/x/state", "[9,9,9,9]", 0, &why);
  EXPECT_TRUE(r.accepted);  // the two existing series update
}

TEST_F(DeviceMappingTest, TypeConflictsAreStartupErrors) {
  ASSERT_TRUE(store_.RegisterFamily("taken", "", MetricType::kCounter).ok());
  auto m = DeviceMapping::Create(Spec({Metric("taken", "a")}), &store_);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("taken"));
}

TEST_F(DeviceMappingTest, ExpiryPerMappingAndPerMetric) {
  MetricSpec a = Metric("a_value", "a");
  MetricSpec b = Metric("b_value", "b");
  b.expiry_seconds = 100;
  MappingSpec s = Spec({a, b});
  s.expiry_seconds = 10;
  Build(s);
  Apply("dev/x/state", R"({"a":1,"b":2})");
  clock_.Advance(11);
  store_.ExpireNow();
  std::string out = Render();
  EXPECT_THAT(out, Not(HasSubstr("a_value")));
  EXPECT_THAT(out, HasSubstr("b_value 2"));
}

TEST_F(DeviceMappingTest, TwoTopicsWithTheSameDeviceIdDoNotOverwrite) {
  // mqtt2prometheus keyed its cache by device id: the second topic's
  // metrics replaced the first's.
  MappingSpec s = Spec({Metric("t_celsius", "t")}, "#");
  s.topic_regex = *Regex::Compile("(.*/)?(?P<deviceid>.*)");
  s.topic_labels = {{"sensor", "deviceid"}};
  s.topic_labels_default = false;
  s.topic_label = "topic";
  Build(s);
  Apply("floor1/dev", R"({"t":1})");
  Apply("floor2/dev", R"({"t":2})");
  std::string out = Render();
  EXPECT_THAT(out,
              HasSubstr("t_celsius{sensor=\"dev\",topic=\"floor1/dev\"} 1"));
  EXPECT_THAT(out,
              HasSubstr("t_celsius{sensor=\"dev\",topic=\"floor2/dev\"} 2"));
}

TEST_F(DeviceMappingTest, ExplanationTextAndJson) {
  MetricSpec m = Metric("t_celsius", "t");
  Build(Spec({m, Metric("h_ratio", "h")}));
  Apply("dev/x/state", R"({"t":21,"h":"wet"})");
  std::string text = why_.ToText();
  EXPECT_THAT(text, HasSubstr("mapping dev: matched, 1 series"));
  EXPECT_THAT(text, HasSubstr("series  t_celsius 21"));
  EXPECT_THAT(text, HasSubstr("field   h_ratio (h): rejected (not_a_number)"));
  std::string json = why_.ToJson();
  EXPECT_THAT(json, HasSubstr("\"accepted\":true"));
  EXPECT_THAT(json, HasSubstr("\"reason\":\"not_a_number\""));
  EXPECT_THAT(json, HasSubstr("\"topic\":\"dev/x/state\""));
}

TEST(MappingSpecTest, ValidationNamesTheProblem) {
  struct Case {
    std::function<void(MappingSpec*)> change;
    const char* error;
  };
  const Case cases[] = {
      {[](MappingSpec* s) { s->name = "bad name"; }, "mapping name"},
      {[](MappingSpec* s) { s->topics.clear(); }, "no topics"},
      {[](MappingSpec* s) { s->topics = {"a/#/b"}; }, "topic"},
      {[](MappingSpec* s) { s->metrics.clear(); }, "no metrics"},
      {[](MappingSpec* s) { s->metrics[0].name = "1bad"; },
       "not a valid metric name"},
      {[](MappingSpec* s) { s->metrics[0].name = "propmon_bridge_x"; },
       "propmon_"},
      {[](MappingSpec* s) { s->metrics[0].value = *ParseValuePath("a.*.*"); },
       "wildcards"},
      {[](MappingSpec* s) { s->metrics[0].fanout_labels = {"x"}; },
       "fanout_labels"},
      {[](MappingSpec* s) {
         s->metrics[0].const_labels = {{"l", "1"}, {"l", "2"}};
       },
       "used twice"},
      {[](MappingSpec* s) {
         s->metrics[0].const_labels = {{"__x", "1"}};
       },
       "not a valid label name"},
      {[](MappingSpec* s) { s->metrics[0].name = "x_${nogroup}"; },
       "no such group"},
      {[](MappingSpec* s) {
         s->topic_labels = {{"a", "nogroup"}};
         s->topic_labels_default = false;
       },
       "no group"},
      {[](MappingSpec* s) {
         s->metrics[0].when = {{"g", *Regex::Compile("x")}};
       },
       "when"},
  };
  for (const Case& c : cases) {
    MappingSpec s = Spec({Metric("ok_value", "a")});
    c.change(&s);
    Status st = ValidateMappingSpec(s);
    EXPECT_FALSE(st.ok()) << c.error;
    EXPECT_THAT(st.message(), HasSubstr(c.error));
  }
  EXPECT_TRUE(ValidateMappingSpec(Spec({Metric("ok_value", "a")})).ok());
  EXPECT_TRUE(ValidateMappingSpec(PropellerSpec()).ok());
}

}  // namespace
}  // namespace propmon::bridge
