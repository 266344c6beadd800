// The `meminfo` collector: every /proc/meminfo field as node_exporter names
// it (node_memory_MemTotal_bytes, node_memory_Active_anon_bytes,
// node_memory_HugePages_Total, ...).
#ifndef PROPMON_EXPORTER_COLLECTORS_MEMINFO_H_
#define PROPMON_EXPORTER_COLLECTORS_MEMINFO_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

struct MeminfoField {
  std::string name;  // Metric name suffix: "MemTotal_bytes", "HugePages_Free".
  double value = 0;  // Bytes for fields given in kB; the raw count otherwise.
};

// Parses /proc/meminfo like node_exporter: "Key:  N kB" becomes
// {"Key_bytes", N*1024}; "Key:  N" (no unit) stays {"Key", N}; "Active(anon)"
// becomes "Active_anon". Blank lines are skipped; any other malformed line is
// an InvalidArgument error naming it.
StatusOr<std::vector<MeminfoField>> ParseMeminfo(std::string_view text);

// Not thread-safe (HostCollectors serializes calls).
class MeminfoCollector : public Collector {
 public:
  explicit MeminfoCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "meminfo"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_MEMINFO_H_
