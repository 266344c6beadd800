#include "bridge/sample_gaps.h"

#include <gtest/gtest.h>

namespace propmon::bridge {
namespace {

TEST(SampleGapTrackerTest, CountsMissedSamplesOnceTheIntervalIsKnown) {
  SampleGapTracker g;
  double t = 1000;
  EXPECT_EQ(g.Observe(t).missed, 0);
  // Before three gaps are known a jump counts nothing.
  EXPECT_EQ(g.Observe(t += 10).missed, 0);
  EXPECT_EQ(g.Observe(t += 30).missed, 0);
  EXPECT_EQ(g.Observe(t += 10).missed, 0);
  EXPECT_EQ(g.interval(), 10);
  EXPECT_EQ(g.Observe(t += 10.4).missed, 0);  // jitter
  EXPECT_EQ(g.Observe(t += 14).missed, 0);    // below 1.5 intervals
  EXPECT_EQ(g.Observe(t += 20).missed, 1);    // one sample lost
  // The median of the last five gaps (30 10 10.4 14 20) is 14 now: a 40 s
  // gap is two lost samples at that interval.
  EXPECT_EQ(g.Observe(t += 40).missed, 2);
  EXPECT_EQ(g.interval(), 14);  // median of 10 10.4 14 20 40
}

TEST(SampleGapTrackerTest, OneLossDoesNotMoveTheInterval) {
  SampleGapTracker g;
  double t = 0;
  for (int i = 0; i < 6; ++i) g.Observe(t += 1);
  EXPECT_EQ(g.Observe(t += 2).missed, 1);
  EXPECT_EQ(g.interval(), 1);
  EXPECT_EQ(g.Observe(t += 1).missed, 0);
}

TEST(SampleGapTrackerTest, FollowsAChangedInterval) {
  SampleGapTracker g;
  double t = 0;
  for (int i = 0; i < 6; ++i) g.Observe(t += 1);
  // The profile went from 1 s to 10 s: the first long gaps count, then the
  // median follows (3 of the 5 gaps).
  int counted = 0;
  for (int i = 0; i < 3; ++i) counted += g.Observe(t += 10).missed;
  EXPECT_EQ(g.interval(), 10);
  EXPECT_EQ(g.Observe(t += 10).missed, 0);
  EXPECT_GT(counted, 0);
}

TEST(SampleGapTrackerTest, DuplicatesAndLateSamples) {
  SampleGapTracker g;
  double t = 100;
  for (int i = 0; i < 5; ++i) g.Observe(t += 1);
  auto r = g.Observe(t);
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(r.missed, 0);
  r = g.Observe(t - 3);
  EXPECT_TRUE(r.late);
  EXPECT_EQ(r.missed, 0);
  EXPECT_EQ(g.Observe(t + 1).missed, 0);  // the late one changed nothing
  g.Reset();
  EXPECT_EQ(g.interval(), 0);
  EXPECT_EQ(g.Observe(t + 1000).missed, 0);
}

}  // namespace
}  // namespace propmon::bridge
