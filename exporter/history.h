// TaskHistory: a ring of the last `capacity` samples of one task, with the
// aggregates of SPEC §1. Not thread-safe (TaskMonitor guards it).
#ifndef PROPMON_EXPORTER_HISTORY_H_
#define PROPMON_EXPORTER_HISTORY_H_

#include <algorithm>
#include <cstddef>
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
        ring_.reserve(
            std::min(capacity_, std::max<size_t>(4, 2 * ring_.size())));
      }
      ring_.push_back(s);
    } else {
      ring_[head_] = s;
      head_ = (head_ + 1) % capacity_;
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
  size_t capacity_;
  size_t head_ = 0;
  std::vector<TaskSample> ring_;
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_HISTORY_H_
