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
#ifndef PROPMON_COMMON_MALLOC_ARENAS_H_
#define PROPMON_COMMON_MALLOC_ARENAS_H_

#include <malloc.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace propmon {

inline void LimitMallocArenas(int arenas = 2) {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, arenas);
}

// Returns the first of `sigs` (which must be blocked in every thread) to
// arrive; trims the heap every `trim_every_seconds` while waiting.
inline int WaitForSignal(const sigset_t& sigs, int trim_every_seconds = 10) {
  while (true) {
    timespec wait{trim_every_seconds, 0};
    int sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig > 0) return sig;
    if (errno == EAGAIN) malloc_trim(0);  // EINTR: wait again.
  }
}

}  // namespace propmon

#endif  // PROPMON_COMMON_MALLOC_ARENAS_H_
