#include "bridge/explanation.h"

#include <charconv>

#include "common/manager_json.h"
#include "common/payload.h"

namespace propmon::bridge {

void Explanation::SetMessage(std::string_view mapping_name,
                             std::string_view topic_name,
                             std::string_view payload_text, double time) {
  mapping = std::string(mapping_name);
  topic = std::string(topic_name);
  receive_time = time;
  payload_truncated = payload_text.size() > kMaxPayload;
  payload = std::string(payload_text.substr(0, kMaxPayload));
}

void Explanation::AddSeries(std::string_view name,
                            std::span<const Label> labels, double value,
                            std::optional<std::int64_t> timestamp_ms,
                            std::string note) {
  Series s;
  s.name = std::string(name);
  for (const Label& l : labels) {
    s.labels.emplace_back(std::string(l.name), std::string(l.value));
  }
  s.value = value;
  s.timestamp_ms = timestamp_ms;
  s.note = std::move(note);
  series.push_back(std::move(s));
}

namespace {

// The series as an exposition line: name{labels} value [timestamp].
std::string SeriesLine(const Explanation::Series& s) {
  std::string out = s.name;
  std::vector<Label> labels;
  labels.reserve(s.labels.size());
  for (const auto& [k, v] : s.labels) labels.push_back({k, v});
  AppendLabels(&out, labels);
  out.push_back(' ');
  AppendValue(&out, s.value);
  if (s.timestamp_ms) {
    out.push_back(' ');
    out += std::to_string(*s.timestamp_ms);
  }
  return out;
}

}  // namespace

std::string Explanation::ToText() const {
  std::string out = "mapping " + mapping + ": ";
  if (rejected.empty()) {
    out += "matched, " + std::to_string(series.size()) + " series";
  } else {
    out += "REJECTED (" + rejected + ")";
    if (!detail.empty()) out += ": " + detail;
  }
  out += "\n";
  for (const Series& s : series) {
    out += "  series  " + SeriesLine(s);
    if (!s.note.empty()) out += "   # " + s.note;
    out += "\n";
  }
  for (const Field& f : fields) {
    out += "  field   " + f.metric;
    if (!f.path.empty()) out += " (" + f.path + ")";
    out += ": rejected (" + f.reason + ")";
    if (!f.detail.empty()) out += ": " + f.detail;
    out += "\n";
  }
  for (const std::string& n : notes) out += "  note    " + n + "\n";
  return out;
}

std::string Explanation::ToJson() const {
  std::string j = "{\"mapping\":";
  AppendGoJsonString(&j, mapping);
  j += ",\"topic\":";
  AppendGoJsonString(&j, topic);
  j += ",\"received\":";
  AppendGoJsonString(&j, GoRfc3339Nano(receive_time));
  j += ",\"payload\":";
  AppendGoJsonString(&j, payload);
  j += ",\"payload_truncated\":";
  j += payload_truncated ? "true" : "false";
  j += ",\"accepted\":";
  j += rejected.empty() ? "true" : "false";
  j += ",\"rejected\":";
  AppendGoJsonString(&j, rejected);
  j += ",\"detail\":";
  AppendGoJsonString(&j, detail);
  j += ",\"series\":[";
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    if (i > 0) j += ',';
    j += "{\"name\":";
    AppendGoJsonString(&j, s.name);
    j += ",\"labels\":{";
    for (std::size_t k = 0; k < s.labels.size(); ++k) {
      if (k > 0) j += ',';
      AppendGoJsonString(&j, s.labels[k].first);
      j += ':';
      AppendGoJsonString(&j, s.labels[k].second);
    }
    j += "},\"value\":";
    // JSON has no NaN/Inf: those go as strings.
    std::string v;
    AppendValue(&v, s.value);
    if (v == "NaN" || v == "+Inf" || v == "-Inf") {
      AppendGoJsonString(&j, v);
    } else {
      j += v;
    }
    j += ",\"line\":";
    AppendGoJsonString(&j, SeriesLine(s));
    if (s.timestamp_ms)
      j += ",\"timestamp_ms\":" + std::to_string(*s.timestamp_ms);
    if (!s.note.empty()) {
      j += ",\"note\":";
      AppendGoJsonString(&j, s.note);
    }
    j += '}';
  }
  j += "],\"rejected_fields\":[";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    if (i > 0) j += ',';
    j += "{\"metric\":";
    AppendGoJsonString(&j, f.metric);
    j += ",\"path\":";
    AppendGoJsonString(&j, f.path);
    j += ",\"reason\":";
    AppendGoJsonString(&j, f.reason);
    j += ",\"detail\":";
    AppendGoJsonString(&j, f.detail);
    j += '}';
  }
  j += "],\"notes\":[";
  for (std::size_t i = 0; i < notes.size(); ++i) {
    if (i > 0) j += ',';
    AppendGoJsonString(&j, notes[i]);
  }
  j += "]}";
  return j;
}

MappingCounters::MappingCounters(std::vector<std::string> message_reasons,
                                 std::vector<std::string> field_reasons)
    : message_reasons_(std::move(message_reasons)),
      field_reasons_(std::move(field_reasons)),
      rejected_(new std::atomic<std::uint64_t>[message_reasons_.size()]),
      fields_(new std::atomic<std::uint64_t>[field_reasons_.size()]) {
  for (std::size_t i = 0; i < message_reasons_.size(); ++i) rejected_[i] = 0;
  for (std::size_t i = 0; i < field_reasons_.size(); ++i) fields_[i] = 0;
}

void MappingCounters::AddRejected(std::size_t reason, std::uint64_t n) {
  if (reason < message_reasons_.size()) {
    rejected_[reason].fetch_add(n, std::memory_order_relaxed);
  }
}

void MappingCounters::AddField(std::size_t reason, std::uint64_t n) {
  if (reason < field_reasons_.size()) {
    fields_[reason].fetch_add(n, std::memory_order_relaxed);
  }
}

namespace {
std::optional<std::size_t> IndexOf(const std::vector<std::string>& v,
                                   std::string_view name) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == name) return i;
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::size_t> MappingCounters::MessageReason(
    std::string_view name) const {
  return IndexOf(message_reasons_, name);
}

std::optional<std::size_t> MappingCounters::FieldReason(
    std::string_view name) const {
  return IndexOf(field_reasons_, name);
}

std::uint64_t MappingCounters::rejected(std::size_t reason) const {
  return reason < message_reasons_.size() ? rejected_[reason].load() : 0;
}

std::uint64_t MappingCounters::field(std::size_t reason) const {
  return reason < field_reasons_.size() ? fields_[reason].load() : 0;
}

std::uint64_t MappingCounters::rejected(std::string_view reason) const {
  auto i = MessageReason(reason);
  return i ? rejected(*i) : 0;
}

std::uint64_t MappingCounters::field(std::string_view reason) const {
  auto i = FieldReason(reason);
  return i ? field(*i) : 0;
}

}  // namespace propmon::bridge
