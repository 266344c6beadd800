// libFuzzer target: every parser of a /proc or /sys file in the exporter
// (exporter/procfs.h, exporter/discovery.h, exporter/publisher.h,
// exporter/sysinfo.h, exporter/collectors/). Most of these files come from
// the kernel, but some of their text belongs to whoever runs a process: a
// comm (any 15 bytes: ')', spaces, newlines), a command line, cgroup and
// mount paths, interface names in a container's network namespace.
//
// Input: one selector byte (its low 4 bits pick the file), then the text.
//   0 /proc/PID/stat      ParseProcStat, ParseStatState, ParseSelfStat
//   1 /proc/PID/io        ParseProcIo
//   2 /proc/PID/limits    ParseMaxOpenFiles
//   3 /proc/PID/cgroup    ParseCgroupPaths, ParseCgroupV2Path
//   4 /proc/PID/cmdline   SplitCmdline; task/TID/children: ParsePidList
//   5 /proc/stat          ParseHostStat, ParseBootTime
//   6 /proc/meminfo       ParseMemTotal, ParseMeminfo, ParseMemInfo
//   7 /proc/PID/net/dev   ParseNetDevTotals, ParseNetDev
//   8 /proc/uptime, /proc/loadavg   ParseUptime, ParseLoadavg
//   9 /proc/diskstats     ParseDiskstats
//  10 udev's data file    ParseUdevData
//  11 /proc/mounts, mountinfo       ParseMounts, UnescapeMountField,
//                                   ParseCgroup2Mount
//  12 /proc/vmstat        ParseVmstat, VmstatFieldSelected
//  13 os-release          ParseOsRelease, OsVersionNumber
//  14 /proc/cpuinfo       ParseCpuInfo
//  15 cgroup memory.current/max, hwmon names   ParseCgroupBytes,
//                         CleanHwmonName, HwmonChipName (DEV \0 NAME \0 DIR)
// Checks, beyond "no crash, no sanitizer report" (the text is passed as a
// view of libFuzzer's exactly-sized buffer, so a read past it is caught):
// what a parser returns re-formats to text that parses to the same values
// (stat, io, limits, cmdline, mount escapes); parsers of the same file agree
// where their contracts overlap (stat state and times, MemTotal, net/dev
// totals); and documented ranges hold (no negative or non-finite seconds,
// names in their character sets, paths that are part of the input).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/collectors/cpu.h"
#include "exporter/collectors/diskstats.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/collectors/hwmon.h"
#include "exporter/collectors/loadavg.h"
#include "exporter/collectors/meminfo.h"
#include "exporter/collectors/netdev.h"
#include "exporter/collectors/os.h"
#include "exporter/collectors/processes.h"
#include "exporter/collectors/vmstat.h"
#include "exporter/discovery.h"
#include "exporter/parse_util.h"
#include "exporter/procfs.h"
#include "exporter/publisher.h"
#include "exporter/sysinfo.h"

namespace {

using namespace propmon::exporter;  // NOLINT

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "procfs_fuzz: %s\n", what);
  std::abort();
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Lines of `text` split on '\n', as every parser here reads them.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::string_view line;
  while (NextLine(&text, &line)) out.push_back(line);
  return out;
}

void ProcPidStat(std::string_view text) {
  auto st = ParseProcStat(text);
  std::optional<char> state = ParseStatState(text);
  SelfStats self;
  const bool self_ok = ParseSelfStat(text, 100, 4096, &self);
  if (!st.ok()) return;
  const size_t open = text.find('('), close = text.rfind(')');
  Check(st->comm == text.substr(open + 1, close - open - 1),
        "stat: comm is not the text between the first '(' and the last ')'");
  if (state) Check(*state == st->state, "stat: ParseStatState disagrees");
  // The same values, written as the kernel writes them, parse back.
  std::string again =
      std::to_string(st->pid) + " (" + st->comm + ") " + st->state + " " +
      std::to_string(st->ppid) + " 0 0 0 0 0 0 0 0 0 " +
      std::to_string(st->utime) + " " + std::to_string(st->stime) + " " +
      std::to_string(st->cutime) + " " + std::to_string(st->cstime) + " 20 0 " +
      std::to_string(st->num_threads) + " 0 " + std::to_string(st->starttime) +
      " " + std::to_string(st->vsize) + " " + std::to_string(st->rss_pages) +
      " 0 0\n";
  auto back = ParseProcStat(again);
  Check(back.ok(), "stat: re-formatted stat does not parse");
  Check(back->pid == st->pid && back->comm == st->comm &&
            back->state == st->state && back->ppid == st->ppid &&
            back->utime == st->utime && back->stime == st->stime &&
            back->cutime == st->cutime && back->cstime == st->cstime &&
            back->num_threads == st->num_threads &&
            back->starttime == st->starttime && back->vsize == st->vsize &&
            back->rss_pages == st->rss_pages,
        "stat: re-formatted stat parses to other values");
  // The publisher's own reader of /proc/self/stat splits on ' ' only: where
  // the fields are separated the kernel's way, it reads the same times.
  std::string_view after = text.substr(close + 1);
  while (!after.empty() && (after.back() == '\n' || after.back() == ' ')) {
    after.remove_suffix(1);
  }
  if (after.find_first_of("\t\n\r\v\f") == std::string_view::npos) {
    Check(self_ok, "stat: ParseSelfStat refuses a stat ParseProcStat reads");
    Check(*self.user_seconds == static_cast<double>(st->utime) / 100 &&
              *self.system_seconds == static_cast<double>(st->stime) / 100,
          "stat: ParseSelfStat reads other times");
    Check(self.rss_bytes.has_value() == (st->rss_pages >= 0),
          "stat: ParseSelfStat reads another rss");
  }
}

void ProcPidIo(std::string_view text) {
  auto io = ParseProcIo(text);
  if (!io.ok()) return;
  std::string again =
      "rchar: " + std::to_string(io->rchar) +
      "\nwchar: " + std::to_string(io->wchar) +
      "\nsyscr: 1\nsyscw: 1\nread_bytes: " + std::to_string(io->read_bytes) +
      "\nwrite_bytes: " + std::to_string(io->write_bytes) +
      "\ncancelled_write_bytes: " + std::to_string(io->cancelled_write_bytes) +
      "\n";
  auto back = ParseProcIo(again);
  Check(back.ok() && back->rchar == io->rchar && back->wchar == io->wchar &&
            back->read_bytes == io->read_bytes &&
            back->write_bytes == io->write_bytes &&
            back->cancelled_write_bytes == io->cancelled_write_bytes,
        "io: re-formatted io parses to other values");
}

void ProcPidLimits(std::string_view text) {
  auto limit = ParseMaxOpenFiles(text);
  if (!limit.ok()) return;
  std::string v = *limit ? std::to_string(**limit) : "unlimited";
  std::string again =
      "Limit                     Soft Limit           Hard "
      "Limit           Units\nMax open files            " +
      v + "                 " + v + "                 files\n";
  auto back = ParseMaxOpenFiles(again);
  Check(back.ok() && *back == *limit, "limits: re-formatted limit differs");
}

void ProcPidCgroup(std::string_view text) {
  std::vector<std::string> paths = ParseCgroupPaths(text);
  Check(paths.size() <= Lines(text).size(), "cgroup: more paths than lines");
  for (const std::string& p : paths) {
    Check(!Contains(p, "\n") && Contains(text, p),
          "cgroup: a path is not part of one line of the text");
  }
  if (auto v2 = ParseCgroupV2Path(text)) {
    Check(!v2->empty() && v2->front() == '/' && !Contains(*v2, "\n") &&
              Contains(text, *v2) && !Contains(*v2, " (deleted)"),
          "cgroup: bad v2 path");
  }
}

void ProcPidCmdline(std::string_view text) {
  std::vector<std::string> argv = SplitCmdline(text);
  std::string joined;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) joined += '\0';
    joined += argv[i];
  }
  if (!text.empty() && text.back() == '\0') joined += '\0';
  Check(joined == text, "cmdline: the arguments do not join to the text");
  for (pid_t p : ParsePidList(text)) Check(p > 0, "children: pid <= 0");
}

void ProcStatFile(std::string_view text) {
  auto st = ParseHostStat(text, 100);
  if (st.ok()) {
    auto check_times = [](const CpuTimes& t) {
      Check(t.columns >= 4 && t.columns <= kNumCpuModes, "stat: columns");
      for (double s : t.seconds) {
        Check(std::isfinite(s) && s >= 0, "stat: bad cpu seconds");
      }
    };
    if (st->total) check_times(*st->total);
    for (const auto& [id, t] : st->cpus) {
      Check(id >= 0 && id <= (1 << 20), "stat: cpu id");
      check_times(t);
    }
  }
  (void)ParseBootTime(text);
}

void ProcMeminfo(std::string_view text) {
  auto total = ParseMemTotal(text);
  auto fields = ParseMeminfo(text);
  MemInfoFacts facts = ParseMemInfo(text);
  if (!fields.ok()) return;
  int totals = 0;
  double value = 0;
  for (const MeminfoField& f : *fields) {
    Check(!f.name.empty() && std::isfinite(f.value), "meminfo: bad field");
    for (char c : f.name) {
      Check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_',
            "meminfo: bad name");
    }
    if (f.name == "MemTotal_bytes") {
      ++totals;
      value = f.value;
    }
  }
  // Three parsers read MemTotal: where the file is well-formed (the
  // collector's parser accepts it) and holds one "MemTotal: N kB" line
  // (N in digits) at the start of a line, the two that return whole bytes
  // both give N * 1024, or both nothing when that does not fit in 64 bits.
  // (ParseMemTotal reads the first line that starts with "MemTotal:", such
  // as "MemTotal:Other: 5 kB", sysinfo's the last whose first field is
  // "MemTotal:": so only a file with one line of either kind is compared.)
  int lines = 0, starts = 0;
  std::string_view digits;
  std::vector<std::string_view> f;
  for (std::string_view line : Lines(text)) {
    SplitFields(line, &f);
    const bool start = line.substr(0, 9) == "MemTotal:";
    starts += start;
    if (f.empty() || f[0] != "MemTotal:") continue;
    ++lines;
    if (start && f.size() == 3 && f[2] == "kB" &&
        f[1].find_first_not_of("0123456789") == std::string_view::npos) {
      digits = f[1];
    }
  }
  if (totals != 1 || lines != 1 || starts != 1 || digits.empty()) return;
  uint64_t kb = 0;
  if (!ParseU64(digits, &kb) || kb > UINT64_MAX / 1024) {
    Check(!total.ok(), "meminfo: ParseMemTotal wrapped around");
    Check(!facts.total_bytes, "meminfo: ParseMemInfo wrapped around");
    return;
  }
  Check(total.ok() && *total == kb * 1024,
        "meminfo: ParseMemTotal disagrees with ParseMeminfo");
  Check(facts.total_bytes && *facts.total_bytes == kb * 1024,
        "meminfo: ParseMemInfo disagrees with ParseMeminfo");
  Check(std::abs(static_cast<double>(kb) * 1024 - value) <= 1e-9 * value,
        "meminfo: ParseMeminfo's MemTotal_bytes differs");
}

void ProcNetDev(std::string_view text) {
  auto totals = ParseNetDevTotals(text);
  auto table = ParseNetDev(text);
  if (!table.ok()) return;
  for (const auto& d : table->devices) {
    Check(!d.name.empty() && !Contains(d.name, ":"), "net/dev: bad name");
    Check(d.receive.size() == table->receive_columns.size() &&
              d.transmit.size() == table->transmit_columns.size(),
          "net/dev: column count");
  }
  // The task sampler's parser sums columns 1 and 9 of every device but lo.
  // Where the file is one the kernel could write (8 + 8 columns, names
  // without blanks, no \v or \f), it must agree with the collector's.
  if (table->receive_columns.size() != 8 ||
      table->transmit_columns.size() != 8 ||
      text.find_first_of("\v\f") != std::string_view::npos) {
    return;
  }
  uint64_t rx = 0, tx = 0;
  std::vector<std::string_view> lines = Lines(text);
  for (size_t i = 2; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    if (colon > 0 &&
        (lines[i][colon - 1] == ' ' || lines[i][colon - 1] == '\t' ||
         lines[i][colon - 1] == '\r')) {
      return;
    }
  }
  for (const auto& d : table->devices) {
    if (d.name == "lo") continue;
    rx += d.receive[0];
    tx += d.transmit[0];
  }
  Check(totals.ok(),
        "net/dev: ParseNetDevTotals refuses what ParseNetDev reads");
  Check(totals->rx_bytes == rx && totals->tx_bytes == tx,
        "net/dev: ParseNetDevTotals disagrees with ParseNetDev");
}

void ProcUptimeLoadavg(std::string_view text) {
  auto up = ParseUptime(text);
  if (up.ok()) {
    Check(std::isfinite(*up) && *up >= 0, "uptime: negative or not finite");
  }
  auto load = ParseLoadavg(text);
  if (load.ok()) {
    for (double l : *load) {
      Check(std::isfinite(l) && l >= 0, "loadavg: negative or not finite");
    }
  }
}

void ProcDiskstats(std::string_view text) {
  auto disks = ParseDiskstats(text);
  if (!disks.ok()) return;
  for (const DiskStats& d : *disks) {
    Check(d.stats.size() >= 11 && !d.device.empty() &&
              d.device.find_first_of(" \t\n") == std::string::npos,
          "diskstats: bad disk");
  }
}

void UdevData(std::string_view text) {
  UdevDiskInfo u = ParseUdevData(text);
  for (const std::string* s :
       {&u.path, &u.wwn, &u.model, &u.serial, &u.revision}) {
    Check(!Contains(*s, "\n") && Contains(text, *s), "udev: bad value");
  }
}

// The kernel's mangling of a mount field (fs/proc_namespace.c): space, tab,
// newline and backslash as \ooo.
std::string EscapeMountField(std::string_view s) {
  static const char kOctal[] = "01234567";
  std::string r;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      auto u = static_cast<unsigned char>(c);
      r += '\\';
      r += kOctal[u >> 6];
      r += kOctal[(u >> 3) & 7];
      r += kOctal[u & 7];
    } else {
      r += c;
    }
  }
  return r;
}

void ProcMounts(std::string_view text) {
  auto mounts = ParseMounts(text);
  if (mounts.ok()) {
    std::vector<std::string_view> f;
    size_t fields = 0;
    for (std::string_view line : Lines(text)) {
      SplitFields(line, &f);
      if (!f.empty()) ++fields;
    }
    Check(mounts->size() == fields, "mounts: one entry per non-blank line");
  }
  std::string plain = UnescapeMountField(text);
  Check(plain.size() <= text.size(), "mounts: unescaping grew the text");
  Check(UnescapeMountField(EscapeMountField(text)) == text,
        "mounts: escape/unescape round trip");
  if (auto m = ParseCgroup2Mount(text)) {
    Check(!m->mount_point.empty() && m->mount_point.front() == '/',
          "mountinfo: mount point not absolute");
  }
}

void ProcVmstat(std::string_view text) {
  auto v = ParseVmstat(text);
  if (!v.ok()) return;
  for (const auto& [name, value] : *v) {
    Check(!name.empty() && std::isfinite(value), "vmstat: bad field");
    (void)VmstatFieldSelected(name);
  }
}

void OsRelease(std::string_view text) {
  auto kv = ParseOsRelease(text);
  for (const auto& [k, v] : kv) {
    Check(!k.empty() && !(k[0] >= '0' && k[0] <= '9'), "os-release: key");
    Check(!Contains(v, "\n"), "os-release: value spans lines");
  }
  auto it = kv.find("VERSION_ID");
  std::string_view version = it != kv.end() ? it->second : text;
  if (auto n = OsVersionNumber(version)) {
    Check(std::isfinite(*n) && *n >= 0, "os-release: version number");
  }
}

void ProcCpuinfo(std::string_view text) {
  CpuInfoFacts f = ParseCpuInfo(text);
  Check(f.threads >= 0 && f.cores >= 0, "cpuinfo: negative count");
  if (f.mhz) Check(std::isfinite(*f.mhz) && *f.mhz > 0, "cpuinfo: MHz");
}

bool IsHwmonChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '_';
}

void SysSmallFiles(std::string_view text) {
  if (auto bytes = ParseCgroupBytes(text)) {
    Check(Contains(text, std::to_string(*bytes)),
          "cgroup bytes: value not in the text");
  }
  std::string clean = CleanHwmonName(text);
  for (char c : clean) Check(IsHwmonChar(c), "hwmon: bad name character");
  Check(clean.empty() || (clean.front() != '_' && clean.back() != '_'),
        "hwmon: name starts or ends with '_'");
  std::string_view parts[3];
  std::string_view rest = text;
  for (int i = 0; i < 3; ++i) {
    size_t nul = rest.find('\0');
    parts[i] = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view()
                                         : rest.substr(nul + 1);
  }
  std::string chip = HwmonChipName(parts[0], parts[1], parts[2]);
  for (char c : chip) Check(IsHwmonChar(c), "hwmon: bad chip character");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (selector & 15) {
    case 0:
      ProcPidStat(text);
      break;
    case 1:
      ProcPidIo(text);
      break;
    case 2:
      ProcPidLimits(text);
      break;
    case 3:
      ProcPidCgroup(text);
      break;
    case 4:
      ProcPidCmdline(text);
      break;
    case 5:
      ProcStatFile(text);
      break;
    case 6:
      ProcMeminfo(text);
      break;
    case 7:
      ProcNetDev(text);
      break;
    case 8:
      ProcUptimeLoadavg(text);
      break;
    case 9:
      ProcDiskstats(text);
      break;
    case 10:
      UdevData(text);
      break;
    case 11:
      ProcMounts(text);
      break;
    case 12:
      ProcVmstat(text);
      break;
    case 13:
      OsRelease(text);
      break;
    case 14:
      ProcCpuinfo(text);
      break;
    default:
      SysSmallFiles(text);
      break;
  }
  return 0;
}
