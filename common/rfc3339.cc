#include "common/rfc3339.h"

#include <cmath>
#include <cstdint>

namespace propmon {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return (m == 2 && IsLeap(y)) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[*i]; advances *i.
bool Digits(std::string_view s, size_t* i, int n, int* out) {
  if (*i + static_cast<size_t>(n) > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + static_cast<size_t>(k)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += static_cast<size_t>(n);
  *out = v;
  return true;
}

inline void Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

std::optional<double> ParseRfc3339(std::string_view s) {
  size_t i = 0;
  int year, mon, day, hour, min, sec;
  if (!Digits(s, &i, 4, &year) || i >= s.size() || s[i++] != '-' ||
      !Digits(s, &i, 2, &mon) || i >= s.size() || s[i++] != '-' ||
      !Digits(s, &i, 2, &day) || i >= s.size()) {
    return std::nullopt;
  }
  char sep = s[i++];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  if (!Digits(s, &i, 2, &hour) || i >= s.size() || s[i++] != ':' ||
      !Digits(s, &i, 2, &min) || i >= s.size() || s[i++] != ':' ||
      !Digits(s, &i, 2, &sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 ||
      day > static_cast<int>(DaysInMonth(year, static_cast<unsigned>(mon))) ||
      hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  double frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    int64_t num = 0, den = 1;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (den < 1000000000) {  // nanoseconds; further digits ignored
        num = num * 10 + (s[i] - '0');
        den *= 10;
      }
      ++i;
    }
    if (i == start) return std::nullopt;
    frac = static_cast<double>(num) / static_cast<double>(den);
  }
  if (i >= s.size()) return std::nullopt;
  int offset = 0;
  char z = s[i++];
  if (z == 'Z' || z == 'z') {
    offset = 0;
  } else if (z == '+' || z == '-') {
    int oh, om;
    if (!Digits(s, &i, 2, &oh) || i >= s.size() || s[i++] != ':' ||
        !Digits(s, &i, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (oh * 60 + om) * 60 * (z == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(mon),
                               static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset;
  return static_cast<double>(secs) + frac;
}

std::string FormatRfc3339(double unix_seconds) {
  // 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
  constexpr int64_t kMinSecs = -62167219200, kMaxSecs = 253402300799;
  if (!std::isfinite(unix_seconds) || unix_seconds < kMinSecs - 1.0 ||
      unix_seconds > kMaxSecs + 1.0) {
    return "";
  }
  auto us = static_cast<int64_t>(std::floor(unix_seconds * 1e6 + 0.5));
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  if (secs < kMinSecs || secs > kMaxSecs) return "";
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[27];  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  Put2(buf, static_cast<unsigned>(y / 100));
  Put2(buf + 2, static_cast<unsigned>(y % 100));
  buf[4] = '-';
  Put2(buf + 5, m);
  buf[7] = '-';
  Put2(buf + 8, d);
  buf[10] = 'T';
  Put2(buf + 11, static_cast<unsigned>(sod / 3600));
  buf[13] = ':';
  Put2(buf + 14, static_cast<unsigned>(sod / 60 % 60));
  buf[16] = ':';
  Put2(buf + 17, static_cast<unsigned>(sod % 60));
  buf[19] = '.';
  auto f = static_cast<unsigned>(frac);
  for (int k = 25; k >= 20; --k) {
    buf[k] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  buf[26] = 'Z';
  return std::string(buf, sizeof(buf));
}

}  // namespace propmon
