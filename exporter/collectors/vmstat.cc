#include "exporter/collectors/vmstat.h"

#include <set>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

bool VmstatFieldSelected(std::string_view name) {
  if (name.substr(0, 8) == "oom_kill") return true;
  if (name.substr(0, 4) == "pgpg" || name.substr(0, 4) == "pswp") return true;
  // pg.*fault.*
  return name.substr(0, 2) == "pg" &&
         name.find("fault", 2) != std::string_view::npos;
}

StatusOr<std::vector<std::pair<std::string, double>>> ParseVmstat(
    std::string_view text) {
  std::vector<std::pair<std::string, double>> r;
  std::vector<std::string_view> f;
  std::string_view line;
  while (NextLine(&text, &line)) {
    SplitFields(line, &f);
    if (f.empty()) continue;
    double v = 0;
    bool name_ok = true;
    for (char c : f[0]) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_')) {
        name_ok = false;
      }
    }
    if (f.size() != 2 || !name_ok || !ParseDouble(f[1], &v)) {
      return InvalidArgument("vmstat: malformed line \"" +
                             std::string(line.substr(0, 120)) + "\"");
    }
    r.emplace_back(std::string(f[0]), v);
  }
  return r;
}

Status VmstatCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "vmstat"), &buf_);
  if (!s.ok()) return s;
  auto fields = ParseVmstat(buf_);
  if (!fields.ok()) return fields.status();
  std::set<std::string_view> seen;  // A repeated key would be a duplicate.
  for (const auto& [name, v] : *fields) {
    if (!VmstatFieldSelected(name) || !seen.insert(name).second) continue;
    FamilyBuilder b("node_vmstat_" + name,
                    "/proc/vmstat information field " + name + ".",
                    prometheus::MetricType::Untyped);
    b.Add(Labels{}, v);
    b.MoveTo(out);
  }
  return Status::Ok();
}

}  // namespace propmon::exporter
