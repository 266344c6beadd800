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
#ifndef PROPMON_COMMON_MALLOC_ARENAS_H_
#define PROPMON_COMMON_MALLOC_ARENAS_H_

#include <malloc.h>

#include <cstdlib>

namespace propmon {

inline void LimitMallocArenas(int arenas = 2) {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, arenas);
}

}  // namespace propmon

#endif  // PROPMON_COMMON_MALLOC_ARENAS_H_
