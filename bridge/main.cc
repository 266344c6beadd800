// propmon-bridge: hands over to the library (bridge.cc); one catch-all for
// exceptions at startup.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "common/malloc_arenas.h"

// jemalloc reads its options here before main() when the daemon is linked
// with it (CMake PROPMON_JEMALLOC); with glibc's malloc nothing reads it.
extern "C" const char* malloc_conf;
const char* malloc_conf = propmon::kJemallocConf;

int main(int argc, char** argv) {
  propmon::LimitMallocArenas();
  try {
    return propmon::bridge::BridgeMain(
        std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "propmon-bridge: fatal: " << e.what() << "\n";
    return 1;
  }
}
