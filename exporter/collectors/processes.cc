#include "exporter/collectors/processes.h"

#include <dirent.h>
#include <errno.h>

#include <cstring>
#include <map>

#include "common/file.h"
#include "common/log.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
// States always reported (0 when none), so alerts need no absent().
constexpr const char* kAlwaysReported[] = {
    "running", "sleeping",     "disk_sleep", "zombie",
    "stopped", "tracing_stop", "dead",       "idle"};
}  // namespace

std::optional<char> ParseStatState(std::string_view stat) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos || stat.find('(') > close) {
    return std::nullopt;
  }
  std::string_view rest = stat.substr(close + 1);
  if (rest.size() < 2 || rest[0] != ' ') return std::nullopt;
  char c = rest[1];
  if (rest.size() > 2 && rest[2] != ' ' && rest[2] != '\n') return std::nullopt;
  if (ProcessStateName(c).empty()) return std::nullopt;
  return c;
}

std::string_view ProcessStateName(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk_sleep";
    case 'Z':
      return "zombie";
    case 'T':
      return "stopped";
    case 't':
      return "tracing_stop";
    case 'X':
    case 'x':
      return "dead";
    case 'K':
      return "wakekill";
    case 'W':
      return "waking";
    case 'P':
      return "parked";
    case 'I':
      return "idle";
    default:
      return "";
  }
}

Status ProcessesCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  DIR* dir = opendir(paths_.procfs.c_str());
  if (dir == nullptr) {
    return Unavailable("processes: " + paths_.procfs + ": " +
                       std::strerror(errno));
  }
  std::map<std::string, double> counts;
  for (const char* s : kAlwaysReported) counts[s] = 0;
  long bad = 0;
  std::string first_bad;
  while (dirent* e = readdir(dir)) {
    const char* n = e->d_name;
    if (n[0] < '1' || n[0] > '9') continue;
    bool numeric = true;
    for (const char* p = n; *p; ++p) {
      if (*p < '0' || *p > '9') numeric = false;
    }
    if (!numeric) continue;
    Status s =
        ReadFileTo(JoinPath(JoinPath(paths_.procfs, n), "stat"), &buf_, 4096);
    if (s.code() == StatusCode::kNotFound) continue;  // Exited meanwhile.
    std::optional<char> st = s.ok() ? ParseStatState(buf_) : std::nullopt;
    if (!st) {
      if (bad++ == 0) first_bad = s.ok() ? std::string(n) : s.message();
      continue;
    }
    counts[std::string(ProcessStateName(*st))] += 1;
  }
  closedir(dir);
  if (bad > 0) {
    PM_LOG_EVERY_30S(kWarn)
        << "processes: skipped " << bad
        << " unreadable or malformed stat file(s), first: " << first_bad;
  }
  FamilyBuilder b("propmon_node_processes",
                  "Processes by scheduler state, from /proc/[pid]/stat.",
                  prometheus::MetricType::Gauge);
  for (const auto& [state, n] : counts) b.Add({{"state", state}}, n);
  b.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
