#include "exporter/collectors/loadavg.h"

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

StatusOr<std::array<double, 3>> ParseLoadavg(std::string_view text) {
  std::vector<std::string_view> f;
  std::string_view line;
  NextLine(&text, &line);
  SplitFields(line, &f);
  if (f.size() < 3) {
    return InvalidArgument("loadavg: expected 3 numbers, got \"" +
                           std::string(line.substr(0, 80)) + "\"");
  }
  std::array<double, 3> r{};
  for (int i = 0; i < 3; ++i) {
    if (!ParseDouble(f[i], &r[i]) || r[i] < 0) {
      return InvalidArgument("loadavg: bad number \"" + std::string(f[i]) +
                             "\"");
    }
  }
  return r;
}

Status LoadavgCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "loadavg"), &buf_);
  if (!s.ok()) return s;
  auto l = ParseLoadavg(buf_);
  if (!l.ok()) return l.status();
  static constexpr const char* kNames[] = {"node_load1", "node_load5",
                                           "node_load15"};
  static constexpr const char* kHelp[] = {
      "1m load average.", "5m load average.", "15m load average."};
  for (int i = 0; i < 3; ++i) {
    FamilyBuilder b(kNames[i], kHelp[i], prometheus::MetricType::Gauge);
    b.Add(Labels{}, (*l)[i]);
    b.MoveTo(out);
  }
  return Status::Ok();
}

}  // namespace propmon::exporter
