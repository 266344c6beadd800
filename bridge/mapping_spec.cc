#include "bridge/mapping_spec.h"

#include <algorithm>
#include <set>

#include "bridge/propeller_mapping.h"
#include "bridge/text_format.h"
#include "common/mqtt_topic.h"

namespace propmon::bridge {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

Status PathError(std::string_view text, std::size_t pos,
                 const std::string& what) {
  return InvalidArgument("invalid path \"" + std::string(text) + "\": " + what +
                         " at " + std::to_string(pos));
}

bool IsMappingName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

std::size_t ValuePath::wildcards() const {
  return static_cast<std::size_t>(std::count_if(
      steps.begin(), steps.end(),
      [](const PathStep& s) { return s.kind == PathStep::Kind::kWildcard; }));
}

StatusOr<ValuePath> ParseValuePath(std::string_view text) {
  ValuePath path;
  path.text = std::string(text);
  std::size_t i = 0;
  const std::size_t n = text.size();
  bool need_step = false;  // after a '.', a step must follow
  while (i < n) {
    char c = text[i];
    if (c == '[') {
      std::size_t close = text.find(']', i);
      if (text.substr(i + 1, 1) == "\"") {
        // ["quoted key"]: the key runs to the next `"]`.
        std::size_t end = text.find("\"]", i + 2);
        if (end == std::string_view::npos) {
          return PathError(text, i, "unterminated [\"");
        }
        PathStep s;
        s.key = std::string(text.substr(i + 2, end - i - 2));
        path.steps.push_back(std::move(s));
        i = end + 2;
      } else {
        if (close == std::string_view::npos) {
          return PathError(text, i, "unterminated [");
        }
        std::string_view inner = text.substr(i + 1, close - i - 1);
        PathStep s;
        if (inner == "*") {
          s.kind = PathStep::Kind::kWildcard;
        } else if (AllDigits(inner) && inner.size() <= 9) {
          s.kind = PathStep::Kind::kIndex;
          s.index = std::stoul(std::string(inner));
        } else {
          return PathError(text, i + 1, "want [N], [*] or [\"key\"]");
        }
        path.steps.push_back(std::move(s));
        i = close + 1;
      }
      need_step = false;
      if (i < n && text[i] != '.' && text[i] != '[') {
        return PathError(text, i, "want . or [ after ]");
      }
      if (i < n && text[i] == '.') {
        ++i;
        need_step = true;
      }
      continue;
    }
    // A bare key runs to the next '.' or '['.
    std::size_t end = i;
    while (end < n && text[end] != '.' && text[end] != '[') ++end;
    std::string_view key = text.substr(i, end - i);
    if (key.empty()) return PathError(text, i, "empty key");
    if (key.find(']') != std::string_view::npos ||
        key.find('"') != std::string_view::npos) {
      return PathError(text, i, "unexpected ] or \" in a key");
    }
    PathStep s;
    if (key == "*") {
      s.kind = PathStep::Kind::kWildcard;
    } else {
      s.key = std::string(key);
    }
    path.steps.push_back(std::move(s));
    i = end;
    need_step = false;
    if (i < n && text[i] == '.') {
      ++i;
      need_step = true;
    }
  }
  if (need_step) return PathError(text, n, "empty key");
  return path;
}

ValuePath SplitSeparatorPath(std::string_view text,
                             std::string_view separator) {
  ValuePath path;
  path.text = std::string(text);
  if (text.empty()) return path;
  if (separator.empty()) {
    path.steps.push_back(PathStep{PathStep::Kind::kKey, std::string(text), 0});
    return path;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(separator, start);
    std::string_view piece = text.substr(start, pos == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : pos - start);
    path.steps.push_back(PathStep{PathStep::Kind::kKey, std::string(piece), 0});
    if (pos == std::string_view::npos) break;
    start = pos + separator.size();
  }
  return path;
}

const char* PayloadKindName(PayloadKind kind) {
  return kind == PayloadKind::kJson ? "json" : "value";
}

Status ValidateMappingSpec(const MappingSpec& spec) {
  auto fail = [&](const std::string& m) {
    return InvalidArgument("mapping " + spec.name + ": " + m);
  };
  if (!IsMappingName(spec.name)) {
    return InvalidArgument("mapping name \"" + spec.name +
                           "\" is not valid (want [a-zA-Z0-9_.-]+)");
  }
  if (spec.topics.empty()) return fail("no topics");
  for (const auto& t : spec.topics) {
    Status s = ValidateMqttTopicFilter(t);
    if (!s.ok()) return fail("topic \"" + t + "\": " + s.message());
  }
  if (spec.metrics.empty()) return fail("no metrics");
  std::set<std::string> base;  // labels every series of the mapping has
  auto add = [](std::set<std::string>* set, const std::string& name,
                const std::string& what) -> Status {
    if (!IsValidLabelName(name)) {
      return InvalidArgument(what + " \"" + name +
                             "\" is not a valid label name");
    }
    if (!set->insert(name).second) {
      return InvalidArgument(what + " \"" + name + "\" is used twice");
    }
    return Status::Ok();
  };
  if (spec.topic_labels_default) {
    for (const auto& g : spec.topic_regex.group_names()) {
      Status s = add(&base, g, "topic group label");
      if (!s.ok()) return fail(s.message());
    }
  } else {
    for (const auto& [label, group] : spec.topic_labels) {
      if (!spec.topic_regex.HasGroup(group)) {
        return fail("topic_labels: " + label + ": topic_regex has no group \"" +
                    group + "\"");
      }
      Status s = add(&base, label, "topic label");
      if (!s.ok()) return fail(s.message());
    }
  }
  if (!spec.topic_label.empty()) {
    Status s = add(&base, spec.topic_label, "topic_label");
    if (!s.ok()) return fail(s.message());
  }
  if (spec.expiry_seconds < 0) return fail("negative expiry");
  for (const MetricSpec& m : spec.metrics) {
    auto mfail = [&](const std::string& msg) {
      return fail("metric " + m.name + ": " + msg);
    };
    if (m.name.empty()) return fail("a metric has no name");
    if (m.name.find("${") == std::string::npos && !IsValidMetricName(m.name)) {
      return mfail("not a valid metric name");
    }
    if (m.name.starts_with("propmon_")) {
      return mfail("names starting with propmon_ are the daemons' own");
    }
    if (m.name.find("${") != std::string::npos) {
      // Every ${group} must name a topic group.
      std::size_t pos = 0;
      while ((pos = m.name.find("${", pos)) != std::string::npos) {
        std::size_t end = m.name.find('}', pos);
        if (end == std::string::npos) return mfail("unterminated ${");
        std::string g = m.name.substr(pos + 2, end - pos - 2);
        if (!spec.topic_regex.HasGroup(g)) {
          return mfail("${" + g + "}: topic_regex has no such group");
        }
        pos = end + 1;
      }
    }
    std::size_t wild = m.value.wildcards();
    if (!m.fanout_labels.empty() && m.fanout_labels.size() != wild) {
      return mfail(
          "fanout_labels names " + std::to_string(m.fanout_labels.size()) +
          " labels, the value path has " + std::to_string(wild) + " wildcards");
    }
    if (m.fanout_labels.empty() && wild > 1) {
      return mfail("the value path has " + std::to_string(wild) +
                   " wildcards: name them in fanout_labels");
    }
    std::set<std::string> labels = base;
    std::vector<std::string> fanout = m.fanout_labels;
    if (fanout.empty() && wild == 1) fanout.push_back("index");
    for (const auto& l : fanout) {
      Status s = add(&labels, l, "fanout label");
      if (!s.ok()) return mfail(s.message());
    }
    for (const auto& [l, path] : m.json_labels) {
      Status s = add(&labels, l, "label");
      if (!s.ok()) return mfail(s.message());
      if (path.wildcards() > wild) {
        return mfail("label " + l + ": path \"" + path.text +
                     "\" has more wildcards than the value path");
      }
    }
    for (const auto& [l, v] : m.const_labels) {
      Status s = add(&labels, l, "const label");
      if (!s.ok()) return mfail(s.message());
    }
    if (m.timestamp.wildcards() > wild) {
      return mfail("timestamp path has more wildcards than the value path");
    }
    if (m.expiry_seconds && *m.expiry_seconds < 0) {
      return mfail("negative expiry");
    }
    for (const auto& [group, re] : m.when) {
      if (re.empty()) return mfail("when: " + group + ": empty regex");
      if (!group.empty() && group[0] == '@') {
        // Search the whole topic; the named group must equal
        // first_match_key.
        if (!re.HasGroup(group.substr(1))) {
          return mfail("when: regex \"" + re.pattern() + "\" has no group " +
                       group.substr(1));
        }
        if (m.first_match_key.empty()) {
          return mfail("when: " + group + " needs a first_match_key");
        }
      } else if (!spec.topic_regex.HasGroup(group)) {
        return mfail("when: topic_regex has no group \"" + group + "\"");
      }
    }
  }
  return Status::Ok();
}

MappingSpec PropellerSpec() {
  // What PropellerMapping does, in the model's terms. The behaviour itself
  // (entities, proplet_up, results counters, grace) lives in code.
  MappingSpec s;
  s.name = PropellerMapping::kMappingName;
  s.topics = PropellerTopicFilters();
  s.topic_regex = *Regex::Compile("^m/(?P<domain>[^/]+)/c/(?P<channel>[^/]+)/");
  s.payload = PayloadKind::kJson;
  auto metric = [&](const char* name, const char* value, MetricType type,
                    const char* id_path, const char* help) {
    MetricSpec m;
    if (std::string_view(name).ends_with("_ratio")) m.scale = 0.01;
    m.name = name;
    m.help = help;
    m.type = type;
    m.value = *ParseValuePath(value);
    m.json_labels.emplace_back("proplet_id", *ParseValuePath("proplet_id"));
    if (id_path)
      m.json_labels.emplace_back("task_id", *ParseValuePath(id_path));
    s.metrics.push_back(std::move(m));
  };
  const auto g = MetricType::kGauge;
  metric("proplet_task_cpu_usage_ratio", "metrics.cpu_percent", g, "task_id",
         "task_metrics: cpu_percent / 100");
  metric("proplet_task_memory_bytes", "metrics.memory_bytes", g, "task_id",
         "task_metrics: memory_bytes");
  metric("proplet_task_memory_usage_ratio", "metrics.memory_percent", g,
         "task_id", "task_metrics: memory_percent / 100");
  metric("proplet_task_disk_read_bytes_total", "metrics.disk_read_bytes",
         MetricType::kCounter, "task_id", "task_metrics: disk_read_bytes");
  metric("proplet_task_disk_write_bytes_total", "metrics.disk_write_bytes",
         MetricType::kCounter, "task_id", "task_metrics: disk_write_bytes");
  metric("proplet_task_threads", "metrics.thread_count", g, "task_id",
         "task_metrics: thread_count");
  metric("proplet_task_open_fds", "metrics.file_descriptor_count", g, "task_id",
         "task_metrics: file_descriptor_count");
  metric("proplet_task_uptime_seconds", "metrics.uptime_seconds", g, "task_id",
         "task_metrics: uptime_seconds");
  metric("proplet_cpu_usage_ratio", "cpu_metrics.percent", g, nullptr,
         "proplet metrics: cpu_metrics.percent / 100");
  metric("proplet_memory_rss_bytes", "memory_metrics.rss_bytes", g, nullptr,
         "proplet metrics: memory_metrics.rss_bytes");
  metric("proplet_up", "", g, nullptr,
         "alive/create messages within propeller.alive_timeout (in code)");
  metric("proplet_tasks_completed_total", "", MetricType::kCounter, nullptr,
         "results messages without error (in code)");
  metric("proplet_tasks_failed_total", "", MetricType::kCounter, nullptr,
         "results messages with an error (in code)");
  return s;
}

}  // namespace propmon::bridge
