#include "exporter/procfs.h"

#include <gtest/gtest.h>

#include <string>

namespace propmon::exporter {
namespace {

std::string Fixtures() {
  const char* f = getenv("PROPMON_FIXTURES");
  return std::string(f ? f : "tests/fixtures") + "/taskproc";
}

const char kStatLine[] =
    "100 (my task (v2)) x) S 1 100 100 0 -1 4194304 100 0 0 0 150 50 20 10 "
    "20 0 4 0 400000 3133440 2048 18446744073709551615 1 2 3 0 0 0 0 0 0 0 0 "
    "0 17 0 0 0 0 0 0 1 2 3 4 5 6 7 0";

TEST(ProcStatParserTest, ParsesCommWithSpacesAndParens) {
  auto st = ParseProcStat(kStatLine);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->pid, 100);
  EXPECT_EQ(st->comm, "my task (v2)) x");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->utime, 150u);
  EXPECT_EQ(st->stime, 50u);
  EXPECT_EQ(st->cutime, 20u);
  EXPECT_EQ(st->cstime, 10u);
  EXPECT_EQ(st->num_threads, 4);
  EXPECT_EQ(st->starttime, 400000u);
  EXPECT_EQ(st->rss_pages, 2048);
}

struct BadStat {
  const char* name;
  const char* text;
};

class ProcStatBadInputTest : public ::testing::TestWithParam<BadStat> {};

TEST_P(ProcStatBadInputTest, RejectsWithoutCrashing) {
  auto st = ParseProcStat(GetParam().text);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ProcStatBadInputTest,
    ::testing::Values(
        BadStat{"Empty", ""}, BadStat{"NoParens", "12 cat S 1 2 3"},
        BadStat{"Truncated", "201 (trunc) S 1 201 201"},
        BadStat{"Garbage", "garbage here"},
        BadStat{"ReversedParens", "1 )x( S 1"},
        BadStat{"BadPid",
                "abc (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0"},
        BadStat{"BadNumber",
                "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1x 1 0 0 20 0 1 0 5 0 0 0"},
        BadStat{"LongState",
                "1 (x) SS 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0 0"},
        BadStat{"OnlyComm", "1 (x)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ProcStatParserTest, ParsesKernelThread) {
  auto st = ParseProcStat(
      "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 "
      "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 "
      "0 0 0 0 0 0 0");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->comm, "kthreadd");
  EXPECT_EQ(st->ppid, 0);
  EXPECT_EQ(st->rss_pages, 0);
}

TEST(ProcStatParserTest, ParsesZombie) {
  auto st = ParseProcStat(
      "102 (defunct) Z 100 102 102 0 -1 4194304 100 0 0 0 40 10 0 0 20 0 1 0 "
      "400200 0 0 18446744073709551615");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, 'Z');
  EXPECT_EQ(st->utime, 40u);
}

TEST(ProcIoParserTest, Parses) {
  auto io = ParseProcIo(
      "rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\n"
      "write_bytes: 8192\ncancelled_write_bytes: 0\n");
  ASSERT_TRUE(io.ok());
  EXPECT_EQ(io->rchar, 6976u);
  EXPECT_EQ(io->read_bytes, 4096u);
  EXPECT_EQ(io->write_bytes, 8192u);
}

TEST(ProcIoParserTest, RejectsTruncatedAndGarbage) {
  EXPECT_FALSE(ParseProcIo("rchar: 6976\nwchar: 12\n").ok());
  EXPECT_FALSE(
      ParseProcIo("rchar: x\nwchar: 1\nread_bytes: 1\nwrite_bytes: 1").ok());
  EXPECT_FALSE(ParseProcIo("").ok());
  // A key that is a prefix of another must not match it.
  EXPECT_FALSE(
      ParseProcIo("rchar_x: 1\nwchar: 1\nread_bytes: 1\nwrite_bytes: 1").ok());
}

TEST(LimitsParserTest, ParsesSoftLimitAndUnlimited) {
  auto v = ParseMaxOpenFiles(
      "Limit                     Soft Limit           Hard Limit           "
      "Units\n"
      "Max open files            1024                 4096                 "
      "files\n");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value(), 1024u);
  auto u = ParseMaxOpenFiles(
      "Max open files            unlimited            unlimited            "
      "files\n");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->has_value());
  EXPECT_FALSE(ParseMaxOpenFiles("Max cpu time unlimited").ok());
  EXPECT_FALSE(ParseMaxOpenFiles("Max open files   12x  files").ok());
}

TEST(MiscParserTest, MemTotalUptimeBootTime) {
  EXPECT_EQ(*ParseMemTotal("MemTotal:       1024 kB\n"), 1024u * 1024);
  EXPECT_FALSE(ParseMemTotal("MemFree: 1 kB").ok());
  EXPECT_DOUBLE_EQ(*ParseUptime("5000.50 9000.00\n"), 5000.5);
  EXPECT_FALSE(ParseUptime("").ok());
  EXPECT_FALSE(ParseUptime("abc").ok());
  EXPECT_EQ(*ParseBootTime("cpu 1 2\nbtime 1700000000\n"), 1700000000u);
  EXPECT_FALSE(ParseBootTime("cpu 1 2\n").ok());
}

// Found by fuzz/procfs_fuzz.cc (docs/fuzzing.md): from_chars reads "-1",
// "nan" and "inf" as doubles, and MemTotal in kB wrapped around when
// multiplied into bytes.
TEST(MiscParserTest, FuzzUptimeIsFiniteAndMemTotalDoesNotWrap) {
  for (const char* bad : {"-1 5\n", "nan 5\n", "inf 5\n", "-0.5"}) {
    EXPECT_FALSE(ParseUptime(bad).ok()) << bad;
  }
  EXPECT_DOUBLE_EQ(*ParseUptime("0.00 0.00\n"), 0);
  EXPECT_EQ(*ParseMemTotal("MemTotal: 18014398509481983 kB\n"),
            18014398509481983u * 1024);
  EXPECT_FALSE(ParseMemTotal("MemTotal: 18014398509481984 kB\n").ok());
  EXPECT_FALSE(ParseMemTotal("MemTotal: 99999999999999999999 kB\n").ok());
}

TEST(NetDevParserTest, SumsAllButLoopback) {
  auto t = ParseNetDevTotals(
      "Inter-| Receive | Transmit\n face |bytes ...\n"
      "    lo:  5000 50 0 0 0 0 0 0 5000 50 0 0 0 0 0 0\n"
      "  eth0: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n"
      "  eth1: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rx_bytes, 101u);
  EXPECT_EQ(t->tx_bytes, 202u);
  EXPECT_FALSE(ParseNetDevTotals("h1\nh2\n  eth0: 1 2 3\n").ok());
}

TEST(PidListParserTest, IgnoresJunk) {
  EXPECT_EQ(ParsePidList("101 102 \n"), (std::vector<pid_t>{101, 102}));
  EXPECT_EQ(ParsePidList(""), std::vector<pid_t>{});
  EXPECT_EQ(ParsePidList("x 5 -3 0"), std::vector<pid_t>{5});
}

TEST(ProcReaderTest, ReadsFixtureTree) {
  ProcReader r(Fixtures());
  auto st = r.ReadStat(100);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->comm, "my task (v2)) x");
  EXPECT_EQ(*r.CountFds(100), 5);
  EXPECT_EQ(r.ReadMaxOpenFiles(100)->value(), 1024u);
  EXPECT_EQ(r.ReadIo(101)->write_bytes, 3000u);
  EXPECT_EQ(*r.NetNamespace(300), "net:[4026532999]");
  EXPECT_EQ(*r.SelfNetNamespace(), "net:[4026531833]");
  EXPECT_EQ(*r.ReadBootTime(), 1700000000u);
  EXPECT_EQ(*r.ReadMemTotal(), 25165824ull * 1024);
  auto threads = r.ListThreads(100);
  ASSERT_TRUE(threads.ok());
  EXPECT_EQ(threads->size(), 2u);
}

TEST(ProcReaderTest, VanishedProcessIsNotFound) {
  ProcReader r(Fixtures());
  EXPECT_EQ(r.ReadStat(99999).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.ReadIo(99999).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.CountFds(99999).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.ReadStat(200).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace propmon::exporter
