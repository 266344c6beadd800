// main() for replaying inputs through a libFuzzer target without libFuzzer,
// so that any compiler (gcc, with or without ASan) can run a target's corpus
// as a test: `TARGET_replay PATH...` calls LLVMFuzzerInitialize (when the
// target defines it) and then LLVMFuzzerTestOneInput once per file, for
// every PATH that is a file and every regular file under every PATH that is
// a directory (sorted, so runs are repeatable). Arguments starting with '-'
// (libFuzzer's flags) are ignored. Each input is copied into a heap buffer
// of exactly its size, as libFuzzer does, so that AddressSanitizer sees a
// read past its end. Exits 1 when no input was found or one could not be
// read; a target's failed check aborts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    fs::path p = argv[i];
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i],
                     ec.message().c_str());
        return 1;
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else {
      inputs.push_back(p);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (usage: %s FILE_OR_DIR...)\n",
                 argc > 0 ? argv[0] : "replay");
    return 1;
  }
  for (const fs::path& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
      return 1;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    // Exactly sized (new[] of 0 bytes is a valid, unreadable pointer).
    std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), buf.get());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(buf.get(), bytes.size());
  }
  std::fprintf(stderr, "replay: %zu inputs, no failure\n", inputs.size());
  return 0;
}
