#include "common/label.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace propmon::label {
namespace {

using ::testing::Contains;
using ::testing::Not;

const std::string kFffd = "\xEF\xBF\xBD";
const std::string kE = "\xC3\xA9";             // é, 2 bytes
const std::string kEuro = "\xE2\x82\xAC";      // €, 3 bytes
const std::string kClef = "\xF0\x9D\x84\x9E";  // 𝄞, 4 bytes

std::string X(size_t n) { return std::string(n, 'x'); }

std::string Name(const std::optional<Reason>& r) {
  return r ? ReasonName(*r) : "ok";
}

struct CheckCase {
  const char* what;
  std::string value;
  const char* want;  // "ok" or a reason name
};

TEST(LabelCheckTest, ClassifiesByFirstDefect) {
  const CheckCase cases[] = {
      {"empty", "", "empty"},
      {"one byte", "a", "ok"},
      {"2-byte char", "caf" + kE, "ok"},
      {"4-byte char", kClef, "ok"},
      {"U+FFFD itself", kFffd, "ok"},
      {"NBSP (not a control)", "a\xC2\xA0", "ok"},
      {"256 ASCII", X(256), "ok"},
      {"257 ASCII", X(257), "too_long"},
      {"2-byte char ending at 256", X(254) + kE, "ok"},
      {"2-byte char ending at 257", X(255) + kE, "too_long"},
      {"3-byte char ending at 256", X(253) + kEuro, "ok"},
      {"3-byte char ending at 257", X(254) + kEuro, "too_long"},
      {"4-byte char ending at 256", X(252) + kClef, "ok"},
      {"4-byte char across 256", X(254) + kClef, "too_long"},
      {"60 KiB", X(60 * 1024), "too_long"},
      {"overlong 2-byte '/'", "\xC0\xAF", "invalid_utf8"},
      {"overlong 3-byte '/'", "\xE0\x80\xAF", "invalid_utf8"},
      {"overlong 4-byte '/'", "\xF0\x80\x80\xAF", "invalid_utf8"},
      {"overlong NUL", "\xC0\x80", "invalid_utf8"},
      {"high surrogate", "\xED\xA0\x80", "invalid_utf8"},
      {"low surrogate", "\xED\xBF\xBF", "invalid_utf8"},
      {"above U+10FFFF", "\xF4\x90\x80\x80", "invalid_utf8"},
      {"truncated sequence", "a\xC3", "invalid_utf8"},
      {"lone continuation", "\x80", "invalid_utf8"},
      {"0xFF", "a\xFF", "invalid_utf8"},
      {"tab", "a\tb", "control_char"},
      {"newline", "a\nb", "control_char"},
      {"NUL", std::string("a\0b", 3), "control_char"},
      {"U+0001", "a\x01", "control_char"},
      {"DEL", "a\x7F", "control_char"},
      {"C1 first (U+0080)", "a\xC2\x80", "control_char"},
      {"C1 NEL (U+0085)", "a\xC2\x85", "control_char"},
      {"C1 last (U+009F)", "a\xC2\x9F", "control_char"},
      {"control after 8 plain bytes", X(9) + "\x1B", "control_char"},
      // Several defects: counted under the first of the order.
      {"invalid UTF-8 before control", "\xFF\x01", "invalid_utf8"},
      {"control after invalid UTF-8", "\x01\xFF", "invalid_utf8"},
      {"long with a control", X(300) + "\x01", "control_char"},
      {"long with invalid UTF-8", X(300) + "\xFF", "invalid_utf8"},
  };
  for (const CheckCase& c : cases) {
    EXPECT_EQ(Name(Check(c.value)), c.want) << c.what;
    EXPECT_EQ(IsValid(c.value), std::string(c.want) == "ok") << c.what;
  }
}

TEST(LabelCheckTest, CheckValidUtf8SkipsOnlyTheUtf8Scan) {
  EXPECT_EQ(Name(CheckValidUtf8("")), "empty");
  EXPECT_EQ(Name(CheckValidUtf8("a\x01")), "control_char");
  EXPECT_EQ(Name(CheckValidUtf8("a\xC2\x85")), "control_char");
  EXPECT_EQ(Name(CheckValidUtf8(X(257))), "too_long");
  EXPECT_EQ(Name(CheckValidUtf8(X(256))), "ok");
}

struct RepairCase {
  const char* what;
  std::string in;
  std::string out;
  const char* reason;
};

TEST(LabelRepairTest, ReplacesCutsAndReportsTheFirstDefect) {
  const RepairCase cases[] = {
      {"good", "node-1", "node-1", "ok"},
      {"U+FFFD stays", "a" + kFffd, "a" + kFffd, "ok"},
      {"empty stays empty", "", "", "empty"},
      {"renamed comm", "\xFF\x01", kFffd + kFffd, "invalid_utf8"},
      {"control",
       "a\x01"
       "b",
       "a" + kFffd + "b", "control_char"},
      {"NUL", std::string("a\0b", 3), "a" + kFffd + "b", "control_char"},
      {"DEL", "a\x7F", "a" + kFffd, "control_char"},
      {"C1 control",
       "a\xC2\x85"
       "b",
       "a" + kFffd + "b", "control_char"},
      {"NBSP kept", "a\xC2\xA0", "a\xC2\xA0", "ok"},
      // As Go decodes: each byte that starts no valid sequence is one U+FFFD.
      {"overlong", "\xC0\xAF", kFffd + kFffd, "invalid_utf8"},
      {"surrogate", "\xED\xA0\x80", kFffd + kFffd + kFffd, "invalid_utf8"},
      {"truncated then ASCII", "\xE2\x82z", kFffd + kFffd + "z",
       "invalid_utf8"},
      {"valid chars kept", kE + "\xFF" + kEuro, kE + kFffd + kEuro,
       "invalid_utf8"},
      {"257 ASCII", X(257), X(256), "too_long"},
      {"2-byte char across the cut", X(255) + kE, X(255), "too_long"},
      {"3-byte char across the cut", X(254) + kEuro, X(254), "too_long"},
      {"4-byte char across the cut", X(253) + kClef + "y", X(253), "too_long"},
      {"4-byte char ending at the cut", X(252) + kClef + "y", X(252) + kClef,
       "too_long"},
      {"replacement that no longer fits", X(255) + "\x01", X(255),
       "control_char"},
      {"replacement at the end that fits", X(253) + "\x01", X(253) + kFffd,
       "control_char"},
  };
  for (const RepairCase& c : cases) {
    std::string v = c.in;
    EXPECT_EQ(Name(Repair(&v)), c.reason) << c.what;
    EXPECT_EQ(v, c.out) << c.what;
    EXPECT_EQ(Repaired(c.in), c.out) << c.what;
    if (!v.empty()) {
      EXPECT_TRUE(IsValid(v)) << c.what;
    }
  }
}

TEST(LabelRepairTest, SixtyKibOfMultiByteCharsIsCutAtABoundary) {
  std::string v;
  while (v.size() < 60 * 1024) v += kEuro;
  EXPECT_EQ(Repair(&v), Reason::kTooLong);
  EXPECT_EQ(v.size(), 255u);  // 85 whole euros
  EXPECT_TRUE(IsValid(v));
}

// Every byte string of length 1 and 2, and random longer ones: the repair
// is always a good label value, and a good value is left alone.
TEST(LabelRepairTest, AlwaysYieldsAGoodValue) {
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      std::string s(1, static_cast<char>(a));
      if (b >= 0) s.push_back(static_cast<char>(b));
      std::string r = Repaired(s);
      ASSERT_TRUE(IsValid(r)) << a << " " << b;
      if (IsValid(s)) {
        ASSERT_EQ(r, s);
      }
    }
  }
  unsigned seed = 7;
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    size_t n = (seed = seed * 1103515245 + 12345) % 400;
    for (size_t k = 0; k < n; ++k) {
      s.push_back(static_cast<char>((seed = seed * 1103515245 + 12345) >> 16));
    }
    std::string r = Repaired(s);
    if (!s.empty()) {
      ASSERT_TRUE(IsValid(r)) << i;
    }
  }
}

TEST(LabelRepairTest, ReplaceInvalidUtf8KeepsControls) {
  std::string out = "untouched";
  EXPECT_FALSE(ReplaceInvalidUtf8("a\x01", &out));
  EXPECT_EQ(out, "untouched");
  EXPECT_TRUE(ReplaceInvalidUtf8("a\xFF\x01", &out));
  EXPECT_EQ(out, "a" + kFffd + "\x01");
}

TEST(LabelNamesTest, AreStable) {
  EXPECT_STREQ(ReasonName(Reason::kEmpty), "empty");
  EXPECT_STREQ(ReasonName(Reason::kInvalidUtf8), "invalid_utf8");
  EXPECT_STREQ(ReasonName(Reason::kControlChar), "control_char");
  EXPECT_STREQ(ReasonName(Reason::kTooLong), "too_long");
  EXPECT_STREQ(ActionName(Action::kRepaired), "repaired");
  EXPECT_STREQ(ActionName(Action::kRefused), "refused");
  EXPECT_STREQ(ReasonText(Reason::kTooLong), "is longer than 256 bytes");
}

using Row = std::tuple<std::string, std::string, std::string, double>;

std::vector<Row> Rows(const Counts& c) {
  std::vector<Row> rows;
  c.ForEach([&](const char* s, const char* r, const char* a, double n) {
    rows.emplace_back(s, r, a, n);
  });
  return rows;
}

TEST(LabelCountsTest, PreCreatesTheListedSeriesAndCounts) {
  Counts c({{"api", {Reason::kEmpty}, {Reason::kControlChar}},
            {"topic", {}, {Reason::kTooLong}}});
  EXPECT_EQ(Rows(c), (std::vector<Row>{{"api", "empty", "refused", 0},
                                       {"api", "control_char", "repaired", 0},
                                       {"topic", "too_long", "repaired", 0}}));
  EXPECT_EQ(c.Refuse(0, ""), Reason::kEmpty);
  EXPECT_EQ(c.Refuse(0, "fine"), std::nullopt);
  std::string name = "a\x01";
  EXPECT_EQ(c.Repair(0, &name), Reason::kControlChar);
  EXPECT_EQ(name, "a" + kFffd);
  std::string empty;
  EXPECT_EQ(c.Repair(1, &empty), Reason::kEmpty);  // not counted
  std::string bad = "\xFF";
  EXPECT_EQ(RepairCounted(&c, 1, &bad), Reason::kInvalidUtf8);
  EXPECT_EQ(RepairCounted(nullptr, 1, &bad), std::nullopt);  // now good
  EXPECT_EQ(c.Get(0, Reason::kEmpty, Action::kRefused), 1u);
  EXPECT_EQ(c.Get(0, Reason::kControlChar, Action::kRepaired), 1u);
  // A combination not listed shows up once it is counted.
  EXPECT_EQ(Rows(c), (std::vector<Row>{{"api", "empty", "refused", 1},
                                       {"api", "control_char", "repaired", 1},
                                       {"topic", "invalid_utf8", "repaired", 1},
                                       {"topic", "too_long", "repaired", 0}}));
  EXPECT_THAT(Rows(c), Not(Contains(Row{"topic", "empty", "repaired", 0})));
  c.Add(7, Reason::kEmpty, Action::kRefused);  // out of range: ignored
  EXPECT_EQ(c.Get(7, Reason::kEmpty, Action::kRefused), 0u);
}

}  // namespace
}  // namespace propmon::label
