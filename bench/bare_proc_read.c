/* The bare cost of the /proc reads one task sample needs (stat, children,
 * io, fd directory, limits) for every process given on stdin (one pid per
 * line), in plain C: the floor for propmon's per-task cost.
 * Usage: pgrep sleep | bare_proc_read [ROUNDS] */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static void slurp(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  close(fd);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 20;
  int pids[100000];
  int n = 0;
  while (n < 100000 && scanf("%d", &pids[n]) == 1) n++;
  char path[128];
  double t0 = cpu_now();
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++) {
      snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
      slurp(path);
      snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pids[i],
               pids[i]);
      slurp(path);
      snprintf(path, sizeof(path), "/proc/%d/io", pids[i]);
      slurp(path);
      snprintf(path, sizeof(path), "/proc/%d/limits", pids[i]);
      slurp(path);
      snprintf(path, sizeof(path), "/proc/%d/fd", pids[i]);
      DIR* d = opendir(path);
      if (d) {
        while (readdir(d)) {
        }
        closedir(d);
      }
    }
  }
  double spent = cpu_now() - t0;
  printf("processes=%d rounds=%d cpu_us_per_process_sample=%.2f\n", n, rounds,
         n && rounds ? spent * 1e6 / ((double)n * rounds) : 0.0);
  return 0;
}
