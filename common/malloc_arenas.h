// LimitMallocArenas: caps glibc malloc's arenas for a long-running daemon.
//
// glibc gives threads their own arenas (up to 8 per core). In the daemons a
// task's or a message's memory is allocated on one thread (an HTTP worker,
// the MQTT callback thread) and freed on another (the collection thread,
// the bridge's worker), so every arena keeps free but unreturnable chunks
// and RSS creeps up under churn: in the soak (tests/integration/
// soak_test.py) the exporter spread 60 MiB over 10 arenas of 5-7 MiB and
// kept growing, the bridge over 20 arenas. Two arenas are plenty for a
// handful of busy threads. MALLOC_ARENA_MAX in the environment still wins.
//
// WaitForSignal: the daemons' main threads wait for a signal here, and every
// 10 s meanwhile hand the free pages inside the heap back to the kernel
// (malloc_trim). Even with two arenas, task churn leaves the heap holding
// about twice what is in use (the soak with PROPMON_SOAK_HEAP=1: 9.2 MiB from
// the system, 4.0 MiB in use after two minutes), and RSS stepped up for good
// after bursts of churn.
//
// jemalloc: even so, glibc's heap kept growing under churn (the exporter
// +22 % over 30 minutes, heap in use flat), so the daemons link jemalloc
// (CMake PROPMON_JEMALLOC, on by default) with kJemallocConf below, and RSS
// stays flat (docs/reliability.md). Where jemalloc is the allocator (linked,
// or preloaded), LimitMallocArenas does nothing and WaitForSignal asks it to
// purge by its decay instead of calling malloc_trim. MALLOC_CONF in the
// environment adds to or overrides kJemallocConf.
#ifndef PROPMON_COMMON_MALLOC_ARENAS_H_
#define PROPMON_COMMON_MALLOC_ARENAS_H_

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <initializer_list>

namespace propmon {

// jemalloc's options for the daemons (each main.cc defines `malloc_conf`
// from it): one arena (as M_ARENA_MAX 2 for glibc: a handful of threads,
// memory allocated on one and freed on another), thread caches only for
// small sizes, and unused pages returned within about a second. Measured
// with the soak: the exporter 17.8-18.1 MiB over 7 minutes, against 20.3-21.1
// MiB with jemalloc's defaults and 15.4-19.5 MiB, still growing, with glibc.
inline constexpr char kJemallocConf[] =
    "narenas:1,tcache_max:1024,dirty_decay_ms:1000,muzzy_decay_ms:0";

// jemalloc's mallctl(3) when jemalloc is this process's allocator, else
// null.
using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);
inline MallctlFn JemallocCtl() {
  static const MallctlFn fn =
      reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
  return fn;
}

inline void LimitMallocArenas(int arenas = 2) {
  if (JemallocCtl() != nullptr) return;
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, arenas);
}

// Hands free memory back to the kernel: jemalloc purges what its decay
// allows ("arena.<MALLCTL_ARENAS_ALL>.decay"), glibc trims its heap.
inline void ReleaseFreeMemory() {
  if (MallctlFn ctl = JemallocCtl()) {
    ctl("arena.4096.decay", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
}

// Blocks SIGINT, SIGTERM, SIGHUP (the daemons re-read their web config on
// it) and `extra` in this thread and every thread started after it, so that
// only WaitForSignal() takes them; returns the set.
inline sigset_t BlockDaemonSignals(std::initializer_list<int> extra = {}) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  for (int sig : extra) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Returns the first of `sigs` (which must be blocked in every thread) to
// arrive; releases free memory every `trim_every_seconds` while waiting.
inline int WaitForSignal(const sigset_t& sigs, int trim_every_seconds = 10) {
  while (true) {
    timespec wait{trim_every_seconds, 0};
    int sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig > 0) return sig;
    if (errno == EAGAIN) ReleaseFreeMemory();  // EINTR: wait again.
  }
}

}  // namespace propmon

#endif  // PROPMON_COMMON_MALLOC_ARENAS_H_
