// /proc/stat: its pure parser, the host-wide CPU usage ratio used by the MQTT
// publisher, and the `cpu` collector (node_cpu_seconds_total{cpu,mode},
// node_cpu_guest_seconds_total{cpu,mode}).
#ifndef PROPMON_EXPORTER_COLLECTORS_CPU_H_
#define PROPMON_EXPORTER_COLLECTORS_CPU_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// Columns of a "cpu" line of /proc/stat, in kernel order.
enum class CpuMode {
  kUser = 0,
  kNice,
  kSystem,
  kIdle,
  kIowait,
  kIrq,
  kSoftirq,
  kSteal,
  kGuest,
  kGuestNice,
};
inline constexpr int kNumCpuModes = 10;

// One "cpu" line converted to seconds. Old kernels print fewer columns;
// `columns` says how many were present (4..10) and the rest are absent.
// Like the kernel, `user` includes `guest` and `nice` includes `guest_nice`.
struct CpuTimes {
  std::array<double, kNumCpuModes> seconds{};
  int columns = 0;

  bool Has(CpuMode m) const { return static_cast<int>(m) < columns; }
  double Get(CpuMode m) const {
    return Has(m) ? seconds[static_cast<int>(m)] : 0.0;
  }
  // user+nice+system+idle+iowait+irq+softirq+steal (guest is already in
  // user/nice, so it is not added again).
  double Total() const;
  // Total() minus idle and iowait.
  double Busy() const;
};

// What /proc/stat says. Fields the file lacks are absent.
struct HostStat {
  std::optional<CpuTimes> total;               // the "cpu" line
  std::vector<std::pair<int, CpuTimes>> cpus;  // "cpuN" lines, file order
  std::optional<uint64_t> intr;                // first number of "intr"
  std::optional<uint64_t> ctxt;
  std::optional<uint64_t> btime;
  std::optional<uint64_t> processes;  // forks since boot
  std::optional<uint64_t> procs_running;
  std::optional<uint64_t> procs_blocked;
};

// Parses /proc/stat text; ticks are divided by `user_hz` (USER_HZ, from
// sysconf(_SC_CLK_TCK)). Unknown lines are ignored; a known line with a
// malformed or missing number is an InvalidArgument error naming the line.
StatusOr<HostStat> ParseHostStat(std::string_view text, double user_hz);

// USER_HZ of this system (sysconf(_SC_CLK_TCK), 100 if that fails).
double UserHz();

// Returns the host-wide CPU usage between two readings of the aggregate
// "cpu" line: busy time / total time, in 0..1 (1 = every CPU busy). Returns
// nullopt when no time passed between the readings or a counter went
// backwards (no honest figure exists then).
std::optional<double> CpuUsageRatio(const CpuTimes& before,
                                    const CpuTimes& after);

// Reads `paths.procfs`/stat and returns its aggregate "cpu" line.
// Thread-safe (no shared state).
StatusOr<CpuTimes> ReadHostCpuTimes(const HostPaths& paths);

// node_cpu_seconds_total{cpu,mode} and node_cpu_guest_seconds_total{cpu,mode}
// per CPU, like node_exporter: a mode counter that the kernel moves
// backwards (iowait does) keeps its last value, and a CPU whose idle time
// drops by 3 s or more (hotplug) starts over. Not thread-safe (HostCollectors
// serializes calls).
class CpuCollector : public Collector {
 public:
  explicit CpuCollector(HostPaths paths);
  std::string_view Name() const override { return "cpu"; }
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

 private:
  HostPaths paths_;
  double user_hz_;
  std::string buf_;
  std::map<int, CpuTimes> last_;  // Values emitted last time, per CPU.
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_CPU_H_
