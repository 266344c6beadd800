#include "exporter/collectors/stat.h"

#include <optional>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/collectors/cpu.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
void AddOne(const std::optional<uint64_t>& v, const char* name,
            const char* help, prometheus::MetricType type,
            std::vector<prometheus::MetricFamily>* out) {
  if (!v) return;
  FamilyBuilder b(name, help, type);
  b.Add(Labels{}, static_cast<double>(*v));
  b.MoveTo(out);
}
}  // namespace

Status StatCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "stat"), &buf_);
  if (!s.ok()) return s;
  auto st = ParseHostStat(buf_, UserHz());
  if (!st.ok()) return st.status();
  using prometheus::MetricType;
  AddOne(st->btime, "node_boot_time_seconds", "Node boot time, in unixtime.",
         MetricType::Gauge, out);
  AddOne(st->ctxt, "node_context_switches_total",
         "Total number of context switches.", MetricType::Counter, out);
  AddOne(st->processes, "node_forks_total", "Total number of forks.",
         MetricType::Counter, out);
  AddOne(st->intr, "node_intr_total", "Total number of interrupts serviced.",
         MetricType::Counter, out);
  AddOne(st->procs_running, "node_procs_running",
         "Number of processes in runnable state.", MetricType::Gauge, out);
  AddOne(st->procs_blocked, "node_procs_blocked",
         "Number of processes blocked waiting for I/O to complete.",
         MetricType::Gauge, out);
  return Status::Ok();
}

}  // namespace propmon::exporter
