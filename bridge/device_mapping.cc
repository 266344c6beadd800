#include "bridge/device_mapping.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bridge/label_sources.h"
#include "common/file.h"
#include "common/log.h"
#include "common/mqtt_topic.h"
#include "common/payload.h"

namespace propmon::bridge {
namespace {

using Json = nlohmann::json;

constexpr int kMaxDepth = 64;
// Metric names built from topic groups, per mapping: a bound on families a
// misbehaving publisher can create.
constexpr std::size_t kMaxDynamicNames = 1000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' ||
                        s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' ||
                        s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<double> ParseNumber(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

std::string Describe(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return s;
}

const char* TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    default:
      return "a number";
  }
}

// One step into `node`; nullptr when absent. `binding` replaces a wildcard
// (label and timestamp paths bound to the value's elements).
const Json* Step(const Json& node, const PathStep& step,
                 const std::string* binding) {
  std::string_view key = step.key;
  std::size_t index = step.index;
  bool by_index = step.kind == PathStep::Kind::kIndex;
  if (step.kind == PathStep::Kind::kWildcard) {
    if (binding == nullptr) return nullptr;
    key = *binding;
    by_index = false;
  }
  if (node.is_object()) {
    std::string k = by_index ? std::to_string(index) : std::string(key);
    auto it = node.find(k);
    return it == node.end() ? nullptr : &*it;
  }
  if (node.is_array()) {
    if (!by_index) {
      auto r = std::from_chars(key.data(), key.data() + key.size(), index);
      if (key.empty() || r.ec != std::errc() ||
          r.ptr != key.data() + key.size()) {
        return nullptr;
      }
    }
    return index < node.size() ? &node[index] : nullptr;
  }
  return nullptr;
}

// Every value the path reaches; `binds` holds the index or key each
// wildcard stood for.
void Walk(const Json& node, const std::vector<PathStep>& steps, std::size_t i,
          std::vector<std::string>* binds,
          std::vector<std::pair<const Json*, std::vector<std::string>>>* out) {
  if (i == steps.size()) {
    out->emplace_back(&node, *binds);
    return;
  }
  const PathStep& s = steps[i];
  if (s.kind != PathStep::Kind::kWildcard) {
    const Json* next = Step(node, s, nullptr);
    if (next) Walk(*next, steps, i + 1, binds, out);
    return;
  }
  if (node.is_array()) {
    for (std::size_t k = 0; k < node.size(); ++k) {
      binds->push_back(std::to_string(k));
      Walk(node[k], steps, i + 1, binds, out);
      binds->pop_back();
    }
  } else if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      binds->push_back(it.key());
      Walk(it.value(), steps, i + 1, binds, out);
      binds->pop_back();
    }
  }
}

// A path bound to the wildcards of one value: the first wildcard of `path`
// takes binds[0], and so on.
const Json* Resolve(const Json& root, const ValuePath& path,
                    const std::vector<std::string>& binds) {
  const Json* node = &root;
  std::size_t w = 0;
  for (const PathStep& s : path.steps) {
    const std::string* b = nullptr;
    if (s.kind == PathStep::Kind::kWildcard) {
      if (w >= binds.size()) return nullptr;
      b = &binds[w++];
    }
    node = Step(*node, s, b);
    if (node == nullptr) return nullptr;
  }
  return node;
}

std::optional<std::string> LabelText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

// Expands ${group} references.
std::string ExpandName(
    const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& groups) {
  if (name.find("${") == std::string::npos) return name;
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    std::size_t pos = name.find("${", i);
    if (pos == std::string::npos) {
      out.append(name, i, std::string::npos);
      break;
    }
    out.append(name, i, pos - i);
    std::size_t end = name.find('}', pos);
    std::string g = name.substr(pos + 2, end - pos - 2);
    for (const auto& [k, v] : groups) {
      if (k == g) out += v;
    }
    i = end + 1;
  }
  return out;
}

std::string FormatDouble(double v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

}  // namespace

struct DeviceMapping::Sample {
  FamilyId family = 0;
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::int64_t timestamp_ms = SeriesStore::kNoTimestamp;
  double ttl = 0;
  std::string note;
  std::string metric;  // spec name, for explanations
  // force_monotonic: the state key and the state to keep once the store
  // accepted the series (never for a refused one).
  std::string monotonic_key;
  double monotonic_offset = 0;
  double monotonic_raw = 0;
};

const char* DeviceMapping::MessageReasonName(MessageReason r) {
  switch (r) {
    case kInvalidJson:
      return "invalid_json";
    case kTooLarge:
      return "too_large";
    case kTopicMismatch:
      return "topic_mismatch";
    case kNoMetrics:
      return "no_metrics";
    case kCardinalityLimit:
      return "cardinality_limit";
    default:
      return "unknown";
  }
}

const char* DeviceMapping::FieldReasonName(FieldReason r) {
  switch (r) {
    case kAbsent:
      return "absent";
    case kWrongType:
      return "wrong_type";
    case kNotANumber:
      return "not_a_number";
    case kLabelAbsent:
      return "label_absent";
    case kBadTimestamp:
      return "bad_timestamp";
    case kInvalidName:
      return "invalid_name";
    case kTypeConflict:
      return "type_conflict";
    case kSeriesLimit:
      return "series_limit";
    default:
      return "unknown";
  }
}

namespace {
std::vector<std::string> MessageReasonNames() {
  std::vector<std::string> v;
  for (int i = 0; i < DeviceMapping::kMessageReasonCount; ++i) {
    v.emplace_back(DeviceMapping::MessageReasonName(
        static_cast<DeviceMapping::MessageReason>(i)));
  }
  return v;
}
std::vector<std::string> FieldReasonNames() {
  std::vector<std::string> v;
  for (int i = 0; i < DeviceMapping::kFieldReasonCount; ++i) {
    v.emplace_back(DeviceMapping::FieldReasonName(
        static_cast<DeviceMapping::FieldReason>(i)));
  }
  return v;
}
}  // namespace

DeviceMapping::DeviceMapping(MappingSpec spec, SeriesStore* store,
                             label::Counts* labels)
    : spec_(std::move(spec)),
      store_(store),
      labels_(labels),
      id_(store->RegisterMapping(spec_.name)),
      counters_(MessageReasonNames(), FieldReasonNames()) {}

DeviceMapping::~DeviceMapping() = default;

StatusOr<std::unique_ptr<DeviceMapping>> DeviceMapping::Create(
    MappingSpec spec, SeriesStore* store, label::Counts* labels) {
  Status s = ValidateMappingSpec(spec);
  if (!s.ok()) return s;
  std::unique_ptr<DeviceMapping> m(
      new DeviceMapping(std::move(spec), store, labels));
  // Fixed names are registered now, so that a type conflict with another
  // mapping is a startup error rather than a stream of rejected fields.
  for (const MetricSpec& ms : m->spec_.metrics) {
    if (ms.name.find("${") != std::string::npos) continue;
    auto f = m->Family(ms, ms.name);
    if (!f.ok()) {
      return InvalidArgument("mapping " + m->spec_.name + ": " +
                             f.status().message());
    }
  }
  s = m->LoadState();
  if (!s.ok()) return s;
  return m;
}

bool DeviceMapping::MatchesTopic(std::string_view topic) const {
  for (const auto& f : spec_.topics) {
    if (MqttTopicMatches(f, topic)) return true;
  }
  return false;
}

StatusOr<FamilyId> DeviceMapping::Family(const MetricSpec& m,
                                         const std::string& name) {
  auto it = families_.find(name);
  if (it != families_.end()) return it->second;
  if (families_.size() >= spec_.metrics.size() + kMaxDynamicNames) {
    return InvalidArgument("more than " + std::to_string(kMaxDynamicNames) +
                           " metric names from topics");
  }
  std::string help =
      m.help.empty() ? name + " from MQTT mapping " + spec_.name : m.help;
  auto f = store_->RegisterFamily(name, help, m.type);
  if (!f.ok()) return f.status();
  families_.emplace(name, *f);
  return *f;
}

void DeviceMapping::Reject(MessageReason r, const std::string& detail,
                           Explanation* why) {
  counters_.AddRejected(r);
  if (why) {
    why->rejected = MessageReasonName(r);
    why->detail = detail;
  }
  PM_LOG_EVERY_30S(kWarn) << "mapping " << spec_.name
                          << ": rejected a message (" << MessageReasonName(r)
                          << "): " << detail;
}

DeviceMapping::Result DeviceMapping::RejectOversize(std::string_view topic,
                                                    std::size_t bytes,
                                                    std::size_t limit,
                                                    double receive_time,
                                                    Explanation* why) {
  counters_.AddMatched();
  if (why) why->SetMessage(spec_.name, topic, "", receive_time);
  Reject(kTooLarge,
         "payload of " + std::to_string(bytes) +
             " bytes is over limits.max_payload_bytes (" +
             std::to_string(limit) + ")",
         why);
  return Result{false, 0, kTooLarge};
}

DeviceMapping::Result DeviceMapping::Apply(std::string_view topic,
                                           std::string_view payload,
                                           double receive_time,
                                           Explanation* why) {
  Result result;
  counters_.AddMatched();
  if (why) why->SetMessage(spec_.name, topic, payload, receive_time);

  // 1. Topic groups.
  std::vector<std::pair<std::string, std::string>> groups;
  if (!spec_.topic_regex.empty() && !spec_.topic_regex.Search(topic, &groups)) {
    if (spec_.require_topic_match) {
      result.rejected = kTopicMismatch;
      Reject(kTopicMismatch,
             "topic_regex \"" + spec_.topic_regex.pattern() +
                 "\" does not match the topic",
             why);
      return result;
    }
    for (const auto& g : spec_.topic_regex.group_names()) {
      groups.emplace_back(g, "");
    }
  }

  // 2. Payload.
  Json doc;
  // nlohmann's parser is iterative, but its values are trees: a hostile
  // payload of 64 KiB of '[' is refused before it is built.
  if (payload::JsonDepth(payload) > kMaxDepth) {
    if (spec_.payload == PayloadKind::kJson) {
      result.rejected = kInvalidJson;
      Reject(kInvalidJson,
             "nesting deeper than " + std::to_string(kMaxDepth) + " levels",
             why);
      return result;
    }
    doc = std::string(Trim(payload));
  } else {
    doc = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      if (spec_.payload == PayloadKind::kJson) {
        result.rejected = kInvalidJson;
        Reject(kInvalidJson, "the payload is not valid JSON", why);
        return result;
      }
      doc = std::string(Trim(payload));
    }
  }

  // 3. Metrics. Topic levels used as labels are repaired (common/label.h):
  // the conditions and ${group} names below see them as they came.
  std::vector<std::pair<std::string_view, std::string>> topic_values;
  if (spec_.topic_labels_default) {
    for (const auto& [g, v] : groups) topic_values.emplace_back(g, v);
  } else {
    for (const auto& [label, group] : spec_.topic_labels) {
      for (const auto& [g, v] : groups) {
        if (g == group) topic_values.emplace_back(label, v);
      }
    }
  }
  if (!spec_.topic_label.empty()) {
    topic_values.emplace_back(spec_.topic_label, std::string(topic));
  }
  std::vector<Label> base;
  for (auto& [name, value] : topic_values) {
    label::RepairCounted(labels_, kLabelTopic, &value);
    base.push_back({name, value});
  }

  std::array<std::uint64_t, kFieldReasonCount> field_counts{};
  auto reject_field = [&](FieldReason r, const MetricSpec& m,
                          const std::string& path, const std::string& detail) {
    ++field_counts[r];
    if (why) why->fields.push_back({m.name, path, FieldReasonName(r), detail});
  };

  std::vector<Sample> samples;
  std::vector<std::string> used_keys;
  std::vector<std::pair<const Json*, std::vector<std::string>>> found;
  std::vector<std::string> no_binds;
  for (const MetricSpec& m : spec_.metrics) {
    // `when` conditions and first_match_key.
    bool applies = true;
    for (const auto& [group, re] : m.when) {
      if (!group.empty() && group[0] == '@') {
        std::vector<std::pair<std::string, std::string>> g;
        std::string got;
        if (re.Search(topic, &g)) {
          for (const auto& [k, v] : g) {
            if (k == std::string_view(group).substr(1)) got = v;
          }
        }
        if (got != m.first_match_key) applies = false;
      } else {
        std::string value;
        for (const auto& [k, v] : groups) {
          if (k == group) value = v;
        }
        if (!re.Search(value)) {
          applies = false;
          if (why) {
            why->notes.push_back("metric " + m.name +
                                 " does not apply: " + group + " \"" + value +
                                 "\" does not match \"" + re.pattern() + "\"");
          }
        }
      }
      if (!applies) break;
    }
    if (!applies) continue;
    if (!m.first_match_key.empty()) {
      if (std::find(used_keys.begin(), used_keys.end(), m.first_match_key) !=
          used_keys.end()) {
        if (why) {
          why->notes.push_back("metric " + m.name + " skipped: an earlier " +
                               "metric for \"" + m.first_match_key +
                               "\" applied");
        }
        continue;
      }
      used_keys.push_back(m.first_match_key);
    }

    // The family.
    std::string name = ExpandName(m.name, groups);
    if (!IsValidMetricName(name)) {
      reject_field(kInvalidName, m, m.value.text,
                   "\"" + name + "\" is not a valid metric name");
      continue;
    }
    auto family = Family(m, name);
    if (!family.ok()) {
      reject_field(kTypeConflict, m, m.value.text, family.status().message());
      continue;
    }

    // The values.
    found.clear();
    std::vector<std::string> binds;
    Walk(doc, m.value.steps, 0, &binds, &found);
    if (found.empty()) {
      reject_field(
          kAbsent, m, m.value.text,
          m.value.empty() ? "empty payload" : "the path is not in the payload");
      continue;
    }
    for (const auto& [node, wild] : found) {
      const Json& v = *node;
      std::string path = m.value.text;
      if (!wild.empty()) {
        path += " [";
        for (std::size_t k = 0; k < wild.size(); ++k) {
          path += (k ? "," : "") + wild[k];
        }
        path += "]";
      }
      // Value.
      std::optional<double> value;
      std::string problem;
      FieldReason reason = kWrongType;
      if (v.is_number()) {
        value = v.get<double>();
      } else if (v.is_boolean()) {
        auto it = m.value_map.find(v.get<bool>() ? "true" : "false");
        value = it != m.value_map.end() ? it->second : (v.get<bool>() ? 1 : 0);
      } else if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        auto it = m.value_map.find(s);
        if (it != m.value_map.end()) {
          value = it->second;
        } else {
          value = ParseNumber(s);
          if (!value) {
            reason = kNotANumber;
            problem = Describe(v) + " is not in value_map and not a number";
          }
        }
      } else {
        problem = std::string(TypeName(v)) + " where a value was expected";
      }
      std::string note;
      if (!value) {
        if (!m.error_value) {
          reject_field(reason, m, path, problem);
          continue;
        }
        value = *m.error_value;
        note = "error_value used: " + problem;
      }
      // Labels.
      Sample smp;
      smp.family = *family;
      smp.name = name;
      smp.metric = m.name;
      smp.note = std::move(note);
      for (const Label& l : base) {
        smp.labels.emplace_back(std::string(l.name), std::string(l.value));
      }
      if (!wild.empty()) {
        for (std::size_t k = 0; k < wild.size(); ++k) {
          std::string key = wild[k];  // an object key or an array index
          label::RepairCounted(labels_, kLabelMapping, &key);
          smp.labels.emplace_back(
              m.fanout_labels.empty() ? "index" : m.fanout_labels[k],
              std::move(key));
        }
      }
      bool ok = true;
      for (const auto& [label, lpath] : m.json_labels) {
        const Json* lv = Resolve(doc, lpath, wild);
        std::optional<std::string> text;
        if (lv) text = LabelText(*lv);
        if (!text) {
          reject_field(kLabelAbsent, m, path,
                       "label " + label + ": path \"" + lpath.text + "\" " +
                           (lv ? std::string("is ") + TypeName(*lv)
                               : std::string("is not in the payload")));
          ok = false;
          break;
        }
        label::RepairCounted(labels_, kLabelMapping, &*text);
        smp.labels.emplace_back(label, std::move(*text));
      }
      if (!ok) continue;
      for (const auto& [k, cv] : m.const_labels) smp.labels.emplace_back(k, cv);
      // Timestamp.
      if (!m.timestamp.empty()) {
        const Json* tv = Resolve(doc, m.timestamp, wild);
        std::optional<double> seconds;
        if (tv && tv->is_number()) {
          double t = tv->get<double>();
          seconds = t > 1e11 ? t / 1000 : t;
        } else if (tv && tv->is_string()) {
          seconds = payload::ParseRfc3339(tv->get_ref<const std::string&>());
          if (!seconds)
            seconds = ParseNumber(tv->get_ref<const std::string&>());
        }
        if (!seconds || !std::isfinite(*seconds) || *seconds < 0 ||
            *seconds > 1e13) {
          reject_field(kBadTimestamp, m, path,
                       "timestamp path \"" + m.timestamp.text + "\": " +
                           (tv ? Describe(*tv) + " is not a time"
                               : std::string("not in the payload")));
          continue;
        }
        smp.timestamp_ms =
            static_cast<std::int64_t>(std::llround(*seconds * 1000));
      } else if (spec_.receive_timestamps) {
        smp.timestamp_ms =
            static_cast<std::int64_t>(std::llround(receive_time * 1000));
      }
      // force_monotonic, scale, offset.
      double x = *value;
      if (m.force_monotonic) {
        std::string key = name;
        std::vector<Label> ls;
        for (const auto& [k, lv] : smp.labels) ls.push_back({k, lv});
        AppendLabels(&key, ls);
        Monotonic st;
        if (auto it = monotonic_.find(key); it != monotonic_.end()) {
          st = it->second;
        }
        if (x < st.last_raw) {
          st.offset += st.last_raw;
          if (why) {
            smp.note += (smp.note.empty() ? "" : "; ");
            smp.note += "counter reset: " + FormatDouble(x) + " < " +
                        FormatDouble(st.last_raw) + ", offset now " +
                        FormatDouble(st.offset);
          }
        }
        smp.monotonic_key = std::move(key);
        smp.monotonic_offset = st.offset;
        smp.monotonic_raw = x;
        x += st.offset;
      }
      // A scale like 0.01 is applied as a division by 100: 41 / 100 is 0.41,
      // where 41 * 0.01 is 0.41000000000000003.
      const double inverse = 1 / m.scale;
      const bool divide = m.scale != 0 && std::abs(m.scale) < 1 &&
                          inverse == std::round(inverse) &&
                          1 / inverse == m.scale;
      smp.value = (divide ? x / inverse : x * m.scale) + m.offset;
      smp.ttl = m.expiry_seconds.value_or(spec_.expiry_seconds);
      samples.push_back(std::move(smp));
    }
  }

  // 4. Write.
  std::size_t refused = 0;
  if (!samples.empty()) {
    SeriesStore::Writer w = store_->Write();
    std::vector<Label> ls;
    for (Sample& s : samples) {
      ls.clear();
      for (const auto& [k, v] : s.labels) ls.push_back({k, v});
      double ttl = s.ttl > 0 ? s.ttl : 0;
      SetOutcome o =
          w.Set(s.family, ls, s.value, ttl, id_, nullptr, s.timestamp_ms);
      if (o == SetOutcome::kRefused || o == SetOutcome::kInvalid) {
        ++refused;
        ++field_counts[kSeriesLimit];
        if (why) {
          why->fields.push_back({s.metric, "", FieldReasonName(kSeriesLimit),
                                 o == SetOutcome::kRefused
                                     ? "series limit " +
                                           std::to_string(store_->limit()) +
                                           " reached; new series refused"
                                     : "invalid label set"});
        }
        continue;
      }
      ++result.series;
      if (!s.monotonic_key.empty()) {
        const double deadline = ttl > 0 && std::isfinite(ttl)
                                    ? w.now() + ttl
                                    : std::numeric_limits<double>::infinity();
        monotonic_[std::move(s.monotonic_key)] =
            Monotonic{s.monotonic_offset, s.monotonic_raw, deadline};
        next_prune_ = std::min(next_prune_, deadline);
        monotonic_dirty_ = true;
      }
      if (why) {
        std::optional<std::int64_t> ts;
        if (s.timestamp_ms != SeriesStore::kNoTimestamp) ts = s.timestamp_ms;
        why->AddSeries(s.name, ls, s.value, ts, s.note);
      }
    }
  }
  for (std::size_t r = 0; r < kFieldReasonCount; ++r) {
    if (field_counts[r]) counters_.AddField(r, field_counts[r]);
  }
  if (result.series == 0) {
    if (!samples.empty() && refused == samples.size()) {
      result.rejected = kCardinalityLimit;
      Reject(kCardinalityLimit, "the series limit refused every series", why);
    } else {
      result.rejected = kNoMetrics;
      Reject(kNoMetrics,
             "no metric of the mapping produced a series from this message",
             why);
    }
    return result;
  }
  result.accepted = true;
  return result;
}

std::string DeviceMapping::StatePath() const {
  return spec_.state_directory + "/" + spec_.name + ".monotonic";
}

Status DeviceMapping::LoadState() {
  if (spec_.state_directory.empty()) return Status::Ok();
  std::ifstream in(StatePath());
  if (!in) return Status::Ok();  // nothing saved yet
  // Saved state lives as long as a series of the mapping written now: a
  // device that does not come back within its expiry loses it.
  double ttl = 0;
  for (const MetricSpec& m : spec_.metrics) {
    if (!m.force_monotonic) continue;
    double t = m.expiry_seconds.value_or(spec_.expiry_seconds);
    ttl = t > 0 && std::isfinite(t) && ttl >= 0
              ? std::max(ttl, t)
              : -1;  // -1: one of them never expires
  }
  const double deadline = ttl > 0 ? store_->Write().now() + ttl
                                  : std::numeric_limits<double>::infinity();
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::size_t t2 = line.rfind('\t');
    std::size_t t1 = t2 == std::string::npos || t2 == 0
                         ? std::string::npos
                         : line.rfind('\t', t2 - 1);
    auto offset =
        t1 == std::string::npos
            ? std::nullopt
            : ParseNumber(std::string_view(line).substr(t1 + 1, t2 - t1 - 1));
    auto last = t2 == std::string::npos
                    ? std::nullopt
                    : ParseNumber(std::string_view(line).substr(t2 + 1));
    if (!offset || !last) {
      return InvalidArgument(StatePath() + ":" + std::to_string(n) +
                             ": want KEY<tab>OFFSET<tab>LAST_RAW");
    }
    monotonic_[line.substr(0, t1)] = Monotonic{*offset, *last, deadline};
  }
  next_prune_ = deadline;
  return Status::Ok();
}

Status DeviceMapping::SaveState() {
  if (spec_.state_directory.empty() || !monotonic_dirty_) return Status::Ok();
  std::string text;
  for (const auto& [key, st] : monotonic_) {
    text += key + "\t" + FormatDouble(st.offset) + "\t" +
            FormatDouble(st.last_raw) + "\n";
  }
  Status s = WriteFileAtomic(StatePath(), text);
  if (!s.ok())
    return Internal("cannot save " + StatePath() + ": " + s.message());
  monotonic_dirty_ = false;
  return Status::Ok();
}

void DeviceMapping::Tick(double now) {
  if (now >= next_prune_ && !monotonic_.empty()) {
    double next = std::numeric_limits<double>::infinity();
    const std::size_t dropped = std::erase_if(monotonic_, [&](const auto& kv) {
      if (kv.second.deadline <= now) return true;
      next = std::min(next, kv.second.deadline);
      return false;
    });
    if (dropped > 0) monotonic_dirty_ = true;
    next_prune_ = next;
  }
  if (!monotonic_dirty_ || now - last_save_ < 60) return;
  last_save_ = now;
  Status s = SaveState();
  if (!s.ok()) {
    PM_LOG_EVERY_30S(kWarn) << "mapping " << spec_.name << ": " << s.message();
  }
}

}  // namespace propmon::bridge
