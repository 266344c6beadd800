// Pure parsers for per-process /proc files, and ProcReader, the one seam
// through which the exporter reads a procfs tree (the real /proc or a
// fixture). Parsers take text and never touch the file system.
#ifndef PROPMON_EXPORTER_PROCFS_H_
#define PROPMON_EXPORTER_PROCFS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace propmon::exporter {

// Fields of /proc/PID/stat (proc(5)). Times are in clock ticks.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;  // Between the first '(' and the LAST ')'.
  char state = '?';
  pid_t ppid = 0;
  uint64_t utime = 0;
  uint64_t stime = 0;
  uint64_t cutime = 0;  // Reaped children's user time.
  uint64_t cstime = 0;  // Reaped children's system time.
  int64_t num_threads = 0;
  uint64_t starttime = 0;  // Ticks after boot.
  uint64_t vsize = 0;      // Bytes.
  int64_t rss_pages = 0;
};
// Returns InvalidArgument on truncated or garbage input.
StatusOr<ProcStat> ParseProcStat(std::string_view text);

// /proc/PID/io. read_bytes/write_bytes are storage I/O; rchar/wchar all I/O.
struct ProcIo {
  uint64_t rchar = 0;
  uint64_t wchar = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t cancelled_write_bytes = 0;
};
StatusOr<ProcIo> ParseProcIo(std::string_view text);

// The soft "Max open files" limit of /proc/PID/limits; nullopt when
// "unlimited" or absent.
StatusOr<std::optional<uint64_t>> ParseMaxOpenFiles(std::string_view text);

// MemTotal from /proc/meminfo, in bytes (InvalidArgument when that does not
// fit in 64 bits).
StatusOr<uint64_t> ParseMemTotal(std::string_view text);

// First field of /proc/uptime, in seconds (finite, not negative).
StatusOr<double> ParseUptime(std::string_view text);

// Sums receive/transmit bytes over every interface of /proc/PID/net/dev
// except "lo".
struct NetTotals {
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};
StatusOr<NetTotals> ParseNetDevTotals(std::string_view text);

// btime from /proc/stat.
StatusOr<uint64_t> ParseBootTime(std::string_view text);

// Parses a whitespace-separated list of pids (/proc/PID/task/TID/children).
std::vector<pid_t> ParsePidList(std::string_view text);
// The same, appended to *out (no allocation once *out has the capacity).
void AppendPidList(std::string_view text, std::vector<pid_t>* out);

// Reads a procfs tree. Reuses internal buffers (the file text, the path):
// not thread-safe; use one ProcReader per thread. Once warm, reading a
// process's files allocates nothing (the *Into / Append / View forms), so a
// steady-state sample allocates nothing (task_sampler_alloc_test.cc).
class ProcReader {
 public:
  explicit ProcReader(std::string root = "/proc");
  const std::string& root() const { return root_; }

  // NotFound when the process has gone (ENOENT/ESRCH), others otherwise.
  StatusOr<ProcStat> ReadStat(pid_t pid);
  StatusOr<ProcIo> ReadIo(pid_t pid);
  StatusOr<std::optional<uint64_t>> ReadMaxOpenFiles(pid_t pid);
  // Number of entries in /proc/PID/fd.
  StatusOr<int64_t> CountFds(pid_t pid);
  // Thread ids under /proc/PID/task.
  StatusOr<std::vector<pid_t>> ListThreads(pid_t pid);
  Status ListThreadsInto(pid_t pid, std::vector<pid_t>* out);
  // Children of one thread (needs CONFIG_PROC_CHILDREN).
  StatusOr<std::vector<pid_t>> ReadChildren(pid_t pid, pid_t tid);
  Status AppendChildren(pid_t pid, pid_t tid, std::vector<pid_t>* out);
  // All numeric entries of the root.
  std::vector<pid_t> ListPids();
  // The target of /proc/PID/ns/net ("net:[4026531840]").
  StatusOr<std::string> NetNamespace(pid_t pid);
  // The same, as a view into the reader's buffer, valid until the next call.
  StatusOr<std::string_view> NetNamespaceView(pid_t pid);
  // The namespace of ROOT/self (this process on a live procfs).
  StatusOr<std::string> SelfNetNamespace();
  StatusOr<NetTotals> ReadNetDev(pid_t pid);
  StatusOr<uint64_t> ReadMemTotal();
  StatusOr<double> ReadUptime();
  // btime of /proc/stat (Unix seconds of boot); cached after the first read.
  StatusOr<uint64_t> ReadBootTime();
  // True when /proc/PID/task/TID/children exists for our own process (the
  // kernel supports it and this is a live procfs).
  bool SupportsChildrenFile();
  // Reads /proc/PID/cmdline ('\0'-separated, joined with spaces) and exe.
  StatusOr<std::string> ReadCmdline(pid_t pid);
  StatusOr<std::string> ReadExe(pid_t pid);
  StatusOr<std::string> ReadCgroup(pid_t pid);

 private:
  // ROOT/PID/LEAF in path_ (valid until the next call).
  const std::string& Path(pid_t pid, const char* leaf);
  std::string root_;
  std::string buf_;
  std::string path_;
  std::string link_;
  std::vector<char> dents_;  // getdents64 buffer.
  // Calls f(name) for every entry of `dir` (".", ".." included).
  template <typename F>
  Status ForEachEntry(const std::string& dir, F&& f);
  uint64_t boot_time_ = 0;
};

// Clock ticks per second (sysconf(_SC_CLK_TCK)) and page size.
long ClockTicks();
long PageSize();

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_PROCFS_H_
