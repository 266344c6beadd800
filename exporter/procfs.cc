#include "exporter/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "common/file.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {
namespace {

template <typename T>
bool ParseNum(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Finds "Key:" at a line start and parses the first number after it.
bool FindKeyNumber(std::string_view text, std::string_view key, uint64_t* out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ':') {
      std::string_view rest = line.substr(key.size() + 1);
      std::string_view f[1];
      if (SplitFields(rest, f, 1) == 1 && ParseNum(f[0], out)) return true;
      return false;
    }
    pos = eol + 1;
  }
  return false;
}

// readlink(2) of a /proc link; NotFound when the process has gone.
StatusOr<std::string> ReadLink(const std::string& path) {
  char target[4096];
  ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
  if (n < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH) return NotFound(path + ": gone");
    return Unavailable(path + ": " + strerror(e));
  }
  return std::string(target, static_cast<size_t>(n));
}

}  // namespace

StatusOr<ProcStat> ParseProcStat(std::string_view text) {
  ProcStat st;
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos ||
      close < open) {
    return InvalidArgument("stat: no (comm)");
  }
  std::string_view pid_text = text.substr(0, open);
  while (!pid_text.empty() && IsSpace(pid_text.back()))
    pid_text.remove_suffix(1);
  if (!ParseNum(pid_text, &st.pid)) return InvalidArgument("stat: bad pid");
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // Fields after comm, numbered from 3 (state) as in proc(5).
  std::string_view f[50];
  size_t n = SplitFields(text.substr(close + 1), f, 50);
  // We need up to field 24 (rss): index 24 - 3 = 21.
  if (n < 22) return InvalidArgument("stat: truncated");
  if (f[0].size() != 1) return InvalidArgument("stat: bad state");
  st.state = f[0][0];
  bool ok = ParseNum(f[1], &st.ppid) && ParseNum(f[11], &st.utime) &&
            ParseNum(f[12], &st.stime) && ParseNum(f[17], &st.num_threads) &&
            ParseNum(f[19], &st.starttime) && ParseNum(f[20], &st.vsize) &&
            ParseNum(f[21], &st.rss_pages);
  // cutime/cstime are signed in the kernel's format but never negative.
  int64_t cu = 0, cs = 0;
  ok = ok && ParseNum(f[13], &cu) && ParseNum(f[14], &cs);
  if (!ok) return InvalidArgument("stat: bad number");
  st.cutime = cu > 0 ? static_cast<uint64_t>(cu) : 0;
  st.cstime = cs > 0 ? static_cast<uint64_t>(cs) : 0;
  return st;
}

StatusOr<ProcIo> ParseProcIo(std::string_view text) {
  ProcIo io;
  if (!FindKeyNumber(text, "rchar", &io.rchar) ||
      !FindKeyNumber(text, "wchar", &io.wchar) ||
      !FindKeyNumber(text, "read_bytes", &io.read_bytes) ||
      !FindKeyNumber(text, "write_bytes", &io.write_bytes)) {
    return InvalidArgument("io: missing or bad field");
  }
  FindKeyNumber(text, "cancelled_write_bytes", &io.cancelled_write_bytes);
  return io;
}

StatusOr<std::optional<uint64_t>> ParseMaxOpenFiles(std::string_view text) {
  size_t pos = text.find("Max open files");
  if (pos == std::string_view::npos) {
    return InvalidArgument("limits: no \"Max open files\"");
  }
  size_t eol = text.find('\n', pos);
  std::string_view line = text.substr(pos + 14, eol == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : eol - pos - 14);
  std::string_view f[3];
  if (SplitFields(line, f, 3) < 1) return InvalidArgument("limits: truncated");
  if (f[0] == "unlimited") return std::optional<uint64_t>();
  uint64_t v = 0;
  if (!ParseNum(f[0], &v)) return InvalidArgument("limits: bad number");
  return std::optional<uint64_t>(v);
}

StatusOr<uint64_t> ParseMemTotal(std::string_view text) {
  uint64_t kb = 0;
  if (!FindKeyNumber(text, "MemTotal", &kb)) {
    return InvalidArgument("meminfo: no MemTotal");
  }
  // More than 16 EiB cannot be counted in bytes (it used to wrap around).
  if (kb > UINT64_MAX / 1024) return InvalidArgument("meminfo: bad MemTotal");
  return kb * 1024;
}

StatusOr<uint64_t> ParseBootTime(std::string_view text) {
  size_t pos = text.find("\nbtime ");
  if (pos == std::string_view::npos) return InvalidArgument("stat: no btime");
  std::string_view f[1];
  size_t eol = text.find('\n', pos + 1);
  std::string_view rest = text.substr(pos + 7, eol == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : eol - pos - 7);
  uint64_t v = 0;
  if (SplitFields(rest, f, 1) != 1 || !ParseNum(f[0], &v)) {
    return InvalidArgument("stat: bad btime");
  }
  return v;
}

StatusOr<double> ParseUptime(std::string_view text) {
  std::string_view f[1];
  if (SplitFields(text, f, 1) != 1) return InvalidArgument("uptime: empty");
  double v = 0;
  // from_chars also reads "-1", "nan" and "inf": none is an uptime.
  if (!ParseNum(f[0], &v) || !std::isfinite(v) || v < 0) {
    return InvalidArgument("uptime: bad number");
  }
  return v;
}

StatusOr<NetTotals> ParseNetDevTotals(std::string_view text) {
  NetTotals t;
  size_t pos = 0;
  int lines = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (++lines <= 2) continue;  // Two header lines.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && IsSpace(name.front())) name.remove_prefix(1);
    std::string_view f[16];
    if (SplitFields(line.substr(colon + 1), f, 16) < 16) {
      return InvalidArgument("net/dev: truncated line");
    }
    if (name == "lo") continue;
    uint64_t rx = 0, tx = 0;
    if (!ParseNum(f[0], &rx) || !ParseNum(f[8], &tx)) {
      return InvalidArgument("net/dev: bad number");
    }
    t.rx_bytes += rx;
    t.tx_bytes += tx;
  }
  if (lines < 2) return InvalidArgument("net/dev: truncated");
  return t;
}

std::vector<pid_t> ParsePidList(std::string_view text) {
  std::vector<pid_t> out;
  AppendPidList(text, &out);
  return out;
}

void AppendPidList(std::string_view text, std::vector<pid_t>* out) {
  while (!text.empty()) {
    size_t i = 0;
    while (i < text.size() && IsSpace(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !IsSpace(text[j])) ++j;
    if (i == j) break;
    pid_t p = 0;
    if (ParseNum(text.substr(i, j - i), &p) && p > 0) out->push_back(p);
    text.remove_prefix(j);
  }
}

ProcReader::ProcReader(std::string root) : root_(std::move(root)) {
  buf_.reserve(4096);
  path_.reserve(root_.size() + 64);
}

const std::string& ProcReader::Path(pid_t pid, const char* leaf) {
  path_.assign(root_);
  path_ += '/';
  char num[24];
  auto r = std::to_chars(num, num + sizeof(num), pid);
  path_.append(num, r.ptr);
  if (leaf && *leaf) {
    path_ += '/';
    path_ += leaf;
  }
  return path_;
}

StatusOr<ProcStat> ProcReader::ReadStat(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "stat"), &buf_);
  if (!s.ok()) return s;
  if (buf_.empty()) return NotFound("stat: empty (process gone)");
  return ParseProcStat(buf_);
}

StatusOr<ProcIo> ProcReader::ReadIo(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "io"), &buf_);
  if (!s.ok()) return s;
  return ParseProcIo(buf_);
}

StatusOr<std::optional<uint64_t>> ProcReader::ReadMaxOpenFiles(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "limits"), &buf_);
  if (!s.ok()) return s;
  return ParseMaxOpenFiles(buf_);
}

template <typename F>
Status ProcReader::ForEachEntry(const std::string& dir, F&& f) {
  // getdents64 into a member buffer: opendir() would malloc a DIR per call.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH) return NotFound(dir + ": gone");
    return Unavailable(dir + ": " + strerror(e));
  }
  if (dents_.size() < 16384) dents_.resize(16384);
  while (true) {
    long n = syscall(SYS_getdents64, fd, dents_.data(), dents_.size());
    if (n < 0) {
      int e = errno;
      close(fd);
      if (e == ENOENT || e == ESRCH) return NotFound(dir + ": gone");
      return Unavailable(dir + ": " + strerror(e));
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct Dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[1];
      };
      const auto* d = reinterpret_cast<const Dirent64*>(dents_.data() + off);
      f(std::string_view(d->d_name));
      off += d->d_reclen;
    }
  }
  close(fd);
  return Status::Ok();
}

StatusOr<int64_t> ProcReader::CountFds(pid_t pid) {
  int64_t n = 0;
  Status s = ForEachEntry(Path(pid, "fd"), [&](std::string_view name) {
    if (name[0] != '.') ++n;
  });
  if (!s.ok()) return s;
  return n;
}

StatusOr<std::vector<pid_t>> ProcReader::ListThreads(pid_t pid) {
  std::vector<pid_t> out;
  Status s = ListThreadsInto(pid, &out);
  if (!s.ok()) return s;
  return out;
}

Status ProcReader::ListThreadsInto(pid_t pid, std::vector<pid_t>* out) {
  out->clear();
  return ForEachEntry(Path(pid, "task"), [&](std::string_view name) {
    pid_t t = 0;
    if (ParseNum(name, &t)) out->push_back(t);
  });
}

StatusOr<std::vector<pid_t>> ProcReader::ReadChildren(pid_t pid, pid_t tid) {
  std::vector<pid_t> out;
  Status s = AppendChildren(pid, tid, &out);
  if (!s.ok()) return s;
  return out;
}

Status ProcReader::AppendChildren(pid_t pid, pid_t tid,
                                  std::vector<pid_t>* out) {
  Path(pid, "task/");
  char num[24];
  auto r = std::to_chars(num, num + sizeof(num), tid);
  path_.append(num, r.ptr);
  path_ += "/children";
  Status s = ReadFileTo(path_, &buf_);
  if (!s.ok()) return s;
  AppendPidList(buf_, out);
  return Status::Ok();
}

std::vector<pid_t> ProcReader::ListPids() {
  std::vector<pid_t> out;
  DIR* d = opendir(root_.c_str());
  if (d == nullptr) return out;
  while (dirent* ent = readdir(d)) {
    pid_t p = 0;
    if (ParseNum(std::string_view(ent->d_name), &p) && p > 0) out.push_back(p);
  }
  closedir(d);
  return out;
}

StatusOr<std::string> ProcReader::NetNamespace(pid_t pid) {
  return ReadLink(Path(pid, "ns/net"));
}

StatusOr<std::string_view> ProcReader::NetNamespaceView(pid_t pid) {
  const std::string& p = Path(pid, "ns/net");
  link_.resize(256);
  ssize_t n = readlink(p.c_str(), link_.data(), link_.size());
  if (n < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH) return NotFound(p + ": gone");
    return Unavailable(p + ": " + strerror(e));
  }
  return std::string_view(link_.data(), static_cast<size_t>(n));
}

StatusOr<std::string> ProcReader::SelfNetNamespace() {
  return ReadLink(root_ + "/self/ns/net");
}

StatusOr<NetTotals> ProcReader::ReadNetDev(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "net/dev"), &buf_);
  if (!s.ok()) return s;
  return ParseNetDevTotals(buf_);
}

StatusOr<uint64_t> ProcReader::ReadMemTotal() {
  Status s = ReadFileTo(root_ + "/meminfo", &buf_);
  if (!s.ok()) return s;
  return ParseMemTotal(buf_);
}

StatusOr<double> ProcReader::ReadUptime() {
  Status s = ReadFileTo(root_ + "/uptime", &buf_);
  if (!s.ok()) return s;
  return ParseUptime(buf_);
}

StatusOr<uint64_t> ProcReader::ReadBootTime() {
  if (boot_time_ != 0) return boot_time_;
  Status s = ReadFileTo(root_ + "/stat", &buf_, 1 << 20);
  if (!s.ok()) return s;
  auto b = ParseBootTime(buf_);
  if (b.ok()) boot_time_ = *b;
  return b;
}

bool ProcReader::SupportsChildrenFile() {
  pid_t self = getpid();
  std::string p = root_ + "/" + std::to_string(self) + "/task/" +
                  std::to_string(self) + "/children";
  return access(p.c_str(), R_OK) == 0;
}

StatusOr<std::string> ProcReader::ReadCmdline(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "cmdline"), &buf_, 64 * 1024);
  if (!s.ok()) return s;
  std::string out = buf_;
  while (!out.empty() && out.back() == '\0') out.pop_back();
  for (char& c : out) {
    if (c == '\0') c = ' ';
  }
  return out;
}

StatusOr<std::string> ProcReader::ReadExe(pid_t pid) {
  return ReadLink(Path(pid, "exe"));
}

StatusOr<std::string> ProcReader::ReadCgroup(pid_t pid) {
  Status s = ReadFileTo(Path(pid, "cgroup"), &buf_, 64 * 1024);
  if (!s.ok()) return s;
  return buf_;
}

long ClockTicks() {
  static const long ticks = sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

long PageSize() {
  static const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? page : 4096;
}

}  // namespace propmon::exporter
