// One collection pass over N live processes, each registered as a task
// (N = 10, 100, 1000). Reports CPU microseconds per task-sample.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "common/log.h"
#include "exporter/task_monitor.h"

namespace {

std::vector<pid_t> SpawnSleepers(int n) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t p = fork();
    if (p == 0) {
      execl("/bin/sleep", "sleep", "600", nullptr);
      _exit(127);
    }
    pids.push_back(p);
  }
  usleep(200 * 1000);
  return pids;
}

void Reap(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) kill(p, SIGKILL);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
}

// N sleeping processes, each registered as a task (standard profile) and
// sampled once.
struct Fixture {
  explicit Fixture(int n) : pids(SpawnSleepers(n)), monitor(Options()) {
    for (int i = 0; i < n; ++i) {
      propmon::exporter::TaskSpec s;
      s.id = "t" + std::to_string(i);
      s.pid = pids[i];
      s.profile = *propmon::exporter::PresetProfile("standard");
      (void)monitor.AddTask(s);
    }
    monitor.RunOnce(true);  // Warm up (first sample of each task).
  }
  ~Fixture() { Reap(pids); }
  static propmon::exporter::TaskMonitor::Options Options() {
    propmon::exporter::TaskMonitor::Options o;
    o.proplet_id = "bench";
    return o;
  }
  std::vector<pid_t> pids;
  propmon::exporter::TaskMonitor monitor;
};

void BM_CollectionPass(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Fixture f(n);
  for (auto _ : state) {
    f.monitor.RunOnce(true);
  }
  state.counters["us_per_task_sample"] =
      benchmark::Counter(static_cast<double>(n) * 1e-6,
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_CollectionPass)
    ->Arg(10)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond);

void BM_ScrapeRender(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto fams = f.monitor.Collect();
    benchmark::DoNotOptimize(fams);
  }
}
BENCHMARK(BM_ScrapeRender)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  propmon::SetLogLevel(propmon::LogLevel::kWarn);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
