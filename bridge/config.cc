#include "bridge/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "common/file.h"
#include "common/http_server.h"

namespace propmon::bridge {
namespace {

using Handler = std::function<Status(const YAML::Node&, BridgeConfig*)>;

class Parser {
 public:
  explicit Parser(std::string filename) : filename_(std::move(filename)) {}

  Status Error(const YAML::Mark& mark, const std::string& message) const {
    if (mark.line < 0) return InvalidArgument(filename_ + ": " + message);
    return InvalidArgument(filename_ + ":" + std::to_string(mark.line + 1) +
                           ":" + std::to_string(mark.column + 1) + ": " +
                           message);
  }
  Status Error(const YAML::Node& n, const std::string& message) const {
    return Error(n.Mark(), message);
  }

  StatusOr<std::string> String(const YAML::Node& n,
                               const std::string& key) const {
    if (!n.IsScalar()) return Error(n, key + ": want a string");
    return n.Scalar();
  }
  StatusOr<bool> Bool(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    return Error(n, key + ": want true or false");
  }
  StatusOr<long long> Int(const YAML::Node& n, const std::string& key,
                          long long min, long long max) const {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      long long v = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (r.ec == std::errc() && r.ptr == s.data() + s.size()) {
        if (v < min || v > max) {
          return Error(n, key + ": " + s + " is outside " +
                              std::to_string(min) + ".." + std::to_string(max));
        }
        return v;
      }
    }
    return Error(n, key + ": want an integer");
  }
  StatusOr<double> Duration(const YAML::Node& n, const std::string& key,
                            double min) const {
    if (!n.IsScalar()) return Error(n, key + ": want a duration like 30s");
    auto d = ParseDuration(n.Scalar());
    if (!d.ok()) return Error(n, key + ": " + d.status().message());
    if (*d < min) {
      return Error(
          n, key + ": must be at least " + std::to_string(min) + " seconds");
    }
    return *d;
  }
  StatusOr<std::size_t> Bytes(const YAML::Node& n, const std::string& key,
                              std::size_t min) const {
    if (!n.IsScalar()) return Error(n, key + ": want a size like 64KiB");
    auto b = ParseBytes(n.Scalar());
    if (!b.ok()) return Error(n, key + ": " + b.status().message());
    if (*b < min) {
      return Error(n, key + ": must be at least " + std::to_string(min));
    }
    return *b;
  }
  StatusOr<std::size_t> Count(const YAML::Node& n, const std::string& key,
                              long long min) const {
    auto v = Int(n, key, min, std::numeric_limits<int>::max());
    if (!v.ok()) return v.status();
    return static_cast<std::size_t>(*v);
  }

 private:
  std::string filename_;
};

#define PM_ASSIGN(lhs, expr)              \
  do {                                    \
    auto pm_v = (expr);                   \
    if (!pm_v.ok()) return pm_v.status(); \
    lhs = *pm_v;                          \
  } while (0)

using SectionTable = std::map<std::string, Handler>;

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

Status ParseSection(const Parser& p, const std::string& name,
                    const YAML::Node& node, const SectionTable& table,
                    BridgeConfig* c) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return p.Error(node, name + ": want a mapping");
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) return p.Error(key, name + ": keys must be strings");
    auto it = table.find(key.Scalar());
    if (it == table.end()) {
      std::string known;
      for (const auto& [k, h] : table) known += (known.empty() ? "" : ", ") + k;
      return p.Error(key, "unknown key " + name + "." + key.Scalar() +
                              " (known: " + known + ")");
    }
    Status s = it->second(kv.second, c);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

BridgeConfig::BridgeConfig() {
  mqtt.clean_start = true;
  mqtt.qos = 1;
}

std::vector<std::string> BridgeConfig::SubscriptionFilters() const {
  if (shared_group.empty()) return topics;
  std::vector<std::string> out;
  out.reserve(topics.size());
  for (const auto& t : topics)
    out.push_back("$share/" + shared_group + "/" + t);
  return out;
}

MqttOptions BridgeConfig::EffectiveMqttOptions() const {
  MqttOptions o = mqtt;
  o.mqtt_version =
      protocol_version != 0 ? protocol_version : (shared_group.empty() ? 3 : 5);
  return o;
}

StatusOr<double> ParseDuration(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty duration");
  // A bare number is seconds.
  {
    double v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
      if (!std::isfinite(v) || v < 0) {
        return InvalidArgument("invalid duration \"" + std::string(text) +
                               "\"");
      }
      return v;
    }
  }
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    double v = 0;
    auto r = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (r.ec != std::errc() || v < 0) {
      return InvalidArgument("invalid duration \"" + std::string(text) +
                             "\" (want e.g. 30s, 5m, 1h30m, 500ms)");
    }
    i = static_cast<size_t>(r.ptr - text.data());
    size_t u = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(u, i - u);
    double scale;
    if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else if (unit == "d") {
      scale = 86400;
    } else if (unit == "w") {
      scale = 7 * 86400;
    } else {
      return InvalidArgument("invalid duration \"" + std::string(text) +
                             "\" (units: ms, s, m, h, d, w)");
    }
    total += v * scale;
  }
  if (!std::isfinite(total)) {
    return InvalidArgument("invalid duration \"" + std::string(text) + "\"");
  }
  return total;
}

StatusOr<std::size_t> ParseBytes(std::string_view text) {
  unsigned long long v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || text.empty()) {
    return InvalidArgument("invalid size \"" + std::string(text) +
                           "\" (want e.g. 65536, 64KiB, 256MiB)");
  }
  std::string_view unit = text.substr(static_cast<size_t>(r.ptr - text.data()));
  unsigned long long scale;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB") {
    scale = 1ull << 10;
  } else if (unit == "MiB") {
    scale = 1ull << 20;
  } else if (unit == "GiB") {
    scale = 1ull << 30;
  } else if (unit == "KB" || unit == "kB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000 * 1000;
  } else if (unit == "GB") {
    scale = 1000 * 1000 * 1000;
  } else {
    return InvalidArgument("invalid size unit in \"" + std::string(text) +
                           "\" (B, KiB, MiB, GiB, KB, MB, GB)");
  }
  if (v > std::numeric_limits<std::size_t>::max() / scale) {
    return InvalidArgument("size \"" + std::string(text) + "\" is too large");
  }
  return static_cast<std::size_t>(v * scale);
}

StatusOr<BridgeConfig> ParseConfig(std::string_view yaml,
                                   const std::string& filename,
                                   const BridgeConfig& base) {
  Parser p(filename);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return p.Error(e.mark, e.msg);
  }
  BridgeConfig c = base;
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return p.Error(root, "the config must be a mapping");
  // Top-level sections. Issue 7 adds `mappings` here.
  const std::map<std::string, SectionTable> sections = {
      {"mqtt", MqttSection(p)},
      {"web", WebSection(p)},
      {"limits", LimitsSection(p)},
      {"propeller", PropellerSection(p)},
  };
  try {
    for (const auto& kv : root) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) return p.Error(key, "keys must be strings");
      auto it = sections.find(key.Scalar());
      if (it == sections.end()) {
        if (key.Scalar() == "mappings") {
          return p.Error(key,
                         "mappings: configurable mappings are not supported "
                         "by this version yet");
        }
        return p.Error(key, "unknown key " + key.Scalar() +
                                " (known: limits, mqtt, propeller, web)");
      }
      Status s = ParseSection(p, it->first, kv.second, it->second, &c);
      if (!s.ok()) return s;
    }
  } catch (const YAML::Exception& e) {
    return p.Error(e.mark, e.msg);
  }
  Status s = ValidateConfig(c);
  if (!s.ok()) return Status(s.code(), filename + ": " + s.message());
  return c;
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
  return Status::Ok();
}

void DeclareFlags(FlagSet* flags) {
  flags->String("config.file", "", "Path to the YAML configuration file.");
  flags->String("web.listen-address", kDefaultListenAddress,
                "Address to serve /metrics, the REST API and SSE on.");
  flags->String("mqtt.url", "tcp://127.0.0.1:1883",
                "MQTT broker URL (tcp://, mqtt://, ssl://, mqtts://).");
  flags->String("mqtt.shared-group", "",
                "MQTT 5 shared subscription group: bridges with the same "
                "group split the feed.");
  flags->String("mqtt.client-id", "", "MQTT client id (default: random).");
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
  if (flags.IsSet("mqtt.url")) c.mqtt.url = flags.Get("mqtt.url");
  if (flags.IsSet("mqtt.shared-group")) {
    c.shared_group = flags.Get("mqtt.shared-group");
  }
  if (flags.IsSet("mqtt.client-id")) {
    c.mqtt.client_id = flags.Get("mqtt.client-id");
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
