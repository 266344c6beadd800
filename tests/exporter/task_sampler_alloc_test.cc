// Steady-state sampling allocates nothing (issue 15): TaskSampler::Sample
// on live processes, and a TaskMonitor pass without observers, once warm,
// make no heap allocation. Counted by replacing the global operator new in
// this test binary (counting only on the thread under test, only while a
// test asks). The sanitizer builds replace operator new themselves, so
// there the test is skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <new>
#include <string>

#include "common/clock.h"
#include "exporter/procfs.h"
#include "exporter/task_monitor.h"
#include "exporter/task_sampler.h"
#include "tests/testutil/testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PROPMON_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PROPMON_UNDER_SANITIZER 1
#endif
#endif

#ifndef PROPMON_UNDER_SANITIZER
namespace {
thread_local bool counting = false;
thread_local long allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace propmon::exporter {
namespace {

#ifndef PROPMON_UNDER_SANITIZER
// Allocations made by f() on this thread.
template <typename F>
long AllocationsIn(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}
#endif

// A live tree: a shell (one thread) with a sleeping child, and this test
// process itself (many threads: the children of every thread are read).
TEST(TaskSamplerAllocTest, SteadyStateSampleAllocatesNothing) {
#ifdef PROPMON_UNDER_SANITIZER
  GTEST_SKIP() << "the sanitizer runtime owns operator new";
#else
  testutil::Subprocess tree;
  ASSERT_TRUE(tree.Start({"/bin/sh", "-c", "sleep 60 & wait"}));
  ProcReader reader("/proc");
  auto self_ns = reader.SelfNetNamespace();
  ASSERT_TRUE(self_ns.ok());
  MonitoringProfile profile = *PresetProfile("intensive");  // Everything.
  for (pid_t root : {tree.pid(), getpid()}) {
    TaskSampler sampler(root, true, *self_ns);
    TaskSample sample;
    SampleErrors errors;
    double now = 1000;
    // Warm: the scratch vectors, the reader's buffers, the tree's map.
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(
          sampler.Sample(&reader, profile, now, now, 100.0, &sample, &errors));
      now += 1;
    }
    if (root == tree.pid()) {
      ASSERT_TRUE(testutil::WaitUntil(
          [&] {
            sampler.Sample(&reader, profile, now, now, 100.0, &sample, &errors);
            return sample.processes == 2;
          },
          std::chrono::seconds(10)))
          << "the shell's child did not start";
    }
    long n = AllocationsIn([&] {
      for (int i = 0; i < 20; ++i) {
        sampler.Sample(&reader, profile, now, now, 100.0, &sample, &errors);
        now += 1;
      }
    });
    EXPECT_EQ(n, 0) << "pid " << root << " (" << sample.processes
                    << " processes)";
    EXPECT_TRUE(sample.memory_bytes.has_value());
    EXPECT_TRUE(sample.open_fds.has_value());
  }
#endif
}

TEST(TaskSamplerAllocTest, SteadyStatePassAllocatesNothing) {
#ifdef PROPMON_UNDER_SANITIZER
  GTEST_SKIP() << "the sanitizer runtime owns operator new";
#else
  FakeClock clock;
  TaskMonitor::Options o;
  o.clock = &clock;
  TaskMonitor m(o);
  testutil::Subprocess a, b;
  ASSERT_TRUE(a.Start({"/bin/sleep", "60"}));
  ASSERT_TRUE(b.Start({"/bin/sleep", "60"}));
  for (auto [id, pid] : {std::pair{"a", a.pid()}, std::pair{"b", b.pid()}}) {
    TaskSpec s;
    s.id = id;
    s.pid = pid;
    s.profile = *PresetProfile("intensive");
    s.profile.history_size = 4;  // Full after the warm-up: steady state.
    ASSERT_TRUE(m.AddTask(s).ok());
  }
  for (int i = 0; i < 5; ++i) {
    m.RunOnce();
    clock.Advance(1);
  }
  long n = AllocationsIn([&] {
    for (int i = 0; i < 20; ++i) {
      m.RunOnce();
      clock.Advance(1);
    }
  });
  EXPECT_EQ(n, 0);
  EXPECT_EQ(m.GetTask("a")->samples, 25);
#endif
}

}  // namespace
}  // namespace propmon::exporter
