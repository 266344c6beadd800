// Configurable mappings end to end: the propmon-bridge binary with an
// mqtt2prometheus config file (unchanged format) or native `mappings:`, the
// real Debian mosquitto, messages published with mosquitto_pub, and the
// expected /metrics output; a real Prometheus scraping the bridge as an
// mqtt2prometheus user's scrape job would; `propmon-bridge check`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/bridge/bridge_test_util.h"
#include "tests/bridge/prometheus_runner.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using ::testing::HasSubstr;
using testing::MosquittoPub;
using ::testing::Not;
using testutil::FindSample;
using testutil::FindSamples;
using testutil::FreePort;
using testutil::HttpGet;
using testutil::ParseProm;
using testutil::Sample;
using testutil::Subprocess;
using testutil::WaitUntil;

// The DHT22 example of mqtt2prometheus' documentation: one JSON object per
// device topic, the device id from the topic.
constexpr char kDht22Config[] = R"yaml(mqtt:
  server: tcp://127.0.0.1:1883
  topic_path: devices/+/dht22
  device_id_regex: "devices/(?P<deviceid>[^/]+)/dht22"
  qos: 0
cache:
  timeout: 5m
json_parsing:
  separator: .
metrics:
  - prom_name: temperature
    mqtt_name: temperature
    help: DHT22 temperature reading
    type: gauge
    const_labels:
      sensor_type: dht22
  - prom_name: humidity
    mqtt_name: humidity
    help: DHT22 humidity reading
    type: gauge
    const_labels:
      sensor_type: dht22
  - prom_name: heat_index
    mqtt_name: computed.heat_index
    help: DHT22 heatIndex calculation
    type: gauge
    const_labels:
      sensor_type: dht22
)yaml";

// Metric per topic (Shelly-style): the metric name is the last topic level,
// the payload a bare value; on/off strings mapped to numbers.
constexpr char kPerTopicConfig[] = R"yaml(mqtt:
  server: tcp://127.0.0.1:1883
  topic_path: shellies/+/sensor/+
  device_id_regex: "shellies/(?P<deviceid>[^/]+)/sensor"
  metric_per_topic_config:
    metric_name_regex: "shellies/[^/]+/sensor/(?P<metricname>[^/]+)"
  qos: 0
cache:
  timeout: -1
metrics:
  - prom_name: shelly_temperature_celsius
    mqtt_name: temperature
    help: Shelly temperature
    type: gauge
    omit_timestamp: true
  - prom_name: shelly_humidity_percent
    mqtt_name: humidity
    help: Shelly humidity
    type: gauge
    mqtt_value_scale: 1
    omit_timestamp: true
  - prom_name: shelly_relay_on
    mqtt_name: relay
    help: Relay state
    type: gauge
    omit_timestamp: true
    string_value_mapping:
      map:
        on: 1
        off: 0
      error_value: -1
)yaml";

class MappingE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_port_ = FreePort();
    ASSERT_TRUE(testutil::StartMosquitto(&broker_, broker_port_, dir_));
  }

  // Starts propmon-bridge with `config` as its config file; returns its
  // HTTP port once it is subscribed.
  int StartBridge(Subprocess* proc, const std::string& config) {
    int port = FreePort();
    std::string path =
        dir_.Write("bridge-" + std::to_string(port) + ".yaml", config);
    log_ = dir_.File("bridge-" + std::to_string(port) + ".log");
    EXPECT_TRUE(proc->Start(
        {testutil::BridgeBinary(), "--config.file=" + path,
         "--mqtt.url=tcp://127.0.0.1:" + std::to_string(broker_port_),
         "--web.listen-address=127.0.0.1:" + std::to_string(port)},
        log_));
    bool ready =
        WaitUntil([&] { return HttpGet(port, "/-/ready").status == 200; },
                  std::chrono::seconds(20));
    EXPECT_TRUE(ready) << testutil::ReadFileOrEmpty(log_);
    return port;
  }
  void Pub(const std::string& topic, const std::string& payload) {
    ASSERT_EQ(MosquittoPub(broker_port_, topic, payload, dir_), 0) << topic;
  }
  // Waits until the mapping has matched `n` messages.
  void WaitMatched(int port, const std::string& mapping, double n) {
    bool ok = WaitUntil(
        [&] {
          auto s = FindSample(ParseProm(HttpGet(port, "/metrics").body),
                              "propmon_bridge_mapping_messages_matched_total",
                              {{"mapping", mapping}});
          return s && *s >= n;
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(ok) << HttpGet(port, "/metrics").body;
  }
  std::string MetricsText(int port) { return HttpGet(port, "/metrics").body; }

  testutil::TempDir dir_;
  Subprocess broker_;
  int broker_port_ = 0;
  std::string log_;
};

// The lines of `text` that start with `prefix`.
std::vector<std::string> Lines(const std::string& text,
                               const std::string& prefix) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    start = end + 1;
  }
  return out;
}

TEST_F(MappingE2eTest, Mqtt2PrometheusDht22ConfigGivesTheSameSeries) {
  Subprocess bridge;
  int port = StartBridge(&bridge, kDht22Config);
  double before = static_cast<double>(std::time(nullptr)) * 1000;
  Pub("devices/livingroom/dht22",
      R"({"temperature":23.20,"humidity":51.60,"computed":{"heat_index":22.92}})");
  Pub("devices/cellar/dht22", R"({"temperature":12.5,"humidity":"n/a"})");
  Pub("devices/cellar/dht22", "{not json");
  WaitMatched(port, "mqtt2prometheus", 3);
  std::string text = MetricsText(port);
  auto samples = ParseProm(text);
  struct Want {
    const char* name;
    const char* sensor;
    double value;
  };
  for (const Want& w : {Want{"temperature", "livingroom", 23.2},
                        Want{"humidity", "livingroom", 51.6},
                        Want{"heat_index", "livingroom", 22.92},
                        Want{"temperature", "cellar", 12.5}}) {
    auto s =
        FindSample(samples, w.name,
                   {{"sensor", w.sensor},
                    {"topic", std::string("devices/") + w.sensor + "/dht22"},
                    {"sensor_type", "dht22"}});
    ASSERT_TRUE(s) << w.name << " " << w.sensor << "\n" << text;
    EXPECT_DOUBLE_EQ(*s, w.value);
    EXPECT_EQ(FindSamples(samples, w.name, {{"sensor", w.sensor}})
                  .at(0)
                  .labels.size(),
              3u);
  }
  // The unreadable humidity of the cellar is absent, not zero.
  EXPECT_FALSE(FindSample(samples, "humidity", {{"sensor", "cellar"}}));
  EXPECT_THAT(text, HasSubstr("# HELP temperature DHT22 temperature reading\n"
                              "# TYPE temperature gauge\n"));
  // mqtt2prometheus presents the ingest time as the sample timestamp.
  auto lines = Lines(text, "temperature{");
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    double ts = std::strtod(l.substr(l.rfind(' ') + 1).c_str(), nullptr);
    EXPECT_GE(ts, before - 1000) << l;
    EXPECT_LE(ts, before + 60000) << l;
  }
  // Invalid JSON and the bad field are counted, per mapping.
  EXPECT_EQ(
      FindSample(samples, "propmon_bridge_mapping_messages_rejected_total",
                 {{"mapping", "mqtt2prometheus"}, {"reason", "invalid_json"}})
          .value_or(-1),
      1);
  EXPECT_EQ(
      FindSample(samples, "propmon_bridge_mapping_fields_rejected_total",
                 {{"mapping", "mqtt2prometheus"}, {"reason", "not_a_number"}})
          .value_or(-1),
      1);
  EXPECT_EQ(FindSample(samples, "propmon_bridge_mapping_series",
                       {{"mapping", "mqtt2prometheus"}})
                .value_or(-1),
            4);
  // No Propeller series or subscription in mqtt2prometheus mode.
  EXPECT_THAT(text, Not(HasSubstr("mapping=\"propeller\"")));

  // The whole exposition of the mapped families, timestamps cut off: what
  // mqtt2prometheus serves for the same messages (label order aside).
  std::string got;
  for (const auto& l : Lines(text, "")) {
    bool mapped = false;
    for (const char* f : {"temperature", "humidity", "heat_index"}) {
      std::string name = f;
      if (l.rfind(name + "{", 0) == 0 ||
          l.rfind("# HELP " + name + " ", 0) == 0 ||
          l.rfind("# TYPE " + name + " ", 0) == 0) {
        mapped = true;
      }
    }
    if (!mapped) continue;
    got += l[0] == '#' ? l : l.substr(0, l.rfind(' '));
    got += "\n";
  }
  EXPECT_EQ(got,
            "# HELP temperature DHT22 temperature reading\n"
            "# TYPE temperature gauge\n"
            "temperature{sensor=\"livingroom\",topic=\"devices/livingroom/"
            "dht22\",sensor_type=\"dht22\"} 23.2\n"
            "temperature{sensor=\"cellar\",topic=\"devices/cellar/dht22\","
            "sensor_type=\"dht22\"} 12.5\n"
            "# HELP humidity DHT22 humidity reading\n"
            "# TYPE humidity gauge\n"
            "humidity{sensor=\"livingroom\",topic=\"devices/livingroom/"
            "dht22\",sensor_type=\"dht22\"} 51.6\n"
            "# HELP heat_index DHT22 heatIndex calculation\n"
            "# TYPE heat_index gauge\n"
            "heat_index{sensor=\"livingroom\",topic=\"devices/livingroom/"
            "dht22\",sensor_type=\"dht22\"} 22.92\n");
}

TEST_F(MappingE2eTest, Mqtt2PrometheusMetricPerTopicAndStringMapping) {
  Subprocess bridge;
  int port = StartBridge(&bridge, kPerTopicConfig);
  Pub("shellies/s1/sensor/temperature", "21.5");
  Pub("shellies/s1/sensor/humidity", "40");
  Pub("shellies/s1/sensor/relay", "on");
  Pub("shellies/s2/sensor/relay", "off");
  Pub("shellies/s3/sensor/relay", "jammed");
  Pub("shellies/s1/sensor/battery", "99");  // no metric configured
  WaitMatched(port, "mqtt2prometheus", 6);
  std::string text = MetricsText(port);
  auto samples = ParseProm(text);
  struct Want {
    const char* name;
    const char* sensor;
    const char* metric;
    double value;
  };
  for (const Want& w :
       {Want{"shelly_temperature_celsius", "s1", "temperature", 21.5},
        Want{"shelly_humidity_percent", "s1", "humidity", 40},
        Want{"shelly_relay_on", "s1", "relay", 1},
        Want{"shelly_relay_on", "s2", "relay", 0},
        Want{"shelly_relay_on", "s3", "relay", -1}}) {
    auto s = FindSample(samples, w.name,
                        {{"sensor", w.sensor},
                         {"topic", std::string("shellies/") + w.sensor +
                                       "/sensor/" + w.metric}});
    ASSERT_TRUE(s) << w.name << " " << w.sensor << "\n" << text;
    EXPECT_DOUBLE_EQ(*s, w.value);
  }
  // omit_timestamp: true: no timestamp after the value.
  for (const auto& l : Lines(text, "shelly_")) {
    EXPECT_EQ(std::count(l.begin(), l.end(), ' '), 1) << l;
  }
  EXPECT_THAT(text, Not(HasSubstr("battery")));
  EXPECT_EQ(
      FindSample(samples, "propmon_bridge_mapping_messages_rejected_total",
                 {{"mapping", "mqtt2prometheus"}, {"reason", "no_metrics"}})
          .value_or(-1),
      1);
}

TEST_F(MappingE2eTest, NativeMappingsFanOutBesidePropeller) {
  const std::string config = R"yaml(mappings:
  - name: racks
    topics: ["dc/+/rack/+", "lab/rack/+"]
    topic_regex: "rack/(?P<rack>[^/]+)$"
    metrics:
      - name: rack_inlet_temp_celsius
        help: Inlet temperature per sensor slot.
        value: "sensors[*].temp"
        fanout_labels: [slot]
        labels: {position: "sensors[*].pos"}
      - name: rack_power_watts
        value: power_kw
        scale: 1000
  - name: doors
    topics: ["lab/door/+"]
    topic_regex: "door/(?P<door>[^/]+)$"
    payload: value
    metrics:
      - name: door_open
        value_map: {open: 1, closed: 0}
)yaml";
  Subprocess bridge;
  int port = StartBridge(&bridge, config);
  Pub("dc/fra1/rack/r7",
      R"({"power_kw":2.5,"sensors":[{"pos":"top","temp":31},)"
      R"({"pos":"bottom","temp":24.5}]})");
  Pub("lab/rack/r1", R"({"sensors":[{"pos":"mid","temp":22}]})");
  Pub("lab/door/d1", "open");
  Pub("m/dom/c/chan/control/proplet/task_metrics",
      R"({"task_id":"t1","proplet_id":"p1","metrics":{"memory_bytes":1024}})");
  WaitMatched(port, "racks", 2);
  WaitMatched(port, "doors", 1);
  WaitMatched(port, "propeller", 1);
  auto samples = ParseProm(MetricsText(port));
  auto top = FindSample(samples, "rack_inlet_temp_celsius",
                        {{"rack", "r7"}, {"slot", "0"}, {"position", "top"}});
  ASSERT_TRUE(top);
  EXPECT_EQ(*top, 31);
  auto bottom = FindSample(samples, "rack_inlet_temp_celsius",
                           {{"rack", "r7"}, {"position", "bottom"}});
  ASSERT_TRUE(bottom);
  EXPECT_EQ(*bottom, 24.5);
  EXPECT_TRUE(FindSample(samples, "rack_inlet_temp_celsius",
                         {{"rack", "r1"}, {"position", "mid"}}));
  EXPECT_EQ(
      FindSample(samples, "rack_power_watts", {{"rack", "r7"}}).value_or(-1),
      2500);
  // r1 sent no power: absent, not zero; counted as an absent field.
  EXPECT_FALSE(FindSample(samples, "rack_power_watts", {{"rack", "r1"}}));
  EXPECT_EQ(FindSample(samples, "propmon_bridge_mapping_fields_rejected_total",
                       {{"mapping", "racks"}, {"reason", "absent"}})
                .value_or(-1),
            1);
  EXPECT_EQ(FindSample(samples, "door_open", {{"door", "d1"}}).value_or(-1), 1);
  EXPECT_EQ(
      FindSample(samples, "proplet_task_memory_bytes", {{"task_id", "t1"}})
          .value_or(-1),
      1024);

  // The debug API explains the last message of each mapping.
  auto r = HttpGet(port, "/api/v1/debug/mappings");
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : j["mappings"]) by_name[m["name"]] = m;
  ASSERT_EQ(by_name.size(), 3u) << r.body;
  const auto& racks = by_name["racks"];
  EXPECT_EQ(racks["matched"], 2);
  EXPECT_EQ(racks["series"], 4);
  EXPECT_EQ(racks["last_message"]["topic"], "lab/rack/r1");
  EXPECT_EQ(racks["last_message"]["series"].size(), 1u);
  EXPECT_EQ(racks["last_message"]["rejected_fields"][0]["reason"], "absent");
  EXPECT_EQ(by_name["propeller"]["last_message"]["series"][0]["name"],
            "proplet_task_memory_bytes");
  EXPECT_EQ(by_name["doors"]["kind"], "configured");
}

TEST_F(MappingE2eTest, PrometheusScrapesTheBridgeLikeMqtt2Prometheus) {
  Subprocess bridge;
  int port = StartBridge(&bridge, kDht22Config);
  Subprocess prom;
  int prom_port = FreePort();
  ASSERT_TRUE(testutil::StartPrometheus(&prom, prom_port, dir_,
                                        {"127.0.0.1:" + std::to_string(port)},
                                        "mqtt2prometheus"))
      << testutil::ReadFileOrEmpty(dir_.File("prometheus.log"));
  Pub("devices/attic/dht22", R"({"temperature":30.5,"humidity":20})");
  auto t = testutil::WaitForQuery(prom_port, R"(temperature{sensor="attic"})",
                                  std::chrono::seconds(30));
  ASSERT_EQ(t.size(), 1u) << MetricsText(port);
  EXPECT_DOUBLE_EQ(t[0].value, 30.5);
  EXPECT_EQ(t[0].labels["topic"], "devices/attic/dht22");
  EXPECT_EQ(t[0].labels["sensor_type"], "dht22");
  EXPECT_EQ(t[0].labels["job"], "mqtt2prometheus");
}

// Runs `propmon-bridge check ARGS`, with `stdin_text` on its stdin; returns
// the exit status and fills *out with stdout and stderr.
int RunCheck(const testutil::TempDir& dir, const std::string& args,
             const std::string& stdin_text, std::string* out) {
  std::string in = dir.Write("check-in.txt", stdin_text);
  std::string cmd = testutil::BridgeBinary() + " check " + args + " < " + in +
                    " > " + dir.File("check-out.txt") + " 2>&1";
  int status = std::system(cmd.c_str());
  *out = testutil::ReadFileOrEmpty(dir.File("check-out.txt"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(BridgeCheckTest, ExplainsAMatchingMessage) {
  testutil::TempDir dir;
  std::string config = dir.Write("m2p.yaml", kDht22Config);
  std::string out;
  int rc = RunCheck(dir,
                    "--config.file " + config +
                        " --topic devices/kitchen/dht22 --payload "
                        "'{\"temperature\":19.5,\"humidity\":\"wet\"}'",
                    "", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("mapping mqtt2prometheus: matched, 1 series"));
  EXPECT_THAT(out, HasSubstr("series  temperature{sensor=\"kitchen\","
                             "topic=\"devices/kitchen/dht22\","
                             "sensor_type=\"dht22\"} 19.5"));
  EXPECT_THAT(out, HasSubstr("field   humidity (humidity): rejected "
                             "(not_a_number): \"wet\" is not in value_map and "
                             "not a number"));
  EXPECT_THAT(out, HasSubstr("field   heat_index (computed.heat_index): "
                             "rejected (absent)"));
}

TEST(BridgeCheckTest, ReadsThePayloadFromStdinAndPrintsJson) {
  testutil::TempDir dir;
  std::string config = dir.Write("m2p.yaml", kDht22Config);
  std::string out;
  int rc = RunCheck(
      dir, "--json --config.file " + config + " --topic devices/k/dht22",
      R"({"temperature":1})", &out);
  EXPECT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << out;
  EXPECT_EQ(j[0]["series"][0]["value"], 1);
  EXPECT_EQ(j[0]["series"][0]["labels"]["sensor"], "k");
}

TEST(BridgeCheckTest, ExplainsANonMatchingMessage) {
  testutil::TempDir dir;
  std::string config = dir.Write("m2p.yaml", kDht22Config);
  std::string out;
  int rc = RunCheck(
      dir,
      "--config.file " + config + " --topic elsewhere/kitchen --payload '{}'",
      "", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("no mapping matches topic \"elsewhere/kitchen\""));
  EXPECT_THAT(out, HasSubstr("subscribed: devices/+/dht22"));
  // Matching topic, rejected message: exit 1 with the reason.
  rc = RunCheck(dir,
                "--config.file " + config +
                    " --topic devices/k/dht22 --payload 'not json'",
                "", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("REJECTED (invalid_json)"));
}

TEST(BridgeCheckTest, PropellerMessagesWithoutAConfigFile) {
  testutil::TempDir dir;
  std::string out;
  int rc = RunCheck(dir,
                    "--topic m/d/c/c/control/proplet/task_metrics --payload "
                    "'{\"task_id\":\"t\",\"proplet_id\":\"p\",\"metrics\":"
                    "{\"cpu_percent\":50,\"thread_count\":-1}}'",
                    "", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("mapping propeller: matched"));
  EXPECT_THAT(out, HasSubstr("proplet_task_cpu_usage_ratio{domain=\"d\","
                             "channel=\"c\",proplet_id=\"p\",task_id=\"t\"} "
                             "0.5"));
  EXPECT_THAT(out, HasSubstr("(metrics.thread_count): rejected (negative)"));
  // Bad usage is exit status 2.
  EXPECT_EQ(RunCheck(dir, "--payload x", "", &out), 2);
  EXPECT_THAT(out, HasSubstr("--topic is required"));
}

}  // namespace
}  // namespace propmon::bridge
