#include "exporter/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file.h"
#include "common/http_server.h"
#include "common/units.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;

// The value to point at: the value itself, or its key when the value is
// empty (yaml-cpp marks an empty value at the next token).
struct Entry {
  std::string key;
  std::string path;
  YAML::Node k;
  YAML::Node v;
  YAML::Mark Mark() const {
    return v.IsDefined() && !v.IsNull() ? v.Mark() : k.Mark();
  }
};

bool IsPlain(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// YAML 1.2 core-schema scalars.
bool IsYamlNull(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}
std::optional<bool> YamlBool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

template <typename T>
bool ParseWhole(std::string_view s, T* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool LooksNumeric(std::string_view s) {
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) s.remove_prefix(1);
  if (s.empty()) return false;
  bool digit = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') {
      return false;
    }
  }
  return digit;
}

class Parser {
 public:
  Parser(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  std::string Loc(const YAML::Mark& m) const {
    if (m.line < 0) return file_;
    return file_ + ":" + std::to_string(m.line + 1) + ":" +
           std::to_string(m.column + 1);
  }
  Status Err(const YAML::Mark& m, const std::string& key,
             const std::string& msg) const {
    return InvalidArgument(Loc(m) + ": " + key + ": " + msg);
  }
  Status Err(const Entry& e, const std::string& msg) const {
    return Err(e.Mark(), e.path, msg);
  }

  // Calls fn for each key of the map at `node`, rejecting keys not in
  // `allowed` and duplicates. A null node is an empty map.
  Status Walk(const YAML::Node& node, const YAML::Mark& where,
              const std::string& path,
              std::initializer_list<std::string_view> allowed,
              const std::function<Status(const Entry&)>& fn) {
    if (!node.IsDefined() || node.IsNull()) return Status::Ok();
    if (!node.IsMap()) {
      return Err(node.IsDefined() ? node.Mark() : where,
                 path.empty() ? "(top level)" : path, "must be a mapping");
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      Entry e;
      e.k = it->first;
      e.v = it->second;
      if (!e.k.IsScalar()) {
        return Err(e.k.Mark(), path.empty() ? "(top level)" : path,
                   "keys must be strings");
      }
      e.key = e.k.Scalar();
      e.path = Join(path, e.key);
      bool known = false;
      for (std::string_view a : allowed) known = known || a == e.key;
      if (!known) {
        std::string list;
        for (std::string_view a : allowed) {
          list += (list.empty() ? "" : ", ") + std::string(a);
        }
        return Err(e.k.Mark(), e.path, "unknown key (known: " + list + ")");
      }
      if (!seen.insert(e.key).second) {
        return Err(e.k.Mark(), e.path, "duplicate key");
      }
      origins_[e.path] = Loc(e.Mark());
      Status s = fn(e);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  Status String(const Entry& e, std::string* out) const {
    if (!e.v.IsScalar()) return Err(e, "must be a string");
    *out = e.v.Scalar();
    return Status::Ok();
  }
  Status NonEmptyString(const Entry& e, std::string* out) const {
    Status s = String(e, out);
    if (s.ok() && out->empty()) return Err(e, "must not be empty");
    return s;
  }
  Status Bool(const Entry& e, bool* out) const {
    std::optional<bool> b;
    if (IsPlain(e.v)) b = YamlBool(e.v.Scalar());
    if (!b) return Err(e, "must be true or false");
    *out = *b;
    return Status::Ok();
  }
  Status Int(const Entry& e, int64_t min, int64_t max, int64_t* out) const {
    int64_t v = 0;
    if (!IsPlain(e.v) || !ParseWhole(e.v.Scalar(), &v) || v < min || v > max) {
      return Err(e, "must be an integer between " + std::to_string(min) +
                        " and " + std::to_string(max));
    }
    *out = v;
    return Status::Ok();
  }
  template <typename T>
  Status IntTo(const Entry& e, int64_t min, int64_t max, T* out) const {
    int64_t v = 0;
    Status s = Int(e, min, max, &v);
    if (s.ok()) *out = static_cast<T>(v);
    return s;
  }
  Status Number(const Entry& e, double min, double max, double* out) const {
    double v = 0;
    if (!IsPlain(e.v) || !ParseWhole(e.v.Scalar(), &v) || !(v >= min) ||
        !(v <= max)) {
      char buf[128];
      snprintf(buf, sizeof(buf), "must be a number between %g and %g", min,
               max);
      return Err(e, buf);
    }
    *out = v;
    return Status::Ok();
  }
  // A string, or a list of strings; entries must not be empty.
  Status StringList(const Entry& e, std::vector<std::string>* out) const {
    out->clear();
    if (e.v.IsScalar()) {
      if (e.v.Scalar().empty()) return Err(e, "must not be empty");
      out->push_back(e.v.Scalar());
      return Status::Ok();
    }
    if (!e.v.IsSequence()) {
      return Err(e, "must be a string or a list of strings");
    }
    size_t i = 0;
    for (const auto& item : e.v) {
      std::string p = e.path + "[" + std::to_string(i++) + "]";
      if (!item.IsScalar()) return Err(item.Mark(), p, "must be a string");
      if (item.Scalar().empty()) {
        return Err(item.Mark(), p, "must not be empty");
      }
      out->push_back(item.Scalar());
    }
    return Status::Ok();
  }
  Status Regexes(const Entry& e, std::vector<Regex>* out) const {
    std::vector<std::string> patterns;
    Status s = StringList(e, &patterns);
    if (!s.ok()) return s;
    for (size_t i = 0; i < patterns.size(); ++i) {
      auto re = Regex::Compile(patterns[i]);
      if (!re.ok()) {
        YAML::Mark m = e.v.IsSequence() ? e.v[i].Mark() : e.Mark();
        std::string p =
            e.v.IsSequence() ? e.path + "[" + std::to_string(i) + "]" : e.path;
        return Err(m, p, re.status().message());
      }
      out->push_back(std::move(*re));
    }
    return Status::Ok();
  }

  // YAML -> JSON for inline profiles (scalars typed by the core schema).
  Status ToJson(const YAML::Node& n, const std::string& path, int depth,
                json* out) {
    if (++nodes_ > 10000 || depth > 32) {
      return Err(n.Mark(), path, "too deeply nested or too large");
    }
    if (!n.IsDefined() || n.IsNull()) {
      *out = nullptr;
    } else if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (!IsPlain(n)) {
        *out = s;
      } else if (IsYamlNull(s)) {
        *out = nullptr;
      } else if (auto b = YamlBool(s)) {
        *out = *b;
      } else if (int64_t i = 0; ParseWhole(s, &i)) {
        *out = i;
      } else if (double d = 0; LooksNumeric(s) && ParseWhole(s, &d)) {
        *out = d;
      } else {
        *out = s;
      }
    } else if (n.IsSequence()) {
      *out = json::array();
      size_t i = 0;
      for (const auto& item : n) {
        json j;
        Status s =
            ToJson(item, path + "[" + std::to_string(i++) + "]", depth + 1, &j);
        if (!s.ok()) return s;
        out->push_back(std::move(j));
      }
    } else {
      *out = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) {
          return Err(it->first.Mark(), path, "keys must be strings");
        }
        std::string key = it->first.Scalar();
        if (out->contains(key)) {
          return Err(it->first.Mark(), Join(path, key), "duplicate key");
        }
        json j;
        Status s = ToJson(it->second, Join(path, key), depth + 1, &j);
        if (!s.ok()) return s;
        (*out)[key] = std::move(j);
      }
    }
    return Status::Ok();
  }

  // A preset name or an inline profile object.
  Status Profile(const Entry& e, MonitoringProfile* out) {
    if (e.v.IsScalar()) {
      auto p = PresetProfile(e.v.Scalar());
      if (!p.ok()) return Err(e, p.status().message());
      *out = *p;
      return Status::Ok();
    }
    if (!e.v.IsMap()) {
      return Err(e, "must be a preset name or a profile mapping");
    }
    json j;
    nodes_ = 0;
    Status s = ToJson(e.v, e.path, 0, &j);
    if (!s.ok()) return s;
    auto p = ProfileFromJson(j, e.path);
    if (!p.ok()) {
      // The message is "PATH.FIELD: ..."; point at FIELD when it is there.
      std::string msg = p.status().message();
      YAML::Mark m = e.Mark();
      if (msg.compare(0, e.path.size() + 1, e.path + ".") == 0) {
        size_t colon = msg.find(':', e.path.size() + 1);
        std::string field =
            msg.substr(e.path.size() + 1, colon == std::string::npos
                                              ? std::string::npos
                                              : colon - e.path.size() - 1);
        for (auto it = e.v.begin(); it != e.v.end(); ++it) {
          if (it->first.IsScalar() && it->first.Scalar() == field) {
            m = it->second.IsNull() ? it->first.Mark() : it->second.Mark();
          }
        }
      }
      return InvalidArgument(Loc(m) + ": " + msg);
    }
    *out = *p;
    return Status::Ok();
  }

  Status Task(const YAML::Node& node, const std::string& path, Config* c,
              std::vector<std::optional<MonitoringProfile>>* profiles) {
    if (!node.IsMap()) return Err(node.Mark(), path, "must be a mapping");
    TaskRule rule;
    rule.where = Loc(node.Mark());
    std::optional<MonitoringProfile> profile;
    std::string id_text = "{{.Comm}}-{{.PID}}";
    std::string name_text = "{{.Comm}}";
    std::optional<Entry> id_entry, name_entry, pidfile_entry;
    bool has_pid = false;
    bool any_selector = false;
    Status s = Walk(
        node, node.Mark(), path,
        {"id", "name", "pid", "pidfile", "comm", "exe", "cmdline", "cgroup",
         "profile", "daemon", "include_children"},
        [&](const Entry& e) -> Status {
          if (e.key == "id") {
            id_entry = e;
            return NonEmptyString(e, &id_text);
          }
          if (e.key == "name") {
            name_entry = e;
            return String(e, &name_text);
          }
          if (e.key == "pid") {
            any_selector = has_pid = true;
            pid_t pid = 0;
            Status st = IntTo(e, 1, std::numeric_limits<pid_t>::max(), &pid);
            rule.pid = pid;
            return st;
          }
          if (e.key == "pidfile") {
            any_selector = true;
            pidfile_entry = e;
            Status st = NonEmptyString(e, &rule.pidfile);
            if (st.ok() && rule.pidfile.front() != '/') {
              rule.pidfile = base_dir_ + "/" + rule.pidfile;
            }
            return st;
          }
          if (e.key == "comm") {
            any_selector = true;
            return StringList(e, &rule.comm);
          }
          if (e.key == "exe") {
            any_selector = true;
            return StringList(e, &rule.exe);
          }
          if (e.key == "cmdline") {
            any_selector = true;
            return Regexes(e, &rule.cmdline);
          }
          if (e.key == "cgroup") {
            any_selector = true;
            return Regexes(e, &rule.cgroup);
          }
          if (e.key == "profile") {
            MonitoringProfile p;
            Status st = Profile(e, &p);
            profile = p;
            return st;
          }
          if (e.key == "daemon") return Bool(e, &rule.daemon);
          return Bool(e, &rule.include_children);  // include_children
        });
    if (!s.ok()) return s;
    if (!any_selector) {
      return Err(node.Mark(), path,
                 "needs at least one selector: pid, pidfile, comm, exe, "
                 "cmdline or cgroup");
    }
    if (has_pid && pidfile_entry) {
      return Err(*pidfile_entry, "pid and pidfile are exclusive");
    }
    std::set<std::string> groups;
    for (const auto* list : {&rule.cmdline, &rule.cgroup}) {
      for (const auto& re : *list) {
        for (const auto& g : re.group_names()) groups.insert(g);
      }
    }
    auto parse_template =
        [&](const std::string& text, const std::optional<Entry>& e,
            const std::string& key, NameTemplate* out) -> Status {
      YAML::Mark m = e ? e->Mark() : node.Mark();
      std::string p = e ? e->path : Join(path, key);
      auto t = NameTemplate::Parse(text);
      if (!t.ok()) return Err(m, p, t.status().message());
      for (const auto& g : t->MatchNames()) {
        if (!groups.count(g)) {
          return Err(m, p,
                     "{{.Matches." + g + "}}: no named group \"" + g +
                         "\" in this task's cmdline or cgroup regexes");
        }
      }
      *out = std::move(*t);
      return Status::Ok();
    };
    s = parse_template(id_text, id_entry, "id", &rule.id);
    if (!s.ok()) return s;
    s = parse_template(name_text, name_entry, "name", &rule.name);
    if (!s.ok()) return s;
    c->tasks.push_back(std::move(rule));
    profiles->push_back(profile);
    return Status::Ok();
  }

  Status Mqtt(const Entry& section, MqttConfig* m) {
    return Walk(section.v, section.Mark(), section.path,
                {"url", "client_id", "username", "password", "ca_file",
                 "cert_file", "key_file", "insecure", "qos",
                 "keepalive_seconds", "clean_start", "domain_id", "channel_id",
                 "max_buffered_messages", "max_buffered_bytes",
                 "liveliness_interval_seconds", "metrics_interval_seconds"},
                [&](const Entry& e) -> Status {
                  if (e.key == "url") return String(e, &m->url);
                  if (e.key == "client_id") return String(e, &m->client_id);
                  if (e.key == "username") return String(e, &m->username);
                  if (e.key == "password") return String(e, &m->password);
                  if (e.key == "ca_file") return NonEmptyString(e, &m->ca_file);
                  if (e.key == "cert_file")
                    return NonEmptyString(e, &m->cert_file);
                  if (e.key == "key_file")
                    return NonEmptyString(e, &m->key_file);
                  if (e.key == "insecure") return Bool(e, &m->insecure);
                  if (e.key == "qos") return IntTo(e, 0, 2, &m->qos);
                  if (e.key == "keepalive_seconds") {
                    return IntTo(e, 0, 65535, &m->keepalive_seconds);
                  }
                  if (e.key == "clean_start") return Bool(e, &m->clean_start);
                  if (e.key == "domain_id") return String(e, &m->domain_id);
                  if (e.key == "channel_id") return String(e, &m->channel_id);
                  if (e.key == "max_buffered_messages") {
                    return IntTo(e, 0, 10000000, &m->max_buffered_messages);
                  }
                  if (e.key == "max_buffered_bytes") {
                    // A size ("64MiB") or a number of bytes, as the bridge
                    // reads it.
                    auto b = IsPlain(e.v)
                                 ? ParseBytes(e.v.Scalar())
                                 : StatusOr<size_t>(InvalidArgument(""));
                    if (!b.ok() || *b < 1024 || *b > (size_t{1} << 40)) {
                      return Err(e,
                                 "must be a size between 1KiB and 1TiB (e.g. "
                                 "16MiB)");
                    }
                    m->max_buffered_bytes = *b;
                    return Status::Ok();
                  }
                  if (e.key == "liveliness_interval_seconds") {
                    return IntTo(e, 1, 3600, &m->liveliness_interval_seconds);
                  }
                  return IntTo(e, 1, 3600, &m->metrics_interval_seconds);
                });
  }

  Status Top(const YAML::Node& root, Config* c) {
    std::vector<std::optional<MonitoringProfile>> profiles;
    Status s = Walk(
        root, root.Mark(), "",
        {"proplet_id", "privacy", "enable_monitoring", "defaults", "web",
         "discovery_interval", "max_tasks", "tasks", "collectors", "mqtt"},
        [&](const Entry& e) -> Status {
          if (e.key == "proplet_id") return NonEmptyString(e, &c->proplet_id);
          if (e.key == "privacy") return Bool(e, &c->privacy);
          if (e.key == "enable_monitoring") {
            return Bool(e, &c->enable_monitoring);
          }
          if (e.key == "discovery_interval") {
            return Number(e, 1, 3600, &c->discovery_interval_seconds);
          }
          if (e.key == "max_tasks") return IntTo(e, 1, 1000000, &c->max_tasks);
          if (e.key == "defaults") {
            return Walk(e.v, e.Mark(), e.path, {"profile"},
                        [&](const Entry& d) -> Status {
                          MonitoringProfile p;
                          Status st = Profile(d, &p);
                          if (st.ok()) c->default_profile = p;
                          return st;
                        });
          }
          if (e.key == "web") {
            return Walk(e.v, e.Mark(), e.path,
                        {"listen_address", "enable_write_api"},
                        [&](const Entry& w) -> Status {
                          if (w.key == "enable_write_api") {
                            return Bool(w, &c->enable_write_api);
                          }
                          Status st = NonEmptyString(w, &c->listen_address);
                          if (!st.ok()) return st;
                          auto ports = ToCivetwebPorts(c->listen_address);
                          if (!ports.ok()) {
                            return Err(w, ports.status().message());
                          }
                          return Status::Ok();
                        });
          }
          if (e.key == "collectors") {
            Status st =
                Walk(e.v, e.Mark(), e.path, {"enabled", "disabled"},
                     [&](const Entry& l) -> Status {
                       return StringList(l, l.key == "enabled"
                                                ? &c->collectors.enabled
                                                : &c->collectors.disabled);
                     });
            if (!st.ok()) return st;
            for (const auto& name : c->collectors.disabled) {
              for (const auto& en : c->collectors.enabled) {
                if (name == en) {
                  return Err(e, "collector \"" + name +
                                    "\" is both enabled and disabled");
                }
              }
            }
            return Status::Ok();
          }
          if (e.key == "tasks") {
            if (e.v.IsNull()) return Status::Ok();
            if (!e.v.IsSequence()) return Err(e, "must be a list of tasks");
            size_t i = 0;
            for (const auto& item : e.v) {
              Status st = Task(item, e.path + "[" + std::to_string(i++) + "]",
                               c, &profiles);
              if (!st.ok()) return st;
            }
            return Status::Ok();
          }
          return Mqtt(e, &c->mqtt);  // mqtt
        });
    if (!s.ok()) return s;
    for (size_t i = 0; i < c->tasks.size(); ++i) {
      c->tasks[i].profile =
          profiles[i] ? *profiles[i] : c->ProfileFor(c->tasks[i].daemon);
    }
    c->origins = std::move(origins_);
    return Status::Ok();
  }

 private:
  std::string file_;
  std::string base_dir_;
  std::map<std::string, std::string> origins_;
  int nodes_ = 0;
};

const char* Lookup(EnvLookup lookup, const char* name) {
  const char* v = lookup ? lookup(name) : std::getenv(name);
  return v && *v ? v : nullptr;
}

// Whole seconds, with an optional "s" suffix (Go-style "10s").
bool ParseSeconds(std::string_view s, int64_t min, int64_t max, int* out) {
  if (!s.empty() && s.back() == 's') s.remove_suffix(1);
  int64_t v = 0;
  if (!ParseWhole(s, &v) || v < min || v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

std::string Origin(const Config& c, const std::string& key,
                   const std::string& fallback_key = "") {
  auto it = c.origins.find(key);
  if (it == c.origins.end() && !fallback_key.empty()) {
    it = c.origins.find(fallback_key);
  }
  if (it != c.origins.end()) return it->second + ": ";
  return c.file.empty() ? "" : c.file + ": ";
}

}  // namespace

MonitoringGlobals Config::Globals() const {
  MonitoringGlobals g;
  g.enable_monitoring = enable_monitoring;
  g.metrics_interval_seconds = mqtt.metrics_interval_seconds;
  return g;
}

MonitoringProfile Config::ProfileFor(bool daemon) const {
  return default_profile ? *default_profile : DefaultProfile(daemon);
}

StatusOr<Config> ParseConfig(std::string_view yaml, const std::string& file,
                             const std::string& base_dir) {
  Config c;
  c.file = file;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    std::string loc = file;
    if (e.mark.line >= 0) {
      loc += ":" + std::to_string(e.mark.line + 1) + ":" +
             std::to_string(e.mark.column + 1);
    }
    return InvalidArgument(loc + ": invalid YAML: " + e.msg);
  }
  Parser p(file, base_dir);
  try {
    Status s = p.Top(root, &c);
    if (!s.ok()) return s;
  } catch (const std::exception& e) {
    // yaml-cpp throws on malformed node access; nothing else should.
    return InvalidArgument(file + ": invalid configuration: " + e.what());
  }
  return c;
}

Status ApplyPropletEnv(Config* c, EnvLookup lookup) {
  MqttConfig& m = c->mqtt;
  auto set = [&](const char* var, const std::string& key, std::string* dst) {
    if (const char* v = Lookup(lookup, var)) {
      *dst = v;
      c->origins[key] = var;
      return true;
    }
    return false;
  };
  if (!set("PROPLET_DOMAIN_ID", "mqtt.domain_id", &m.domain_id)) {
    set("PROPLET_TENANT_ID", "mqtt.domain_id", &m.domain_id);
  }
  set("PROPLET_CHANNEL_ID", "mqtt.channel_id", &m.channel_id);
  for (const char* var : {"PROPLET_CLIENT_ID", "PROPLET_ENTITY_ID"}) {
    if (const char* v = Lookup(lookup, var)) {
      m.client_id = m.username = c->proplet_id = v;
      c->origins["mqtt.client_id"] = c->origins["mqtt.username"] =
          c->origins["proplet_id"] = var;
      break;
    }
  }
  if (!set("PROPLET_CLIENT_KEY", "mqtt.password", &m.password)) {
    set("PROPLET_API_KEY", "mqtt.password", &m.password);
  }
  set("PROPLET_MQTT_ADDRESS", "mqtt.url", &m.url);
  if (const char* v = Lookup(lookup, "PROPLET_LIVELINESS_INTERVAL")) {
    if (!ParseSeconds(v, 1, 3600, &m.liveliness_interval_seconds)) {
      return InvalidArgument(
          "PROPLET_LIVELINESS_INTERVAL: want whole seconds between 1 and "
          "3600, got \"" +
          std::string(v) + "\"");
    }
    c->origins["mqtt.liveliness_interval_seconds"] =
        "PROPLET_LIVELINESS_INTERVAL";
  }
  if (const char* v = Lookup(lookup, "PROPLET_MQTT_QOS")) {
    int64_t q = 0;
    if (!ParseWhole(std::string_view(v), &q) || q < 0 || q > 2) {
      return InvalidArgument("PROPLET_MQTT_QOS: want 0, 1 or 2, got \"" +
                             std::string(v) + "\"");
    }
    m.qos = static_cast<int>(q);
    c->origins["mqtt.qos"] = "PROPLET_MQTT_QOS";
  }
  // The two monitoring globals parse as the profile code does.
  auto globals = GlobalsFromEnv(lookup);
  if (!globals.ok()) return globals.status();
  if (Lookup(lookup, "PROPLET_ENABLE_MONITORING")) {
    c->enable_monitoring = globals->enable_monitoring;
    c->origins["enable_monitoring"] = "PROPLET_ENABLE_MONITORING";
  }
  if (Lookup(lookup, "PROPLET_METRICS_INTERVAL")) {
    m.metrics_interval_seconds = globals->metrics_interval_seconds;
    c->origins["mqtt.metrics_interval_seconds"] = "PROPLET_METRICS_INTERVAL";
  }
  return Status::Ok();
}

Status FinalizeConfig(const Config& c) {
  const MqttConfig& m = c.mqtt;
  bool tls_keys = !m.ca_file.empty() || !m.cert_file.empty() ||
                  !m.key_file.empty() || m.insecure;
  if (m.url.empty()) {
    if (tls_keys) {
      std::string key = !m.ca_file.empty()     ? "mqtt.ca_file"
                        : !m.cert_file.empty() ? "mqtt.cert_file"
                        : !m.key_file.empty()  ? "mqtt.key_file"
                                               : "mqtt.insecure";
      return InvalidArgument(
          Origin(c, key) + key +
          ": set without mqtt.url (or PROPLET_MQTT_ADDRESS)");
    }
    return Status::Ok();
  }
  std::string url_at = Origin(c, "mqtt.url");
  std::string_view url = m.url;
  bool ssl = url.substr(0, 6) == "ssl://";
  if (!ssl && url.substr(0, 6) != "tcp://") {
    return InvalidArgument(
        url_at + "mqtt.url: must start with tcp:// or ssl://, got \"" + m.url +
        "\"");
  }
  std::string_view hostport = url.substr(6);
  if (!hostport.empty() && hostport.back() == '/') hostport.remove_suffix(1);
  size_t colon = hostport.rfind(':');
  bool bracketed = !hostport.empty() && hostport.front() == '[';
  std::string_view host = hostport;
  if (colon != std::string_view::npos &&
      (!bracketed || hostport.find(']') < colon)) {
    host = hostport.substr(0, colon);
    int port = 0;
    std::string_view ps = hostport.substr(colon + 1);
    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ps.empty() || ec != std::errc() || p != ps.data() + ps.size() ||
        port < 1 || port > 65535) {
      return InvalidArgument(url_at + "mqtt.url: bad port in \"" + m.url +
                             "\"");
    }
  }
  if (host.empty() || host.find('/') != std::string_view::npos) {
    return InvalidArgument(
        url_at + "mqtt.url: want SCHEME://HOST:PORT, got \"" + m.url + "\"");
  }
  if (m.domain_id.empty()) {
    return InvalidArgument(Origin(c, "mqtt.domain_id", "mqtt.url") +
                           "mqtt.domain_id: required with mqtt.url (or set "
                           "PROPLET_DOMAIN_ID)");
  }
  if (m.channel_id.empty()) {
    return InvalidArgument(Origin(c, "mqtt.channel_id", "mqtt.url") +
                           "mqtt.channel_id: required with mqtt.url (or set "
                           "PROPLET_CHANNEL_ID)");
  }
  if (!ssl && tls_keys) {
    std::string key = !m.ca_file.empty()     ? "mqtt.ca_file"
                      : !m.cert_file.empty() ? "mqtt.cert_file"
                      : !m.key_file.empty()  ? "mqtt.key_file"
                                             : "mqtt.insecure";
    return InvalidArgument(Origin(c, key) + key +
                           ": TLS settings need an ssl:// url");
  }
  if (m.cert_file.empty() != m.key_file.empty()) {
    std::string key = m.cert_file.empty() ? "mqtt.key_file" : "mqtt.cert_file";
    return InvalidArgument(Origin(c, key) + key +
                           ": cert_file and key_file go together");
  }
  for (const auto& [key, path] :
       {std::pair<std::string, std::string>{"mqtt.ca_file", m.ca_file},
        {"mqtt.cert_file", m.cert_file},
        {"mqtt.key_file", m.key_file}}) {
    if (!path.empty() && access(path.c_str(), R_OK) != 0) {
      return InvalidArgument(Origin(c, key) + key + ": cannot read " + path +
                             ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

StatusOr<Config> LoadConfig(const std::string& path, EnvLookup lookup) {
  Config c;
  if (!path.empty()) {
    std::string text;
    Status s = ReadFileTo(path, &text, 16 << 20);
    if (!s.ok()) {
      return InvalidArgument(path +
                             ": cannot read the config file: " + s.message());
    }
    std::string dir = ".";
    size_t slash = path.rfind('/');
    if (slash != std::string::npos) {
      dir = slash == 0 ? "/" : path.substr(0, slash);
    }
    if (dir.front() != '/') {
      char cwd[4096];
      if (getcwd(cwd, sizeof(cwd)) != nullptr) {
        dir = dir == "." ? std::string(cwd) : std::string(cwd) + "/" + dir;
      }
    }
    auto parsed = ParseConfig(text, path, dir);
    if (!parsed.ok()) return parsed.status();
    c = std::move(*parsed);
  }
  Status s = ApplyPropletEnv(&c, lookup);
  if (!s.ok()) return s;
  s = FinalizeConfig(c);
  if (!s.ok()) return s;
  return c;
}

}  // namespace propmon::exporter
