// TaskHistory: a ring of the last `capacity` samples of one task, with the
// aggregates of SPEC §1. Not thread-safe (TaskMonitor guards it).
#ifndef PROPMON_EXPORTER_HISTORY_H_
#define PROPMON_EXPORTER_HISTORY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "exporter/task_sampler.h"

namespace propmon::exporter {

struct Aggregates {
  std::optional<double> avg_cpu_usage_ratio;
  std::optional<double> max_cpu_usage_ratio;
  std::optional<double> avg_memory_bytes;
  std::optional<double> max_memory_bytes;
  // Cumulative bytes as of the newest retained sample (the task's total so
  // far), absent when not collected.
  std::optional<double> total_disk_read_bytes;
  std::optional<double> total_disk_write_bytes;
  std::optional<double> total_network_rx_bytes;
  std::optional<double> total_network_tx_bytes;
  size_t sample_count = 0;
};

// Aggregates are kept running, O(1) amortized per sample, so neither a
// sample nor a scrape rescans the ring:
//   - avg: sums of the retained values (memory, whole numbers below 2^53,
//     exactly; CPU ratios re-summed from the ring once per `capacity`
//     samples so that rounding never drifts);
//   - max: a monotonic queue of the retained samples' sequence numbers whose
//     values decrease, the front being the maximum (each sample enters and
//     leaves it once);
//   - totals: the newest retained sample that has the figure.
// RescanAggregate() is the old full scan, kept for the tests that prove the
// two agree (history_test.cc).
class TaskHistory {
 public:
  // The ring grows with the samples (doubling, never past `capacity`), so a
  // short-lived task holds memory for the samples it had, not for a full
  // ring: reserving 1024 slots (~240 KiB) per task up front made the heap
  // grow without bound under task churn (tests/integration/soak_test.py).
  explicit TaskHistory(size_t capacity) : capacity_(capacity) {}
  void Add(const TaskSample& s) {
    if (capacity_ == 0) return;
    if (ring_.size() < capacity_) {
      if (ring_.size() == ring_.capacity()) {
        const size_t cap =
            std::min(capacity_, std::max<size_t>(4, 2 * ring_.size()));
        ring_.reserve(cap);
        cpu_max_.Reserve(cap);
        mem_max_.Reserve(cap);
      }
      ring_.push_back(s);
    } else {
      Evict(ring_[head_]);
      ring_[head_] = s;
      head_ = (head_ + 1) % capacity_;
    }
    const uint64_t seq = next_seq_++;
    if (s.cpu_usage_ratio) {
      cpu_sum_ += *s.cpu_usage_ratio;
      ++cpu_n_;
      cpu_max_.Push(seq, *s.cpu_usage_ratio);
    }
    if (s.memory_bytes) {
      mem_sum_ += static_cast<double>(*s.memory_bytes);
      ++mem_n_;
      mem_max_.Push(seq, static_cast<double>(*s.memory_bytes));
    }
    if (s.disk_read_bytes) last_disk_read_ = seq;
    if (s.disk_write_bytes) last_disk_write_ = seq;
    if (s.network_rx_bytes) last_net_rx_ = seq;
    if (s.network_tx_bytes) last_net_tx_ = seq;
    // Re-sum the CPU ratios now and then: subtracting what leaves the ring
    // accumulates rounding.
    if (ring_.size() == capacity_ && ++since_resum_ >= capacity_) {
      since_resum_ = 0;
      cpu_sum_ = 0;
      for (size_t i = 0; i < ring_.size(); ++i) {
        if (At(i).cpu_usage_ratio) cpu_sum_ += *At(i).cpu_usage_ratio;
      }
    }
  }
  size_t size() const { return ring_.size(); }
  size_t capacity() const { return capacity_; }
  // i = 0 is the oldest retained sample.
  const TaskSample& At(size_t i) const {
    return ring_[(head_ + i) % ring_.size()];
  }
  Aggregates Aggregate() const {
    Aggregates a;
    a.sample_count = ring_.size();
    if (cpu_n_) {
      a.avg_cpu_usage_ratio = cpu_sum_ / static_cast<double>(cpu_n_);
      a.max_cpu_usage_ratio = std::max(0.0, cpu_max_.Max());
    }
    if (mem_n_) {
      a.avg_memory_bytes = mem_sum_ / static_cast<double>(mem_n_);
      a.max_memory_bytes = std::max(0.0, mem_max_.Max());
    }
    const uint64_t oldest = next_seq_ - ring_.size();
    auto newest = [&](const std::optional<uint64_t>& seq, auto field) {
      std::optional<double> v;
      if (seq && *seq >= oldest) {
        v = static_cast<double>(*(At(*seq - oldest).*field));
      }
      return v;
    };
    a.total_disk_read_bytes =
        newest(last_disk_read_, &TaskSample::disk_read_bytes);
    a.total_disk_write_bytes =
        newest(last_disk_write_, &TaskSample::disk_write_bytes);
    a.total_network_rx_bytes =
        newest(last_net_rx_, &TaskSample::network_rx_bytes);
    a.total_network_tx_bytes =
        newest(last_net_tx_, &TaskSample::network_tx_bytes);
    return a;
  }
  // The aggregates by a full scan of the ring (what Aggregate() keeps
  // running); for tests.
  Aggregates RescanAggregate() const {
    Aggregates a;
    a.sample_count = ring_.size();
    double cpu_sum = 0, mem_sum = 0;
    size_t cpu_n = 0, mem_n = 0;
    for (size_t i = 0; i < ring_.size(); ++i) {
      const TaskSample& s = At(i);
      if (s.cpu_usage_ratio) {
        cpu_sum += *s.cpu_usage_ratio;
        ++cpu_n;
        a.max_cpu_usage_ratio =
            std::max(a.max_cpu_usage_ratio.value_or(0.0), *s.cpu_usage_ratio);
      }
      if (s.memory_bytes) {
        double m = static_cast<double>(*s.memory_bytes);
        mem_sum += m;
        ++mem_n;
        a.max_memory_bytes = std::max(a.max_memory_bytes.value_or(0.0), m);
      }
      if (s.disk_read_bytes)
        a.total_disk_read_bytes = static_cast<double>(*s.disk_read_bytes);
      if (s.disk_write_bytes)
        a.total_disk_write_bytes = static_cast<double>(*s.disk_write_bytes);
      if (s.network_rx_bytes)
        a.total_network_rx_bytes = static_cast<double>(*s.network_rx_bytes);
      if (s.network_tx_bytes)
        a.total_network_tx_bytes = static_cast<double>(*s.network_tx_bytes);
    }
    if (cpu_n) a.avg_cpu_usage_ratio = cpu_sum / static_cast<double>(cpu_n);
    if (mem_n) a.avg_memory_bytes = mem_sum / static_cast<double>(mem_n);
    return a;
  }

 private:
  // The retained samples' (sequence, value) pairs with decreasing values,
  // oldest first, in a ring of at most `capacity` slots.
  class MaxQueue {
   public:
    void Reserve(size_t n) {
      if (n <= slots_.size()) return;
      std::vector<std::pair<uint64_t, double>> grown(n);
      for (size_t i = 0; i < size_; ++i) grown[i] = At(i);
      slots_ = std::move(grown);
      first_ = 0;
    }
    void Push(uint64_t seq, double v) {
      while (size_ > 0 && At(size_ - 1).second <= v) --size_;
      slots_[(first_ + size_) % slots_.size()] = {seq, v};
      ++size_;
    }
    // Drops the front when it is sample `seq` (leaving the ring).
    void Evict(uint64_t seq) {
      if (size_ > 0 && At(0).first == seq) {
        first_ = (first_ + 1) % slots_.size();
        --size_;
      }
    }
    double Max() const { return size_ ? At(0).second : 0.0; }

   private:
    const std::pair<uint64_t, double>& At(size_t i) const {
      return slots_[(first_ + i) % slots_.size()];
    }
    std::vector<std::pair<uint64_t, double>> slots_;
    size_t first_ = 0;
    size_t size_ = 0;
  };

  // `old`, the oldest sample, leaves the ring.
  void Evict(const TaskSample& old) {
    const uint64_t seq = next_seq_ - ring_.size();
    if (old.cpu_usage_ratio) {
      cpu_sum_ -= *old.cpu_usage_ratio;
      --cpu_n_;
      cpu_max_.Evict(seq);
    }
    if (old.memory_bytes) {
      mem_sum_ -= static_cast<double>(*old.memory_bytes);
      --mem_n_;
      mem_max_.Evict(seq);
    }
  }

  size_t capacity_;
  size_t head_ = 0;
  std::vector<TaskSample> ring_;
  uint64_t next_seq_ = 0;  // Sequence number of the next sample.
  double cpu_sum_ = 0, mem_sum_ = 0;
  size_t cpu_n_ = 0, mem_n_ = 0;
  size_t since_resum_ = 0;
  MaxQueue cpu_max_, mem_max_;
  std::optional<uint64_t> last_disk_read_, last_disk_write_, last_net_rx_,
      last_net_tx_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_HISTORY_H_
