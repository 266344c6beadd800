// Clock: the seam for time, so tests can inject a fake one.
#ifndef PROPMON_COMMON_CLOCK_H_
#define PROPMON_COMMON_CLOCK_H_

#include <time.h>

#include <atomic>

namespace propmon {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch (wall time, for timestamps).
  virtual double Now() const = 0;
  // Seconds on a monotonic clock (for intervals and deadlines).
  virtual double Monotonic() const = 0;
};

class SystemClock : public Clock {
 public:
  double Now() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }
  double Monotonic() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(double now = 1700000000.0) : now_(now), mono_(1000.0) {}
  double Now() const override { return now_.load(); }
  double Monotonic() const override { return mono_.load(); }
  void Advance(double seconds) {
    now_ = now_.load() + seconds;
    mono_ = mono_.load() + seconds;
  }

 private:
  std::atomic<double> now_;
  std::atomic<double> mono_;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_CLOCK_H_
