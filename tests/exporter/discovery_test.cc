#include "exporter/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "exporter/config.h"
#include "exporter/procfs.h"
#include "exporter/task_monitor.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testutil::Subprocess;
using testutil::TempDir;
using testutil::WaitUntil;
using namespace std::chrono_literals;

// The regex engine (common/regex.h) is tested in tests/common/regex_test.cc.

// --- Templates ---------------------------------------------------------------

TEST(NameTemplateTest, RendersEveryField) {
  auto t = NameTemplate::Parse(
      "{{.Comm}}/{{ .PID }}/{{.ExeBase}}/{{.ExeFull}}/{{.Matches.app}}/"
      "{{.Matches.none}}!");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ProcessFacts f;
  f.pid = 42;
  f.comm = "nginx";
  f.exe_full = "/usr/sbin/nginx";
  f.matches["app"] = "web";
  EXPECT_EQ(t->Render(f), "nginx/42/nginx//usr/sbin/nginx/web/!");
  EXPECT_THAT(t->MatchNames(), ElementsAre("app", "none"));
  EXPECT_TRUE(t->UsesExe());
  auto plain = NameTemplate::Parse("static-id");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->Render(f), "static-id");
  EXPECT_FALSE(plain->UsesExe());
}

TEST(NameTemplateTest, RejectsUnknownAndUnterminatedFields) {
  for (const char* bad : {"{{.Pid}}", "{{PID}}", "{{.Matches.}}",
                          "{{.Matches.a-b}}", "x{{.PID", "{{}}"}) {
    EXPECT_FALSE(NameTemplate::Parse(bad).ok()) << bad;
  }
}

// --- /proc/PID/cmdline and cgroup -------------------------------------------

TEST(ProcTextTest, SplitCmdline) {
  using namespace std::string_literals;
  EXPECT_THAT(SplitCmdline("a\0b c\0"s), ElementsAre("a", "b c"));
  EXPECT_THAT(SplitCmdline("a\0\0b"s), ElementsAre("a", "", "b"));
  EXPECT_THAT(SplitCmdline("no nul"), ElementsAre("no nul"));
  EXPECT_THAT(SplitCmdline("\0"s), ElementsAre(""));
  EXPECT_TRUE(SplitCmdline("").empty());
}

TEST(ProcTextTest, ParseCgroupPaths) {
  EXPECT_THAT(ParseCgroupPaths("0::/system.slice/x.service\n"),
              ElementsAre("/system.slice/x.service"));
  EXPECT_THAT(ParseCgroupPaths("12:cpu,cpuacct:/a:b\nbroken\n1:x\n"
                               "3:name=systemd:/\n:::\n"),
              ElementsAre("/a:b", "/", ":"));
  EXPECT_TRUE(ParseCgroupPaths("").empty());
}

// --- Discovery against real processes ----------------------------------------

std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string ReadCmdline(pid_t pid) {
  std::string raw =
      testutil::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  return raw;
}

class DiscoveryTest : public ::testing::Test {
 protected:
  DiscoveryTest() {
    TaskMonitor::Options o;
    o.proplet_id = "node-1";
    monitor_ = std::make_unique<TaskMonitor>(o);
  }

  // A link to the workload helper, so that argv[0] and comm are ours.
  std::string Link(const std::string& name) {
    std::string path = dir_.File(name);
    std::filesystem::create_symlink(testutil::TestHelperBinary(), path);
    return path;
  }

  // Starts `argv` and waits until it has exec'ed (its cmdline is argv).
  void Start(Subprocess* p, const std::vector<std::string>& argv) {
    ASSERT_TRUE(p->Start(argv));
    std::string want;
    for (const auto& a : argv) want += a + " ";
    ASSERT_TRUE(WaitUntil([&] { return ReadCmdline(p->pid()) == want; }, 5s))
        << "cmdline of " << p->pid() << ": " << ReadCmdline(p->pid());
  }

  std::unique_ptr<Discovery> Make(const std::string& yaml,
                                  Discovery::Options o = {}) {
    auto c = ParseConfig(yaml, "test.yaml", dir_.path());
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return nullptr;
    return std::make_unique<Discovery>(std::move(c->tasks), monitor_.get(), o);
  }

  std::vector<TaskInfo> ConfigTasks() {
    std::vector<TaskInfo> out;
    for (auto& t : monitor_->ListTasks()) {
      if (t.spec.source == "config") out.push_back(t);
    }
    return out;
  }

  TempDir dir_;
  std::string esc_dir_ = RegexEscape(dir_.path());
  std::unique_ptr<TaskMonitor> monitor_;
};

TEST_F(DiscoveryTest, CmdlineNamedGroupBecomesTheId) {
  Subprocess worker, other;
  Start(&worker, {Link("worker-shard-42"), "sleep", "30"});
  Start(&other, {Link("other-shard-7"), "sleep", "30"});
  auto d = Make(
      "tasks:\n"
      "  - id: 'shard-{{.Matches.shard}}'\n"
      "    name: '{{.Comm}} on {{.PID}}'\n"
      "    cmdline: '" +
      esc_dir_ +
      R"(/worker-shard-(?P<shard>\d+) sleep')"
      "\n"
      "    profile: intensive\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 1);
  auto t = monitor_->GetTask("shard-42");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->spec.pid, worker.pid());
  // comm is the link's name, cut to 15 bytes by the kernel.
  EXPECT_EQ(t->spec.name, "worker-shard-42 on " + std::to_string(worker.pid()));
  EXPECT_EQ(t->spec.source, "config");
  EXPECT_EQ(t->spec.profile.name, "intensive");
  EXPECT_TRUE(t->spec.include_children);
  EXPECT_EQ(ConfigTasks().size(), 1u);
  // Found once: the next pass adds nothing.
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(ConfigTasks().size(), 1u);
}

TEST_F(DiscoveryTest, CommAndExeMatchers) {
  Subprocess a, b, c;
  std::string beta = Link("cx-beta");
  Start(&a, {Link("cx-alpha"), "sleep", "30"});
  Start(&b, {beta, "sleep", "30"});
  Start(&c, {Link("cx-gamma"), "sleep", "30"});
  // comm from a list; exe as the full argv[0] path; exe as the basename of
  // /proc/PID/exe (the helper binary), narrowed to our directory.
  auto d = Make(
      "tasks:\n"
      "  - id: 'comm-{{.PID}}'\n    comm: [nothing-else, cx-alpha]\n"
      "  - id: 'exe-{{.ExeBase}}'\n    exe: '" +
      beta +
      "'\n"
      "  - id: 'base-{{.Comm}}'\n    exe: workload\n"
      "    cmdline: '^" +
      esc_dir_ + "/'\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 3);
  auto ta = monitor_->GetTask("comm-" + std::to_string(a.pid()));
  ASSERT_TRUE(ta);
  EXPECT_EQ(ta->spec.pid, a.pid());
  auto tb = monitor_->GetTask("exe-workload");  // ExeBase: the real binary.
  ASSERT_TRUE(tb);
  EXPECT_EQ(tb->spec.pid, b.pid());
  auto tc = monitor_->GetTask("base-cx-gamma");
  ASSERT_TRUE(tc);
  EXPECT_EQ(tc->spec.pid, c.pid());
  EXPECT_EQ(ConfigTasks().size(), 3u);
}

TEST_F(DiscoveryTest, FirstMatchingEntryWins) {
  Subprocess p;
  Start(&p, {Link("first-wins"), "sleep", "30"});
  auto d = Make(
      "tasks:\n"
      "  - id: first\n    cmdline: '" +
      esc_dir_ +
      "/first-wins'\n"
      "  - id: second\n    comm: first-wins\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 1);
  EXPECT_TRUE(monitor_->GetTask("first"));
  EXPECT_FALSE(monitor_->GetTask("second"));
}

TEST_F(DiscoveryTest, ChildrenBelongToTheirMatchedRoot) {
  // A shell whose command line names the workers, and two workers.
  std::string w = Link("tree-worker");
  std::string script = w + " sleep 30 & " + w + " sleep 30 & wait";
  Subprocess sh;
  ASSERT_TRUE(sh.Start({"/bin/sh", "-c", script}));
  ProcReader reader;
  std::vector<pid_t> workers;
  // The workers outlive the shell's SIGKILL: end them with the test, or
  // they hold ctest's output pipe open.
  struct Reaper {
    std::vector<pid_t>* pids;
    ~Reaper() {
      for (pid_t p : *pids) kill(p, SIGKILL);
    }
  } reaper{&workers};
  auto children = [&] {
    int n = 0;
    workers.clear();
    for (pid_t pid : reader.ListPids()) {
      auto st = reader.ReadStat(pid);
      if (st.ok() && st->ppid == sh.pid() &&
          ReadCmdline(pid).find("tree-worker") != std::string::npos &&
          st->comm == "tree-worker") {
        workers.push_back(pid);
        ++n;
      }
    }
    return n;
  };
  ASSERT_TRUE(WaitUntil([&] { return children() == 2; }, 5s));
  std::string rule = "    cmdline: '" + esc_dir_ + "/tree-worker sleep'\n";

  auto with_children = Make("tasks:\n  - id: 'tree-{{.PID}}'\n" + rule);
  ASSERT_TRUE(with_children);
  EXPECT_EQ(with_children->RunOnce(), 1);
  auto tasks = ConfigTasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].spec.pid, sh.pid());  // The root, not a worker.
  with_children.reset();
  for (auto& t : tasks) ASSERT_TRUE(monitor_->RemoveTask(t.spec.id).ok());

  auto each = Make("tasks:\n  - id: 'tree-{{.PID}}'\n" + rule +
                   "    include_children: false\n");
  ASSERT_TRUE(each);
  EXPECT_EQ(each->RunOnce(), 3);
  EXPECT_EQ(ConfigTasks().size(), 3u);
}

TEST_F(DiscoveryTest, CgroupOfARealProcess) {
  Subprocess p;
  Start(&p, {Link("cg-proc"), "sleep", "30"});
  // The process's own cgroup path, whatever this machine uses.
  std::string text =
      testutil::ReadFileOrEmpty("/proc/" + std::to_string(p.pid()) + "/cgroup");
  ASSERT_FALSE(text.empty());
  std::string line = text.substr(0, text.find('\n'));
  std::string path = line.substr(line.find(':', line.find(':') + 1) + 1);
  auto d = Make(
      "tasks:\n  - id: 'cg-{{.Matches.top}}'\n"
      "    cgroup: '^(?P<top>" +
      RegexEscape(path) +
      ")$'\n"
      "    comm: cg-proc\n"
      "  - id: never\n    cgroup: '^/no/such/cgroup/'\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 1);
  auto t = monitor_->GetTask("cg-" + path);
  ASSERT_TRUE(t) << "cg-" << path;
  EXPECT_EQ(t->spec.pid, p.pid());
}

TEST_F(DiscoveryTest, PidfileWithALivePid) {
  Subprocess p;
  Start(&p, {Link("pf-live"), "sleep", "30"});
  dir_.Write("live.pid", std::to_string(p.pid()) + "\n");
  auto d = Make(
      "tasks:\n  - id: 'svc-{{.PID}}'\n    pidfile: live.pid\n"
      "    daemon: true\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 1);
  auto t = monitor_->GetTask("svc-" + std::to_string(p.pid()));
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->spec.daemon);
  EXPECT_EQ(t->spec.profile.name, "daemon");
  EXPECT_EQ(d->errors(DiscoveryError::kPidfileStale), 0);
}

TEST_F(DiscoveryTest, PidfileProblemsAreCountedNotTasks) {
  Subprocess gone;
  ASSERT_TRUE(gone.Start({testutil::TestHelperBinary(), "exit", "0"}));
  ASSERT_TRUE(gone.Wait(5s));  // Reaped: the pid is dead.
  dir_.Write("stale.pid", std::to_string(gone.pid()) + "\n");
  dir_.Write("junk.pid", "not a pid\n");
  auto d = Make(
      "tasks:\n"
      "  - id: stale\n    pidfile: stale.pid\n"
      "  - id: missing\n    pidfile: missing.pid\n"
      "  - id: junk\n    pidfile: junk.pid\n"
      "  - id: dead\n    pid: " +
      std::to_string(gone.pid()) + "\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_TRUE(ConfigTasks().empty());
  EXPECT_EQ(d->errors(DiscoveryError::kPidfileStale), 2);
  EXPECT_EQ(d->errors(DiscoveryError::kPidfileUnreadable), 2);
  EXPECT_EQ(d->errors(DiscoveryError::kPidfileInvalid), 2);
  EXPECT_EQ(d->errors(DiscoveryError::kPidNotRunning), 2);

  MetricsEndpoint m;
  m.Add(d.get());
  auto samples = testutil::ParseProm(m.Render());
  EXPECT_EQ(
      testutil::FindSample(samples, "propmon_exporter_discovery_errors_total",
                           {{"reason", "pidfile_stale"}}),
      2);
  // Every reason is exported from the start, so rate() works.
  EXPECT_EQ(
      testutil::FindSample(samples, "propmon_exporter_discovery_errors_total",
                           {{"reason", "duplicate_id"}}),
      0);
  EXPECT_EQ(
      testutil::FindSamples(samples, "propmon_exporter_discovery_errors_total")
          .size(),
      kAllDiscoveryErrors.size());
}

TEST_F(DiscoveryTest, RestartedProcessTakesTheSameId) {
  Subprocess first;
  Start(&first, {Link("restarting"), "sleep", "30"});
  dir_.Write("svc.pid", std::to_string(first.pid()));
  auto d = Make(
      "tasks:\n  - id: svc\n    pidfile: svc.pid\n"
      "    profile: daemon\n");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->RunOnce(), 1);
  ASSERT_EQ(monitor_->GetTask("svc")->spec.pid, first.pid());

  first.Signal(SIGKILL);
  ASSERT_TRUE(first.Wait(5s));
  Subprocess second;
  Start(&second, {Link("restarting2"), "sleep", "30"});
  dir_.Write("svc.pid", std::to_string(second.pid()));
  // The monitor has not sampled the old task since it died (daemon profile:
  // 120 s): the id is still held, so the add waits, and it is no error.
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(d->errors(DiscoveryError::kDuplicateId), 0);
  monitor_->RunOnce(true);  // Notices the exit.
  ASSERT_EQ(monitor_->GetTask("svc")->state, TaskState::kEnded);
  EXPECT_EQ(d->RunOnce(), 1);
  auto t = monitor_->GetTask("svc");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->spec.pid, second.pid());
  EXPECT_EQ(t->state, TaskState::kRunning);
}

TEST_F(DiscoveryTest, DuplicateIdIsCountedOncePerProcess) {
  Subprocess a, b;
  Start(&a, {Link("dup-a"), "sleep", "30"});
  std::this_thread::sleep_for(50ms);  // A later start time than a's.
  Start(&b, {Link("dup-b"), "sleep", "30"});
  auto d = Make("tasks:\n  - id: same\n    cmdline: '" + esc_dir_ + "/dup-'\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 1);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(d->errors(DiscoveryError::kDuplicateId), 1);
  EXPECT_EQ(monitor_->GetTask("same")->spec.pid, a.pid());  // Started first.
}

TEST_F(DiscoveryTest, DeletedTaskIsNotAddedBackWhileItsProcessLives) {
  Subprocess p;
  Start(&p, {Link("deleted"), "sleep", "30"});
  auto d = Make("tasks:\n  - id: del\n    comm: deleted\n");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->RunOnce(), 1);
  ASSERT_TRUE(monitor_->RemoveTask("del").ok());
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_FALSE(monitor_->GetTask("del"));
}

TEST_F(DiscoveryTest, LeavesRootsOfApiTasksAlone) {
  Subprocess p;
  Start(&p, {Link("api-owned"), "sleep", "30"});
  TaskSpec spec;
  spec.id = "from-api";
  spec.pid = p.pid();
  ASSERT_TRUE(monitor_->AddTask(spec).ok());
  auto d = Make("tasks:\n  - id: from-config\n    comm: api-owned\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_FALSE(monitor_->GetTask("from-config"));
}

TEST_F(DiscoveryTest, IdTemplateThatRendersEmptyIsAnError) {
  Subprocess p;
  Start(&p, {Link("empty-id"), "sleep", "30"});
  auto d = Make(
      "tasks:\n  - id: '{{.Matches.x}}'\n"
      "    cmdline: '" +
      esc_dir_ + "/empty-id(?P<x>-never)?'\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(d->RunOnce(), 0);
  EXPECT_EQ(d->errors(DiscoveryError::kInvalidId), 1);
}

TEST_F(DiscoveryTest, BackgroundThreadPicksUpNewProcesses) {
  Discovery::Options o;
  o.interval_seconds = 1;
  auto d = Make("tasks:\n  - id: late\n    comm: late-comer\n", o);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->interval_seconds(), 1);
  d->Start();
  Subprocess p;
  Start(&p, {Link("late-comer"), "sleep", "30"});
  EXPECT_TRUE(
      WaitUntil([&] { return monitor_->GetTask("late").has_value(); }, 5s));
  d->Stop();
  d->Stop();  // Idempotent.
}

TEST(DiscoveryIntervalTest, ShortestProfileIntervalClampedTo1To10) {
  auto rules = [](std::initializer_list<const char*> profiles) {
    std::vector<TaskRule> out;
    for (const char* p : profiles) {
      TaskRule r;
      r.profile = *PresetProfile(p);
      out.push_back(r);
    }
    return out;
  };
  EXPECT_EQ(Discovery::AutoInterval({}), 10);
  EXPECT_EQ(Discovery::AutoInterval(rules({"daemon"})), 10);
  EXPECT_EQ(Discovery::AutoInterval(rules({"daemon", "realtime_api"})), 5);
  EXPECT_EQ(Discovery::AutoInterval(rules({"standard", "intensive"})), 1);
}

// --- Discovery on a fixture procfs tree
// ---------------------------------------

class FixtureTree {
 public:
  // Writes <root>/<pid>/{stat,cmdline,cgroup}.
  void Proc(pid_t pid, pid_t ppid, const std::string& comm, uint64_t start,
            char state, const std::vector<std::string>& argv,
            const std::string& cgroup) {
    std::string d = dir_.path() + "/" + std::to_string(pid);
    std::filesystem::create_directories(d);
    std::ofstream(d + "/stat")
        << pid << " (" << comm << ") " << state << " " << ppid
        << " 1 1 0 -1 4194304 0 0 0 0 10 5 0 0 20 0 1 0 " << start
        << " 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 "
           "0 0 0\n";
    std::string cmd;
    for (const auto& a : argv) cmd += a + '\0';
    std::ofstream(d + "/cmdline") << cmd;
    std::ofstream(d + "/cgroup") << cgroup;
  }
  std::string root() const { return dir_.path(); }

 private:
  TempDir dir_;
};

TEST(DiscoveryFixtureTest, CgroupGroupsAndZombies) {
  FixtureTree tree;
  tree.Proc(1, 0, "init", 1, 'S', {"/sbin/init"}, "0::/init.scope\n");
  tree.Proc(10, 1, "python3", 100, 'S', {"python3", "app.py"},
            "12:memory:/kubepods/burstable/podab12-cd/ctr\n"
            "0::/kubepods/burstable/podab12-cd/ctr\n");
  tree.Proc(11, 10, "python3", 101, 'S', {"python3", "worker.py"},
            "0::/kubepods/burstable/podab12-cd/ctr\n");
  tree.Proc(20, 1, "python3", 200, 'Z', {},
            "0::/kubepods/besteffort/podff/c\n");
  tree.Proc(30, 1, "kworker/0:1", 300, 'I', {}, "0::/\n");
  TaskMonitor::Options mo;
  mo.procfs = tree.root();
  TaskMonitor monitor(mo);
  auto c = ParseConfig(
      "tasks:\n"
      "  - id: 'pod-{{.Matches.pod}}'\n"
      "    cgroup: '/kubepods/[a-z]+/pod(?P<pod>[0-9a-f-]+)/'\n"
      "  - id: 'k-{{.PID}}'\n    cmdline: '.*'\n",
      "test.yaml", "/");
  ASSERT_TRUE(c.ok()) << c.status().message();
  Discovery::Options o;
  o.procfs = tree.root();
  Discovery d(std::move(c->tasks), &monitor, o);
  // 10 is a root (11 is its child); 20 is a zombie; 30 is a kernel thread
  // (empty cmdline never matches a cmdline regex); 1 matches `.*`.
  EXPECT_EQ(d.RunOnce(), 2);
  auto pod = monitor.GetTask("pod-ab12-cd");
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->spec.pid, 10);
  EXPECT_TRUE(monitor.GetTask("k-1"));
  EXPECT_FALSE(monitor.GetTask("k-30"));
  EXPECT_EQ(monitor.ListTasks().size(), 2u);
}

}  // namespace
}  // namespace propmon::exporter
