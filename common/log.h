// Leveled logging to stderr in logfmt style. Thread-safe.
#ifndef PROPMON_COMMON_LOG_H_
#define PROPMON_COMMON_LOG_H_

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

namespace propmon {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error". Returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);

// Writes one line atomically: "ts=... level=... msg".
void WriteLogLine(LogLevel level, std::string_view message);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { WriteLogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lets a caller log at most once per `period`; the rest are counted and the
// count is reported with the next line that is let through. Thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(std::chrono::seconds period) : period_(period) {}
  // Returns true if a line may be written now; *suppressed receives the
  // number of lines held back since the last one let through.
  bool Allow(long* suppressed);

 private:
  std::chrono::seconds period_;
  std::atomic<long long> next_allowed_ns_{0};
  std::atomic<long> suppressed_{0};
};

}  // namespace propmon

#define PM_LOG(level)                                       \
  if (!::propmon::LogEnabled(::propmon::LogLevel::level)) { \
  } else                                                    \
    ::propmon::LogMessage(::propmon::LogLevel::level).stream()

// Logs at most once per 30 s from this call site.
#define PM_LOG_EVERY_30S(level)                                       \
  static ::propmon::LogRateLimiter pm_log_limiter_##__LINE__(         \
      std::chrono::seconds(30));                                      \
  if (long pm_suppressed = 0;                                         \
      !::propmon::LogEnabled(::propmon::LogLevel::level) ||           \
      !pm_log_limiter_##__LINE__.Allow(&pm_suppressed)) {             \
  } else                                                              \
    ::propmon::LogMessage(::propmon::LogLevel::level).stream()        \
        << (pm_suppressed > 0 ? "(" + std::to_string(pm_suppressed) + \
                                    " similar suppressed) "           \
                              : std::string())

#endif  // PROPMON_COMMON_LOG_H_
