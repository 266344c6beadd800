#include "exporter/collectors/cpu.h"

#include <unistd.h>

#include <utility>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {

constexpr double kJumpBackSeconds = 3.0;

// Mode labels of node_cpu_seconds_total, indexed by CpuMode (the guest
// columns go to node_cpu_guest_seconds_total instead).
constexpr const char* kModeNames[] = {"user",   "nice", "system",  "idle",
                                      "iowait", "irq",  "softirq", "steal"};

Status BadLine(std::string_view line) {
  std::string shown(line.substr(0, 120));
  return InvalidArgument("stat: malformed line \"" + shown + "\"");
}

bool ParseCpuLine(const std::vector<std::string_view>& f, double user_hz,
                  CpuTimes* t) {
  // f[0] is "cpu" or "cpuN"; at least user nice system idle follow.
  if (f.size() < 5) return false;
  size_t n = f.size() - 1;
  if (n > kNumCpuModes) n = kNumCpuModes;
  for (size_t i = 0; i < n; ++i) {
    uint64_t ticks = 0;
    if (!ParseU64(f[i + 1], &ticks)) return false;
    t->seconds[i] = static_cast<double>(ticks) / user_hz;
  }
  t->columns = static_cast<int>(n);
  return true;
}

}  // namespace

double CpuTimes::Total() const {
  double sum = 0;
  for (int i = 0; i <= static_cast<int>(CpuMode::kSteal) && i < columns; ++i) {
    sum += seconds[i];
  }
  return sum;
}

double CpuTimes::Busy() const {
  return Total() - Get(CpuMode::kIdle) - Get(CpuMode::kIowait);
}

double UserHz() {
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<double>(hz) : 100.0;
}

StatusOr<HostStat> ParseHostStat(std::string_view text, double user_hz) {
  if (!(user_hz > 0)) return InvalidArgument("stat: USER_HZ must be positive");
  HostStat st;
  std::vector<std::string_view> f;
  std::string_view line;
  while (NextLine(&text, &line)) {
    SplitFields(line, &f);
    if (f.empty()) continue;
    std::string_view key = f[0];
    if (key.substr(0, 3) == "cpu") {
      CpuTimes t;
      if (!ParseCpuLine(f, user_hz, &t)) return BadLine(line);
      if (key.size() == 3) {
        st.total = t;
      } else {
        int64_t id = 0;
        if (!ParseI64(key.substr(3), &id) || id < 0 || id > 1 << 20) {
          return BadLine(line);
        }
        st.cpus.emplace_back(static_cast<int>(id), t);
      }
      continue;
    }
    std::optional<uint64_t>* dst = nullptr;
    if (key == "intr") {
      dst = &st.intr;
    } else if (key == "ctxt") {
      dst = &st.ctxt;
    } else if (key == "btime") {
      dst = &st.btime;
    } else if (key == "processes") {
      dst = &st.processes;
    } else if (key == "procs_running") {
      dst = &st.procs_running;
    } else if (key == "procs_blocked") {
      dst = &st.procs_blocked;
    } else {
      continue;  // softirq, page, swap, ...: not used.
    }
    uint64_t v = 0;
    if (f.size() < 2 || !ParseU64(f[1], &v)) return BadLine(line);
    *dst = v;
  }
  return st;
}

std::optional<double> CpuUsageRatio(const CpuTimes& before,
                                    const CpuTimes& after) {
  double total = after.Total() - before.Total();
  double busy = after.Busy() - before.Busy();
  if (!(total > 0) || busy < 0) return std::nullopt;
  double r = busy / total;
  return r > 1.0 ? 1.0 : r;
}

StatusOr<CpuTimes> ReadHostCpuTimes(const HostPaths& paths) {
  std::string buf;
  Status s = ReadFileTo(JoinPath(paths.procfs, "stat"), &buf);
  if (!s.ok()) return s;
  auto st = ParseHostStat(buf, UserHz());
  if (!st.ok()) return st.status();
  if (!st->total) return InvalidArgument("stat: no aggregate \"cpu\" line");
  return *st->total;
}

CpuCollector::CpuCollector(HostPaths paths)
    : paths_(std::move(paths)), user_hz_(UserHz()) {}

Status CpuCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "stat"), &buf_);
  if (!s.ok()) return s;
  auto st = ParseHostStat(buf_, user_hz_);
  if (!st.ok()) return st.status();
  if (st->cpus.empty()) return InvalidArgument("stat: no per-CPU lines");

  // Clamp per-mode counters so they never go backwards (see header).
  std::map<int, CpuTimes> next;
  for (const auto& [id, now] : st->cpus) {
    CpuTimes kept = now;
    auto it = last_.find(id);
    if (it != last_.end() && it->second.columns == now.columns &&
        it->second.Get(CpuMode::kIdle) - now.Get(CpuMode::kIdle) <
            kJumpBackSeconds) {
      for (int i = 0; i < now.columns; ++i) {
        if (now.seconds[i] < it->second.seconds[i]) {
          kept.seconds[i] = it->second.seconds[i];
        }
      }
    }
    next[id] = kept;
  }
  last_ = std::move(next);  // CPUs that went offline are forgotten.

  FamilyBuilder secs("node_cpu_seconds_total",
                     "Seconds the CPUs spent in each mode.",
                     prometheus::MetricType::Counter);
  FamilyBuilder guest("node_cpu_guest_seconds_total",
                      "Seconds the CPUs spent in guests (VMs) for each mode.",
                      prometheus::MetricType::Counter);
  for (const auto& [id, t] : last_) {
    std::string cpu = std::to_string(id);
    for (int i = 0; i <= static_cast<int>(CpuMode::kSteal); ++i) {
      if (i < t.columns)
        secs.Add({{"cpu", cpu}, {"mode", kModeNames[i]}}, t.seconds[i]);
    }
    if (t.Has(CpuMode::kGuest)) {
      guest.Add({{"cpu", cpu}, {"mode", "user"}}, t.Get(CpuMode::kGuest));
    }
    if (t.Has(CpuMode::kGuestNice)) {
      guest.Add({{"cpu", cpu}, {"mode", "nice"}}, t.Get(CpuMode::kGuestNice));
    }
  }
  secs.MoveTo(out);
  guest.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
