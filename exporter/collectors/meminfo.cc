#include "exporter/collectors/meminfo.h"

#include <set>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
Status BadLine(std::string_view line) {
  return InvalidArgument("meminfo: malformed line \"" +
                         std::string(line.substr(0, 120)) + "\"");
}

bool ValidNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}
}  // namespace

StatusOr<std::vector<MeminfoField>> ParseMeminfo(std::string_view text) {
  std::vector<MeminfoField> fields;
  std::vector<std::string_view> f;
  std::string_view line;
  while (NextLine(&text, &line)) {
    SplitFields(line, &f);
    if (f.empty()) continue;
    if (f.size() < 2 || f.size() > 3) return BadLine(line);
    std::string_view key = f[0];
    if (key.size() < 2 || key.back() != ':') return BadLine(line);
    key.remove_suffix(1);
    MeminfoField m;
    // "Active(anon)" -> "Active_anon" (node_exporter's `\((.*)\)` -> `_$1`).
    size_t open = key.find('(');
    size_t close = key.rfind(')');
    if (open != std::string_view::npos && close != std::string_view::npos &&
        close > open) {
      m.name.append(key.substr(0, open));
      m.name.push_back('_');
      m.name.append(key.substr(open + 1, close - open - 1));
      m.name.append(key.substr(close + 1));
    } else {
      m.name.assign(key);
    }
    for (char& c : m.name) {
      if (!ValidNameChar(c)) c = '_';
    }
    if (!ParseDouble(f[1], &m.value)) return BadLine(line);
    if (f.size() == 3) {
      if (f[2] != "kB") return BadLine(line);
      m.value *= 1024;
      m.name.append("_bytes");
    }
    fields.push_back(std::move(m));
  }
  if (fields.empty()) return InvalidArgument("meminfo: no fields");
  return fields;
}

Status MeminfoCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "meminfo"), &buf_);
  if (!s.ok()) return s;
  auto fields = ParseMeminfo(buf_);
  if (!fields.ok()) return fields.status();
  std::set<std::string_view> seen;  // A repeated key would be a duplicate.
  for (const auto& m : *fields) {
    if (!seen.insert(m.name).second) continue;
    const bool counter = m.name.size() > 6 &&
                         m.name.compare(m.name.size() - 6, 6, "_total") == 0;
    FamilyBuilder b("node_memory_" + m.name,
                    "Memory information field " + m.name + ".",
                    counter ? prometheus::MetricType::Counter
                            : prometheus::MetricType::Gauge);
    b.Add(Labels{}, m.value);
    b.MoveTo(out);
  }
  return Status::Ok();
}

}  // namespace propmon::exporter
