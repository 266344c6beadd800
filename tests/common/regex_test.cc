#include "common/regex.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace propmon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using Groups = std::vector<std::pair<std::string, std::string>>;

Regex Must(std::string_view pattern) {
  auto r = Regex::Compile(pattern);
  EXPECT_TRUE(r.ok()) << pattern << ": " << r.status().message();
  return r.ok() ? *r : Regex();
}

TEST(RegexTest, NamedGroupsInBothFormsInOrderOfAppearance) {
  struct Case {
    const char* pattern;
    const char* text;
    Groups want;
  };
  const Case cases[] = {
      {R"(plain)", "a plain text", {}},
      {R"((?P<app>\w+))", "--nginx", {{"app", "nginx"}}},
      {R"((?<a>x)(y)(?<b>z))", "xyz", {{"a", "x"}, {"b", "z"}}},
      {R"((?:a)(?P<n>b))", "ab", {{"n", "b"}}},
      {R"(\((?P<n>a)\))", "(a)", {{"n", "a"}}},
      // A '(' or "(?<" inside a class is a literal, not a group.
      {R"([(?<x>]+(?P<n>a))", "(?<x>a", {{"n", "a"}}},
      {R"([^\]](?P<n>a))", "za", {{"n", "a"}}},
      // As in RE2 and Go, a ']' right after '[' or '[^' is a literal.
      {R"(^[]a]+(?P<n>[^]/]+)$)", "]a]bc", {{"n", "bc"}}},
      {R"([[:alpha:]]+(?P<n>\d+))", "abc42", {{"n", "42"}}},
      {R"(((?P<outer>a(?P<inner>b))))",
       "ab",
       {{"outer", "ab"}, {"inner", "b"}}},
      // A group that took no part is "" here.
      {R"(^(?P<a>x)?(?P<b>y)$)", "y", {{"a", ""}, {"b", "y"}}},
  };
  for (const auto& c : cases) {
    Regex re = Must(c.pattern);
    Groups g{{"stale", "value"}};
    ASSERT_TRUE(re.Search(c.text, &g)) << c.pattern << " on " << c.text;
    EXPECT_EQ(g, c.want) << c.pattern;
    std::vector<std::string> names;
    for (const auto& [n, v] : c.want) names.push_back(n);
    EXPECT_EQ(re.group_names(), names) << c.pattern;
  }
}

TEST(RegexTest, MapSearchSetsOnlyGroupsThatTookPart) {
  Regex re = Must(R"(--shard=(?P<shard>\d+)(?: --zone=(?<zone>\w+))?)");
  EXPECT_THAT(re.group_names(), ElementsAre("shard", "zone"));
  EXPECT_TRUE(re.HasGroup("zone"));
  EXPECT_FALSE(re.HasGroup("zon"));
  std::map<std::string, std::string> g;
  ASSERT_TRUE(re.Search("/usr/bin/worker --shard=12 --zone=eu", &g));
  EXPECT_THAT(g, UnorderedElementsAre(Pair("shard", "12"), Pair("zone", "eu")));
  g.clear();
  ASSERT_TRUE(re.Search("worker --shard=3", &g));
  EXPECT_THAT(g, UnorderedElementsAre(Pair("shard", "3")));
  EXPECT_FALSE(re.Search("worker --shard=x", &g));
  // A group that matched the empty string did take part.
  std::map<std::string, std::string> e;
  ASSERT_TRUE(Must("^(?P<e>x*)$").Search("", &e));
  EXPECT_THAT(e, UnorderedElementsAre(Pair("e", "")));
}

TEST(RegexTest, SearchIsUnanchoredLikeGo) {
  EXPECT_TRUE(Must("b").Search("abc"));
  EXPECT_FALSE(Must("^b").Search("abc"));
  EXPECT_FALSE(Must("b$").Search("abc"));
  EXPECT_TRUE(Must("^abc$").Search("abc"));
  // An empty Regex matches everything and has no groups.
  Groups g{{"x", "y"}};
  EXPECT_TRUE(Regex().Search("anything", &g));
  EXPECT_THAT(g, IsEmpty());
  EXPECT_TRUE(Regex().empty());
}

// What configs written for Go programs (process-exporter, node_exporter,
// mqtt2prometheus) use, and std::regex did not have.
TEST(RegexTest, GoSyntax) {
  EXPECT_TRUE(Must("(?i)^DHT22$").Search("dht22"));
  EXPECT_TRUE(Must(R"(^\pL+$)").Search("Küche"));
  EXPECT_FALSE(Must(R"(^\pL+$)").Search("room1"));
  EXPECT_TRUE(Must(R"(^\PL+$)").Search("123"));
  EXPECT_TRUE(Must(R"(^[[:digit:]]+$)").Search("123"));
  EXPECT_TRUE(Must(R"(\Aab\z)").Search("ab"));
  // node_exporter's default excludes.
  Regex fs = Must("^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs)$");
  EXPECT_TRUE(fs.Search("cgroup2"));
  EXPECT_FALSE(fs.Search("ext4"));
  Regex mounts =
      Must("^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+)($|/)");
  EXPECT_TRUE(mounts.Search("/proc/sys"));
  EXPECT_FALSE(mounts.Search("/home"));
}

TEST(RegexTest, ErrorsSayWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"a(b", "missing )"},
      {"[z-a]", "invalid character class range"},
      {"*a", "no argument for repetition operator"},
      {"a{2,1}", "invalid repetition size"},
      {"a{1001}", "invalid repetition size"},
      // Stacked repetition: Go refuses it, and std::regex used to accept it
      // as a nested loop that backtracked for ever (fuzz finding).
      {"a**", "bad repetition operator"},
      {".?*", "bad repetition operator"},
      {"(?P<a>x)(?P<a>y)", "duplicate capture group name \"a\""},
      {"(?<a>x)(?P<a>y)", "duplicate capture group name \"a\""},
      {"(?P<a-b>x)", "invalid named capture group"},
      {"(?P<a", "invalid named capture group"},
      // Perl features RE2 lacks are named as such.
      {R"((a)\1)", "back-references and look-around are not supported"},
      {R"((?P<w>\w+)-(?P=w))", "back-references and look-around"},
      {R"((?<w>\w+)\k<w>)", "back-references and look-around"},
      {"(?=a)a", "back-references and look-around"},
      {"(?!a)b", "back-references and look-around"},
      {"(?<=a)b", "back-references and look-around"},
      {"(?<!a)b", "back-references and look-around"},
  };
  for (const auto& [pattern, want] : cases) {
    auto r = Regex::Compile(pattern);
    ASSERT_FALSE(r.ok()) << pattern;
    EXPECT_THAT(r.status().message(),
                HasSubstr(std::string("invalid regex \"") + pattern + "\""));
    EXPECT_THAT(r.status().message(), HasSubstr(want)) << pattern;
  }
  // A plain bad escape gets no hint about back-references.
  auto r = Regex::Compile(R"(\q)");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("back-ref")));
}

// Nested quantifiers took std::regex exponential time even on short texts
// ((((.*)*)*)*b did not finish in 10 s on 9 bytes), and it recursed once per
// input byte (a 64 KiB topic overflowed the worker's stack). RE2 is linear
// and does not recurse: whole 1 MiB texts are searched, no cap. A test of
// correctness on such input; the time is in docs/performance.md.
TEST(RegexTest, PathologicalPatternsAndLongTextsAreFine) {
  const std::string big(1 << 20, 'a');
  for (const char* p : {"((.*)*)*b", "(((.*)*)*)*b", "(a|aa)*b", "(a*)*b",
                        "((((((((((((((.*)*)*)*)*)*)*)*)*)*)*)*)*)*)*b"}) {
    Regex re = Must(p);
    EXPECT_FALSE(re.Search(big)) << p;
    EXPECT_TRUE(re.Search(big + "b")) << p;
  }
  // mqtt2prometheus' default device regex on a 64 KiB topic.
  std::string topic(65535, 'a');
  for (std::size_t i = 0; i < topic.size(); i += 10) topic[i] = '/';
  topic.back() = 'z';
  Groups g;
  ASSERT_TRUE(Must("(.*/)?(?P<deviceid>.*)").Search(topic, &g));
  EXPECT_EQ(g.at(0).second, topic.substr(topic.rfind('/') + 1));
  // Past the old 4 KiB cap on command lines.
  std::map<std::string, std::string> m;
  ASSERT_TRUE(Must("--id=(?P<id>\\w+)").Search(big + " --id=late", &m));
  EXPECT_EQ(m.at("id"), "late");
}

TEST(RegexTest, InvalidUtf8IsReadAsReplacementCharactersLikeGo) {
  Groups g;
  ASSERT_TRUE(Must("^(?P<a>[^/]*)/(?P<b>.*)$").Search("x/\xff\xfe!", &g));
  EXPECT_EQ(g.at(0).second, "x");
  EXPECT_EQ(g.at(1).second, "\xEF\xBF\xBD\xEF\xBF\xBD!");
  // A truncated sequence is one replacement character per byte; valid
  // multi-byte characters stay as they are.
  ASSERT_TRUE(Must("^(?P<a>.*)$").Search("\xC3\xA4\xE2\x82", &g));
  EXPECT_EQ(g.at(0).second, "\xC3\xA4\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(Must("^.$").Search("\x80"));
  EXPECT_TRUE(Must("^\\x{FFFD}$").Search("\xC0"));  // overlong lead byte
}

TEST(RegexTest, CopiesSearchTheSame) {
  Regex a = Must("^(?P<d>[a-z]+)/t$");
  Regex b = a;
  Groups g;
  ASSERT_TRUE(b.Search("dev/t", &g));
  EXPECT_EQ(g.at(0).second, "dev");
  EXPECT_EQ(b.pattern(), a.pattern());
}

}  // namespace
}  // namespace propmon
