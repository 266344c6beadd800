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

#include "bridge/text_format.h"
#include "common/file.h"
#include "common/http_server.h"

namespace propmon::bridge {
namespace {

template <typename T>
using Handler = std::function<Status(const YAML::Node&, T*)>;
// The keys of one YAML mapping: key -> handler of its value.
template <typename T>
using Table = std::map<std::string, Handler<T>>;
using SectionTable = Table<BridgeConfig>;
using StringPairs = std::vector<std::pair<std::string, std::string>>;

// "prefix.key", or "key" at the top level.
std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}
std::string Indexed(const std::string& prefix, std::size_t i) {
  return prefix + "[" + std::to_string(i) + "]";
}

class Parser {
 public:
  // fn(key node, value node, "prefix.key") for each entry of a mapping.
  using EntryFn = std::function<Status(const YAML::Node&, const YAML::Node&,
                                       const std::string&)>;
  // fn(item, "prefix[i]") for each item of a list.
  using ItemFn = std::function<Status(const YAML::Node&, const std::string&)>;

  explicit Parser(std::string filename) : filename_(std::move(filename)) {}

  const std::string& filename() const { return filename_; }
  // "FILE:LINE" of a node.
  std::string Origin(const YAML::Node& n) const {
    return filename_ + ":" + std::to_string(n.Mark().line + 1);
  }

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
  StatusOr<double> Double(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) {
      std::string_view s = n.Scalar();
      if (s.starts_with('+')) s.remove_prefix(1);
      double v = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() &&
          std::isfinite(v)) {
        return v;
      }
    }
    return Error(n, key + ": want a number");
  }
  StatusOr<std::string> LabelName(const YAML::Node& n,
                                  const std::string& key) const {
    auto s = String(n, key);
    if (s.ok() && !IsValidLabelName(*s)) {
      return Error(n, key + ": \"" + *s + "\" is not a valid label name");
    }
    return s;
  }
  StatusOr<std::string> TopicFilter(const YAML::Node& n,
                                    const std::string& key) const {
    auto s = String(n, key);
    if (!s.ok()) return s;
    Status v = ValidateMqttTopicFilter(*s);
    if (!v.ok()) return Error(n, key + ": " + v.message());
    return s;
  }
  StatusOr<Regex> Pattern(const YAML::Node& n, const std::string& key) const {
    auto s = String(n, key);
    if (!s.ok()) return s.status();
    auto r = Regex::Compile(*s);
    if (!r.ok()) return Error(n, key + ": " + r.status().message());
    return r;
  }
  StatusOr<ValuePath> Path(const YAML::Node& n, const std::string& key) const {
    auto s = String(n, key);
    if (!s.ok()) return s.status();
    auto path = ParseValuePath(*s);
    if (!path.ok()) return Error(n, key + ": " + path.status().message());
    return path;
  }

  // Each entry of a mapping, in file order. Null is an empty mapping; keys
  // must be unique strings.
  Status ForEachEntry(const YAML::Node& n, const std::string& key,
                      const EntryFn& fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsMap()) return Error(n, key + ": want a mapping");
    std::vector<std::string> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        return Error(kv.first, key + ": keys must be strings");
      }
      const std::string& k = kv.first.Scalar();
      if (std::find(seen.begin(), seen.end(), k) != seen.end()) {
        return Error(kv.first, Join(key, k) + ": repeated key");
      }
      seen.push_back(k);
      Status s = fn(kv.first, kv.second, Join(key, k));
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }
  // Each item of a list. Null is an empty list.
  Status ForEachItem(const YAML::Node& n, const std::string& key,
                     const ItemFn& fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsSequence()) return Error(n, key + ": want a list");
    std::size_t i = 0;
    for (const auto& item : n) {
      Status s = fn(item, Indexed(key, i++));
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }
  // A list of strings; `labels`: each a valid label name.
  StatusOr<std::vector<std::string>> StringList(const YAML::Node& n,
                                                const std::string& key,
                                                bool labels) const {
    std::vector<std::string> out;
    Status s = ForEachItem(
        n, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          auto v = labels ? LabelName(item, k) : String(item, k);
          if (!v.ok()) return v.status();
          out.push_back(*v);
          return Status::Ok();
        });
    if (!s.ok()) return s;
    return out;
  }
  // A mapping of label names to strings, in file order.
  StatusOr<StringPairs> LabelPairs(const YAML::Node& n,
                                   const std::string& key) const {
    StringPairs out;
    Status s = ForEachEntry(n, key,
                            [&](const YAML::Node& k, const YAML::Node& v,
                                const std::string& name) -> Status {
                              auto label = LabelName(k, name);
                              if (!label.ok()) return label.status();
                              auto value = String(v, name);
                              if (!value.ok()) return value.status();
                              out.emplace_back(*label, *value);
                              return Status::Ok();
                            });
    if (!s.ok()) return s;
    return out;
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

// Parses a mapping node with `table`; `name` prefixes keys in messages.
// Unknown keys are errors that list the known ones.
template <typename T>
Status ParseMap(const Parser& p, const std::string& name,
                const YAML::Node& node, const Table<T>& table, T* out) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return p.Error(node, name + ": want a mapping");
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      return p.Error(
          key, (name.empty() ? "" : name + ": ") + "keys must be strings");
    }
    auto it = table.find(key.Scalar());
    if (it == table.end()) {
      std::string known;
      for (const auto& [k, h] : table) known += (known.empty() ? "" : ", ") + k;
      return p.Error(key, "unknown key " + Join(name, key.Scalar()) +
                              " (known: " + known + ")");
    }
    Status s = it->second(kv.second, out);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// A handler that reads the value with read(node, key) into out->*field.
template <typename T, typename V, typename Read>
Handler<T> Assign(std::string key, V T::*field, Read read) {
  return [key = std::move(key), field, read](const YAML::Node& n,
                                             T* out) -> Status {
    auto v = read(n, key);
    if (!v.ok()) return v.status();
    out->*field = std::move(*v);
    return Status::Ok();
  };
}

// Readers for Assign().
struct Readers {
  const Parser& p;
  auto Str() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.String(n, k);
    };
  }
  auto Bool() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.Bool(n, k);
    };
  }
  auto Double() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.Double(n, k);
    };
  }
  auto Duration() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.Duration(n, k, 0);
    };
  }
  auto Path() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.Path(n, k);
    };
  }
  auto Pattern() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.Pattern(n, k);
    };
  }
  auto Labels() const {
    return [&p = p](const YAML::Node& n, const std::string& k) {
      return p.LabelPairs(n, k);
    };
  }
};

// Validates `spec`. An error about one metric points at that metric's node
// (metric_nodes[i], named metric_key(i)), any other at `where`.
Status ValidateAt(const Parser& p, const MappingSpec& spec,
                  const YAML::Node& where, const std::string& key,
                  const YAML::Node& metric_nodes,
                  const std::function<std::string(std::size_t)>& metric_key) {
  Status s = ValidateMappingSpec(spec);
  if (s.ok()) return s;
  MappingSpec one = spec;
  one.metrics.clear();
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    std::string about =
        "mapping " + spec.name + ": metric " + spec.metrics[i].name + ": ";
    if (!s.message().starts_with(about) || !metric_nodes.IsSequence() ||
        i >= metric_nodes.size()) {
      continue;
    }
    one.metrics.assign(1, spec.metrics[i]);
    Status alone = ValidateMappingSpec(one);
    if (!alone.ok() && alone.message() == s.message()) {
      return p.Error(metric_nodes[i], metric_key(i) + ": " + s.message());
    }
  }
  return p.Error(where, key + ": " + s.message());
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
