#include "common/manager_json.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace propmon {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendUnicodeEscape(std::string* out, unsigned cp) {
  out->append("\\u");
  out->push_back(kHex[(cp >> 12) & 0xF]);
  out->push_back(kHex[(cp >> 8) & 0xF]);
  out->push_back(kHex[(cp >> 4) & 0xF]);
  out->push_back(kHex[cp & 0xF]);
}

// Length of the valid UTF-8 sequence starting at s[i] and its code point,
// or 0 when the bytes there are not valid UTF-8.
size_t Utf8Sequence(std::string_view s, size_t i, unsigned* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = b(i);
  size_t n;
  unsigned min;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    *cp = c & 0x1F;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    *cp = c & 0x0F;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    *cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b(i + k) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// Appends a Go unsigned/signed integer field from a double figure. Figures
// that no Go integer can hold are left out by the caller (returns false).
bool FitsInteger(double v) {
  return std::isfinite(v) && v > -9.2e18 && v < 1.8e19;
}

void AppendGoInteger(std::string* out, double v) {
  char buf[32];
  std::to_chars_result r;
  if (v < 0) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf),
                      static_cast<unsigned long long>(v));
  }
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

class ObjectWriter {
 public:
  explicit ObjectWriter(std::string* out) : out_(out) { out_->push_back('{'); }
  void Key(std::string_view k) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(k);
    out_->append("\":");
  }
  void String(std::string_view k, std::string_view v) {
    Key(k);
    AppendGoJsonString(out_, v);
  }
  void Float64(std::string_view k, const std::optional<double>& v) {
    if (!v || !std::isfinite(*v)) return;
    Key(k);
    AppendGoFloat64(out_, *v);
  }
  void Float32(std::string_view k, const std::optional<double>& v) {
    if (!v || !std::isfinite(*v)) return;
    Key(k);
    AppendGoFloat32(out_, *v);
  }
  void Integer(std::string_view k, const std::optional<double>& v) {
    if (!v || !FitsInteger(*v)) return;
    Key(k);
    AppendGoInteger(out_, *v);
  }
  // Go's omitempty on an integer: a zero is left out too.
  void IntegerOmitEmpty(std::string_view k, const std::optional<double>& v) {
    if (v && std::trunc(*v) == 0) return;
    Integer(k, v);
  }
  void Timestamp(std::string_view k, double t) {
    std::string s = GoRfc3339Nano(t);
    Key(k);
    if (s.empty()) {
      out_->append("\"0001-01-01T00:00:00Z\"");
    } else {
      AppendGoJsonString(out_, s);
    }
  }
  void End() { out_->push_back('}'); }
  std::string* out() { return out_; }

 private:
  std::string* out_;
  bool first_ = true;
};

}  // namespace

void AppendGoJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
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
        case '<':
        case '>':
        case '&':
          AppendUnicodeEscape(out, c);
          break;
        default:
          if (c < 0x20) {
            AppendUnicodeEscape(out, c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    unsigned cp = 0;
    size_t n = Utf8Sequence(s, i, &cp);
    if (n == 0) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      AppendUnicodeEscape(out, cp);
    } else {
      out->append(s.data() + i, n);
    }
    i += n;
  }
  out->push_back('"');
}

namespace {

// encoding/json's floatEncoder: 'f' format unless the magnitude is below
// 1e-6 or at least 1e21, then 'e' with a one-digit negative exponent
// written without its leading zero ("1e-07" -> "1e-7").
template <typename F>
void AppendGoFloat(std::string* out, F v) {
  char buf[64];
  F abs = std::fabs(v);
  bool exp = abs != 0 && (abs < F(1e-6) || abs >= F(1e21));
  auto r = std::to_chars(
      buf, buf + sizeof(buf), v,
      exp ? std::chars_format::scientific : std::chars_format::fixed);
  size_t n = static_cast<size_t>(r.ptr - buf);
  if (exp && n >= 4 && buf[n - 4] == 'e' && buf[n - 3] == '-' &&
      buf[n - 2] == '0') {
    buf[n - 2] = buf[n - 1];
    --n;
  }
  out->append(buf, n);
}

}  // namespace

void AppendGoFloat64(std::string* out, double v) { AppendGoFloat(out, v); }

void AppendGoFloat32(std::string* out, double v) {
  AppendGoFloat(out, static_cast<float>(v));
}

std::string GoRfc3339Nano(double unix_seconds) {
  // "YYYY-MM-DDTHH:MM:SS.ffffffZ": trim the fraction's trailing zeros.
  std::string s = payload::FormatRfc3339(unix_seconds);
  if (s.empty()) return s;
  size_t dot = s.find('.');
  if (dot == std::string::npos) return s;
  size_t z = s.size() - 1;  // the 'Z'
  size_t end = z;
  while (end > dot + 1 && s[end - 1] == '0') --end;
  if (end == dot + 1) end = dot;  // no fraction left: drop the dot too
  return s.substr(0, end) + "Z";
}

void AppendManagerItem(const payload::TaskMetrics& m, std::string* out) {
  ObjectWriter w(out);
  w.String("task_id", m.task_id);
  w.String("proplet_id", m.proplet_id);
  w.Key("metrics");
  {
    const payload::ProcessMetrics& p = m.metrics;
    ObjectWriter o(out);
    o.Float64("cpu_percent", p.cpu_percent);
    o.Integer("memory_bytes", p.memory_bytes);
    o.Float32("memory_percent", p.memory_percent);
    o.Integer("disk_read_bytes", p.disk_read_bytes);
    o.Integer("disk_write_bytes", p.disk_write_bytes);
    o.Integer("network_rx_bytes", p.network_rx_bytes);
    o.Integer("network_tx_bytes", p.network_tx_bytes);
    o.Integer("uptime_seconds", p.uptime_seconds);
    o.Integer("thread_count", p.thread_count);
    o.IntegerOmitEmpty("file_descriptor_count", p.file_descriptor_count);
    o.End();
  }
  if (m.aggregated) {
    const payload::AggregatedMetrics& a = *m.aggregated;
    w.Key("aggregated");
    ObjectWriter o(out);
    o.Float64("avg_cpu_usage", a.avg_cpu_usage);
    o.Float64("max_cpu_usage", a.max_cpu_usage);
    o.Integer("avg_memory_usage", a.avg_memory_usage);
    o.Integer("max_memory_usage", a.max_memory_usage);
    o.Integer("total_disk_read", a.total_disk_read);
    o.Integer("total_disk_write", a.total_disk_write);
    o.Integer("total_network_rx", a.total_network_rx);
    o.Integer("total_network_tx", a.total_network_tx);
    o.Integer("sample_count", a.sample_count);
    o.End();
  }
  w.Timestamp("timestamp", m.timestamp);
  w.End();
}

void AppendManagerItem(const payload::PropletMetrics& m, std::string* out) {
  ObjectWriter w(out);
  w.String("proplet_id", m.proplet_id);
  w.String("namespace", m.namespace_name);
  w.Timestamp("timestamp", m.timestamp);
  w.Key("cpu_metrics");
  {
    ObjectWriter o(out);
    o.Float64("user_seconds", m.cpu.user_seconds);
    o.Float64("system_seconds", m.cpu.system_seconds);
    o.Float64("percent", m.cpu.percent);
    o.End();
  }
  w.Key("memory_metrics");
  {
    ObjectWriter o(out);
    o.Integer("rss_bytes", m.memory.rss_bytes);
    o.Integer("heap_alloc_bytes", m.memory.heap_alloc_bytes);
    o.Integer("heap_sys_bytes", m.memory.heap_sys_bytes);
    o.Integer("heap_inuse_bytes", m.memory.heap_inuse_bytes);
    o.Integer("container_usage_bytes", m.memory.container_usage_bytes);
    o.Integer("container_limit_bytes", m.memory.container_limit_bytes);
    o.End();
  }
  w.End();
}

std::string ManagerPage(std::uint64_t offset, std::uint64_t limit,
                        std::uint64_t total,
                        const std::vector<std::string>& items) {
  std::string out;
  size_t size = 64;
  for (const auto& i : items) size += i.size() + 1;
  out.reserve(size);
  out.append("{\"offset\":");
  out.append(std::to_string(offset));
  out.append(",\"limit\":");
  out.append(std::to_string(limit));
  out.append(",\"total\":");
  out.append(std::to_string(total));
  out.append(",\"metrics\":[");
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(items[i]);
  }
  out.append("]}\n");
  return out;
}

}  // namespace propmon
