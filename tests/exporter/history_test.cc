// TaskHistory keeps its aggregates running (O(1) per sample); they must be
// the figures the full scan of the ring gives, at every step, for series that
// rise, fall, plateau and lose fields.
#include "exporter/history.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace propmon::exporter {
namespace {

void ExpectSame(const Aggregates& got, const Aggregates& want, size_t step) {
  SCOPED_TRACE("after sample " + std::to_string(step));
  EXPECT_EQ(got.sample_count, want.sample_count);
  ASSERT_EQ(got.avg_cpu_usage_ratio.has_value(),
            want.avg_cpu_usage_ratio.has_value());
  if (want.avg_cpu_usage_ratio) {
    // A running sum rounds differently from a fresh one: within 1e-12.
    EXPECT_NEAR(*got.avg_cpu_usage_ratio, *want.avg_cpu_usage_ratio,
                1e-12 * std::max(1.0, *want.avg_cpu_usage_ratio));
  }
  EXPECT_EQ(got.max_cpu_usage_ratio, want.max_cpu_usage_ratio);
  // Whole numbers below 2^53: exactly.
  EXPECT_EQ(got.avg_memory_bytes, want.avg_memory_bytes);
  EXPECT_EQ(got.max_memory_bytes, want.max_memory_bytes);
  EXPECT_EQ(got.total_disk_read_bytes, want.total_disk_read_bytes);
  EXPECT_EQ(got.total_disk_write_bytes, want.total_disk_write_bytes);
  EXPECT_EQ(got.total_network_rx_bytes, want.total_network_rx_bytes);
  EXPECT_EQ(got.total_network_tx_bytes, want.total_network_tx_bytes);
}

TEST(TaskHistoryTest, RunningAggregatesEqualAFullScanAtEveryStep) {
  std::mt19937_64 rng(20261203);
  for (size_t capacity : {1u, 2u, 5u, 100u, 1000u}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    TaskHistory h(capacity);
    double cpu = 0.5;
    uint64_t mem = 50 << 20, rd = 0, wr = 0, rx = 0, tx = 0;
    for (size_t i = 0; i < 5 * capacity + 300; ++i) {
      TaskSample s;
      s.timestamp = 1.7e9 + static_cast<double>(i);
      // Phases: rising, falling (the max leaves the ring at every step),
      // flat (equal maxima), random.
      switch ((i / 97) % 4) {
        case 0:
          cpu += 0.01;
          mem += 4096;
          break;
        case 1:
          cpu = std::max(0.0, cpu - 0.013);
          mem -= 4096;
          break;
        case 2:
          break;
        default:
          cpu = std::uniform_real_distribution<double>(0, 8)(rng);
          mem = (rng() % (1ull << 40)) & ~4095ull;
      }
      // Fields come and go: the first sample has no ratio, I/O becomes
      // unreadable for a while, network appears late.
      if (i > 0 && rng() % 10 != 0) s.cpu_usage_ratio = cpu;
      if (rng() % 20 != 0) s.memory_bytes = mem;
      rd += rng() % 100000;
      wr += rng() % 100000;
      if ((i / 50) % 3 != 2) {
        s.disk_read_bytes = rd;
        s.disk_write_bytes = wr;
      }
      if (i > capacity / 2) {
        rx += rng() % 5000;
        tx += rng() % 5000;
        s.network_rx_bytes = rx;
        if (i % 7 != 0) s.network_tx_bytes = tx;
      }
      h.Add(s);
      ExpectSame(h.Aggregate(), h.RescanAggregate(), i);
      if (HasFailure()) return;
    }
  }
}

TEST(TaskHistoryTest, EmptyAndDisabled) {
  TaskHistory off(0);
  off.Add(TaskSample{});
  EXPECT_EQ(off.size(), 0u);
  TaskHistory h(3);
  Aggregates a = h.Aggregate();
  EXPECT_EQ(a.sample_count, 0u);
  EXPECT_FALSE(a.avg_cpu_usage_ratio);
  EXPECT_FALSE(a.max_memory_bytes);
  EXPECT_FALSE(a.total_disk_read_bytes);
  TaskSample s;
  s.disk_read_bytes = 7;
  h.Add(s);
  h.Add(TaskSample{});
  h.Add(TaskSample{});
  EXPECT_EQ(h.Aggregate().total_disk_read_bytes, 7.0);
  h.Add(TaskSample{});  // The only sample with disk figures leaves.
  EXPECT_FALSE(h.Aggregate().total_disk_read_bytes);
}

}  // namespace
}  // namespace propmon::exporter
