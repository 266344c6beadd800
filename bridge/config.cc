#include "bridge/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "bridge/config_parser.h"
#include "bridge/text_format.h"
#include "common/file.h"
#include "common/http_server.h"

namespace propmon::bridge {
namespace {

using namespace config_parser;  // NOLINT

SectionTable MqttSection(const Parser& p) {
  SectionTable t;
  t["url"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.url, p.String(n, "mqtt.url"));
    return Status::Ok();
  };
  t["client_id"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.client_id, p.String(n, "mqtt.client_id"));
    return Status::Ok();
  };
  t["username"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.username, p.String(n, "mqtt.username"));
    return Status::Ok();
  };
  t["password"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.password, p.String(n, "mqtt.password"));
    return Status::Ok();
  };
  t["password_file"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    std::string path;
    PM_ASSIGN(path, p.String(n, "mqtt.password_file"));
    std::string text;
    Status s = ReadFileTo(path, &text, 64 * 1024);
    if (!s.ok()) {
      return p.Error(
          n, "mqtt.password_file: cannot read " + path + ": " + s.message());
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.pop_back();
    }
    c->mqtt.password = text;
    return Status::Ok();
  };
  t["ca_file"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.ca_file, p.String(n, "mqtt.ca_file"));
    return Status::Ok();
  };
  t["cert_file"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.cert_file, p.String(n, "mqtt.cert_file"));
    return Status::Ok();
  };
  t["key_file"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.key_file, p.String(n, "mqtt.key_file"));
    return Status::Ok();
  };
  t["insecure"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.insecure, p.Bool(n, "mqtt.insecure"));
    return Status::Ok();
  };
  t["qos"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.qos, p.Int(n, "mqtt.qos", 0, 2));
    return Status::Ok();
  };
  t["clean_start"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->mqtt.clean_start, p.Bool(n, "mqtt.clean_start"));
    return Status::Ok();
  };
  t["session_expiry"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    double d = 0;
    PM_ASSIGN(d, p.Duration(n, "mqtt.session_expiry", 0));
    if (d > 4294967295.0) {
      return p.Error(n, "mqtt.session_expiry: at most 4294967295s");
    }
    c->mqtt.session_expiry_seconds = static_cast<std::uint32_t>(d);
    return Status::Ok();
  };
  t["keepalive"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    double d = 0;
    PM_ASSIGN(d, p.Duration(n, "mqtt.keepalive", 0));
    if (d > 65535) return p.Error(n, "mqtt.keepalive: at most 65535s");
    c->mqtt.keepalive_seconds = static_cast<int>(d);
    return Status::Ok();
  };
  t["protocol_version"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    long long v = 0;
    PM_ASSIGN(v, p.Int(n, "mqtt.protocol_version", 3, 5));
    if (v == 4) return p.Error(n, "mqtt.protocol_version: want 3 or 5");
    c->protocol_version = static_cast<int>(v);
    return Status::Ok();
  };
  t["shared_group"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->shared_group, p.String(n, "mqtt.shared_group"));
    return Status::Ok();
  };
  t["topics"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    if (!n.IsSequence() || n.size() == 0) {
      return p.Error(n, "mqtt.topics: want a non-empty list of filters");
    }
    std::vector<std::string> topics;
    for (const auto& item : n) {
      std::string f;
      PM_ASSIGN(f, p.String(item, "mqtt.topics[]"));
      Status s = ValidateMqttTopicFilter(f);
      if (!s.ok()) return p.Error(item, "mqtt.topics: " + s.message());
      topics.push_back(f);
    }
    c->topics = std::move(topics);
    return Status::Ok();
  };
  return t;
}

SectionTable WebSection(const Parser& p) {
  SectionTable t;
  t["listen_address"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->listen_address, p.String(n, "web.listen_address"));
    auto ports = ToCivetwebPorts(c->listen_address);
    if (!ports.ok()) {
      return p.Error(n, "web.listen_address: " + ports.status().message());
    }
    return Status::Ok();
  };
  t["config_file"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->web_config_file, p.String(n, "web.config_file"));
    return Status::Ok();
  };
  t["max_stream_clients"] = [&p](const YAML::Node& n,
                                 BridgeConfig* c) -> Status {
    long long v = 0;
    PM_ASSIGN(v, p.Int(n, "web.max_stream_clients", 0, 64));
    c->max_stream_clients = static_cast<std::size_t>(v);
    return Status::Ok();
  };
  return t;
}

SectionTable LimitsSection(const Parser& p) {
  SectionTable t;
  t["max_payload_bytes"] = [&p](const YAML::Node& n,
                                BridgeConfig* c) -> Status {
    PM_ASSIGN(c->max_payload_bytes, p.Bytes(n, "limits.max_payload_bytes", 64));
    return Status::Ok();
  };
  t["series_limit"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->series_limit, p.Count(n, "limits.series_limit", 1));
    return Status::Ok();
  };
  t["queue_size"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->queue_size, p.Count(n, "limits.queue_size", 1));
    return Status::Ok();
  };
  t["history_per_id"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->history_per_id, p.Count(n, "limits.history_per_id", 0));
    return Status::Ok();
  };
  t["history_memory_bytes"] = [&p](const YAML::Node& n,
                                   BridgeConfig* c) -> Status {
    PM_ASSIGN(c->history_memory_bytes,
              p.Bytes(n, "limits.history_memory_bytes", 0));
    return Status::Ok();
  };
  t["expiry"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->propeller.expiry_min_seconds,
              p.Duration(n, "limits.expiry", 1));
    return Status::Ok();
  };
  t["expiry_intervals"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    long long v = 0;
    PM_ASSIGN(v, p.Int(n, "limits.expiry_intervals", 1, 1000));
    c->propeller.expiry_intervals = static_cast<double>(v);
    return Status::Ok();
  };
  return t;
}

SectionTable PropellerSection(const Parser& p) {
  SectionTable t;
  t["enabled"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->propeller_enabled, p.Bool(n, "propeller.enabled"));
    return Status::Ok();
  };
  t["alive_timeout"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->propeller.alive_timeout_seconds,
              p.Duration(n, "propeller.alive_timeout", 0.001));
    return Status::Ok();
  };
  t["finished_grace"] = [&p](const YAML::Node& n, BridgeConfig* c) -> Status {
    PM_ASSIGN(c->propeller.finished_grace_seconds,
              p.Duration(n, "propeller.finished_grace", 0));
    return Status::Ok();
  };
  return t;
}

// ---- Native `mappings:` ----

bool IsMappingName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

Handler<MetricSpec> MetricName(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MetricSpec* m) -> Status {
    PM_ASSIGN(m->name, p.String(n, key));
    if (m->name.find("${") == std::string::npos &&
        !IsValidMetricName(m->name)) {
      return p.Error(n,
                     key + ": \"" + m->name + "\" is not a valid metric name");
    }
    return Status::Ok();
  };
}

Handler<MetricSpec> MetricTypeField(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MetricSpec* m) -> Status {
    std::string t;
    PM_ASSIGN(t, p.String(n, key));
    if (t == "gauge") {
      m->type = MetricType::kGauge;
    } else if (t == "counter") {
      m->type = MetricType::kCounter;
    } else {
      return p.Error(n, key + ": want gauge or counter, not \"" + t + "\"");
    }
    return Status::Ok();
  };
}

Handler<MetricSpec> JsonLabels(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MetricSpec* m) -> Status {
    m->json_labels.clear();
    return p.ForEachEntry(n, key,
                          [&](const YAML::Node& k, const YAML::Node& v,
                              const std::string& name) -> Status {
                            auto label = p.LabelName(k, name);
                            if (!label.ok()) return label.status();
                            auto path = p.Path(v, name);
                            if (!path.ok()) return path.status();
                            m->json_labels.emplace_back(*label, *path);
                            return Status::Ok();
                          });
  };
}

Handler<MetricSpec> ValueMap(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MetricSpec* m) -> Status {
    m->value_map.clear();
    // Keys as written: `on:` is the string "on", not a YAML boolean.
    return p.ForEachEntry(n, key,
                          [&](const YAML::Node& k, const YAML::Node& v,
                              const std::string& name) -> Status {
                            auto x = p.Double(v, name);
                            if (!x.ok()) return x.status();
                            m->value_map[k.Scalar()] = *x;
                            return Status::Ok();
                          });
  };
}

Handler<MetricSpec> When(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MetricSpec* m) -> Status {
    m->when.clear();
    return p.ForEachEntry(n, key,
                          [&](const YAML::Node& k, const YAML::Node& v,
                              const std::string& name) -> Status {
                            if (!IsValidLabelName(k.Scalar())) {
                              return p.Error(
                                  k, name + ": \"" + k.Scalar() +
                                         "\" is not a topic_regex group name");
                            }
                            auto re = p.Pattern(v, name);
                            if (!re.ok()) return re.status();
                            m->when.emplace_back(k.Scalar(), *re);
                            return Status::Ok();
                          });
  };
}

Table<MetricSpec> MetricTable(const Parser& p, const std::string& k) {
  Readers r{p};
  Table<MetricSpec> t;
  t["name"] = MetricName(p, k + ".name");
  t["help"] = Assign(k + ".help", &MetricSpec::help, r.Str());
  t["type"] = MetricTypeField(p, k + ".type");
  t["value"] = Assign(k + ".value", &MetricSpec::value, r.Path());
  t["fanout_labels"] = [&p, k](const YAML::Node& n, MetricSpec* m) -> Status {
    PM_ASSIGN(m->fanout_labels, p.StringList(n, k + ".fanout_labels", true));
    return Status::Ok();
  };
  t["labels"] = JsonLabels(p, k + ".labels");
  t["const_labels"] =
      Assign(k + ".const_labels", &MetricSpec::const_labels, r.Labels());
  t["scale"] = Assign(k + ".scale", &MetricSpec::scale, r.Double());
  t["offset"] = Assign(k + ".offset", &MetricSpec::offset, r.Double());
  t["value_map"] = ValueMap(p, k + ".value_map");
  t["error_value"] =
      Assign(k + ".error_value", &MetricSpec::error_value, r.Double());
  t["expiry"] =
      Assign(k + ".expiry", &MetricSpec::expiry_seconds, r.Duration());
  t["timestamp"] = Assign(k + ".timestamp", &MetricSpec::timestamp, r.Path());
  t["force_monotonic"] =
      Assign(k + ".force_monotonic", &MetricSpec::force_monotonic, r.Bool());
  t["when"] = When(p, k + ".when");
  return t;
}

// Checks within one metric that can point at a key.
Status CheckMetric(const Parser& p, const std::string& k,
                   const YAML::Node& item, const MetricSpec& m) {
  if (!item["name"].IsDefined()) {
    return p.Error(item, k + ": missing key name");
  }
  if (m.force_monotonic && m.type != MetricType::kCounter) {
    return p.Error(item["force_monotonic"],
                   k + ".force_monotonic: only for type counter (a counter "
                       "that resets continues from its last value)");
  }
  const YAML::Node fanout = item["fanout_labels"];
  std::size_t wild = m.value.wildcards();
  if (!m.fanout_labels.empty() && m.fanout_labels.size() != wild) {
    return p.Error(fanout, k + ".fanout_labels: names " +
                               std::to_string(m.fanout_labels.size()) +
                               " labels, the value path \"" + m.value.text +
                               "\" has " + std::to_string(wild) + " wildcards");
  }
  return Status::Ok();
}

StatusOr<MetricSpec> ParseMetric(const Parser& p, const std::string& k,
                                 const YAML::Node& item) {
  if (!item.IsMap()) {
    return p.Error(item, k + ": want a mapping (name, value, ...)");
  }
  MetricSpec m;
  Status s = ParseMap(p, k, item, MetricTable(p, k), &m);
  if (!s.ok()) return s;
  s = CheckMetric(p, k, item, m);
  if (!s.ok()) return s;
  return m;
}

Handler<MappingSpec> MappingName(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MappingSpec* spec) -> Status {
    PM_ASSIGN(spec->name, p.String(n, key));
    if (!IsMappingName(spec->name)) {
      return p.Error(n, key + ": \"" + spec->name +
                            "\" is not a valid mapping name (want "
                            "[a-zA-Z0-9_.-]+)");
    }
    if (spec->name == PropellerMapping::kMappingName) {
      return p.Error(n, key + ": \"" + spec->name +
                            "\" is the built-in Propeller mapping's name");
    }
    return Status::Ok();
  };
}

Handler<MappingSpec> Topics(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MappingSpec* spec) -> Status {
    if (!n.IsSequence() || n.size() == 0) {
      return p.Error(n, key + ": want a non-empty list of topic filters");
    }
    spec->topics.clear();
    return p.ForEachItem(
        n, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          auto f = p.TopicFilter(item, k);
          if (!f.ok()) return f.status();
          spec->topics.push_back(*f);
          return Status::Ok();
        });
  };
}

Handler<MappingSpec> TopicLabels(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MappingSpec* spec) -> Status {
    auto pairs = p.LabelPairs(n, key);
    if (!pairs.ok()) return pairs.status();
    spec->topic_labels = std::move(*pairs);
    spec->topic_labels_default = false;
    return Status::Ok();
  };
}

Handler<MappingSpec> PayloadField(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MappingSpec* spec) -> Status {
    std::string kind;
    PM_ASSIGN(kind, p.String(n, key));
    if (kind == "json") {
      spec->payload = PayloadKind::kJson;
    } else if (kind == "value") {
      spec->payload = PayloadKind::kValue;
    } else {
      return p.Error(n, key + ": want json or value, not \"" + kind + "\"");
    }
    return Status::Ok();
  };
}

Handler<MappingSpec> Metrics(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, MappingSpec* spec) -> Status {
    if (!n.IsSequence() || n.size() == 0) {
      return p.Error(n, key + ": want a non-empty list of metrics");
    }
    spec->metrics.clear();
    return p.ForEachItem(
        n, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          auto m = ParseMetric(p, k, item);
          if (!m.ok()) return m.status();
          spec->metrics.push_back(std::move(*m));
          return Status::Ok();
        });
  };
}

Table<MappingSpec> MappingTable(const Parser& p, const std::string& k) {
  Readers r{p};
  Table<MappingSpec> t;
  t["name"] = MappingName(p, k + ".name");
  t["topics"] = Topics(p, k + ".topics");
  t["topic"] = [&p, k](const YAML::Node& n, MappingSpec* spec) -> Status {
    std::string f;
    PM_ASSIGN(f, p.TopicFilter(n, k + ".topic"));
    spec->topics = {f};
    return Status::Ok();
  };
  t["topic_regex"] =
      Assign(k + ".topic_regex", &MappingSpec::topic_regex, r.Pattern());
  t["topic_labels"] = TopicLabels(p, k + ".topic_labels");
  t["require_topic_match"] = Assign(
      k + ".require_topic_match", &MappingSpec::require_topic_match, r.Bool());
  t["topic_label"] = [&p, k](const YAML::Node& n, MappingSpec* spec) -> Status {
    PM_ASSIGN(spec->topic_label, p.String(n, k + ".topic_label"));
    if (spec->topic_label.empty()) return Status::Ok();
    return p.LabelName(n, k + ".topic_label").status();
  };
  t["payload"] = PayloadField(p, k + ".payload");
  t["expiry"] =
      Assign(k + ".expiry", &MappingSpec::expiry_seconds, r.Duration());
  t["receive_timestamps"] = Assign(k + ".receive_timestamps",
                                   &MappingSpec::receive_timestamps, r.Bool());
  t["state_directory"] =
      Assign(k + ".state_directory", &MappingSpec::state_directory, r.Str());
  t["metrics"] = Metrics(p, k + ".metrics");
  return t;
}

// Checks within one mapping that can point at a key.
Status CheckMapping(const Parser& p, const std::string& k,
                    const YAML::Node& item, const MappingSpec& spec) {
  if (!item["name"].IsDefined()) return p.Error(item, k + ": missing key name");
  if (!item["topics"].IsDefined() && !item["topic"].IsDefined()) {
    return p.Error(item, k + ": missing key topics");
  }
  if (item["topics"].IsDefined() && item["topic"].IsDefined()) {
    return p.Error(item["topic"], k + ".topic: give topics or topic, not both");
  }
  if (!item["metrics"].IsDefined()) {
    return p.Error(item, k + ": missing key metrics");
  }
  for (const auto& [label, group] : spec.topic_labels) {
    if (!spec.topic_regex.HasGroup(group)) {
      return p.Error(item["topic_labels"][label],
                     k + ".topic_labels." + label + ": " +
                         (spec.topic_regex.empty()
                              ? std::string("there is no topic_regex")
                              : "topic_regex has no group \"" + group + "\""));
    }
  }
  return Status::Ok();
}

StatusOr<MappingSpec> ParseMapping(const Parser& p, const std::string& k,
                                   const YAML::Node& item) {
  if (!item.IsMap()) {
    return p.Error(item, k + ": want a mapping (name, topics, metrics, ...)");
  }
  MappingSpec spec;
  Status s = ParseMap(p, k, item, MappingTable(p, k), &spec);
  if (!s.ok()) return s;
  s = CheckMapping(p, k, item, spec);
  if (!s.ok()) return s;
  for (MetricSpec& m : spec.metrics) {
    if (m.help.empty()) m.help = m.name + " from MQTT mapping " + spec.name;
  }
  spec.origin = p.Origin(item);
  s = ValidateAt(p, spec, item, k, item["metrics"],
                 [&k](std::size_t i) { return Indexed(k + ".metrics", i); });
  if (!s.ok()) return s;
  return spec;
}

Status ParseMappings(const Parser& p, const YAML::Node& n, BridgeConfig* c) {
  std::vector<MappingSpec> out;
  Status s = p.ForEachItem(
      n, "mappings",
      [&](const YAML::Node& item, const std::string& k) -> Status {
        auto spec = ParseMapping(p, k, item);
        if (!spec.ok()) return spec.status();
        for (std::size_t j = 0; j < out.size(); ++j) {
          if (out[j].name == spec->name) {
            return p.Error(item["name"], k + ".name: mapping name \"" +
                                             spec->name + "\" is already " +
                                             "used by mappings[" +
                                             std::to_string(j) + "]");
          }
        }
        out.push_back(std::move(*spec));
        return Status::Ok();
      });
  if (!s.ok()) return s;
  c->mappings = std::move(out);
  return Status::Ok();
}

Handler<BridgeConfig> Section(const Parser& p, std::string name,
                              SectionTable table) {
  return [&p, name = std::move(name), table = std::move(table)](
             const YAML::Node& n, BridgeConfig* c) {
    return ParseMap(p, name, n, table, c);
  };
}

// The native format's top-level keys.
SectionTable NativeSections(const Parser& p) {
  SectionTable t;
  t["mqtt"] = Section(p, "mqtt", MqttSection(p));
  t["web"] = Section(p, "web", WebSection(p));
  t["limits"] = Section(p, "limits", LimitsSection(p));
  t["propeller"] = Section(p, "propeller", PropellerSection(p));
  t["mappings"] = [&p](const YAML::Node& n, BridgeConfig* c) {
    return ParseMappings(p, n, c);
  };
  return t;
}

}  // namespace

BridgeConfig::BridgeConfig() {
  // A persistent session by default: the broker queues QoS 1/2 messages
  // while the bridge is away (restart, broker restart before it resubscribes),
  // so nothing published meanwhile is lost. The client id that keys the
  // session is derived in EffectiveMqttOptions().
  mqtt.clean_start = false;
  mqtt.qos = 1;
}

std::string DefaultClientId(const std::string& listen_address) {
  // "propmon-bridge-HOST-PORT": stable across restarts, and two bridges on
  // one host (different ports) differ. Characters outside [A-Za-z0-9-] in
  // the host name become '-'.
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "unknown");
  }
  std::string id = "propmon-bridge-";
  for (const char* p = host; *p != '\0'; ++p) {
    bool ok = std::isalnum(static_cast<unsigned char>(*p)) || *p == '-';
    id += ok ? *p : '-';
  }
  size_t colon = listen_address.rfind(':');
  std::string port =
      colon == std::string::npos ? "" : listen_address.substr(colon + 1);
  if (port.empty() || port == "0") return "";  // no stable identity
  return id + "-" + port;
}

std::vector<std::string> BridgeConfig::SubscriptionFilters() const {
  std::vector<std::string> out;
  auto add = [&out](const std::string& f) {
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  };
  if (propeller_enabled) {
    for (const auto& t : topics) add(t);
  }
  for (const MappingSpec& m : mappings) {
    for (const auto& t : m.topics) add(t);
  }
  if (!shared_group.empty()) {
    for (auto& f : out) f = "$share/" + shared_group + "/" + f;
  }
  return out;
}

MqttOptions BridgeConfig::EffectiveMqttOptions() const {
  MqttOptions o = mqtt;
  o.mqtt_version =
      protocol_version != 0 ? protocol_version : (shared_group.empty() ? 3 : 5);
  if (o.client_id.empty() && !o.clean_start) {
    o.client_id = DefaultClientId(listen_address);
    // Port 0 (tests) has no stable identity to key a session by: a random
    // id with a clean session, rather than sessions nobody resumes.
    if (o.client_id.empty()) o.clean_start = true;
  }
  return o;
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

StatusOr<BridgeConfig> ParseConfig(std::string_view yaml,
                                   const std::string& filename,
                                   const BridgeConfig& base,
                                   const EnvLookup& env) {
  Parser p(filename);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return p.Error(e.mark, e.msg);
  }
  if (!root || root.IsNull()) return base;
  if (!root.IsMap()) return p.Error(root, "the config must be a mapping");
  StatusOr<BridgeConfig> c = base;
  try {
    const YAML::Node& top = root;
    if (IsMqtt2Prometheus(top)) {
      c = ParseMqtt2Prometheus(p, top, base, env);
    } else {
      Status s = ParseMap(p, "", top, NativeSections(p), &*c);
      if (!s.ok()) return s;
    }
  } catch (const YAML::Exception& e) {
    return p.Error(e.mark, e.msg);
  }
  if (!c.ok()) return c;
  Status s = ValidateConfig(*c);
  if (!s.ok()) return Status(s.code(), filename + ": " + s.message());
  return c;
}

StatusOr<BridgeConfig> ParseConfig(std::string_view yaml,
                                   const std::string& filename,
                                   const BridgeConfig& base) {
  return ParseConfig(yaml, filename, base, ProcessEnv);
}

StatusOr<BridgeConfig> LoadConfigFile(const std::string& path,
                                      const BridgeConfig& base) {
  std::string text;
  Status s = ReadFileTo(path, &text, 4 << 20);
  if (!s.ok()) {
    return InvalidArgument("cannot read config file " + path + ": " +
                           s.message());
  }
  return ParseConfig(text, path, base);
}

Status ValidateConfig(const BridgeConfig& c) {
  if (!c.shared_group.empty()) {
    Status s = ValidateMqttTopicFilter("$share/" + c.shared_group + "/x");
    if (!s.ok() || c.shared_group.find('/') != std::string::npos) {
      return InvalidArgument("mqtt.shared_group \"" + c.shared_group +
                             "\" is not a valid group name");
    }
    if (c.protocol_version == 3) {
      return InvalidArgument(
          "mqtt.shared_group needs MQTT 5 (mqtt.protocol_version: 5)");
    }
  }
  auto mqtt = ValidateMqttOptions(c.EffectiveMqttOptions());
  if (!mqtt.ok()) return InvalidArgument("mqtt: " + mqtt.status().message());
  for (const auto& f : c.topics) {
    Status s = ValidateMqttTopicFilter(f);
    if (!s.ok()) return InvalidArgument("mqtt.topics: " + s.message());
  }
  auto ports = ToCivetwebPorts(c.listen_address);
  if (!ports.ok()) {
    return InvalidArgument("web.listen_address: " + ports.status().message());
  }
  for (std::size_t i = 0; i < c.mappings.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (c.mappings[i].name == c.mappings[j].name) {
        return InvalidArgument("mappings: the name \"" + c.mappings[i].name +
                               "\" is used twice");
      }
    }
  }
  if (c.SubscriptionFilters().empty()) {
    return InvalidArgument(
        "nothing to subscribe to: propeller.enabled is false and there are "
        "no mappings");
  }
  return Status::Ok();
}

void DeclareFlags(FlagSet* flags) {
  flags->String("config.file", "", "Path to the YAML configuration file.");
  flags->String("web.listen-address", kDefaultListenAddress,
                "Address to serve /metrics, the REST API and SSE on.");
  flags->String("web.config.file", "",
                "Web config (exporter-toolkit format): TLS, basic auth, "
                "headers, rate limit (docs/security.md).");
  flags->String("mqtt.url", "tcp://127.0.0.1:1883",
                "MQTT broker URL (tcp://, mqtt://, ssl://, mqtts://).");
  flags->String("mqtt.shared-group", "",
                "MQTT 5 shared subscription group: bridges with the same "
                "group split the feed.");
  flags->String("mqtt.client-id", "",
                "MQTT client id (default: propmon-bridge-HOST-PORT).");
  flags->String("mqtt.username", "",
                "MQTT user name; the password comes from "
                "PROPMON_MQTT_PASSWORD or mqtt.password_file.");
  flags->String("limits.queue-size", "",
                "Messages buffered between the MQTT thread and the worker "
                "(default 100000).");
  flags->String("limits.series-limit", "",
                "Most series held; new series beyond are refused "
                "(default 200000).");
  flags->String("log.level", "info", "debug, info, warn or error.");
  flags->String("debug.worker-delay", "",
                "Testing only: the worker sleeps this long per message.");
  flags->Bool("version", "Print the version and exit.");
  flags->Bool("help", "Print this help and exit.");
}

StatusOr<BridgeConfig> ConfigFromFlags(const FlagSet& flags) {
  BridgeConfig c;
  if (!flags.Get("config.file").empty()) {
    auto loaded = LoadConfigFile(flags.Get("config.file"));
    if (!loaded.ok()) return loaded.status();
    c = std::move(loaded).value();
  }
  if (flags.IsSet("web.listen-address")) {
    c.listen_address = flags.Get("web.listen-address");
  }
  if (flags.IsSet("web.config.file")) {
    c.web_config_file = flags.Get("web.config.file");
  }
  if (flags.IsSet("mqtt.url")) c.mqtt.url = flags.Get("mqtt.url");
  if (flags.IsSet("mqtt.shared-group")) {
    c.shared_group = flags.Get("mqtt.shared-group");
  }
  if (flags.IsSet("mqtt.client-id")) {
    c.mqtt.client_id = flags.Get("mqtt.client-id");
  }
  if (flags.IsSet("mqtt.username")) {
    c.mqtt.username = flags.Get("mqtt.username");
  }
  // The password from the environment (never on the command line, where
  // every local user can read it).
  if (const char* pw = std::getenv("PROPMON_MQTT_PASSWORD"); pw && *pw) {
    c.mqtt.password = pw;
  }
  auto count = [&](const char* name, std::size_t* out) -> Status {
    if (!flags.IsSet(name)) return Status::Ok();
    const std::string& s = flags.Get(name);
    unsigned long long v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v == 0) {
      return InvalidArgument(std::string("--") + name +
                             ": want a positive integer, got \"" + s + "\"");
    }
    *out = static_cast<std::size_t>(v);
    return Status::Ok();
  };
  Status s = count("limits.queue-size", &c.queue_size);
  if (!s.ok()) return s;
  s = count("limits.series-limit", &c.series_limit);
  if (!s.ok()) return s;
  if (flags.IsSet("debug.worker-delay")) {
    auto d = ParseDuration(flags.Get("debug.worker-delay"));
    if (!d.ok()) {
      return InvalidArgument("--debug.worker-delay: " + d.status().message());
    }
    c.debug_worker_delay_seconds = *d;
  }
  s = ValidateConfig(c);
  if (!s.ok()) return s;
  return c;
}

}  // namespace propmon::bridge
