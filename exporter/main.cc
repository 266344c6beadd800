// propmon-exporter: parses flags and hands over to the library (app.cc).
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "common/malloc_arenas.h"
#include "exporter/app.h"

// jemalloc reads its options here before main() when the daemon is linked
// with it (CMake PROPMON_JEMALLOC); with glibc's malloc nothing reads it.
extern "C" const char* malloc_conf;
const char* malloc_conf = propmon::kJemallocConf;

int main(int argc, char** argv) {
  propmon::LimitMallocArenas();
  try {
    return propmon::exporter::ExporterMain(
        std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "propmon-exporter: fatal: " << e.what() << "\n";
    return 1;
  }
}
