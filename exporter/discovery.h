// Process matchers for config-declared tasks (process-exporter style), and
// Discovery, the pass that scans procfs, matches processes to the config's
// `tasks:` entries and registers new task roots with the TaskMonitor.
//
// Matching rules (docs/configuration.md is the user-facing version):
// - An entry matches a process when every selector it has matches (AND):
//   `pid` (that pid), `pidfile` (the pid written in the file), `comm` (any
//   listed name equals /proc/PID/stat's comm), `exe` (any listed name equals
//   the basename of argv[0] or of /proc/PID/exe; a name containing '/' is
//   compared with the full argv[0] and the full exe path instead), `cmdline`
//   (every regex is found in the argv joined with spaces), `cgroup` (every
//   regex is found in at least one path of /proc/PID/cgroup).
// - Each process belongs to the FIRST entry that matches it.
// - With include_children (default), a process descended from a root that
//   the same entry already matched is part of that task, not a new one.
// - Zombies are never matched; a `cmdline` selector never matches a process
//   with an empty command line (kernel threads, zombies).
#ifndef PROPMON_EXPORTER_DISCOVERY_H_
#define PROPMON_EXPORTER_DISCOVERY_H_

#include <prometheus/collectable.h>
#include <pthread.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/regex.h"
#include "common/status.h"
#include "exporter/profile.h"

namespace propmon::exporter {

class ProcReader;
class TaskMonitor;

// What a task id or name template can refer to.
struct ProcessFacts {
  pid_t pid = 0;
  std::string comm;
  std::string exe_full;  // Target of /proc/PID/exe ("" when unreadable).
  std::map<std::string, std::string> matches;  // Named regex groups.
};

// A Go-template-like string: literal text with `{{.PID}}`, `{{.Comm}}`,
// `{{.ExeBase}}`, `{{.ExeFull}}` and `{{.Matches.NAME}}` (spaces inside the
// braces allowed). Immutable; thread-safe.
class NameTemplate {
 public:
  // InvalidArgument naming the unknown or unterminated `{{...}}`.
  static StatusOr<NameTemplate> Parse(std::string_view text);

  // A named group that did not take part renders as "".
  std::string Render(const ProcessFacts& facts) const;
  // The NAMEs of every {{.Matches.NAME}}.
  std::vector<std::string> MatchNames() const;
  bool UsesExe() const;
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kLiteral, kPid, kComm, kExeBase, kExeFull, kMatch };
  struct Part {
    Kind kind;
    std::string text;  // The literal, or the group name.
  };
  std::string text_;
  std::vector<Part> parts_;
};

// The argv of /proc/PID/cmdline text: '\0'-separated arguments, a final
// '\0' ending the last one ("a\0b\0" is {"a", "b"}; "" is {}). `cmdline`
// selectors search the arguments joined with spaces.
std::vector<std::string> SplitCmdline(std::string_view raw);

// The cgroup paths of /proc/PID/cgroup text: the part after the second ':'
// of each "hierarchy-ID:controller-list:cgroup-path" line (a line with fewer
// than two ':' is skipped). `cgroup` selectors search them.
std::vector<std::string> ParseCgroupPaths(std::string_view text);

// One `tasks:` entry of the config, compiled.
struct TaskRule {
  std::string where;  // "file:line:column" of the entry, for logs.
  NameTemplate id;    // Default {{.Comm}}-{{.PID}}.
  NameTemplate name;  // Default {{.Comm}}.
  std::optional<pid_t> pid;
  std::string pidfile;  // As given (the config makes it absolute).
  std::vector<std::string> comm;
  std::vector<std::string> exe;
  std::vector<Regex> cmdline;
  std::vector<Regex> cgroup;
  MonitoringProfile profile;  // Resolved (entry, then defaults, then preset).
  bool daemon = false;
  bool include_children = true;
};

// Reasons of propmon_exporter_discovery_errors_total.
enum class DiscoveryError {
  kPidfileUnreadable,  // The pidfile cannot be read.
  kPidfileInvalid,     // It holds no process id.
  kPidfileStale,       // Its pid is not running.
  kPidNotRunning,      // A `pid:` selector's pid is not running.
  kInvalidId,          // The id template rendered "" (a bad one is
                       // repaired: common/label.h).
  kDuplicateId,        // The id belongs to another running task.
  kAddFailed,          // TaskMonitor::AddTask refused for another reason.
};
inline constexpr std::array<DiscoveryError, 7> kAllDiscoveryErrors = {
    DiscoveryError::kPidfileUnreadable, DiscoveryError::kPidfileInvalid,
    DiscoveryError::kPidfileStale,      DiscoveryError::kPidNotRunning,
    DiscoveryError::kInvalidId,         DiscoveryError::kDuplicateId,
    DiscoveryError::kAddFailed};
// "pidfile_unreadable", "pidfile_invalid", "pidfile_stale",
// "pid_not_running", "invalid_id", "duplicate_id", "add_failed".
const char* DiscoveryErrorName(DiscoveryError e);

// Scans procfs and registers config tasks (source "config"). Thread-safe:
// RunOnce() may be called from any thread (passes are serialized); Start()
// runs it on a background thread every interval_seconds(). Exposes
// propmon_exporter_discovery_errors_total{reason}.
//
// A task root that discovery added is remembered (pid and start time) while
// it lives: it is not added again, even when its task was deleted through the
// API; once it has exited, a new matching process may take the same id (as
// soon as the TaskMonitor has marked the old task ended; until then the add
// is retried each pass).
class Discovery : public prometheus::Collectable {
 public:
  struct Options {
    std::string procfs = "/proc";
    // Seconds between passes; 0 = AutoInterval(rules).
    double interval_seconds = 0;
  };

  // `monitor` must outlive the Discovery.
  Discovery(std::vector<TaskRule> rules, TaskMonitor* monitor, Options options);
  ~Discovery() override;
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Runs one pass; returns the number of tasks added.
  int RunOnce();
  void Start();
  void Stop();  // Idempotent.

  double interval_seconds() const { return interval_seconds_; }
  // The shortest profile interval of the rules, clamped to 1..10 s (10 s
  // when there are no rules).
  static double AutoInterval(const std::vector<TaskRule>& rules);

  long errors(DiscoveryError e) const {
    return errors_[static_cast<size_t>(e)].load();
  }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Proc;
  struct Root {
    size_t rule = 0;
    pid_t pid = 0;
    uint64_t start = 0;
    std::string id;
  };
  void CountError(DiscoveryError e);
  // Resolves the rule's pid/pidfile selector; nullopt when it has none.
  // Counts and logs errors; *ok is false when the rule cannot match now.
  std::optional<pid_t> TargetPid(const TaskRule& rule, bool* ok);
  bool Matches(const TaskRule& rule, std::optional<pid_t> target, Proc* p,
               std::map<std::string, std::string>* groups);
  void Loop();

  std::vector<TaskRule> rules_;
  TaskMonitor* monitor_;
  Options options_;
  double interval_seconds_;

  std::mutex pass_mu_;  // One pass at a time; guards the state below.
  std::vector<Root> roots_;
  // (pid, start ticks) of processes whose add failed for good (counted once).
  std::set<std::pair<pid_t, uint64_t>> failed_;
  std::string buf_;
  std::unique_ptr<ProcReader> reader_;

  std::array<std::atomic<long>, kAllDiscoveryErrors.size()> errors_{};

  std::mutex mu_;  // Guards stop_.
  std::condition_variable cv_;
  bool stop_ = false;
  pthread_t thread_{};
  bool running_ = false;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_DISCOVERY_H_
