#include "bridge/series_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bridge/text_format.h"
#include "common/clock.h"
#include "tests/testutil/testutil.h"

namespace propmon::bridge {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SeriesStoreTest : public ::testing::Test {
 protected:
  SeriesStoreTest() : store_(SeriesStore::Options{5}, &clock_) {
    gauge_ =
        *store_.RegisterFamily("test_value", "A gauge.", MetricType::kGauge);
    counter_ = *store_.RegisterFamily("test_total", "A counter.",
                                      MetricType::kCounter);
    mapping_ = store_.RegisterMapping("m");
  }
  std::string Render() {
    std::string out;
    store_.Render(&out);
    return out;
  }

  FakeClock clock_;
  SeriesStore store_;
  FamilyId gauge_ = 0;
  FamilyId counter_ = 0;
  MappingId mapping_ = 0;
};

TEST_F(SeriesStoreTest, SetCreatesThenUpdates) {
  const Label l[] = {{"a", "1"}, {"b", "x"}};
  {
    auto w = store_.Write();
    EXPECT_EQ(w.Set(gauge_, l, 1.5, 10, mapping_), SetOutcome::kCreated);
    EXPECT_EQ(w.Set(gauge_, l, 2.5, 10, mapping_), SetOutcome::kUpdated);
  }
  EXPECT_EQ(store_.size(), 1u);
  std::string text = Render();
  EXPECT_EQ(text,
            "# HELP test_value A gauge.\n# TYPE test_value gauge\n"
            "test_value{a=\"1\",b=\"x\"} 2.5\n");
}

TEST_F(SeriesStoreTest, HandleFastPathGoesStaleAfterRemove) {
  const Label l[] = {{"a", "1"}};
  auto w = store_.Write();
  SeriesRef ref;
  ASSERT_EQ(w.Set(gauge_, l, 1, 0, mapping_, &ref), SetOutcome::kCreated);
  EXPECT_TRUE(w.Update(ref, 7, 0));
  EXPECT_EQ(w.Get(ref), 7);
  EXPECT_TRUE(w.Add(ref, 3, 0));
  EXPECT_EQ(w.Get(ref), 10);
  EXPECT_TRUE(w.Remove(ref));
  EXPECT_FALSE(w.Update(ref, 1, 0));
  EXPECT_FALSE(w.Get(ref).has_value());
  // The slot is reused by the next series; the old handle stays stale.
  const Label l2[] = {{"a", "2"}};
  SeriesRef ref2;
  ASSERT_EQ(w.Set(gauge_, l2, 1, 0, mapping_, &ref2), SetOutcome::kCreated);
  EXPECT_EQ(ref2.slot, ref.slot);
  EXPECT_FALSE(w.Update(ref, 5, 0));
  EXPECT_EQ(w.Get(ref2), 1);
}

TEST_F(SeriesStoreTest, ExpiresOnlyPastDeadline) {
  const Label a[] = {{"k", "a"}};
  const Label b[] = {{"k", "b"}};
  const Label c[] = {{"k", "c"}};
  {
    auto w = store_.Write();
    w.Set(gauge_, a, 1, 10, mapping_);
    w.Set(gauge_, b, 1, 30, mapping_);
    w.Set(gauge_, c, 1, 0, mapping_);  // never expires
  }
  clock_.Advance(9.9);
  EXPECT_EQ(store_.ExpireNow(), 0u);
  clock_.Advance(0.2);
  EXPECT_EQ(store_.ExpireNow(), 1u);
  EXPECT_THAT(Render(), Not(HasSubstr("k=\"a\"")));
  // Writing again pushes the deadline out.
  {
    auto w = store_.Write();
    w.Set(gauge_, b, 2, 30, mapping_);
  }
  clock_.Advance(25);
  EXPECT_EQ(store_.ExpireNow(), 0u);
  clock_.Advance(10);
  EXPECT_EQ(store_.ExpireNow(), 1u);
  clock_.Advance(1e6);
  EXPECT_EQ(store_.ExpireNow(), 0u);
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(store_.Stats().expired_total, 2u);
}

TEST_F(SeriesStoreTest, LimitRefusesNewSeriesButUpdatesExisting) {
  auto w = store_.Write();
  for (int i = 0; i < 5; ++i) {
    std::string v = std::to_string(i);
    const Label l[] = {{"i", v}};
    ASSERT_EQ(w.Set(gauge_, l, i, 0, mapping_), SetOutcome::kCreated);
  }
  const Label extra[] = {{"i", "new"}};
  SeriesRef ref{1, 1};
  EXPECT_EQ(w.Set(gauge_, extra, 1, 0, mapping_, &ref), SetOutcome::kRefused);
  EXPECT_TRUE(ref.empty());
  const Label existing[] = {{"i", "3"}};
  EXPECT_EQ(w.Set(gauge_, existing, 33, 0, mapping_), SetOutcome::kUpdated);
  SeriesRef r = w.Find(gauge_, existing);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(w.Get(r), 33);
  // Removing one makes room again.
  EXPECT_TRUE(w.Remove(r));
  EXPECT_EQ(w.Set(gauge_, extra, 1, 0, mapping_), SetOutcome::kCreated);
}

TEST_F(SeriesStoreTest, CountsRefusalsAndSeriesPerMapping) {
  MappingId other = store_.RegisterMapping("other");
  EXPECT_EQ(store_.RegisterMapping("m"), mapping_);
  {
    auto w = store_.Write();
    for (int i = 0; i < 7; ++i) {
      std::string v = std::to_string(i);
      const Label l[] = {{"i", v}};
      w.Set(counter_, l, i, 0, i < 2 ? mapping_ : other);
    }
  }
  StoreStats st = store_.Stats();
  EXPECT_EQ(st.series, 5u);
  EXPECT_EQ(st.series_limit, 5u);
  EXPECT_EQ(st.refused_total, 2u);
  ASSERT_EQ(st.mapping_series.size(), 2u);
  EXPECT_EQ(st.mapping_series[0], std::make_pair(std::string("m"), size_t{2}));
  EXPECT_EQ(st.mapping_series[1],
            std::make_pair(std::string("other"), size_t{3}));
}

TEST_F(SeriesStoreTest, SharesAndReleasesLabelSets) {
  const Label l[] = {{"task_id", "t1"}};
  {
    auto w = store_.Write();
    w.Set(gauge_, l, 1, 0, mapping_);
    w.Set(counter_, l, 2, 0, mapping_);
  }
  EXPECT_EQ(store_.Stats().label_sets, 1u);
  {
    auto w = store_.Write();
    w.Remove(w.Find(gauge_, l));
  }
  EXPECT_EQ(store_.Stats().label_sets, 1u);  // still used by the counter
  {
    auto w = store_.Write();
    w.Remove(w.Find(counter_, l));
  }
  EXPECT_EQ(store_.Stats().label_sets, 0u);
  EXPECT_EQ(Render(), "");
}

TEST_F(SeriesStoreTest, RejectsBadNamesAndTypeConflicts) {
  EXPECT_FALSE(store_.RegisterFamily("1bad", "", MetricType::kGauge).ok());
  EXPECT_FALSE(store_.RegisterFamily("has-dash", "", MetricType::kGauge).ok());
  auto again = store_.RegisterFamily("test_value", "other", MetricType::kGauge);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, gauge_);
  EXPECT_FALSE(
      store_.RegisterFamily("test_value", "", MetricType::kCounter).ok());
  auto w = store_.Write();
  const Label bad[] = {{"bad-name", "x"}};
  EXPECT_EQ(w.Set(gauge_, bad, 1, 0, mapping_), SetOutcome::kInvalid);
  const Label reserved[] = {{"__name__", "x"}};
  EXPECT_EQ(w.Set(gauge_, reserved, 1, 0, mapping_), SetOutcome::kInvalid);
  EXPECT_EQ(w.Set(999, {}, 1, 0, mapping_), SetOutcome::kInvalid);
}

TEST(TextFormatTest, EscapesLabelValuesAndHelp) {
  std::string out;
  const Label l[] = {{"v", "a\\b\"c\nd"}};
  AppendLabels(&out, l);
  EXPECT_EQ(out, "{v=\"a\\\\b\\\"c\\nd\"}");
  out.clear();
  AppendHelpText(&out, "x\\y\nz\"");
  EXPECT_EQ(out, "x\\\\y\\nz\"");
}

TEST(TextFormatTest, FormatsValues) {
  auto fmt = [](double v) {
    std::string s;
    AppendValue(&s, v);
    return s;
  };
  EXPECT_EQ(fmt(0), "0");
  EXPECT_EQ(fmt(1), "1");
  EXPECT_EQ(fmt(0.235), "0.235");
  EXPECT_EQ(fmt(52428800), "52428800");
  EXPECT_EQ(fmt(1.0 / 0.0), "+Inf");
  EXPECT_EQ(fmt(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(fmt(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(fmt(0.1 + 0.2)), 0.1 + 0.2);
}

// The renderer's output, with hostile label values, passes promtool.
TEST_F(SeriesStoreTest, RenderPassesPromtool) {
  {
    auto w = store_.Write();
    const Label a[] = {{"id", "quote\"back\\slash\nnewline"}, {"u", "héllo ✓"}};
    const Label b[] = {{"id", "{}=,"}};
    w.Set(gauge_, a, 0.5, 0, mapping_);
    w.Set(gauge_, b, -3, 0, mapping_);
    w.Set(counter_, a, 12, 0, mapping_);
  }
  testutil::TempDir dir;
  std::string path = dir.Write("m.prom", Render());
  std::string cmd = "promtool check metrics < " + path + " > " +
                    dir.File("out.txt") + " 2>&1";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << testutil::ReadFileOrEmpty(dir.File("out.txt"))
                   << "\n--- input:\n"
                   << testutil::ReadFileOrEmpty(path);
  auto samples = testutil::ParseProm(Render());
  auto v = testutil::FindSample(samples, "test_value",
                                {{"id", "quote\"back\\slash\nnewline"}});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 0.5);
}

}  // namespace
}  // namespace propmon::bridge
