// libFuzzer target: the MappingSpec helpers of bridge/mapping_spec.h.
//
// Input: one selector byte, then the text.
//   selector % 4 == 0: ParseValuePath(text) (operator input: config paths)
//   selector % 4 == 1: CompiledRegex::Compile(text). Patterns are operator
//                      input (the config file), and std::regex is recursive
//                      and backtracking, so only patterns up to 64 bytes
//                      are tried, and a compiled one is searched only in
//                      the empty text and only with at most 3 groups:
//                      libstdc++'s search time with nested quantified
//                      groups is exponential even in tiny texts
//                      ("((.*)*)*b" takes 0.8 s on "dev1/t"), so anything
//                      more only finds that (docs/fuzzing.md).
//   otherwise:         Search(text) with fixed realistic patterns from the
//                      docs: the topic is network input (an MQTT topic is
//                      up to 65535 bytes), so it is fuzzed at any length.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/mapping_spec.h"

namespace {

using propmon::bridge::CompiledRegex;
using propmon::bridge::ParseValuePath;
using propmon::bridge::PathStep;

constexpr std::size_t kMaxPattern = 64;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "mapping_spec_fuzz: %s\n", what);
  std::abort();
}

const std::vector<CompiledRegex>& FixedPatterns() {
  static const auto* patterns = [] {
    auto* v = new std::vector<CompiledRegex>;
    for (const char* p : {
             "(.*/)?(?P<deviceid>.*)",  // mqtt2prometheus' default
             "^devices/(?P<deviceid>[^/]+)/dht22$",
             "^m/(?P<domain>[^/]+)/c/(?P<channel>[^/]+)/",  // Propeller
             "(.*/)?(?P<deviceid>[^/]+)/(?<kind>\\w+)$",
             "^sensors/(?P<room>[^/]+)/",
             "^(?P<site>[^/]+)/(?P<deviceid>[^/]+)/(?<kind>\\w+)",
             "(.*/)?(?P<metricname>[^/]*)$",  // metric-per-topic mode
         }) {
      auto r = CompiledRegex::Compile(p);
      Check(r.ok(), "a fixed pattern does not compile");
      v->push_back(std::move(r).value());
    }
    return v;
  }();
  return *patterns;
}

void SearchChecked(const CompiledRegex& re, std::string_view text) {
  std::vector<std::pair<std::string, std::string>> groups;
  if (!re.Search(text, &groups)) return;
  Check(text.size() <= CompiledRegex::kMaxInput, "matched an over-long text");
  Check(groups.size() == re.group_names().size(), "group count");
  for (std::size_t i = 0; i < groups.size(); ++i) {
    Check(groups[i].first == re.group_names()[i], "group name");
    Check(text.find(groups[i].second) != std::string_view::npos,
          "a group value is not part of the text");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  switch (selector % 4) {
    case 0: {
      auto p = ParseValuePath(text);
      if (p.ok()) {
        Check(p->text == text, "path text changed");
        std::size_t wild = 0;
        for (const PathStep& s : p->steps) {
          if (s.kind == PathStep::Kind::kWildcard) ++wild;
        }
        Check(wild == p->wildcards(), "wildcard count");
      }
      break;
    }
    case 1: {
      if (text.size() > kMaxPattern) break;
      auto r = CompiledRegex::Compile(text);
      if (!r.ok()) break;
      if (std::count(text.begin(), text.end(), '(') <= 3) {
        SearchChecked(*r, "");
      }
      for (const std::string& g : r->group_names()) {
        Check(r->HasGroup(g), "HasGroup");
      }
      break;
    }
    default:
      for (const CompiledRegex& re : FixedPatterns()) SearchChecked(re, text);
      break;
  }
  return 0;
}
