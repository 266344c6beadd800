// Regex: the one regular expression type of both daemons (the exporter's
// `cmdline`/`cgroup` matchers and collector excludes, the bridge's topic
// regexes and `when` conditions), backed by RE2.
//
// Why RE2: the configs people bring are written for Go programs
// (process-exporter, node_exporter, mqtt2prometheus), whose regexp package
// has RE2's syntax, and RE2 matches in time linear in the text with no
// recursion. std::regex (used before) backtracks exponentially on nested
// quantifiers and recurses once per input byte, so a long MQTT topic or
// command line could overflow a thread's stack or stall it.
//
// Syntax: RE2's (https://github.com/google/re2/wiki/Syntax), which is Go's:
// named groups `(?P<name>...)`, also written `(?<name>...)` (translated
// here: Debian 12's RE2 predates that form), inline flags such as `(?i)`,
// Unicode classes such as `\pL`. No back-references and no look-around:
// such a pattern is refused with a message that says so. Matching is a
// search (unanchored), like Go's MatchString: anchor with ^ and $.
//
// Text is read as UTF-8. As in Go, a byte that is not valid UTF-8 is read
// as U+FFFD (it matches `.`, and a group holding it returns U+FFFD, which
// keeps label values valid UTF-8).
//
// Thread-safety: immutable after Compile(); copies share the compiled
// program; Search() may be called from any number of threads at once.
#ifndef PROPMON_COMMON_REGEX_H_
#define PROPMON_COMMON_REGEX_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace re2 {
class RE2;
}

namespace propmon {

class Regex {
 public:
  // Compiles `pattern`. Errors: InvalidArgument `invalid regex "P": why`
  // (RE2's reason; for back-references and look-around, that they are not
  // supported).
  static StatusOr<Regex> Compile(std::string_view pattern);
  // An empty Regex matches every text.
  Regex() = default;

  const std::string& pattern() const { return pattern_; }
  bool empty() const { return re_ == nullptr; }
  // Named groups in order of appearance.
  const std::vector<std::string>& group_names() const { return names_; }
  bool HasGroup(std::string_view name) const;

  // Searches `text`. On a match, when `groups` is not null, sets it to
  // (name, value) for every named group in order ("" for one that took no
  // part).
  bool Search(std::string_view text,
              std::vector<std::pair<std::string, std::string>>* groups) const;
  // Searches `text`. On a match, sets (*groups)[name] for each named group
  // that took part (others are left alone).
  bool Search(std::string_view text,
              std::map<std::string, std::string>* groups) const;
  bool Search(std::string_view text) const {
    return Search(text,
                  static_cast<std::map<std::string, std::string>*>(nullptr));
  }

 private:
  // Returns whether `text` matched and fills *subs (when not null) with
  // every capture (data() null: took no part), viewing `text` or, when
  // `text` is not valid UTF-8, its repaired copy in *storage.
  bool Match(std::string_view text, std::vector<std::string_view>* subs,
             std::string* storage) const;

  std::string pattern_;
  std::vector<std::string> names_;
  std::vector<int> indices_;  // capture index of each name
  int captures_ = 0;          // capturing groups in all
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_REGEX_H_
