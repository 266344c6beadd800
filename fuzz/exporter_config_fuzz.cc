// libFuzzer target: the exporter's configuration file (exporter/config.h
// ParseConfig: YAML through yaml-cpp, every key, profiles, regexes and
// templates) and the discovery id/name templates (exporter/discovery.h
// NameTemplate) rendered against a fuzzed process: its comm and exe are
// whatever the process's owner chose, and its command line and cgroup
// paths feed the regexes whose named groups the templates insert.
//
// Input: one flag byte, then TEXT \0 PROCESS.
//   bit 0 clear: TEXT is a config file; set: TEXT is one template (fast:
//                no YAML).
//   PROCESS: COMM \n EXE \n CMDLINE \n\n CGROUP, where CMDLINE is the raw
//   /proc/PID/cmdline ('\0'-separated; SplitCmdline) and CGROUP the text of
//   /proc/PID/cgroup (ParseCgroupPaths). Missing parts are empty.
// A config that parses is finalized (FinalizeConfig, which may check that
// TLS files named in it are readable) with no PROPLET_* environment; each
// of its task rules is matched as discovery matches it (cmdline regexes on
// the argv joined with spaces, cgroup regexes on each path; named groups
// collected), and its id and name templates are rendered.
// Checks, beyond "no crash, no sanitizer report, no uncaught exception":
// - every error is "fuzz.yaml...: ..." (the file and a position or key);
// - a parsed config keeps its documented ranges (max_tasks, qos, intervals,
//   every task's profile validates, templates only name groups its regexes
//   have);
// - a template renders exactly as an independent reading of the Go-like
//   syntax says (literal text, {{.PID}}, {{.Comm}}, {{.ExeBase}},
//   {{.ExeFull}}, {{.Matches.NAME}}).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "exporter/config.h"
#include "exporter/discovery.h"
#include "exporter/parse_util.h"
#include "exporter/profile.h"

namespace {

using namespace propmon::exporter;  // NOLINT

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "exporter_config_fuzz: %s\n", what);
  std::abort();
}

std::string_view Cut(std::string_view* rest, std::string_view sep) {
  size_t at = rest->find(sep);
  std::string_view head = rest->substr(0, at);
  *rest = at == std::string_view::npos ? std::string_view()
                                       : rest->substr(at + sep.size());
  return head;
}

// The template language read independently of NameTemplate: nullopt where
// Parse must fail, else the rendering.
std::optional<std::string> Expected(std::string_view text,
                                    const ProcessFacts& f) {
  std::string out;
  while (!text.empty()) {
    size_t open = text.find("{{");
    if (open == std::string_view::npos) {
      out += text;
      break;
    }
    out += text.substr(0, open);
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view inner = TrimSpace(text.substr(open + 2, close - open - 2));
    text.remove_prefix(close + 2);
    if (inner == ".PID") {
      out += std::to_string(f.pid);
    } else if (inner == ".Comm") {
      out += f.comm;
    } else if (inner == ".ExeFull") {
      out += f.exe_full;
    } else if (inner == ".ExeBase") {
      size_t slash = f.exe_full.rfind('/');
      out += slash == std::string::npos ? f.exe_full
                                        : f.exe_full.substr(slash + 1);
    } else if (inner.substr(0, 9) == ".Matches.") {
      std::string_view name = inner.substr(9);
      if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
        return std::nullopt;
      }
      for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_')) {
          return std::nullopt;
        }
      }
      auto it = f.matches.find(std::string(name));
      if (it != f.matches.end()) out += it->second;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

void CheckTemplate(const NameTemplate& t, const ProcessFacts& f) {
  std::optional<std::string> want = Expected(t.text(), f);
  Check(want.has_value(), "Parse accepted a template the syntax refuses");
  Check(t.Render(f) == *want, "Render differs from the template's meaning");
  ProcessFacts other = f;
  other.exe_full += "/x";
  Check(t.UsesExe() == (Expected(t.text(), other) != want), "UsesExe is wrong");
}

struct Process {
  ProcessFacts facts;
  std::string cmdline;  // argv joined with spaces
  std::vector<std::string> cgroup_paths;
};

Process ReadProcess(std::string_view rest) {
  Process p;
  p.facts.pid = 4242;
  p.facts.comm = std::string(Cut(&rest, "\n"));
  p.facts.exe_full = std::string(Cut(&rest, "\n"));
  std::vector<std::string> argv = SplitCmdline(Cut(&rest, "\n\n"));
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) p.cmdline += ' ';
    p.cmdline += argv[i];
  }
  p.cgroup_paths = ParseCgroupPaths(rest);
  return p;
}

void MatchAndRender(const TaskRule& rule, Process p) {
  std::map<std::string, std::string> found;
  for (const auto& re : rule.cmdline) {
    if (!re.Search(p.cmdline, &found)) break;
  }
  for (const auto& re : rule.cgroup) {
    for (const auto& path : p.cgroup_paths) {
      if (re.Search(path, &found)) break;
    }
  }
  p.facts.matches = std::move(found);
  CheckTemplate(rule.id, p.facts);
  CheckTemplate(rule.name, p.facts);
}

void FuzzConfig(std::string_view yaml, const Process& p) {
  auto config = ParseConfig(yaml, "fuzz.yaml", "/nonexistent");
  if (!config.ok()) {
    Check(config.status().message().rfind("fuzz.yaml", 0) == 0,
          "an error does not start with the file name");
    return;
  }
  const Config& c = *config;
  Check(c.max_tasks >= 1 && c.max_tasks <= 1000000, "max_tasks");
  Check(c.mqtt.qos >= 0 && c.mqtt.qos <= 2, "qos");
  Check(c.discovery_interval_seconds == 0 ||
            (c.discovery_interval_seconds >= 1 &&
             c.discovery_interval_seconds <= 3600),
        "discovery_interval");
  Check(c.mqtt.liveliness_interval_seconds >= 1 &&
            c.mqtt.metrics_interval_seconds >= 1,
        "mqtt intervals");
  if (c.default_profile) {
    Check(ValidateProfile(*c.default_profile).ok(), "defaults.profile");
  }
  (void)c.Globals();
  Check(ValidateProfile(c.ProfileFor(true)).ok() &&
            ValidateProfile(c.ProfileFor(false)).ok(),
        "ProfileFor");
  Config finalized = c;
  Check(ApplyPropletEnv(&finalized,
                        [](const char*) -> const char* { return nullptr; })
            .ok(),
        "ApplyPropletEnv failed without an environment");
  (void)FinalizeConfig(finalized);
  for (const TaskRule& rule : c.tasks) {
    Check(ValidateProfile(rule.profile).ok(), "a task's profile");
    Check(rule.pid.has_value() + !rule.pidfile.empty() + !rule.comm.empty() +
                  !rule.exe.empty() + !rule.cmdline.empty() +
                  !rule.cgroup.empty() >
              0,
          "a task without a selector");
    Check(!rule.pidfile.empty() ? rule.pidfile.front() == '/' : true,
          "a relative pidfile");
    std::vector<std::string> groups;
    for (const auto* list : {&rule.cmdline, &rule.cgroup}) {
      for (const auto& re : *list) {
        for (const auto& g : re.group_names()) groups.push_back(g);
      }
    }
    for (const NameTemplate* t : {&rule.id, &rule.name}) {
      for (const std::string& g : t->MatchNames()) {
        bool known = false;
        for (const auto& have : groups) known = known || have == g;
        Check(known, "a template names a group no regex has");
      }
    }
    MatchAndRender(rule, p);
  }
}

void FuzzTemplate(std::string_view text, const Process& p) {
  auto t = NameTemplate::Parse(text);
  ProcessFacts f = p.facts;
  // Every valid group name the template mentions matches something.
  for (size_t at = text.find(".Matches."); at != std::string_view::npos;
       at = text.find(".Matches.", at + 1)) {
    size_t end = at + 9;
    while (end < text.size() && text[end] != '}' && text[end] != ' ') ++end;
    f.matches[std::string(text.substr(at + 9, end - at - 9))] =
        p.cmdline.substr(0, 8);
  }
  if (!t.ok()) {
    Check(!Expected(text, f).has_value(), "Parse refused a valid template");
    Check(!t.status().message().empty(), "empty error");
    return;
  }
  Check(t->text() == text, "the template's text changed");
  CheckTemplate(*t, f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bool init = [] {
    propmon::SetLogLevel(propmon::LogLevel::kError);
    return true;
  }();
  (void)init;
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view text = Cut(&rest, std::string_view("\0", 1));
  Process p = ReadProcess(rest);
  if (flags & 1) {
    FuzzTemplate(text, p);
  } else {
    FuzzConfig(text, p);
  }
  return 0;
}
