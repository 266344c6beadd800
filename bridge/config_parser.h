// The bridge's config file reader, shared by its two dialects: the native
// file (config.cc) and mqtt2prometheus' (mqtt2prometheus_config.cc). Parser
// reads YAML nodes into typed values with "FILE:LINE:COL: key: message"
// errors; ParseMap() walks a mapping with a table of handlers, refusing
// unknown keys. Internal to bridge/ (config.h is the interface).
#ifndef PROPMON_BRIDGE_CONFIG_PARSER_H_
#define PROPMON_BRIDGE_CONFIG_PARSER_H_

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bridge/config.h"
#include "bridge/text_format.h"
#include "common/mqtt_topic.h"
#include "common/regex.h"
#include "common/status.h"
#include "common/units.h"

namespace propmon::bridge::config_parser {

template <typename T>
using Handler = std::function<Status(const YAML::Node&, T*)>;
// The keys of one YAML mapping: key -> handler of its value.
template <typename T>
using Table = std::map<std::string, Handler<T>>;
using SectionTable = Table<BridgeConfig>;
using StringPairs = std::vector<std::pair<std::string, std::string>>;

// "prefix.key", or "key" at the top level.
inline std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}
inline std::string Indexed(const std::string& prefix, std::size_t i) {
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
inline Status ValidateAt(
    const Parser& p, const MappingSpec& spec, const YAML::Node& where,
    const std::string& key, const YAML::Node& metric_nodes,
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

// True when `root` looks like an mqtt2prometheus config file.
bool IsMqtt2Prometheus(const YAML::Node& root);
// Parses an mqtt2prometheus file into one mapping, Propeller off.
StatusOr<BridgeConfig> ParseMqtt2Prometheus(const Parser& p,
                                            const YAML::Node& root,
                                            const BridgeConfig& base,
                                            const EnvLookup& env);

}  // namespace propmon::bridge::config_parser

#endif  // PROPMON_BRIDGE_CONFIG_PARSER_H_
