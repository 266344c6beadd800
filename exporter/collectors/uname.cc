#include "exporter/collectors/uname.h"

#include <sys/utsname.h>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

Status UnameCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  struct Field {
    const char* file;
    const char* label;
  };
  static constexpr Field kFields[] = {
      {"ostype", "sysname"},    {"osrelease", "release"},
      {"version", "version"},   {"arch", "machine"},
      {"hostname", "nodename"}, {"domainname", "domainname"},
  };
  Labels labels;
  for (const Field& f : kFields) {
    std::string_view file = f.file;
    if (privacy_ && (file == "hostname" || file == "domainname")) {
      labels.emplace_back(f.label, "");  // Names the host: not read at all.
      continue;
    }
    Status s =
        ReadFileTo(JoinPath(paths_.procfs, std::string("sys/kernel/") + f.file),
                   &buf_, 4096);
    if (s.code() == StatusCode::kNotFound && file == "arch") {
      struct utsname u;
      if (uname(&u) != 0) return Unavailable("uname(2) failed");
      labels.emplace_back(f.label, u.machine);
      continue;
    }
    if (!s.ok()) return s;
    // The kernel ends each value with one newline; keep inner spaces.
    std::string_view v = buf_;
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) {
      v.remove_suffix(1);
    }
    labels.emplace_back(f.label, std::string(v));
  }
  FamilyBuilder b("node_uname_info",
                  "Labeled system information as provided by the uname "
                  "system call.",
                  prometheus::MetricType::Gauge);
  b.Add(labels, 1);
  b.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
