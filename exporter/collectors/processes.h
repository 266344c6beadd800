// The `processes` collector: propmon_node_processes{state}, the number of
// processes (not threads) in each scheduler state, counted from
// /proc/[pid]/stat. node_exporter has no default-on equivalent, so the name
// is ours; states are spelled out (running, sleeping, disk_sleep, zombie,
// stopped, tracing_stop, dead, idle, and wakekill/waking/parked when seen).
#ifndef PROPMON_EXPORTER_COLLECTORS_PROCESSES_H_
#define PROPMON_EXPORTER_COLLECTORS_PROCESSES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Returns the state letter of a /proc/[pid]/stat line: the first field after
// the LAST ')' (comm may contain ')' and spaces). nullopt when malformed.
std::optional<char> ParseStatState(std::string_view stat);

// Returns the label for a state letter ("running" for 'R', ...), or "" for
// a letter Linux does not define.
std::string_view ProcessStateName(char state);

// Not thread-safe (HostCollectors serializes calls). A process that exits
// while being read is skipped; an unreadable or malformed stat file is
// skipped with a rate-limited warning (other processes are still counted).
class ProcessesCollector : public Collector {
 public:
  explicit ProcessesCollector(HostPaths paths) : paths_(std::move(paths)) {}
  std::string_view Name() const override { return "processes"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  std::string buf_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_PROCESSES_H_
