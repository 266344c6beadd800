#include "exporter/discovery.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "common/file.h"
#include "common/label.h"
#include "common/log.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"
#include "exporter/procfs.h"
#include "exporter/task_monitor.h"

namespace propmon::exporter {
namespace {

bool IsNameStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool ValidName(std::string_view s) {
  if (s.empty() || !IsNameStart(s[0])) return false;
  return std::all_of(s.begin(), s.end(), IsNameChar);
}

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The exe link of a replaced binary reads "/path (deleted)".
std::string StripDeleted(std::string exe) {
  static constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() &&
      std::string_view(exe).substr(exe.size() - kDeleted.size()) == kDeleted) {
    exe.resize(exe.size() - kDeleted.size());
  }
  return exe;
}

constexpr int kMaxAncestry = 4096;

}  // namespace

// ---------------------------------------------------------------------------
// Templates.
// ---------------------------------------------------------------------------

StatusOr<NameTemplate> NameTemplate::Parse(std::string_view text) {
  NameTemplate t;
  t.text_ = std::string(text);
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      t.parts_.push_back({Kind::kLiteral, std::string(text.substr(i))});
      break;
    }
    if (open > i) {
      t.parts_.push_back(
          {Kind::kLiteral, std::string(text.substr(i, open - i))});
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument("unterminated \"{{\" at byte " +
                             std::to_string(open));
    }
    std::string_view inner = TrimSpace(text.substr(open + 2, close - open - 2));
    static constexpr std::string_view kMatches = ".Matches.";
    if (inner == ".PID") {
      t.parts_.push_back({Kind::kPid, ""});
    } else if (inner == ".Comm") {
      t.parts_.push_back({Kind::kComm, ""});
    } else if (inner == ".ExeBase") {
      t.parts_.push_back({Kind::kExeBase, ""});
    } else if (inner == ".ExeFull") {
      t.parts_.push_back({Kind::kExeFull, ""});
    } else if (inner.substr(0, kMatches.size()) == kMatches &&
               ValidName(inner.substr(kMatches.size()))) {
      t.parts_.push_back(
          {Kind::kMatch, std::string(inner.substr(kMatches.size()))});
    } else {
      return InvalidArgument(
          "unknown template field \"{{" + std::string(inner) +
          "}}\" (known: {{.PID}}, {{.Comm}}, {{.ExeBase}}, {{.ExeFull}}, "
          "{{.Matches.NAME}})");
    }
    i = close + 2;
  }
  return t;
}

std::string NameTemplate::Render(const ProcessFacts& f) const {
  std::string out;
  for (const Part& p : parts_) {
    switch (p.kind) {
      case Kind::kLiteral:
        out += p.text;
        break;
      case Kind::kPid:
        out += std::to_string(f.pid);
        break;
      case Kind::kComm:
        out += f.comm;
        break;
      case Kind::kExeBase:
        out += Basename(f.exe_full);
        break;
      case Kind::kExeFull:
        out += f.exe_full;
        break;
      case Kind::kMatch: {
        auto it = f.matches.find(p.text);
        if (it != f.matches.end()) out += it->second;
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> NameTemplate::MatchNames() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) {
    if (p.kind == Kind::kMatch) out.push_back(p.text);
  }
  return out;
}

bool NameTemplate::UsesExe() const {
  return std::any_of(parts_.begin(), parts_.end(), [](const Part& p) {
    return p.kind == Kind::kExeBase || p.kind == Kind::kExeFull;
  });
}

std::vector<std::string> SplitCmdline(std::string_view raw) {
  std::vector<std::string> argv;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string_view::npos) end = raw.size();
    argv.emplace_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

std::vector<std::string> ParseCgroupPaths(std::string_view rest) {
  std::vector<std::string> paths;
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view()
                                         : rest.substr(eol + 1);
    // hierarchy-ID:controller-list:cgroup-path
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    paths.emplace_back(line.substr(c2 + 1));
  }
  return paths;
}

// ---------------------------------------------------------------------------
// Discovery.
// ---------------------------------------------------------------------------

const char* DiscoveryErrorName(DiscoveryError e) {
  switch (e) {
    case DiscoveryError::kPidfileUnreadable:
      return "pidfile_unreadable";
    case DiscoveryError::kPidfileInvalid:
      return "pidfile_invalid";
    case DiscoveryError::kPidfileStale:
      return "pidfile_stale";
    case DiscoveryError::kPidNotRunning:
      return "pid_not_running";
    case DiscoveryError::kInvalidId:
      return "invalid_id";
    case DiscoveryError::kDuplicateId:
      return "duplicate_id";
    case DiscoveryError::kAddFailed:
      return "add_failed";
  }
  return "unknown";
}

// One process of a pass; the expensive facts are read on first use.
struct Discovery::Proc {
  pid_t pid = 0;
  pid_t ppid = 0;
  uint64_t start = 0;
  char state = '?';
  std::string comm;
  int depth = 0;  // Ancestors among the listed processes.

  bool argv_loaded = false;
  std::vector<std::string> argv;
  std::string cmdline;  // argv joined with spaces.
  bool exe_loaded = false;
  std::string exe;
  bool cgroup_loaded = false;
  std::vector<std::string> cgroup_paths;
};

Discovery::Discovery(std::vector<TaskRule> rules, TaskMonitor* monitor,
                     Options options)
    : rules_(std::move(rules)),
      monitor_(monitor),
      options_(std::move(options)),
      interval_seconds_(options_.interval_seconds > 0
                            ? options_.interval_seconds
                            : AutoInterval(rules_)),
      reader_(std::make_unique<ProcReader>(options_.procfs)) {}

Discovery::~Discovery() { Stop(); }

double Discovery::AutoInterval(const std::vector<TaskRule>& rules) {
  double shortest = 10;
  for (const auto& r : rules) {
    shortest =
        std::min(shortest, static_cast<double>(r.profile.interval_seconds));
  }
  return std::clamp(shortest, 1.0, 10.0);
}

void Discovery::CountError(DiscoveryError e) {
  errors_[static_cast<size_t>(e)].fetch_add(1);
}

std::optional<pid_t> Discovery::TargetPid(const TaskRule& rule, bool* ok) {
  *ok = true;
  if (rule.pid) return rule.pid;
  if (rule.pidfile.empty()) return std::nullopt;
  Status s = ReadFileTo(rule.pidfile, &buf_, 4096);
  if (!s.ok()) {
    *ok = false;
    CountError(DiscoveryError::kPidfileUnreadable);
    PM_LOG_EVERY_30S(kWarn)
        << "discovery: task at " << rule.where << ": cannot read pidfile "
        << rule.pidfile << ": " << s.message();
    return std::nullopt;
  }
  std::string_view text = TrimSpace(buf_);
  size_t eol = text.find_first_of(" \t\r\n");
  if (eol != std::string_view::npos) text = text.substr(0, eol);
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      pid <= 0) {
    *ok = false;
    CountError(DiscoveryError::kPidfileInvalid);
    PM_LOG_EVERY_30S(kWarn)
        << "discovery: task at " << rule.where << ": pidfile " << rule.pidfile
        << " holds no process id";
    return std::nullopt;
  }
  return pid;
}

bool Discovery::Matches(const TaskRule& rule, std::optional<pid_t> target,
                        Proc* p, std::map<std::string, std::string>* groups) {
  if (target && p->pid != *target) return false;
  if (!rule.comm.empty() && std::find(rule.comm.begin(), rule.comm.end(),
                                      p->comm) == rule.comm.end()) {
    return false;
  }
  bool need_argv = !rule.exe.empty() || !rule.cmdline.empty();
  if (need_argv && !p->argv_loaded) {
    p->argv_loaded = true;
    std::string path =
        reader_->root() + "/" + std::to_string(p->pid) + "/cmdline";
    if (ReadFileTo(path, &buf_, 64 * 1024).ok()) {
      p->argv = SplitCmdline(buf_);
      for (size_t i = 0; i < p->argv.size(); ++i) {
        if (i) p->cmdline += ' ';
        p->cmdline += p->argv[i];
      }
    }
  }
  if (!rule.exe.empty()) {
    if (!p->exe_loaded) {
      p->exe_loaded = true;
      auto exe = reader_->ReadExe(p->pid);
      if (exe.ok()) p->exe = StripDeleted(*exe);
    }
    std::string_view argv0;
    if (!p->argv.empty()) argv0 = p->argv[0];
    bool any = false;
    for (const auto& name : rule.exe) {
      if (name.find('/') != std::string::npos) {
        any = name == argv0 || name == p->exe;
      } else {
        any = (!argv0.empty() && name == Basename(argv0)) ||
              (!p->exe.empty() && name == Basename(p->exe));
      }
      if (any) break;
    }
    if (!any) return false;
  }
  std::map<std::string, std::string> found;
  if (!rule.cmdline.empty()) {
    if (p->cmdline.empty()) return false;
    for (const auto& re : rule.cmdline) {
      if (!re.Search(p->cmdline, &found)) return false;
    }
  }
  if (!rule.cgroup.empty()) {
    if (!p->cgroup_loaded) {
      p->cgroup_loaded = true;
      auto text = reader_->ReadCgroup(p->pid);
      if (text.ok()) p->cgroup_paths = ParseCgroupPaths(*text);
    }
    for (const auto& re : rule.cgroup) {
      bool any = false;
      for (const auto& path : p->cgroup_paths) {
        if (re.Search(path, &found)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
  }
  *groups = std::move(found);
  return true;
}

int Discovery::RunOnce() {
  std::lock_guard<std::mutex> pass(pass_mu_);
  std::vector<Proc> procs;
  for (pid_t pid : reader_->ListPids()) {
    auto st = reader_->ReadStat(pid);
    if (!st.ok()) continue;  // Gone since the listing, or unreadable.
    Proc p;
    p.pid = pid;
    p.ppid = st->ppid;
    p.start = st->starttime;
    p.state = st->state;
    p.comm = std::move(st->comm);
    procs.push_back(std::move(p));
  }
  // Parents before their children, so that one pass sees roots first: by
  // start time, then depth in the process tree (a child can start in the
  // same clock tick as its parent).
  {
    std::unordered_map<pid_t, pid_t> parent;
    parent.reserve(procs.size());
    for (const Proc& p : procs) parent[p.pid] = p.ppid;
    for (Proc& p : procs) {
      pid_t cur = p.ppid;
      while (cur > 0 && p.depth < kMaxAncestry) {
        auto it = parent.find(cur);
        if (it == parent.end()) break;
        ++p.depth;
        cur = it->second;
      }
    }
  }
  std::sort(procs.begin(), procs.end(), [](const Proc& a, const Proc& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.depth != b.depth) return a.depth < b.depth;
    return a.pid < b.pid;
  });
  std::unordered_map<pid_t, size_t> index;
  index.reserve(procs.size());
  for (size_t i = 0; i < procs.size(); ++i) index[procs[i].pid] = i;
  auto alive = [&](pid_t pid, uint64_t start) {
    auto it = index.find(pid);
    return it != index.end() && procs[it->second].start == start;
  };

  // Forget roots that have exited (their ids may be taken again).
  std::erase_if(roots_, [&](const Root& r) { return !alive(r.pid, r.start); });
  std::erase_if(failed_,
                [&](const auto& f) { return !alive(f.first, f.second); });
  std::vector<std::unordered_set<pid_t>> root_pids(rules_.size());
  for (const Root& r : roots_) root_pids[r.rule].insert(r.pid);

  // Resolve pid and pidfile selectors once per pass.
  std::vector<std::optional<pid_t>> targets(rules_.size());
  std::vector<bool> usable(rules_.size(), true);
  for (size_t r = 0; r < rules_.size(); ++r) {
    bool ok = true;
    targets[r] = TargetPid(rules_[r], &ok);
    if (ok && targets[r]) {
      auto it = index.find(*targets[r]);
      bool running = it != index.end() && procs[it->second].state != 'Z' &&
                     procs[it->second].state != 'X';
      if (!running) {
        ok = false;
        const TaskRule& rule = rules_[r];
        if (rule.pid) {
          CountError(DiscoveryError::kPidNotRunning);
          PM_LOG_EVERY_30S(kWarn)
              << "discovery: task at " << rule.where << ": pid " << *targets[r]
              << " is not running";
        } else {
          CountError(DiscoveryError::kPidfileStale);
          PM_LOG_EVERY_30S(kWarn)
              << "discovery: task at " << rule.where << ": pidfile "
              << rule.pidfile << " names pid " << *targets[r]
              << ", which is not running";
        }
      }
    }
    usable[r] = ok;
  }

  int added = 0;
  for (Proc& p : procs) {
    if (p.state == 'Z' || p.state == 'X') continue;
    std::map<std::string, std::string> groups;
    size_t r = 0;
    for (; r < rules_.size(); ++r) {
      if (usable[r] && Matches(rules_[r], targets[r], &p, &groups)) break;
    }
    if (r == rules_.size()) continue;
    const TaskRule& rule = rules_[r];
    if (root_pids[r].count(p.pid)) continue;  // Already this rule's task.
    if (rule.include_children) {
      bool descendant = false;
      pid_t cur = p.ppid;
      for (int depth = 0; cur > 0 && depth < kMaxAncestry; ++depth) {
        if (root_pids[r].count(cur)) {
          descendant = true;
          break;
        }
        auto it = index.find(cur);
        if (it == index.end()) break;
        cur = procs[it->second].ppid;
      }
      if (descendant) continue;
    }
    if (failed_.count({p.pid, p.start})) continue;
    if (monitor_->WatchesRootPid(p.pid)) continue;  // An API or run task.

    ProcessFacts facts;
    facts.pid = p.pid;
    facts.comm = p.comm;
    if (rule.id.UsesExe() || rule.name.UsesExe()) {
      if (!p.exe_loaded) {
        p.exe_loaded = true;
        auto exe = reader_->ReadExe(p.pid);
        if (exe.ok()) p.exe = StripDeleted(*exe);
      }
      facts.exe_full = p.exe;
    }
    facts.matches = std::move(groups);
    TaskSpec spec;
    spec.id = rule.id.Render(facts);
    // Label hygiene: an id rendered from process facts (comm, argv, exe,
    // cgroup: outside the user's control) is repaired, not refused, so the
    // process is not hidden; a repaired id that collides with a running
    // task's is a duplicate_id like any other. The name is repaired by
    // AddTask (docs/configuration.md).
    label::Counts& labels = monitor_->labels();
    auto repaired = labels.Repair(TaskMonitor::kLabelDiscovery, &spec.id);
    if (spec.id.empty()) {
      labels.Add(TaskMonitor::kLabelDiscovery, label::Reason::kEmpty,
                 label::Action::kRefused);
      CountError(DiscoveryError::kInvalidId);
      failed_.insert({p.pid, p.start});
      PM_LOG_EVERY_30S(kWarn)
          << "discovery: task at " << rule.where << ": id template \""
          << rule.id.text() << "\" gives an empty id for pid " << p.pid;
      continue;
    }
    if (repaired) {
      PM_LOG_EVERY_30S(kWarn)
          << "discovery: task at " << rule.where << ": the id for pid " << p.pid
          << " " << label::ReasonText(*repaired) << "; repaired to \""
          << spec.id << "\"";
    }
    spec.name = rule.name.Render(facts);
    spec.daemon = rule.daemon;
    spec.profile = rule.profile;
    spec.pid = p.pid;
    spec.include_children = rule.include_children;
    spec.source = "config";
    std::string id = spec.id;
    Status s = monitor_->AddTask(std::move(spec));
    if (s.ok()) {
      roots_.push_back(Root{r, p.pid, p.start, id});
      root_pids[r].insert(p.pid);
      ++added;
      continue;
    }
    if (s.code() == StatusCode::kAlreadyExists) {
      auto existing = monitor_->GetTask(id);
      bool holder_alive = existing && existing->state == TaskState::kRunning &&
                          index.count(existing->spec.pid) > 0;
      if (!holder_alive) {
        // The previous holder has exited but is not marked ended yet: retry
        // at the next pass.
        PM_LOG(kDebug) << "discovery: id " << id << " still held by an "
                       << "exited task; retrying pid " << p.pid;
        continue;
      }
      CountError(DiscoveryError::kDuplicateId);
      failed_.insert({p.pid, p.start});
      PM_LOG_EVERY_30S(kWarn)
          << "discovery: task at " << rule.where << ": id \"" << id
          << "\" for pid " << p.pid
          << " is already used by the running task of pid "
          << existing->spec.pid << " (add {{.PID}} to the id template?)";
      continue;
    }
    if (!reader_->ReadStat(p.pid).ok()) continue;  // Exited meanwhile.
    CountError(DiscoveryError::kAddFailed);
    failed_.insert({p.pid, p.start});
    PM_LOG_EVERY_30S(kWarn)
        << "discovery: task at " << rule.where << ": cannot add pid " << p.pid
        << ": " << s.message();
  }
  return added;
}

void Discovery::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_) return;
  stop_ = false;
  auto entry = [](void* self) -> void* {
    static_cast<Discovery*>(self)->Loop();
    return nullptr;
  };
  int rc = pthread_create(&thread_, nullptr, entry, this);
  if (rc != 0) {
    PM_LOG(kError) << "discovery: cannot start its thread: error " << rc;
    return;
  }
  running_ = true;
}

void Discovery::Stop() {
  bool join = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    join = running_;
    running_ = false;
  }
  cv_.notify_all();
  if (join) pthread_join(thread_, nullptr);
}

void Discovery::Loop() {
  while (true) {
    try {
      RunOnce();
    } catch (const std::exception& e) {
      PM_LOG_EVERY_30S(kError) << "discovery pass failed: " << e.what();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double>(interval_seconds_),
                 [this] { return stop_; });
    if (stop_) return;
  }
}

std::vector<prometheus::MetricFamily> Discovery::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  FamilyBuilder b("propmon_exporter_discovery_errors_total",
                  "Config task discovery problems, by reason (pidfile "
                  "unreadable, invalid or stale, pid not running, invalid or "
                  "duplicate id, add failed).",
                  prometheus::MetricType::Counter);
  for (DiscoveryError e : kAllDiscoveryErrors) {
    b.Add({{"reason", DiscoveryErrorName(e)}}, static_cast<double>(errors(e)));
  }
  b.MoveTo(&out);
  return out;
}

}  // namespace propmon::exporter
