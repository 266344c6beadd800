// workload: a process with a known resource footprint, for ground-truth
// tests and the demo. Runs its actions in order:
//   burn SECONDS        burn this much CPU time (user), measured by the kernel
//   alloc MIB           allocate and touch MIB mebibytes (kept)
//   write PATH MIB      write MIB mebibytes to PATH with fsync
//   threads N           start N extra threads that sleep
//   files N             open N extra file descriptors on /dev/null
//   child-burn SECONDS  fork a child that burns SECONDS of CPU and exits; wait
//   ready PATH          create PATH (tells the test the work is done)
//   sleep SECONDS       sleep
//   exit CODE           exit with CODE
//   rename HEX          set the thread name (comm) to the bytes HEX spells
//                       with prctl(PR_SET_NAME), e.g. "ff01"
//   spin DUTY           forever: burn DUTY (0..1) of one core
//   grow MIB_PER_S MAX  forever: grow RSS by MIB_PER_S up to MAX MiB, then
//   restart writeloop PATH MIB_PER_S  forever: write and fsync, truncating at
//   64 MiB
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

volatile unsigned long g_sink = 0;

void Burn(double seconds) {
  double end = CpuSeconds() + seconds;
  while (CpuSeconds() < end) {
    for (int i = 0; i < 100000; ++i) g_sink = g_sink + i;
  }
}

std::vector<char*> g_blocks;

void Alloc(double mib) {
  size_t bytes = static_cast<size_t>(mib * 1024 * 1024);
  char* p = static_cast<char*>(malloc(bytes));
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  if (bytes) p[bytes - 1] = 1;
  g_blocks.push_back(p);
}

void WriteFile(const char* path, double mib, bool append = false) {
  int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) {
    perror("open");
    exit(2);
  }
  std::vector<char> buf(1 << 20, 'x');
  size_t left = static_cast<size_t>(mib * 1024 * 1024);
  while (left > 0) {
    size_t n = left < buf.size() ? left : buf.size();
    ssize_t w = write(fd, buf.data(), n);
    if (w <= 0) {
      perror("write");
      exit(2);
    }
    left -= static_cast<size_t>(w);
  }
  fsync(fd);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "workload: %s needs an argument\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "burn") {
      Burn(atof(next()));
    } else if (a == "alloc") {
      Alloc(atof(next()));
    } else if (a == "write") {
      const char* path = next();
      WriteFile(path, atof(next()));
    } else if (a == "threads") {
      int n = atoi(next());
      for (int t = 0; t < n; ++t) {
        threads.emplace_back([&stop] {
          while (!stop) usleep(100000);
        });
      }
    } else if (a == "files") {
      int n = atoi(next());
      for (int f = 0; f < n; ++f) {
        if (open("/dev/null", O_RDONLY) < 0) perror("open");
      }
    } else if (a == "child-burn") {
      double s = atof(next());
      pid_t pid = fork();
      if (pid == 0) {
        Burn(s);
        _exit(0);
      }
      int st;
      waitpid(pid, &st, 0);
    } else if (a == "ready") {
      const char* path = next();
      int fd = open(path, O_WRONLY | O_CREAT, 0644);
      if (fd >= 0) close(fd);
    } else if (a == "rename") {
      std::string hex = next(), name;
      for (size_t k = 0; k + 1 < hex.size(); k += 2) {
        name.push_back(
            static_cast<char>(std::stoi(hex.substr(k, 2), nullptr, 16)));
      }
      if (prctl(PR_SET_NAME, name.c_str(), 0, 0, 0) != 0) perror("prctl");
    } else if (a == "sleep") {
      usleep(static_cast<useconds_t>(atof(next()) * 1e6));
    } else if (a == "exit") {
      stop = true;
      for (auto& t : threads) t.join();
      return atoi(next());
    } else if (a == "spin") {
      double duty = atof(next());
      while (true) {
        double t0 = Now();
        Burn(0.1 * duty);
        double spent = Now() - t0;
        if (spent < 0.1) usleep(static_cast<useconds_t>((0.1 - spent) * 1e6));
      }
    } else if (a == "grow") {
      double rate = atof(next());
      double max = atof(next());
      double have = 0;
      while (true) {
        if (have >= max) {
          for (char* p : g_blocks) free(p);
          g_blocks.clear();
          have = 0;
        }
        Alloc(rate);
        have += rate;
        sleep(1);
      }
    } else if (a == "writeloop") {
      const char* path = next();
      double rate = atof(next());
      double written = 0;
      while (true) {
        bool restart = written >= 64;
        WriteFile(path, rate, !restart);
        written = restart ? rate : written + rate;
        sleep(1);
      }
    } else {
      fprintf(stderr, "workload: unknown action %s\n", a.c_str());
      return 2;
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  return 0;
}
