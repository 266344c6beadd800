// SampleGapTracker: learns a task's sample interval from the timestamps its
// proplet puts in each task_metrics message, and says how many samples never
// arrived when the timestamps jump (propmon_bridge_samples_missed_total).
//
// The interval is the median of the last five gaps between consecutive
// timestamps, so one lost sample (a double gap) does not move it and a
// profile that changes its interval is followed after three samples. A gap
// counts as missed samples only once three gaps are known and it exceeds 1.5
// intervals: round(gap / interval) - 1 samples. A timestamp equal to the last
// one is a duplicate (QoS 1 redelivery); an older one arrived late and is
// neither counted nor learned from. Plain data, not thread-safe.
#ifndef PROPMON_BRIDGE_SAMPLE_GAPS_H_
#define PROPMON_BRIDGE_SAMPLE_GAPS_H_

#include <array>

namespace propmon::bridge {

class SampleGapTracker {
 public:
  struct Result {
    int missed = 0;          // samples that should have come before this one
    bool duplicate = false;  // same timestamp as the last sample
    bool late = false;       // older than the last sample
  };
  // Takes the next sample's timestamp (Unix seconds).
  Result Observe(double timestamp);
  // Forgets everything (the task restarted or moved).
  void Reset() { *this = SampleGapTracker(); }
  // The learned interval in seconds; 0 until three gaps are known.
  double interval() const;

 private:
  static constexpr int kWindow = 5;
  static constexpr int kMinGaps = 3;
  double last_ = -1;
  std::array<double, kWindow> gaps_{};
  int count_ = 0;  // gaps seen, capped at kWindow
  int next_ = 0;   // ring position
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_SAMPLE_GAPS_H_
