// mqtt2prometheus config files (its `mqtt:`, `cache:`, `json_parsing:` and
// `metrics:` sections) translated into one MappingSpec of the bridge, with
// notices for what the bridge does differently
// (docs/migrating-from-mqtt2prometheus.md).
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "bridge/config.h"
#include "bridge/config_parser.h"
#include "common/log.h"

namespace propmon::bridge::config_parser {
namespace {

// ---- mqtt2prometheus config files ----

constexpr char kM2pMapping[] = "mqtt2prometheus";
constexpr char kM2pTopicPath[] = "v1/devices/me";
constexpr char kM2pDeviceIdRegex[] = "(.*/)?(?P<deviceid>.*)";
constexpr char kM2pMetricNameRegex[] = "(.*/)?(?P<metricname>.*)";

// One entry of mqtt2prometheus' `metrics:` list, as written.
struct M2pMetric {
  MetricSpec spec;  // name, help, type, const_labels, value_map, scale, ...
  std::string origin;
  std::string type_text;  // as written ("" = not given)
  std::string mqtt_name;
  std::string payload_field;
  StringPairs dynamic_labels;
  std::optional<Regex> sensor_filter;
  std::optional<double> error_value;
  std::optional<double> string_error_value;  // string_value_mapping's
  bool omit_timestamp = false;
  std::vector<std::string> ignored;  // keys accepted and ignored
};

// An mqtt2prometheus file, as written. MQTT settings go to `config`.
struct M2pFile {
  BridgeConfig config;
  std::string topic_path = kM2pTopicPath;
  bool topic_path_given = false;
  std::vector<std::string> topic_paths;
  Regex device_id_regex;
  bool object_per_topic = false;
  bool metric_per_topic = false;
  Regex metric_name_regex;
  double cache_timeout = 120;  // seconds; 0 = never expires
  std::string state_directory;
  std::string separator = ".";
  std::vector<M2pMetric> metrics;
  YAML::Node metrics_node;
  std::vector<std::string> notices;
};

// A regex that must have the named group (mqtt2prometheus' check).
StatusOr<Regex> RegexWithGroup(const Parser& p, const YAML::Node& n,
                               const std::string& key, const std::string& what,
                               const std::string& group) {
  auto re = p.Pattern(n, key);
  if (re.ok() && !re->HasGroup(group)) {
    return p.Error(n, key + ": " + what + " regex \"" + re->pattern() +
                          "\" does not contain required regex group \"" +
                          group + "\"");
  }
  return re;
}

Table<M2pFile> M2pObjectPerTopic(const Parser& p) {
  Table<M2pFile> t;
  t["encoding"] = [&p](const YAML::Node& n, M2pFile*) -> Status {
    std::string enc;
    PM_ASSIGN(enc, p.String(n, "mqtt.object_per_topic_config.encoding"));
    std::string upper = enc;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
    if (upper != "JSON") {
      return p.Error(n,
                     "mqtt.object_per_topic_config.encoding: unsupported "
                     "object format \"" +
                         enc + "\" (only JSON)");
    }
    return Status::Ok();
  };
  return t;
}

Table<M2pFile> M2pMetricPerTopic(const Parser& p) {
  Table<M2pFile> t;
  t["metric_name_regex"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->metric_name_regex,
              RegexWithGroup(p, n,
                             "mqtt.metric_per_topic_config."
                             "metric_name_regex",
                             "metric name", "metricname"));
    return Status::Ok();
  };
  return t;
}

// A string key of `mqtt:` stored in the BridgeConfig.
Handler<M2pFile> M2pMqttString(const Parser& p, const std::string& key,
                               std::string MqttOptions::*field) {
  return [&p, key, field](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->config.mqtt.*field, p.String(n, "mqtt." + key));
    return Status::Ok();
  };
}

Table<M2pFile> M2pMqtt(const Parser& p) {
  Table<M2pFile> t;
  t["server"] = M2pMqttString(p, "server", &MqttOptions::url);
  t["user"] = M2pMqttString(p, "user", &MqttOptions::username);
  t["password"] = M2pMqttString(p, "password", &MqttOptions::password);
  t["ca_cert"] = M2pMqttString(p, "ca_cert", &MqttOptions::ca_file);
  t["client_cert"] = M2pMqttString(p, "client_cert", &MqttOptions::cert_file);
  t["client_key"] = M2pMqttString(p, "client_key", &MqttOptions::key_file);
  t["client_id"] = M2pMqttString(p, "client_id", &MqttOptions::client_id);
  t["qos"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->config.mqtt.qos, p.Int(n, "mqtt.qos", 0, 2));
    return Status::Ok();
  };
  t["topic_path"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->topic_path, p.TopicFilter(n, "mqtt.topic_path"));
    f->topic_path_given = true;
    return Status::Ok();
  };
  t["topic_paths"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    f->topic_paths.clear();
    return p.ForEachItem(
        n, "mqtt.topic_paths",
        [&](const YAML::Node& item, const std::string& k) -> Status {
          auto filter = p.TopicFilter(item, k);
          if (!filter.ok()) return filter.status();
          f->topic_paths.push_back(*filter);
          return Status::Ok();
        });
  };
  t["device_id_regex"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->device_id_regex, RegexWithGroup(p, n, "mqtt.device_id_regex",
                                                 "device id", "deviceid"));
    return Status::Ok();
  };
  t["object_per_topic_config"] = [&p](const YAML::Node& n, M2pFile* f) {
    f->object_per_topic = true;
    return ParseMap(p, "mqtt.object_per_topic_config", n, M2pObjectPerTopic(p),
                    f);
  };
  t["metric_per_topic_config"] = [&p](const YAML::Node& n, M2pFile* f) {
    f->metric_per_topic = true;
    return ParseMap(p, "mqtt.metric_per_topic_config", n, M2pMetricPerTopic(p),
                    f);
  };
  return t;
}

Table<M2pFile> M2pCache(const Parser& p) {
  Table<M2pFile> t;
  t["timeout"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    // A Go duration; negative means never expire (mqtt2prometheus passes it
    // to go-cache), which is expiry 0 here.
    if (n.IsScalar() && n.Scalar().starts_with('-')) {
      auto d = ParseDuration(std::string_view(n.Scalar()).substr(1));
      if (!d.ok()) return p.Error(n, "cache.timeout: " + d.status().message());
      f->cache_timeout = 0;
      return Status::Ok();
    }
    PM_ASSIGN(f->cache_timeout, p.Duration(n, "cache.timeout", 0));
    return Status::Ok();
  };
  t["state_directory"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->state_directory, p.String(n, "cache.state_directory"));
    return Status::Ok();
  };
  return t;
}

Table<M2pFile> M2pJsonParsing(const Parser& p) {
  Table<M2pFile> t;
  t["separator"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    PM_ASSIGN(f->separator, p.String(n, "json_parsing.separator"));
    return Status::Ok();
  };
  return t;
}

Table<M2pMetric> M2pStringValueMapping(const Parser& p, const std::string& k) {
  Table<M2pMetric> t;
  t["map"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    m->spec.value_map.clear();
    return p.ForEachEntry(n, k + ".map",
                          [&](const YAML::Node& key, const YAML::Node& v,
                              const std::string& name) -> Status {
                            auto x = p.Double(v, name);
                            if (!x.ok()) return x.status();
                            m->spec.value_map[key.Scalar()] = *x;
                            return Status::Ok();
                          });
  };
  t["error_value"] = Assign(k + ".error_value", &M2pMetric::string_error_value,
                            Readers{p}.Double());
  return t;
}

// A key that is accepted and ignored (a notice says why).
Handler<M2pMetric> M2pIgnored(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, M2pMetric* m) -> Status {
    if (!n.IsScalar()) return p.Error(n, key + ": want a string");
    if (!n.Scalar().empty())
      m->ignored.push_back(key.substr(key.rfind('.') + 1));
    return Status::Ok();
  };
}

Handler<M2pMetric> M2pPromName(const Parser& p, const std::string& key) {
  return [&p, key](const YAML::Node& n, M2pMetric* m) -> Status {
    PM_ASSIGN(m->spec.name, p.String(n, key));
    if (!IsValidMetricName(m->spec.name)) {
      return p.Error(
          n, key + ": \"" + m->spec.name + "\" is not a valid metric name");
    }
    return Status::Ok();
  };
}

Table<M2pMetric> M2pMetricTable(const Parser& p, const std::string& k) {
  Readers r{p};
  Table<M2pMetric> t;
  t["prom_name"] = M2pPromName(p, k + ".prom_name");
  t["mqtt_name"] = Assign(k + ".mqtt_name", &M2pMetric::mqtt_name, r.Str());
  t["help"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    PM_ASSIGN(m->spec.help, p.String(n, k + ".help"));
    return Status::Ok();
  };
  t["type"] = Assign(k + ".type", &M2pMetric::type_text, r.Str());
  t["const_labels"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    PM_ASSIGN(m->spec.const_labels, p.LabelPairs(n, k + ".const_labels"));
    return Status::Ok();
  };
  t["dynamic_labels"] =
      Assign(k + ".dynamic_labels", &M2pMetric::dynamic_labels, r.Labels());
  t["sensor_name_filter"] =
      Assign(k + ".sensor_name_filter", &M2pMetric::sensor_filter, r.Pattern());
  t["string_value_mapping"] = [&p, k](const YAML::Node& n, M2pMetric* m) {
    std::string key = k + ".string_value_mapping";
    return ParseMap(p, key, n, M2pStringValueMapping(p, key), m);
  };
  t["error_value"] =
      Assign(k + ".error_value", &M2pMetric::error_value, r.Double());
  t["mqtt_value_scale"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    PM_ASSIGN(m->spec.scale, p.Double(n, k + ".mqtt_value_scale"));
    if (m->spec.scale == 0) m->spec.scale = 1;  // 0: no scaling
    return Status::Ok();
  };
  t["omit_timestamp"] =
      Assign(k + ".omit_timestamp", &M2pMetric::omit_timestamp, r.Bool());
  t["force_monotonicy"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    PM_ASSIGN(m->spec.force_monotonic, p.Bool(n, k + ".force_monotonicy"));
    return Status::Ok();
  };
  t["payload_field"] =
      Assign(k + ".payload_field", &M2pMetric::payload_field, r.Str());
  t["expression"] = M2pIgnored(p, k + ".expression");
  t["raw_expression"] = M2pIgnored(p, k + ".raw_expression");
  t["inherit_labels"] = [&p, k](const YAML::Node& n, M2pMetric* m) -> Status {
    bool inherit = false;
    PM_ASSIGN(inherit, p.Bool(n, k + ".inherit_labels"));
    if (inherit) m->ignored.push_back("inherit_labels");
    return Status::Ok();
  };
  return t;
}

StatusOr<M2pMetric> ParseM2pMetric(const Parser& p, const std::string& k,
                                   const YAML::Node& item) {
  if (!item.IsMap()) {
    return p.Error(item, k + ": want a mapping (prom_name, mqtt_name, ...)");
  }
  M2pMetric m;
  m.spec.type = MetricType::kUntyped;
  m.origin = p.Origin(item);
  Status s = ParseMap(p, k, item, M2pMetricTable(p, k), &m);
  if (!s.ok()) return s;
  for (const char* required : {"prom_name", "mqtt_name"}) {
    if (!item[required].IsDefined()) {
      return p.Error(item, k + ": missing key " + required);
    }
  }
  if (m.type_text == "gauge") {
    m.spec.type = MetricType::kGauge;
  } else if (m.type_text == "counter") {
    m.spec.type = MetricType::kCounter;
  }
  return m;
}

Table<M2pFile> M2pTopLevel(const Parser& p) {
  Table<M2pFile> t;
  t["mqtt"] = [&p](const YAML::Node& n, M2pFile* f) {
    return ParseMap(p, "mqtt", n, M2pMqtt(p), f);
  };
  t["cache"] = [&p](const YAML::Node& n, M2pFile* f) {
    return ParseMap(p, "cache", n, M2pCache(p), f);
  };
  t["json_parsing"] = [&p](const YAML::Node& n, M2pFile* f) {
    return ParseMap(p, "json_parsing", n, M2pJsonParsing(p), f);
  };
  t["enable_profiling_metrics"] = [&p](const YAML::Node& n,
                                       M2pFile* f) -> Status {
    bool on = false;
    PM_ASSIGN(on, p.Bool(n, "enable_profiling_metrics"));
    if (!on) return Status::Ok();
    f->notices.push_back(
        p.Origin(n) +
        ": enable_profiling_metrics ignored: propmon-bridge "
        "has no Go profiling metrics; its own propmon_bridge_* "
        "metrics are always served");
    return Status::Ok();
  };
  t["metrics"] = [&p](const YAML::Node& n, M2pFile* f) -> Status {
    f->metrics.clear();
    f->metrics_node = n;
    return p.ForEachItem(n, "metrics",
                         [&](const YAML::Node& item, const std::string& k) {
                           auto m = ParseM2pMetric(p, k, item);
                           if (!m.ok()) return m.status();
                           f->metrics.push_back(std::move(*m));
                           return Status::Ok();
                         });
  };
  return t;
}

// "metrics[i] (prom_name X)", for messages.
std::string M2pMetricKey(const std::vector<M2pMetric>& metrics, std::size_t i) {
  return Indexed("metrics", i) + " (prom_name " + metrics[i].spec.name + ")";
}

// Notices for what one metric's keys cannot do here.
void M2pMetricNotices(const M2pFile& f, std::size_t i,
                      std::vector<std::string>* notices) {
  const M2pMetric& m = f.metrics[i];
  std::string where = m.origin + ": " + M2pMetricKey(f.metrics, i) + ": ";
  for (const std::string& key : m.ignored) {
    if (key == "inherit_labels") {
      notices->push_back(where +
                         "inherit_labels ignored: propmon-bridge has no "
                         "label inheritance between metrics");
    } else {
      notices->push_back(where + key +
                         ": propmon-bridge has no expression language, and "
                         "the raw value would be another number: this metric "
                         "is not exported");
    }
  }
  if (!m.type_text.empty() && m.spec.type == MetricType::kUntyped) {
    notices->push_back(where + "type \"" + m.type_text +
                       "\" is not gauge or counter: exposed as untyped, as "
                       "mqtt2prometheus does");
  }
  if (m.spec.force_monotonic && m.spec.type != MetricType::kCounter) {
    notices->push_back(where + "force_monotonicy on a " +
                       MetricTypeName(m.spec.type) +
                       ": applied anyway, as mqtt2prometheus does");
  }
  if (!f.metric_per_topic && !m.payload_field.empty()) {
    notices->push_back(where +
                       "payload_field ignored: it applies to "
                       "metric_per_topic_config only");
  }
}

MetricSpec M2pMetricSpec(const M2pFile& f, const M2pMetric& m) {
  MetricSpec s = m.spec;
  s.first_match_key = m.mqtt_name;
  if (f.metric_per_topic) {
    // The metric applies when metric_name_regex's metricname group of the
    // topic equals mqtt_name; the value is the payload (or payload_field).
    s.value = SplitSeparatorPath(m.payload_field, f.separator);
    s.when.emplace_back("@metricname", f.metric_name_regex);
  } else {
    s.value = SplitSeparatorPath(m.mqtt_name, f.separator);
  }
  if (m.sensor_filter) s.when.emplace_back("deviceid", *m.sensor_filter);
  for (const auto& [label, path] : m.dynamic_labels) {
    s.json_labels.emplace_back(label, SplitSeparatorPath(path, f.separator));
  }
  s.error_value = m.error_value ? m.error_value : m.string_error_value;
  return s;
}

// Timestamps are per mapping here: on when any metric keeps them.
bool M2pTimestamps(const Parser& p, const M2pFile& f,
                   std::vector<std::string>* notices) {
  std::string omitted;
  bool any_kept = false;
  for (std::size_t i = 0; i < f.metrics.size(); ++i) {
    if (!f.metrics[i].omit_timestamp) {
      any_kept = true;
    } else {
      omitted += (omitted.empty() ? "" : ", ") + M2pMetricKey(f.metrics, i);
    }
  }
  if (any_kept && !omitted.empty()) {
    notices->push_back(
        p.filename() +
        ": omit_timestamp is set on some metrics only; propmon-bridge sets "
        "timestamps per mapping, so these carry the receive time too: " +
        omitted);
  }
  return any_kept;
}

std::vector<std::string> M2pTopics(const M2pFile& f) {
  std::vector<std::string> topics;
  if (f.topic_paths.empty() || f.topic_path_given) {
    topics.push_back(f.topic_path);
  }
  for (const auto& t : f.topic_paths) {
    if (std::find(topics.begin(), topics.end(), t) == topics.end()) {
      topics.push_back(t);
    }
  }
  return topics;
}

MappingSpec M2pSpec(const Parser& p, M2pFile* f) {
  MappingSpec spec;
  spec.name = kM2pMapping;
  spec.topics = M2pTopics(*f);
  spec.topic_regex = f->device_id_regex;
  spec.topic_labels = {{"sensor", "deviceid"}};
  spec.topic_labels_default = false;
  spec.require_topic_match = false;
  spec.topic_label = "topic";
  // Object per topic wins when both are given, as in mqtt2prometheus.
  if (f->metric_per_topic && f->object_per_topic) {
    f->metric_per_topic = false;
    f->notices.push_back(p.filename() +
                         ": mqtt.metric_per_topic_config ignored: "
                         "object_per_topic_config is also given and wins, as "
                         "in mqtt2prometheus");
  }
  spec.payload = f->metric_per_topic ? PayloadKind::kValue : PayloadKind::kJson;
  spec.expiry_seconds = f->cache_timeout;
  spec.state_directory = f->state_directory;
  spec.receive_timestamps = M2pTimestamps(p, *f, &f->notices);
  spec.origin = p.filename() + ":1";
  for (std::size_t i = 0; i < f->metrics.size(); ++i) {
    M2pMetricNotices(*f, i, &f->notices);
    const auto& ignored = f->metrics[i].ignored;
    bool needs_expression =
        std::find_if(ignored.begin(), ignored.end(), [](const auto& key) {
          return key != "inherit_labels";
        }) != ignored.end();
    // Absent rather than a number the config did not ask for.
    if (needs_expression) continue;
    spec.metrics.push_back(M2pMetricSpec(*f, f->metrics[i]));
  }
  return spec;
}

// mqtt2prometheus verifies a TLS broker against the system's roots when no
// ca_cert is given; MqttClient wants the bundle named.
void M2pSystemRoots(MqttOptions* mqtt) {
  bool tls =
      mqtt->url.starts_with("ssl://") || mqtt->url.starts_with("mqtts://");
  if (tls && mqtt->ca_file.empty() && !mqtt->insecure) {
    mqtt->ca_file = "/etc/ssl/certs/ca-certificates.crt";
  }
}

}  // namespace

// Parses an mqtt2prometheus file into one mapping, Propeller off.
StatusOr<BridgeConfig> ParseMqtt2Prometheus(const Parser& p,
                                            const YAML::Node& root,
                                            const BridgeConfig& base,
                                            const EnvLookup& env) {
  M2pFile f;
  f.config = base;
  f.config.mqtt.qos = 0;  // mqtt2prometheus' default
  f.device_id_regex = *Regex::Compile(kM2pDeviceIdRegex);
  f.metric_name_regex = *Regex::Compile(kM2pMetricNameRegex);
  Status s = ParseMap(p, "", root, M2pTopLevel(p), &f);
  if (!s.ok()) return s;
  if (f.metrics.empty()) {
    return p.Error(root["metrics"].IsDefined() ? root["metrics"] : root,
                   "metrics: want a non-empty list (mqtt2prometheus exports "
                   "only the metrics listed)");
  }
  // As mqtt2prometheus: set and non-empty, they override the file.
  auto user = env("MQTT2PROM_MQTT_USER");
  if (user && !user->empty()) f.config.mqtt.username = *user;
  auto password = env("MQTT2PROM_MQTT_PASSWORD");
  if (password && !password->empty()) f.config.mqtt.password = *password;
  M2pSystemRoots(&f.config.mqtt);
  MappingSpec spec = M2pSpec(p, &f);
  s = ValidateAt(p, spec, root, "mqtt2prometheus config", f.metrics_node,
                 [&f](std::size_t i) { return M2pMetricKey(f.metrics, i); });
  if (!s.ok()) return s;
  f.config.propeller_enabled = false;
  f.config.mqtt2prometheus = true;
  f.config.mappings = {std::move(spec)};
  f.config.notices = std::move(f.notices);
  return f.config;
}

// An mqtt2prometheus file: a top-level `metrics:` (the native format has
// none), or one of mqtt2prometheus' own keys in `mqtt:`.
bool IsMqtt2Prometheus(const YAML::Node& root) {
  if (root["metrics"].IsDefined()) return true;
  const YAML::Node mqtt = root["mqtt"];
  if (!mqtt.IsDefined() || !mqtt.IsMap()) return false;
  for (const char* key : {"server", "user", "topic_path", "device_id_regex",
                          "metric_per_topic_config", "object_per_topic_config",
                          "ca_cert", "client_cert", "client_key"}) {
    if (mqtt[key].IsDefined()) return true;
  }
  return false;
}

}  // namespace propmon::bridge::config_parser
