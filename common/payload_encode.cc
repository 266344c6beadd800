// The Propeller codec's encoder (common/payload.h, "Encoding"): compact JSON
// with the Rust proplet's keys, nesting and number forms.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/label.h"
#include "common/payload.h"
#include "common/rfc3339.h"

namespace propmon::payload {

namespace {

void AppendEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;  // start of bytes not yet copied
  while (p < end) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++p;
      continue;
    }
    if (c >= 0x80) {
      size_t n = label::Utf8SequenceLength(p, end);
      if (n != 0) {
        p += n;
        continue;
      }
      out->append(run, p - run);
      out->append("\xEF\xBF\xBD");  // U+FFFD
      ++p;
      run = p;
      continue;
    }
    out->append(run, p - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(u, 6);
      }
    }
    ++p;
    run = p;
  }
  out->append(run, p - run);
  out->push_back('"');
}

// Appends a double in its shortest round-trip form; integral values get
// ".0" like serde_json's f64 output.
void AppendDouble(std::string* out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
  bool has_mark = false;
  for (const char* q = buf; q < r.ptr; ++q) {
    if (*q == '.' || *q == 'e') {
      has_mark = true;
      break;
    }
  }
  if (!has_mark) out->append(".0");
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
}

// Writes `"key":` with a leading comma unless first.
inline void Key(std::string* out, bool* first, std::string_view key) {
  if (!*first) out->push_back(',');
  *first = false;
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

// A float field (f64 in the Rust proplet): left out unless finite.
inline void FloatField(std::string* out, bool* first, std::string_view key,
                       const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return;
  Key(out, first, key);
  AppendDouble(out, *v);
}

// An integer field (u64/u32/usize in the Rust proplet): rounded; left out
// unless finite and within 0..2^64.
inline void IntField(std::string* out, bool* first, std::string_view key,
                     const std::optional<double>& v) {
  if (!v || !std::isfinite(*v) || *v < 0 || *v >= 18446744073709551616.0) {
    return;
  }
  double r = std::floor(*v + 0.5);
  if (r >= 18446744073709551616.0) return;
  Key(out, first, key);
  AppendUint(out, static_cast<uint64_t>(r));
}

inline void StringField(std::string* out, bool* first, std::string_view key,
                        std::string_view v) {
  Key(out, first, key);
  AppendEscaped(out, v);
}

inline void TimestampField(std::string* out, bool* first, double ts) {
  Key(out, first, "timestamp");
  std::string s = FormatRfc3339(ts);
  if (s.empty()) {
    out->append("null");
  } else {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
  }
}

void AppendMetadataValue(std::string* out, const MetadataValue& v) {
  if (std::holds_alternative<std::nullptr_t>(v)) {
    out->append("null");
  } else if (const bool* b = std::get_if<bool>(&v)) {
    out->append(*b ? "true" : "false");
  } else if (const double* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) {
      out->append("null");
    } else if (*d == std::floor(*d) && std::fabs(*d) < 9007199254740992.0) {
      // Integral metadata (total_memory_bytes) as an integer, like u64.
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(*d));
      out->append(buf, r.ptr - buf);
    } else {
      AppendDouble(out, *d);
    }
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    AppendEscaped(out, *s);
  } else if (const RawJson* raw = std::get_if<RawJson>(&v)) {
    if (IsValidJson(raw->text)) {
      out->append(raw->text);
    } else {
      AppendEscaped(out, raw->text);
    }
  }
}

}  // namespace

std::optional<std::string> Create::FindText(std::string_view key) const {
  const MetadataValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (const std::string* s = std::get_if<std::string>(v)) return *s;
  if (const bool* b = std::get_if<bool>(v)) {
    return std::string(*b ? "true" : "false");
  }
  if (std::holds_alternative<double>(*v)) {
    std::string out;
    AppendMetadataValue(&out, *v);
    return out;
  }
  return std::nullopt;
}

std::string QuoteJson(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendEscaped(&out, text);
  return out;
}

void AppendJson(const TaskMetrics& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "task_id", m.task_id);
  StringField(out, &first, "proplet_id", m.proplet_id);
  Key(out, &first, "metrics");
  {
    const ProcessMetrics& p = m.metrics;
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "cpu_percent", p.cpu_percent);
    IntField(out, &f, "memory_bytes", p.memory_bytes);
    FloatField(out, &f, "memory_percent", p.memory_percent);
    IntField(out, &f, "disk_read_bytes", p.disk_read_bytes);
    IntField(out, &f, "disk_write_bytes", p.disk_write_bytes);
    IntField(out, &f, "network_rx_bytes", p.network_rx_bytes);
    IntField(out, &f, "network_tx_bytes", p.network_tx_bytes);
    IntField(out, &f, "uptime_seconds", p.uptime_seconds);
    IntField(out, &f, "thread_count", p.thread_count);
    IntField(out, &f, "file_descriptor_count", p.file_descriptor_count);
    out->push_back('}');
  }
  Key(out, &first, "aggregated");
  if (!m.aggregated) {
    out->append("null");
  } else {
    const AggregatedMetrics& a = *m.aggregated;
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "avg_cpu_usage", a.avg_cpu_usage);
    FloatField(out, &f, "max_cpu_usage", a.max_cpu_usage);
    IntField(out, &f, "avg_memory_usage", a.avg_memory_usage);
    IntField(out, &f, "max_memory_usage", a.max_memory_usage);
    IntField(out, &f, "total_disk_read", a.total_disk_read);
    IntField(out, &f, "total_disk_write", a.total_disk_write);
    IntField(out, &f, "total_network_rx", a.total_network_rx);
    IntField(out, &f, "total_network_tx", a.total_network_tx);
    IntField(out, &f, "sample_count", a.sample_count);
    out->push_back('}');
  }
  TimestampField(out, &first, m.timestamp);
  out->push_back('}');
}

void AppendJson(const PropletMetrics& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "namespace", m.namespace_name);
  TimestampField(out, &first, m.timestamp);
  Key(out, &first, "cpu_metrics");
  {
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "user_seconds", m.cpu.user_seconds);
    FloatField(out, &f, "system_seconds", m.cpu.system_seconds);
    FloatField(out, &f, "percent", m.cpu.percent);
    out->push_back('}');
  }
  Key(out, &first, "memory_metrics");
  {
    const MemoryMetrics& mm = m.memory;
    bool f = true;
    out->push_back('{');
    IntField(out, &f, "rss_bytes", mm.rss_bytes);
    IntField(out, &f, "heap_alloc_bytes", mm.heap_alloc_bytes);
    IntField(out, &f, "heap_sys_bytes", mm.heap_sys_bytes);
    IntField(out, &f, "heap_inuse_bytes", mm.heap_inuse_bytes);
    IntField(out, &f, "container_usage_bytes", mm.container_usage_bytes);
    IntField(out, &f, "container_limit_bytes", mm.container_limit_bytes);
    IntField(out, &f, "heap_free_bytes", mm.heap_free_bytes);
    IntField(out, &f, "heap_max_alloc_bytes", mm.heap_max_alloc_bytes);
    out->push_back('}');
  }
  out->push_back('}');
}

void AppendJson(const Alive& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "status", m.status);
  StringField(out, &first, "namespace", m.namespace_name);
  out->push_back('}');
}

void AppendJson(const Create& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "namespace", m.namespace_name);
  Key(out, &first, "metadata");
  out->push_back('{');
  bool f = true;
  for (const auto& [k, v] : m.metadata) {
    if (!f) out->push_back(',');
    f = false;
    AppendEscaped(out, k);
    out->push_back(':');
    AppendMetadataValue(out, v);
  }
  out->push_back('}');
  out->push_back('}');
}

void AppendJson(const Results& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "task_id", m.task_id);
  if (m.proplet_id) StringField(out, &first, "proplet_id", *m.proplet_id);
  Key(out, &first, "results");
  if (m.results.empty()) {
    out->append("null");
  } else if (IsValidJson(m.results)) {
    // Trim surrounding whitespace so the output stays compact.
    std::string_view r = m.results;
    auto ws = [](char c) {
      return c == ' ' || c == '\n' || c == '\r' || c == '\t';
    };
    while (!r.empty() && ws(r.front())) r.remove_prefix(1);
    while (!r.empty() && ws(r.back())) r.remove_suffix(1);
    out->append(r);
  } else {
    AppendEscaped(out, m.results);
  }
  Key(out, &first, "error");
  if (m.error) {
    AppendEscaped(out, *m.error);
  } else {
    out->append("null");
  }
  out->push_back('}');
}

template <typename T>
static std::string EncodeImpl(const T& m) {
  std::string out;
  out.reserve(512);
  AppendJson(m, &out);
  return out;
}

std::string Encode(const TaskMetrics& m) { return EncodeImpl(m); }
std::string Encode(const PropletMetrics& m) { return EncodeImpl(m); }
std::string Encode(const Alive& m) { return EncodeImpl(m); }
std::string Encode(const Create& m) { return EncodeImpl(m); }
std::string Encode(const Results& m) { return EncodeImpl(m); }

}  // namespace propmon::payload
