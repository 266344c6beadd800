#include "bridge/sample_gaps.h"

#include <algorithm>
#include <cmath>

namespace propmon::bridge {

double SampleGapTracker::interval() const {
  if (count_ < kMinGaps) return 0;
  std::array<double, kWindow> sorted = gaps_;
  std::sort(sorted.begin(), sorted.begin() + count_);
  return sorted[count_ / 2];
}

SampleGapTracker::Result SampleGapTracker::Observe(double timestamp) {
  Result r;
  if (last_ < 0) {
    last_ = timestamp;
    return r;
  }
  double gap = timestamp - last_;
  // Timestamps carry at least microseconds; closer than that is the same
  // sample delivered twice.
  if (std::fabs(gap) < 1e-6) {
    r.duplicate = true;
    return r;
  }
  if (gap < 0) {
    r.late = true;
    return r;
  }
  double iv = interval();
  if (iv > 0 && gap > 1.5 * iv) {
    r.missed = std::max(1, static_cast<int>(std::lround(gap / iv)) - 1);
  }
  gaps_[next_] = gap;
  next_ = (next_ + 1) % kWindow;
  count_ = std::min(count_ + 1, kWindow);
  last_ = timestamp;
  return r;
}

}  // namespace propmon::bridge
