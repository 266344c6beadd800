// libFuzzer target: the MappingSpec helpers of bridge/mapping_spec.h.
//
// Input: one selector byte, then the text.
//   selector % 4 == 0: ParseValuePath(text) (operator input: config paths)
//   selector % 4 == 1: PATTERN \0 SUBJECT: Regex::Compile(PATTERN), and a
//                      compiled one searched in SUBJECT (or, without a \0,
//                      in the empty text and the pattern itself). RE2 is
//                      linear in the subject, so any pattern may be
//                      searched in any text (std::regex, before, was not).
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
#include "common/payload.h"

namespace {

using propmon::Regex;
using propmon::bridge::ParseValuePath;
using propmon::bridge::PathStep;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "mapping_spec_fuzz: %s\n", what);
  std::abort();
}

const std::vector<Regex>& FixedPatterns() {
  static const auto* patterns = [] {
    auto* v = new std::vector<Regex>;
    for (const char* p : {
             "(.*/)?(?P<deviceid>.*)",  // mqtt2prometheus' default
             "^devices/(?P<deviceid>[^/]+)/dht22$",
             "^m/(?P<domain>[^/]+)/c/(?P<channel>[^/]+)/",  // Propeller
             "(.*/)?(?P<deviceid>[^/]+)/(?<kind>\\w+)$",
             "^sensors/(?P<room>[^/]+)/",
             "^(?P<site>[^/]+)/(?P<deviceid>[^/]+)/(?<kind>\\w+)",
             "(.*/)?(?P<metricname>[^/]*)$",  // metric-per-topic mode
         }) {
      auto r = Regex::Compile(p);
      Check(r.ok(), "a fixed pattern does not compile");
      v->push_back(std::move(r).value());
    }
    return v;
  }();
  return *patterns;
}

void SearchChecked(const Regex& re, std::string_view text) {
  std::vector<std::pair<std::string, std::string>> groups;
  if (!re.Search(text, &groups)) return;
  // Invalid UTF-8 is searched as U+FFFD (as Go does): groups come from the
  // repaired text.
  std::string repaired;
  std::string_view searched = text;
  if (propmon::payload::ReplaceInvalidUtf8(text, &repaired)) {
    searched = repaired;
  }
  Check(groups.size() == re.group_names().size(), "group count");
  for (std::size_t i = 0; i < groups.size(); ++i) {
    Check(groups[i].first == re.group_names()[i], "group name");
    Check(searched.find(groups[i].second) != std::string_view::npos,
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
      const std::size_t nul = text.find('\0');
      std::string_view pattern = text.substr(0, nul);
      auto r = Regex::Compile(pattern);
      if (!r.ok()) break;
      for (const std::string& g : r->group_names()) {
        Check(r->HasGroup(g), "HasGroup");
      }
      if (nul == std::string_view::npos) {
        SearchChecked(*r, "");
        SearchChecked(*r, pattern);
      } else {
        SearchChecked(*r, text.substr(nul + 1));
      }
      break;
    }
    default:
      for (const Regex& re : FixedPatterns()) SearchChecked(re, text);
      break;
  }
  return 0;
}
