// libFuzzer target: DeviceMapping::Apply (bridge/device_mapping.h), which
// turns any MQTT message on a mapping's topics into series.
//
// Input: one flag byte, then TOPIC '\0' PAYLOAD (no '\0': the whole rest is
// the payload, on a fixed topic).
//   bit 0: pass an Explanation, render it with ToText() and ToJson(), and
//          check that ToJson() is valid JSON (nlohmann and IsValidJson)
//   bit 1: apply the message a second time, 90 s later (updates, expiry,
//          force_monotonic resets across messages)
//   bit 2: also RejectOversize()
// Three mappings, built once, cover the mapping features: a JSON mapping
// with topic groups, fan-out paths with bound labels, value_map,
// error_value, timestamps, force_monotonic, ${group} names, `when` and
// first_match_key; a value-payload mapping; and mqtt2prometheus' default
// device id regex with require_topic_match off. Each input gets a fresh
// SeriesStore (series limit 200) and fresh mappings, so memory stays
// bounded and every crash reproduces from its input alone.
// PROPMON_FUZZ_VERBOSE=1 prints the explanations.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/device_mapping.h"
#include "bridge/explanation.h"
#include "bridge/mapping_spec.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/payload.h"

namespace {

using namespace propmon;          // NOLINT
using namespace propmon::bridge;  // NOLINT

template <typename T>
T Must(StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "device_mapping_fuzz: %s: %s\n", what,
                 v.status().message().c_str());
    std::abort();
  }
  return std::move(v).value();
}

ValuePath Path(const char* text) { return Must(ParseValuePath(text), text); }
Regex Re(const char* text) { return Must(Regex::Compile(text), text); }

MetricSpec Metric(const char* name, const char* value) {
  MetricSpec m;
  m.name = name;
  m.value = Path(value);
  return m;
}

// Every feature of a JSON mapping.
MappingSpec JsonSpec() {
  MappingSpec s;
  s.name = "json";
  s.topics = {"#"};
  s.topic_regex = Re(R"(^(?P<site>[^/]+)/(?P<deviceid>[^/]+)/(?<kind>\w+))");
  s.topic_label = "topic";
  s.expiry_seconds = 60;
  s.receive_timestamps = true;

  MetricSpec temp = Metric("temperature_celsius", "readings[*].temp");
  temp.fanout_labels = {"position"};
  temp.json_labels = {{"probe", Path("readings[*].id")},
                      {"unit", Path("meta.unit")}};
  temp.timestamp = Path("readings[*].ts");
  temp.value_map = {{"cold", 5}, {"hot", 40}};
  temp.error_value = -1;
  temp.const_labels = {{"sensor_type", "dht22"}};
  s.metrics.push_back(temp);

  MetricSpec rack = Metric("rack_sensor", "racks.*.sensors[*]");
  rack.fanout_labels = {"rack", "slot"};
  rack.json_labels = {{"rack_name", Path("racks.*.name")}};
  rack.timestamp = Path("ts");
  rack.scale = 0.01;
  rack.offset = -1;
  rack.expiry_seconds = 30;
  s.metrics.push_back(rack);

  MetricSpec energy = Metric("energy_joules_total", "energy");
  energy.type = MetricType::kCounter;
  energy.force_monotonic = true;
  energy.scale = 1000;
  s.metrics.push_back(energy);

  MetricSpec per_cell = Metric("cell_total", "cells.*");
  per_cell.type = MetricType::kCounter;
  per_cell.force_monotonic = true;
  per_cell.fanout_labels = {"cell"};
  s.metrics.push_back(per_cell);

  MetricSpec dynamic = Metric("${kind}_value", "value");
  dynamic.when = {{"deviceid", Re("^dev")}};
  dynamic.value_map = {{"on", 1}, {"off", 0}, {"true", 2}};
  s.metrics.push_back(dynamic);

  MetricSpec state = Metric("device_state", "state");
  state.value_map = {{"on", 1}, {"off", 0}};
  state.error_value = 0.5;
  state.when = {{"site", Re("^(home|lab)$")}};
  s.metrics.push_back(state);

  // first_match_key: the first metric whose `@` condition holds wins.
  MetricSpec first = Metric("first_value", "v");
  first.first_match_key = "temp";
  first.when = {{"@k", Re("/(?P<k>[a-z]+)$")}};
  s.metrics.push_back(first);
  MetricSpec second = Metric("second_value", "v");
  second.first_match_key = "temp";
  second.when = {{"@k", Re("(?P<k>temp)")}};
  s.metrics.push_back(second);

  MetricSpec quoted = Metric("quoted_value", R"(["a.b"][0].c)");
  quoted.timestamp = Path("t");
  s.metrics.push_back(quoted);
  s.metrics.push_back(Metric("numeric_key_value", "a.0"));
  s.metrics.push_back(Metric("whole_payload", ""));
  return s;
}

// A value payload whose metric name comes from the topic.
MappingSpec ValueSpec() {
  MappingSpec s;
  s.name = "value";
  s.topics = {"devices/+/+"};
  s.topic_regex = Re(R"(^devices/(?P<deviceid>[^/]+)/(?P<metric>\w+)$)");
  s.payload = PayloadKind::kValue;
  MetricSpec m = Metric("${metric}", "");
  m.value_map = {{"ON", 1}, {"OFF", 0}, {"true", 1}};
  s.metrics.push_back(m);
  MetricSpec t = Metric("device_${deviceid}_seen", "");
  t.error_value = 1;
  s.metrics.push_back(t);
  return s;
}

// mqtt2prometheus' default device id regex, groups empty on a mismatch.
MappingSpec Mqtt2PrometheusSpec() {
  MappingSpec s;
  s.name = "mqtt2prometheus";
  s.topics = {"#"};
  s.topic_regex = Re("(.*/)?(?P<deviceid>.*)");
  s.require_topic_match = false;
  s.topic_labels_default = false;
  s.topic_labels = {{"sensor", "deviceid"}};
  s.receive_timestamps = true;
  MetricSpec t = Metric("temperature", "temperature");
  t.when = {{"deviceid", Re("^([^i]|$)")}};  // not starting with i
  s.metrics.push_back(t);
  MetricSpec h = Metric("humidity", "sensor.humidity");
  h.force_monotonic = true;  // mqtt2prometheus allows it on any type
  s.metrics.push_back(h);
  return s;
}

struct Setup {
  std::vector<MappingSpec> specs;
  // PROPMON_FUZZ_VERBOSE=1: print each explanation (to see what an input
  // does: run the target on that one file).
  bool verbose = std::getenv("PROPMON_FUZZ_VERBOSE") != nullptr;
  Setup() {
    propmon::SetLogLevel(propmon::LogLevel::kError);
    specs = {JsonSpec(), ValueSpec(), Mqtt2PrometheusSpec()};
    // Fail early on a spec the validator refuses.
    FakeClock clock;
    SeriesStore store(SeriesStore::Options{200}, &clock);
    for (const MappingSpec& s : specs) {
      (void)Must(DeviceMapping::Create(s, &store), s.name.c_str());
    }
  }
};

void CheckJson(const std::string& json) {
  if (!nlohmann::json::accept(json) || !payload::IsValidJson(json, 256)) {
    std::fprintf(stderr, "device_mapping_fuzz: invalid ToJson():\n%s\n",
                 json.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const Setup* setup = new Setup();
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view topic = "home/dev1/temp";
  std::string_view payload = rest;
  if (std::size_t nul = rest.find('\0'); nul != std::string_view::npos) {
    topic = rest.substr(0, nul);
    payload = rest.substr(nul + 1);
  }

  FakeClock clock;
  SeriesStore store(SeriesStore::Options{200}, &clock);
  std::vector<std::unique_ptr<DeviceMapping>> mappings;
  for (const MappingSpec& s : setup->specs) {
    mappings.push_back(Must(DeviceMapping::Create(s, &store), "create"));
  }
  const int rounds = (flags & 2) ? 2 : 1;
  for (int round = 0; round < rounds; ++round) {
    for (auto& m : mappings) {
      if (!m->MatchesTopic(topic)) continue;
      Explanation why;
      Explanation* w = (flags & 1) ? &why : nullptr;
      DeviceMapping::Result r = m->Apply(topic, payload, clock.Now(), w);
      if (r.accepted != (r.series > 0)) std::abort();
      if (w) {
        std::string text = why.ToText();
        if (setup->verbose) std::fputs(text.c_str(), stderr);
        CheckJson(why.ToJson());
      }
      if (flags & 4) {
        Explanation over;
        m->RejectOversize(topic, payload.size() + 1, payload.size(),
                          clock.Now(), &over);
        CheckJson(over.ToJson());
      }
    }
    clock.Advance(90);
    store.ExpireNow();
  }
  std::string out;
  store.Render(&out);
  return 0;
}
