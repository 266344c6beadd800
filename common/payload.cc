#include "common/payload.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace propmon::payload {

// ===========================================================================
// Names.
// ===========================================================================

const char* KindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kTaskMetrics:
      return "task_metrics";
    case MessageKind::kLegacyTaskMetrics:
      return "legacy_task_metrics";
    case MessageKind::kPropletMetrics:
      return "proplet_metrics";
    case MessageKind::kAlive:
      return "alive";
    case MessageKind::kCreate:
      return "create";
    case MessageKind::kResults:
      return "results";
  }
  return "unknown";
}

std::string_view TopicSuffix(MessageKind kind) {
  switch (kind) {
    case MessageKind::kTaskMetrics:
      return "control/proplet/task_metrics";
    case MessageKind::kLegacyTaskMetrics:
      return "metrics/proplet";
    case MessageKind::kPropletMetrics:
      return "control/proplet/metrics";
    case MessageKind::kAlive:
      return "control/proplet/alive";
    case MessageKind::kCreate:
      return "control/proplet/create";
    case MessageKind::kResults:
      return "control/proplet/results";
  }
  return "";
}

std::string MakeTopic(std::string_view domain, std::string_view channel,
                      MessageKind kind) {
  std::string_view suffix = TopicSuffix(kind);
  std::string t;
  t.reserve(6 + domain.size() + channel.size() + suffix.size());
  t.append("m/").append(domain).append("/c/").append(channel).append("/");
  t.append(suffix);
  return t;
}

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kInvalidJson:
      return "invalid_json";
    case Reason::kNotObject:
      return "not_object";
    case Reason::kMissingField:
      return "missing_field";
    case Reason::kWrongType:
      return "wrong_type";
    case Reason::kTooLarge:
      return "too_large";
    case Reason::kLabelInvalid:
      return "label_invalid";
    case Reason::kUnknownTopic:
      return "unknown_topic";
  }
  return "unknown";
}

const char* TimestampSourceName(TimestampSource source) {
  switch (source) {
    case TimestampSource::kRfc3339:
      return "rfc3339";
    case TimestampSource::kSystemTime:
      return "system_time";
    case TimestampSource::kDeviceTime:
      return "device_time";
    case TimestampSource::kMissing:
      return "missing";
    case TimestampSource::kInvalid:
      return "invalid";
  }
  return "unknown";
}

const char* ProblemName(Problem problem) {
  switch (problem) {
    case Problem::kWrongType:
      return "wrong_type";
    case Problem::kNegative:
      return "negative";
    case Problem::kOutOfRange:
      return "out_of_range";
    case Problem::kDuplicate:
      return "duplicate";
    case Problem::kInvalid:
      return "invalid";
  }
  return "unknown";
}

std::string FieldProblem::Path() const {
  std::string p;
  if (object != nullptr && object[0] != '\0') {
    p.append(object).append(".");
  }
  p.append(field != nullptr ? field : "");
  return p;
}

bool FieldProblem::operator==(const FieldProblem& o) const {
  return problem == o.problem && std::strcmp(object, o.object) == 0 &&
         std::strcmp(field, o.field) == 0;
}

// ===========================================================================
// UTF-8 and labels.
// ===========================================================================

namespace {

inline size_t Utf8SeqLen(const char* p, const char* end) {
  return label::Utf8SequenceLength(p, end);
}

// The SWAR scans below read 8 bytes as one little-endian word; on a
// big-endian machine they are skipped (the byte loops still run).
constexpr bool kLittleEndian = std::endian::native == std::endian::little;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

}  // namespace

int JsonDepth(std::string_view text) {
  int depth = 0;
  int max = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

// ===========================================================================
// Topics.
// ===========================================================================

Result<Topic> ParseTopic(std::string_view topic) {
  auto unknown = [&] {
    return Error{Reason::kUnknownTopic,
                 "topic is not a Propeller proplet topic: " +
                     std::string(topic.substr(0, 200))};
  };
  if (topic.size() < 2 || topic.substr(0, 2) != "m/") return unknown();
  std::string_view rest = topic.substr(2);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return unknown();
  std::string_view domain = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  if (rest.size() < 2 || rest.substr(0, 2) != "c/") return unknown();
  rest = rest.substr(2);
  slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return unknown();
  std::string_view channel = rest.substr(0, slash);
  std::string_view suffix = rest.substr(slash + 1);
  for (MessageKind kind : kAllMessageKinds) {
    if (suffix == TopicSuffix(kind)) {
      for (auto [what, value] :
           {std::pair{"domain", domain}, std::pair{"channel", channel}}) {
        if (auto bad = label::Check(value)) {
          Error e{Reason::kLabelInvalid,
                  std::string("topic ") + what + " " + label::ReasonText(*bad)};
          e.label = bad;
          e.in_topic = true;
          return e;
        }
      }
      return Topic{domain, channel, kind};
    }
  }
  return unknown();
}

// ===========================================================================
// Time.
// ===========================================================================

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

// ===========================================================================
// JSON reader: validating, iterative, no allocation unless a string has
// escapes.
// ===========================================================================

namespace {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Returns a mask with the high bit set in each byte of `word` (read little
// endian) that is '"', '\\', below 0x20 or at least 0x80. Bytes above the
// first flagged one may be flagged wrongly (borrows), never the first one,
// so the lowest set bit always points at the first byte to look at.
inline uint64_t SpecialMask(uint64_t word) {
  uint64_t quote = word ^ (kOnes * '"');
  uint64_t backslash = word ^ (kOnes * '\\');
  uint64_t control = (word - kOnes * 0x20) & ~word;
  uint64_t is_quote = (quote - kOnes) & ~quote;
  uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  return (control | is_quote | is_backslash | word) & kHighs;
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

constexpr uint64_t kPow10Int[] = {1,      10,      100,      1000,     10000,
                                  100000, 1000000, 10000000, 100000000};

// Reads a run of decimal digits at *q (at least one), 8 at a time where the
// input allows, folding them into *mantissa (which wraps harmlessly past 19
// digits; the caller then uses from_chars). Returns how many were read.
inline int ReadDigits(const char** q, const char* end, uint64_t* mantissa) {
  const char* const start = *q;
  const char* p = start;
  uint64_t m = *mantissa;
  while (kLittleEndian && end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    // A byte is a digit iff its high nibble is 3 both before and after
    // adding 6 (0x30..0x39 -> 0x36..0x3F). Carries only go upward, from a
    // non-digit byte, so the lowest flagged byte is the first non-digit.
    uint64_t bad = ((word & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL) |
                   (((word + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^
                    0x3030303030303030ULL);
    int n = bad == 0 ? 8 : __builtin_ctzll(bad) / 8;
    if (n == 0) break;
    // Digits to values; move them to the top bytes (leading zeros below),
    // then combine 8 little-endian digit bytes into one number.
    uint64_t v = (word - 0x3030303030303030ULL) << (8 * (8 - n));
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
         (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >>
        32;
    m = m * kPow10Int[n] + v;
    p += n;
    if (n < 8) {
      *q = p;
      *mantissa = m;
      return static_cast<int>(p - start);
    }
  }
  while (p < end && IsDigit(*p)) {
    m = m * 10 + static_cast<uint64_t>(*p - '0');
    ++p;
  }
  *q = p;
  *mantissa = m;
  return static_cast<int>(p - start);
}

class Reader {
 public:
  Reader(std::string_view text, int max_depth)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(max_depth) {}

  bool failed() const { return failed_; }
  const char* fail_what() const { return what_; }
  size_t fail_offset() const { return at_; }
  const char* pos() const { return p_; }

  bool Fail(const char* what) {
    if (!failed_) {
      failed_ = true;
      what_ = what;
      at_ = static_cast<size_t>(p_ - begin_);
    }
    p_ = end_;
    return false;
  }

  // Returns the next non-whitespace byte without consuming it, or '\0' at
  // the end (a NUL byte in the input is never valid where it is checked).
  __attribute__((always_inline)) char Peek() {
    if (p_<end_&& static_cast<unsigned char>(*p_)> ' ') return *p_;
    return SkipWhitespace();
  }
  bool AtEnd() {
    Peek();
    return p_ == end_;
  }

  // At '"': reads one string. When `out` is set, stores the decoded value:
  // a view into the input when it has no escapes, else into *scratch.
  // Sets *bad_utf8 when the string holds invalid UTF-8 (raw, or a lone
  // surrogate escape); the string is still consumed. Returns false on a
  // syntax error.
  __attribute__((always_inline)) bool String(std::string_view* out,
                                             std::string* scratch,
                                             bool* bad_utf8) {
#if defined(__SSE2__)
    // Fast path: a plain string that ends within the next 16 bytes.
    if (end_ - p_ >= 17) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_ + 1));
      __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
      __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
      __m128i other = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
      int special = _mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(quote, backslash), other));
      int quotes = _mm_movemask_epi8(quote);
      if (special != 0 && (special & -special) == (quotes & -quotes)) {
        int len = __builtin_ctz(static_cast<unsigned>(special));
        if (out != nullptr) *out = std::string_view(p_ + 1, len);
        p_ += len + 2;
        *bad_utf8 = false;
        return true;
      }
    }
#endif
    return StringSlow(out, scratch, bad_utf8);
  }

  __attribute__((noinline)) bool StringSlow(std::string_view* out,
                                            std::string* scratch,
                                            bool* bad_utf8) {
    ++p_;
    const char* start = p_;
    *bad_utf8 = false;
    for (;;) {
      // Skip plain ASCII 16 (SSE2) or 8 (SWAR) bytes at a time; stop at the
      // first byte that needs a look: '"', '\\', a control or a non-ASCII
      // byte (the lowest flagged byte is exact, see SpecialMask).
#if defined(__SSE2__)
      while (end_ - p_ >= 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
        __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
        __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
        // Signed: catches 0x00..0x1F and 0x80..0xFF at once.
        __m128i other = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        int mask = _mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(quote, backslash), other));
        if (mask != 0) {
          p_ += __builtin_ctz(static_cast<unsigned>(mask));
          goto look;
        }
        p_ += 16;
      }
#endif
      while (kLittleEndian && end_ - p_ >= 8) {
        uint64_t word;
        std::memcpy(&word, p_, 8);
        uint64_t mask = SpecialMask(word);
        if (mask != 0) {
          p_ += __builtin_ctzll(mask) / 8;
          break;
        }
        p_ += 8;
      }
#if defined(__SSE2__)
    look:
#endif
      if (p_ >= end_) return Fail("unterminated string");
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (out != nullptr) *out = std::string_view(start, p_ - start);
        ++p_;
        return true;
      }
      if (c == '\\') break;
      if (c < 0x20) return Fail("control character in string");
      if (c < 0x80) {
        ++p_;
        continue;
      }
      size_t n = Utf8SeqLen(p_, end_);
      if (n == 0) {
        *bad_utf8 = true;
        ++p_;
      } else {
        p_ += n;
      }
    }
    // Slow path: escapes.
    if (out != nullptr) scratch->assign(start, p_ - start);
    for (;;) {
      if (p_ >= end_) return Fail("unterminated string");
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        break;
      }
      if (c == '\\') {
        if (end_ - p_ < 2) return Fail("unterminated string");
        char e = p_[1];
        p_ += 2;
        char simple = 0;
        switch (e) {
          case '"':
            simple = '"';
            break;
          case '\\':
            simple = '\\';
            break;
          case '/':
            simple = '/';
            break;
          case 'b':
            simple = '\b';
            break;
          case 'f':
            simple = '\f';
            break;
          case 'n':
            simple = '\n';
            break;
          case 'r':
            simple = '\r';
            break;
          case 't':
            simple = '\t';
            break;
          case 'u': {
            int cp = Hex4();
            if (cp < 0) return Fail("invalid \\u escape");
            uint32_t code = static_cast<uint32_t>(cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              // A high surrogate must be followed by \u + low surrogate.
              if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
                const char* save = p_;
                p_ += 2;
                int lo = Hex4();
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                  code = 0x10000 +
                         ((static_cast<uint32_t>(cp) - 0xD800) << 10) +
                         (static_cast<uint32_t>(lo) - 0xDC00);
                } else {
                  p_ = save;  // re-read as its own escape
                  *bad_utf8 = true;
                  code = 0xFFFD;
                }
              } else {
                *bad_utf8 = true;
                code = 0xFFFD;
              }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              *bad_utf8 = true;
              code = 0xFFFD;
            }
            if (out != nullptr) AppendUtf8(scratch, code);
            continue;
          }
          default:
            p_ -= 1;
            return Fail("invalid escape");
        }
        if (out != nullptr) scratch->push_back(simple);
        continue;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c < 0x80) {
        if (out != nullptr) scratch->push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      size_t n = Utf8SeqLen(p_, end_);
      if (n == 0) {
        // Kept as U+FFFD, as the fast part above keeps it raw (both are
        // only read for label strings, which are repaired).
        *bad_utf8 = true;
        if (out != nullptr) scratch->append("\xEF\xBF\xBD");
        ++p_;
      } else {
        if (out != nullptr) scratch->append(p_, n);
        p_ += n;
      }
    }
    if (out != nullptr) *out = *scratch;
    return true;
  }

  // At '-' or a digit: reads one number. *out_of_range is set when it is
  // valid JSON but beyond double range (the value is then unusable).
  bool Number(double* out, bool* out_of_range) {
    const char* start = p_;
    *out_of_range = false;
    // While scanning, collect the decimal mantissa and exponent so that the
    // common case (at most 19 digits, a value exactly representable after
    // one multiplication or division by an exact power of ten: Clinger's
    // fast path) needs no from_chars.
    uint64_t mantissa = 0;
    int digits = 0;  // digits accumulated into mantissa
    int exp10 = 0;
    bool negative = false;
    const char* q = p_;
    const char* end = end_;
    if (q < end && *q == '-') {
      negative = true;
      ++q;
    }
    if (q >= end) return Fail("invalid number");
    if (*q == '0') {
      ++q;
    } else if (*q >= '1' && *q <= '9') {
      digits = ReadDigits(&q, end, &mantissa);
    } else {
      return Fail("invalid number");
    }
    if (q < end && *q == '.') {
      ++q;
      if (q >= end || !IsDigit(*q)) {
        p_ = q;
        return Fail("invalid number");
      }
      int n = ReadDigits(&q, end, &mantissa);
      digits += n;
      exp10 -= n;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
      ++q;
      bool exp_negative = false;
      if (q < end && (*q == '+' || *q == '-')) {
        exp_negative = *q == '-';
        ++q;
      }
      if (q >= end || !IsDigit(*q)) {
        p_ = q;
        return Fail("invalid number");
      }
      int e = 0;
      while (q < end && IsDigit(*q)) {
        if (e < 100000) e = e * 10 + (*q - '0');
        ++q;
      }
      exp10 += exp_negative ? -e : e;
    }
    p_ = q;
    // digits <= 19 means the mantissa did not overflow.
    if (digits <= 19 && mantissa <= (uint64_t{1} << 53) && exp10 >= -22 &&
        exp10 <= 22) {
      double v = static_cast<double>(mantissa);
      v = exp10 < 0 ? v / kPow10[-exp10] : v * kPow10[exp10];
      if (negative && mantissa != 0) v = -v;  // no -0
      *out = v;
      return true;
    }
    double v = 0;
    auto r = std::from_chars(start, p_, v);
    if (r.ec == std::errc::result_out_of_range) {
      *out_of_range = true;
      v = 0;
    } else if (r.ec != std::errc() || r.ptr != p_) {
      return Fail("invalid number");
    }
    *out = v == 0 ? 0.0 : v;  // no -0
    return true;
  }

  // At 't', 'f' or 'n': reads true, false or null. *which: 1 true, 0 false,
  // -1 null.
  bool Literal(int* which) {
    auto match = [&](const char* w, size_t n) {
      if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, w, n) == 0) {
        p_ += n;
        return true;
      }
      return false;
    };
    if (match("true", 4)) {
      *which = 1;
    } else if (match("false", 5)) {
      *which = 0;
    } else if (match("null", 4)) {
      *which = -1;
    } else {
      return Fail("invalid literal");
    }
    return true;
  }

  // Skips (and validates) one value of any kind, without recursion.
  // `parent_depth`: the nesting depth of the container holding it.
  bool SkipValue(int parent_depth) {
    // is_object[k]: the k-th open container (in this skip) is an object.
    bool is_object[kMaxDepth + 2];
    int top = 0;
    const int limit = std::min(max_depth_, kMaxDepth);
    for (;;) {
      char c = Peek();
      switch (c) {
        case '{':
        case '[': {
          if (parent_depth + top + 1 > limit) return Fail("nesting too deep");
          bool obj = c == '{';
          ++p_;
          is_object[top++] = obj;
          char n = Peek();
          if (n == (obj ? '}' : ']')) {
            ++p_;
            --top;
            break;
          }
          if (obj && !KeyColon()) return false;
          continue;  // read the first value
        }
        case '"': {
          bool bad = false;
          if (!String(nullptr, nullptr, &bad)) return false;
          if (bad) return Fail("invalid UTF-8 in string");
          break;
        }
        case 't':
        case 'f':
        case 'n': {
          int w;
          if (!Literal(&w)) return false;
          break;
        }
        default: {
          if (c == '-' || IsDigit(c)) {
            double v;
            bool oor;
            if (!Number(&v, &oor)) return false;
            break;
          }
          return Fail(c == '\0' && p_ == end_ ? "unexpected end of input"
                                              : "expected a value");
        }
      }
      // After a value: close containers or move to the next element.
      for (;;) {
        if (top == 0) return true;
        char n = Peek();
        if (n == ',') {
          ++p_;
          if (is_object[top - 1] && !KeyColon()) return false;
          break;
        }
        if (n == (is_object[top - 1] ? '}' : ']')) {
          ++p_;
          --top;
          continue;
        }
        return Fail(n == '\0' && p_ == end_
                        ? "unexpected end of input"
                        : "expected ',' or a closing bracket");
      }
    }
  }

  // Reads `"key" :` (skipping the key). Used inside skipped objects.
  bool KeyColon() {
    if (Peek() != '"') return Fail("expected a key");
    bool bad = false;
    if (!String(nullptr, nullptr, &bad)) return false;
    if (bad) return Fail("invalid UTF-8 in key");
    if (Peek() != ':') return Fail("expected ':'");
    ++p_;
    return true;
  }

  // At '{': iterates the members of an object at nesting `depth`, calling
  // on_member(key) with the reader at the value, which on_member must
  // consume. The key view is valid until on_member reads another string.
  template <typename F>
  bool Object(int depth, F&& on_member) {
    if (depth > std::min(max_depth_, kMaxDepth)) {
      return Fail("nesting too deep");
    }
    ++p_;
    char c = Peek();
    if (c == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      if (c != '"') return Fail("expected a key");
      std::string_view key;
      bool bad = false;
      if (!String(&key, &key_scratch_, &bad)) return false;
      if (bad) return Fail("invalid UTF-8 in key");
      if (Peek() != ':') return Fail("expected ':'");
      ++p_;
      Peek();
      on_member(key);
      if (failed_) return false;
      c = Peek();
      if (c == ',') {
        ++p_;
        c = Peek();
        continue;
      }
      if (c == '}') {
        ++p_;
        return true;
      }
      return Fail(c == '\0' && p_ == end_ ? "unexpected end of input"
                                          : "expected ',' or '}'");
    }
  }

  std::string* value_scratch() { return &value_scratch_; }

 private:
  __attribute__((noinline)) char SkipWhitespace() {
    while (p_ < end_ &&
           (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
    return p_ < end_ ? *p_ : '\0';
  }

  int Hex4() {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; ++k) {
      int h = HexVal(p_[k]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    p_ += 4;
    return v;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  int max_depth_;
  bool failed_ = false;
  const char* what_ = "";
  size_t at_ = 0;
  std::string key_scratch_;
  std::string value_scratch_;
};

}  // namespace

bool IsValidJson(std::string_view text, int max_depth) {
  Reader r(text, max_depth);
  if (r.AtEnd()) return false;
  if (!r.SkipValue(0)) return false;
  return r.AtEnd();
}

// ===========================================================================
// Decoding.
// ===========================================================================

namespace {

// A numeric field of one JSON object: its key, its slot in the struct, and
// whether the key is a legacy alias.
struct NumField {
  std::string_view key;
  const char* name;  // the same text, NUL-terminated, for FieldProblem
  int slot;
  bool legacy;
};

#define PROPMON_FIELD(k, slot) \
  NumField { k, k, slot, false }
#define PROPMON_LEGACY(k, slot) \
  NumField { k, k, slot, true }

constexpr NumField kProcessFields[] = {
    PROPMON_FIELD("cpu_percent", 0),
    PROPMON_FIELD("memory_bytes", 1),
    PROPMON_FIELD("memory_percent", 2),
    PROPMON_FIELD("disk_read_bytes", 3),
    PROPMON_FIELD("disk_write_bytes", 4),
    PROPMON_FIELD("network_rx_bytes", 5),
    PROPMON_FIELD("network_tx_bytes", 6),
    PROPMON_FIELD("uptime_seconds", 7),
    PROPMON_FIELD("thread_count", 8),
    PROPMON_FIELD("file_descriptor_count", 9),
    PROPMON_LEGACY("cpu_usage_percent", 0),
    PROPMON_LEGACY("memory_usage_bytes", 1),
    PROPMON_LEGACY("memory_usage_percent", 2),
};

constexpr NumField kAggregatedFields[] = {
    PROPMON_FIELD("avg_cpu_usage", 0),    PROPMON_FIELD("max_cpu_usage", 1),
    PROPMON_FIELD("avg_memory_usage", 2), PROPMON_FIELD("max_memory_usage", 3),
    PROPMON_FIELD("total_disk_read", 4),  PROPMON_FIELD("total_disk_write", 5),
    PROPMON_FIELD("total_network_rx", 6), PROPMON_FIELD("total_network_tx", 7),
    PROPMON_FIELD("sample_count", 8),
};

constexpr NumField kCpuFields[] = {
    PROPMON_FIELD("user_seconds", 0),
    PROPMON_FIELD("system_seconds", 1),
    PROPMON_FIELD("percent", 2),
};

constexpr NumField kMemoryFields[] = {
    PROPMON_FIELD("rss_bytes", 0),
    PROPMON_FIELD("heap_alloc_bytes", 1),
    PROPMON_FIELD("heap_sys_bytes", 2),
    PROPMON_FIELD("heap_inuse_bytes", 3),
    PROPMON_FIELD("container_usage_bytes", 4),
    PROPMON_FIELD("container_limit_bytes", 5),
    PROPMON_FIELD("heap_free_bytes", 6),
    PROPMON_FIELD("heap_max_alloc_bytes", 7),
};

#undef PROPMON_FIELD
#undef PROPMON_LEGACY

// Compares n bytes with overlapping word loads (both ranges hold n bytes).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  auto eq8 = [](const char* x, const char* y) {
    uint64_t u, v;
    std::memcpy(&u, x, 8);
    std::memcpy(&v, y, 8);
    return u == v;
  };
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (!eq8(a + i, b + i)) return false;
    }
    return eq8(a + n - 8, b + n - 8);
  }
  if (n >= 4) {
    uint32_t u0, v0, u1, v1;
    std::memcpy(&u0, a, 4);
    std::memcpy(&v0, b, 4);
    std::memcpy(&u1, a + n - 4, 4);
    std::memcpy(&v1, b + n - 4, 4);
    return u0 == v0 && u1 == v1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool KeyIs(const NumField& f, std::string_view key) {
  return f.key.size() == key.size() &&
         SameBytes(f.key.data(), key.data(), key.size());
}

// Finds `key` in `fields`, trying first the entry after the last match
// (senders write the fields in a fixed order).
template <size_t N>
inline const NumField* FindField(const NumField (&fields)[N],
                                 std::string_view key, size_t* hint) {
  if (*hint < N && KeyIs(fields[*hint], key)) return &fields[(*hint)++];
  for (size_t i = 0; i < N; ++i) {
    if (KeyIs(fields[i], key)) {
      *hint = i + 1;
      return &fields[i];
    }
  }
  return nullptr;
}

// Tracks which slots of one struct were seen, to find duplicates (a key
// twice, or a key and its legacy alias).
struct SeenMask {
  uint32_t seen = 0;
  uint32_t poisoned = 0;
};

// The result of reading one timestamp value.
struct TsRead {
  TimestampSource source = TimestampSource::kMissing;
  double value = 0;
  bool seen = false;
};

bool Usable(const TsRead& t) {
  return t.source == TimestampSource::kRfc3339 ||
         t.source == TimestampSource::kSystemTime;
}

class Decoder {
 public:
  Decoder(std::string_view payload, const DecodeOptions& options, Decoded* d)
      : r_(payload, kMaxDepth), options_(options), d_(d) {}

  // Decodes into *d; returns the error if the payload is unusable.
  std::optional<Error> Run(MessageKind kind) {
    d_->kind = kind;
    char c = r_.Peek();
    if (c == '\0' && r_.AtEnd()) {
      return Error{Reason::kInvalidJson, "empty payload"};
    }
    if (c != '{') {
      if (r_.SkipValue(0) && r_.AtEnd()) {
        return Error{Reason::kNotObject, "payload is not a JSON object"};
      }
      return SyntaxError();
    }
    switch (kind) {
      case MessageKind::kTaskMetrics:
      case MessageKind::kLegacyTaskMetrics:
        TaskBody();
        break;
      case MessageKind::kPropletMetrics:
        PropletBody();
        break;
      case MessageKind::kAlive:
        AliveBody();
        break;
      case MessageKind::kCreate:
        CreateBody();
        break;
      case MessageKind::kResults:
        ResultsBody();
        break;
    }
    if (!r_.failed() && !r_.AtEnd()) r_.Fail("trailing characters");
    if (r_.failed()) return SyntaxError();
    if (semantic_) return std::move(*semantic_);
    if (missing_ != nullptr) {
      return Error{Reason::kMissingField,
                   std::string("missing field ") + missing_};
    }
    return std::nullopt;
  }

 private:
  Error SyntaxError() {
    return Error{Reason::kInvalidJson, std::string("invalid JSON at byte ") +
                                           std::to_string(r_.fail_offset()) +
                                           ": " + r_.fail_what()};
  }

  void SetSemantic(Reason reason, std::string detail) {
    if (!semantic_) semantic_ = Error{reason, std::move(detail)};
  }

  void AddProblem(const char* object, const char* field, Problem problem) {
    d_->problems.push_back(FieldProblem{object, field, problem});
  }

  // Skips the value at the reader (depth: that of the enclosing object).
  void Skip(int depth) { r_.SkipValue(depth); }

  // Reads a number for `slot`, or records why not.
  __attribute__((always_inline)) void ReadNumber(
      int depth, const char* object, const NumField& f,
      std::optional<double>* const* slots, SeenMask* mask) {
    uint32_t bit = 1u << f.slot;
    std::optional<double>* slot = slots[f.slot];
    if (f.legacy) d_->legacy_names = true;
    if (mask->seen & bit) {
      Skip(depth);
      if (!(mask->poisoned & bit)) {
        mask->poisoned |= bit;
        slot->reset();
        AddProblem(object, f.name, Problem::kDuplicate);
      }
      return;
    }
    mask->seen |= bit;
    char c = r_.Peek();
    if (c == '-' || IsDigit(c)) {
      double v;
      bool oor;
      if (!r_.Number(&v, &oor)) return;
      if (oor) {
        AddProblem(object, f.name, Problem::kOutOfRange);
      } else if (v < 0) {
        AddProblem(object, f.name, Problem::kNegative);
      } else {
        *slot = v;
      }
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) return;  // null: absent
      return;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(object, f.name, Problem::kWrongType);
  }

  // Reads the members of a numeric object at the reader. `object` names it
  // in problems; `other(key, depth)` handles non-numeric keys and returns
  // false for unknown ones (skipped).
  template <size_t N, typename Other>
  void NumberObject(int depth, const char* object, const NumField (&fields)[N],
                    std::optional<double>* const* slots, SeenMask* mask,
                    Other&& other) {
    size_t hint = 0;
    r_.Object(depth, [&](std::string_view key) {
      if (const NumField* f = FindField(fields, key, &hint)) {
        ReadNumber(depth, object, *f, slots, mask);
      } else if (!other(key, depth)) {
        Skip(depth);
      }
    });
  }

  // Reads a value that must be an object (or null: absent) into `read`,
  // else records a wrong-type problem. `depth`: that of the enclosing
  // object.
  template <typename F>
  bool ObjectOrNull(int depth, const char* parent, const char* key, F&& read) {
    char c = r_.Peek();
    if (c == '{') {
      read(depth + 1);
      return true;
    }
    if (c == 'n') {
      int w = -1;
      r_.Literal(&w);  // "null" or a syntax error
      return false;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(parent, key, Problem::kWrongType);
    return false;
  }

  // Reads a required (or optional) id. Problems with it reject the payload.
  void ReadId(int depth, const char* name, std::string* out, bool* seen,
              bool null_is_absent = false) {
    if (*seen) {
      Skip(depth);
      SetSemantic(Reason::kInvalidJson, std::string("duplicate key ") + name);
      return;
    }
    *seen = true;
    char c = r_.Peek();
    if (c != '"') {
      if (c == 'n' && null_is_absent) {
        int w;
        if (r_.Literal(&w) && w == -1) {
          *seen = false;
          return;
        }
      }
      Skip(depth);
      SetSemantic(Reason::kWrongType, std::string(name) + " is not a string");
      return;
    }
    std::string_view v;
    bool bad = false;
    if (!r_.String(&v, r_.value_scratch(), &bad)) return;
    std::optional<label::Reason> defect =
        bad ? label::Reason::kInvalidUtf8 : label::CheckValidUtf8(v);
    if (defect) {
      if (!semantic_) {
        semantic_ = Error{Reason::kLabelInvalid,
                          std::string(name) + " " + label::ReasonText(*defect)};
        semantic_->label = defect;
      }
      return;
    }
    out->assign(v.data(), v.size());
  }

  // Reads an optional string. `label`: a label value; when not empty and
  // not a good one (invalid UTF-8 included), it is repaired (label::Repair)
  // and listed in Decoded::repaired; otherwise invalid UTF-8 is a syntax
  // error like anywhere else in the payload.
  void ReadString(int depth, const char* object, const char* name,
                  std::string* out, bool* seen, bool label) {
    if (*seen) {
      Skip(depth);
      AddProblem(object, name, Problem::kDuplicate);
      out->clear();
      return;
    }
    *seen = true;
    char c = r_.Peek();
    if (c == '"') {
      std::string_view v;
      bool bad = false;
      if (!r_.String(&v, r_.value_scratch(), &bad)) return;
      if (bad && !label) {
        r_.Fail("invalid UTF-8 in string");
        return;
      }
      out->assign(v.data(), v.size());
      if (label && !v.empty()) {
        std::optional<label::Reason> defect =
            bad ? label::Reason::kInvalidUtf8 : label::CheckValidUtf8(v);
        if (defect) {
          label::Repair(out);
          d_->repaired.push_back(LabelRepair{name, *defect});
        }
      }
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) return;
      AddProblem(object, name, Problem::kWrongType);
      return;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(object, name, Problem::kWrongType);
  }

  // Reads a timestamp in any of SPEC §1's forms.
  void ReadTimestamp(int depth, const char* object, TsRead* t) {
    if (t->seen) {
      Skip(depth);
      if (t->source != TimestampSource::kInvalid) {
        AddProblem(object, "timestamp", Problem::kDuplicate);
      }
      t->source = TimestampSource::kInvalid;
      return;
    }
    t->seen = true;
    char c = r_.Peek();
    if (c == '"') {
      std::string_view v;
      bool bad = false;
      if (!r_.String(&v, r_.value_scratch(), &bad)) return;
      if (bad) {
        r_.Fail("invalid UTF-8 in string");
        return;
      }
      if (auto ts = ParseRfc3339(v)) {
        t->source = TimestampSource::kRfc3339;
        t->value = *ts;
      } else {
        t->source = TimestampSource::kInvalid;
        AddProblem(object, "timestamp", Problem::kInvalid);
      }
      return;
    }
    if (c == '{') {
      std::optional<double> secs, nanos;
      bool ok = true;
      r_.Object(depth + 1, [&](std::string_view key) {
        std::optional<double>* slot = nullptr;
        if (key == "secs_since_epoch") {
          slot = &secs;
        } else if (key == "nanos_since_epoch") {
          slot = &nanos;
        } else {
          Skip(depth + 1);
          return;
        }
        char n = r_.Peek();
        if (slot->has_value() || !(n == '-' || IsDigit(n))) {
          ok = false;
          Skip(depth + 1);
          return;
        }
        double v;
        bool oor;
        if (!r_.Number(&v, &oor)) return;
        if (oor || v < 0 || v != std::floor(v)) ok = false;
        *slot = v;
      });
      if (r_.failed()) return;
      if (!ok || !secs || *secs > 253402300799.0 || (nanos && *nanos >= 1e9)) {
        t->source = TimestampSource::kInvalid;
        AddProblem(object, "timestamp", Problem::kInvalid);
        return;
      }
      t->source = TimestampSource::kSystemTime;
      t->value = *secs + (nanos ? *nanos / 1e9 : 0.0);
      return;
    }
    if (c == '-' || IsDigit(c)) {
      double v;
      bool oor;
      if (!r_.Number(&v, &oor)) return;
      t->source = TimestampSource::kDeviceTime;
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) {
        t->source = TimestampSource::kMissing;
        return;
      }
    } else {
      Skip(depth);
    }
    if (r_.failed()) return;
    t->source = TimestampSource::kInvalid;
    AddProblem(object, "timestamp", Problem::kWrongType);
  }

  // Picks the top-level timestamp if usable, else the nested one, else the
  // receive time (with the most telling source).
  double ResolveTimestamp(const TsRead& top, const TsRead& nested) {
    const TsRead* pick;
    if (Usable(top)) {
      pick = &top;
    } else if (Usable(nested)) {
      pick = &nested;
    } else if (top.source != TimestampSource::kMissing) {
      pick = &top;
    } else {
      pick = &nested;
    }
    d_->timestamp_source = pick->source;
    d_->timestamp_in_metrics =
        pick == &nested && nested.source != TimestampSource::kMissing;
    return Usable(*pick) ? pick->value : options_.receive_time;
  }

  void TaskBody() {
    TaskMetrics& m = d_->message.emplace<TaskMetrics>();
    std::optional<double>* pslots[] = {
        &m.metrics.cpu_percent,      &m.metrics.memory_bytes,
        &m.metrics.memory_percent,   &m.metrics.disk_read_bytes,
        &m.metrics.disk_write_bytes, &m.metrics.network_rx_bytes,
        &m.metrics.network_tx_bytes, &m.metrics.uptime_seconds,
        &m.metrics.thread_count,     &m.metrics.file_descriptor_count};
    SeenMask pmask, amask;
    TsRead top, nested;
    bool seen_task = false, seen_proplet = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "task_id") {
        ReadId(1, "task_id", &m.task_id, &seen_task);
      } else if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_proplet);
      } else if (key == "metrics") {
        ObjectOrNull(1, "", "metrics", [&](int depth) {
          NumberObject(depth, "metrics", kProcessFields, pslots, &pmask,
                       [&](std::string_view k, int dd) {
                         if (k != "timestamp") return false;
                         ReadTimestamp(dd, "metrics", &nested);
                         return true;
                       });
        });
      } else if (key == "aggregated") {
        ObjectOrNull(1, "", "aggregated", [&](int depth) {
          AggregatedMetrics& a =
              m.aggregated ? *m.aggregated : m.aggregated.emplace();
          std::optional<double>* aslots[] = {
              &a.avg_cpu_usage,    &a.max_cpu_usage,    &a.avg_memory_usage,
              &a.max_memory_usage, &a.total_disk_read,  &a.total_disk_write,
              &a.total_network_rx, &a.total_network_tx, &a.sample_count};
          NumberObject(depth, "aggregated", kAggregatedFields, aslots, &amask,
                       [](std::string_view, int) { return false; });
        });
      } else if (key == "timestamp") {
        ReadTimestamp(1, "", &top);
      } else {
        Skip(1);
      }
    });
    if (!seen_task) {
      missing_ = "task_id";
    } else if (!seen_proplet) {
      missing_ = "proplet_id";
    }
    m.timestamp = ResolveTimestamp(top, nested);
  }

  void PropletBody() {
    PropletMetrics& m = d_->message.emplace<PropletMetrics>();
    std::optional<double>* cslots[] = {&m.cpu.user_seconds,
                                       &m.cpu.system_seconds, &m.cpu.percent};
    std::optional<double>* mslots[] = {&m.memory.rss_bytes,
                                       &m.memory.heap_alloc_bytes,
                                       &m.memory.heap_sys_bytes,
                                       &m.memory.heap_inuse_bytes,
                                       &m.memory.container_usage_bytes,
                                       &m.memory.container_limit_bytes,
                                       &m.memory.heap_free_bytes,
                                       &m.memory.heap_max_alloc_bytes};
    SeenMask cmask, mmask;
    TsRead top, nested;
    bool seen_id = false, seen_ns = false, seen_version = false;
    auto none = [](std::string_view, int) { return false; };
    // cpu/memory objects, at the top level (flat) or inside `metrics`.
    auto cpu_or_memory = [&](std::string_view key, int depth, bool in_metrics) {
      if (key == "cpu_metrics" || key == "cpu") {
        const char* obj =
            key == "cpu" ? (in_metrics ? "metrics.cpu" : "cpu")
                         : (in_metrics ? "metrics.cpu_metrics" : "cpu_metrics");
        ObjectOrNull(depth, in_metrics ? "metrics" : "",
                     key == "cpu" ? "cpu" : "cpu_metrics", [&](int dd) {
                       NumberObject(dd, obj, kCpuFields, cslots, &cmask, none);
                     });
        return true;
      }
      if (key == "memory_metrics" || key == "memory") {
        const char* obj =
            key == "memory"
                ? (in_metrics ? "metrics.memory" : "memory")
                : (in_metrics ? "metrics.memory_metrics" : "memory_metrics");
        ObjectOrNull(
            depth, in_metrics ? "metrics" : "",
            key == "memory" ? "memory" : "memory_metrics", [&](int dd) {
              NumberObject(dd, obj, kMemoryFields, mslots, &mmask, none);
            });
        return true;
      }
      return false;
    };
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else if (key == "timestamp") {
        ReadTimestamp(1, "", &top);
      } else if (key == "metrics") {
        bool is_obj = ObjectOrNull(1, "", "metrics", [&](int depth) {
          r_.Object(depth, [&](std::string_view k) {
            if (k == "timestamp") {
              ReadTimestamp(depth, "metrics", &nested);
            } else if (k == "version") {
              std::string v;
              ReadString(depth, "metrics", "version", &v, &seen_version, false);
              if (!v.empty()) m.version = std::move(v);
            } else if (!cpu_or_memory(k, depth, true)) {
              Skip(depth);
            }
          });
        });
        if (is_obj) d_->nested_layout = true;
      } else if (!cpu_or_memory(key, 1, false)) {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
    m.timestamp = ResolveTimestamp(top, nested);
  }

  void AliveBody() {
    Alive& m = d_->message.emplace<Alive>();
    m.status.clear();
    bool seen_id = false, seen_status = false, seen_ns = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "status") {
        ReadString(1, "", "status", &m.status, &seen_status, false);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
  }

  void CreateBody() {
    Create& m = d_->message.emplace<Create>();
    bool seen_id = false, seen_ns = false, seen_meta = false;
    std::vector<std::string> poisoned;
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else if (key == "metadata") {
        if (seen_meta) {
          // A second metadata object merges; its repeated keys are
          // duplicates like any other.
        }
        seen_meta = true;
        ObjectOrNull(1, "", "metadata",
                     [&](int depth) { MetadataObject(depth, &m, &poisoned); });
      } else {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
  }

  void MetadataObject(int depth, Create* m,
                      std::vector<std::string>* poisoned) {
    r_.Object(depth, [&](std::string_view key_view) {
      std::string key(key_view);  // the next string read reuses the scratch
      MetadataValue value;
      char c = r_.Peek();
      bool keep = true;
      if (c == '"') {
        std::string_view v;
        bool bad = false;
        if (!r_.String(&v, r_.value_scratch(), &bad)) return;
        if (bad) {
          r_.Fail("invalid UTF-8 in string");
          return;
        }
        value = std::string(v);
      } else if (c == '-' || IsDigit(c)) {
        double v;
        bool oor;
        if (!r_.Number(&v, &oor)) return;
        if (oor) {
          AddProblem("", "metadata", Problem::kOutOfRange);
          keep = false;
        } else {
          value = v;
        }
      } else if (c == 't' || c == 'f' || c == 'n') {
        int w;
        if (!r_.Literal(&w)) return;
        if (w == -1) {
          value = nullptr;
        } else {
          value = (w == 1);
        }
      } else {
        const char* start = r_.pos();
        if (!r_.SkipValue(depth)) return;
        value = RawJson{std::string(start, r_.pos() - start)};
      }
      for (const std::string& p : *poisoned) {
        if (p == key) return;
      }
      for (auto it = m->metadata.begin(); it != m->metadata.end(); ++it) {
        if (it->first == key) {
          m->metadata.erase(it);
          poisoned->push_back(key);
          AddProblem("", "metadata", Problem::kDuplicate);
          return;
        }
      }
      if (keep) m->metadata.emplace_back(std::move(key), std::move(value));
    });
  }

  void ResultsBody() {
    Results& m = d_->message.emplace<Results>();
    bool seen_task = false, seen_proplet = false, seen_results = false,
         seen_error = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "task_id") {
        ReadId(1, "task_id", &m.task_id, &seen_task);
      } else if (key == "proplet_id") {
        std::string id;
        ReadId(1, "proplet_id", &id, &seen_proplet, /*null_is_absent=*/true);
        if (seen_proplet && !semantic_) m.proplet_id = std::move(id);
      } else if (key == "results") {
        const char* start = r_.pos();
        if (!r_.SkipValue(1)) return;
        if (seen_results) {
          AddProblem("", "results", Problem::kDuplicate);
          m.results.clear();
          return;
        }
        seen_results = true;
        m.results.assign(start, r_.pos() - start);
      } else if (key == "error") {
        if (seen_error) {
          Skip(1);
          AddProblem("", "error", Problem::kDuplicate);
          return;
        }
        seen_error = true;
        char c = r_.Peek();
        if (c == '"') {
          std::string_view v;
          bool bad = false;
          if (!r_.String(&v, r_.value_scratch(), &bad)) return;
          if (bad) {
            r_.Fail("invalid UTF-8 in string");
            return;
          }
          m.error = std::string(v);
        } else if (c == 'n') {
          int w;
          if (!r_.Literal(&w)) return;
          if (w != -1) {
            m.error = w == 1 ? "true" : "false";
            AddProblem("", "error", Problem::kWrongType);
          }
        } else {
          // Any other value still says the task failed: keep its JSON text.
          const char* start = r_.pos();
          if (!r_.SkipValue(1)) return;
          m.error = std::string(start, r_.pos() - start);
          AddProblem("", "error", Problem::kWrongType);
        }
      } else {
        Skip(1);
      }
    });
    if (!seen_task) missing_ = "task_id";
  }

  Reader r_;
  const DecodeOptions& options_;
  Decoded* d_;
  std::optional<Error> semantic_;
  const char* missing_ = nullptr;
};

}  // namespace

Result<Decoded> Decode(MessageKind kind, std::string_view payload,
                       const DecodeOptions& options) {
  if (payload.size() > options.max_bytes) {
    return Error{Reason::kTooLarge, "payload of " +
                                        std::to_string(payload.size()) +
                                        " bytes exceeds the limit of " +
                                        std::to_string(options.max_bytes)};
  }
  Result<Decoded> result{Decoded{}};
  Decoder decoder(payload, options, &result.value());
  if (std::optional<Error> error = decoder.Run(kind)) {
    result = std::move(*error);
  }
  return result;
}

Result<Decoded> DecodeMessage(std::string_view topic, std::string_view payload,
                              const DecodeOptions& options) {
  Result<Topic> t = ParseTopic(topic);
  if (!t.ok()) return t.error();
  Result<Decoded> d = Decode(t->kind, payload, options);
  if (d.ok()) {
    d->domain.assign(t->domain);
    d->channel.assign(t->channel);
  }
  return d;
}

const MetadataValue* Create::Find(std::string_view key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

// ===========================================================================
// Encoding.
// ===========================================================================

namespace {

void AppendEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;  // start of bytes not yet copied
  while (p < end) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++p;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8SeqLen(p, end);
      if (n != 0) {
        p += n;
        continue;
      }
      out->append(run, p - run);
      out->append("\xEF\xBF\xBD");  // U+FFFD
      ++p;
      run = p;
      continue;
    }
    out->append(run, p - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(u, 6);
      }
    }
    ++p;
    run = p;
  }
  out->append(run, p - run);
  out->push_back('"');
}

// Appends a double in its shortest round-trip form; integral values get
// ".0" like serde_json's f64 output.
void AppendDouble(std::string* out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
  bool has_mark = false;
  for (const char* q = buf; q < r.ptr; ++q) {
    if (*q == '.' || *q == 'e') {
      has_mark = true;
      break;
    }
  }
  if (!has_mark) out->append(".0");
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
}

// Writes `"key":` with a leading comma unless first.
inline void Key(std::string* out, bool* first, std::string_view key) {
  if (!*first) out->push_back(',');
  *first = false;
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

// A float field (f64 in the Rust proplet): left out unless finite.
inline void FloatField(std::string* out, bool* first, std::string_view key,
                       const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return;
  Key(out, first, key);
  AppendDouble(out, *v);
}

// An integer field (u64/u32/usize in the Rust proplet): rounded; left out
// unless finite and within 0..2^64.
inline void IntField(std::string* out, bool* first, std::string_view key,
                     const std::optional<double>& v) {
  if (!v || !std::isfinite(*v) || *v < 0 || *v >= 18446744073709551616.0) {
    return;
  }
  double r = std::floor(*v + 0.5);
  if (r >= 18446744073709551616.0) return;
  Key(out, first, key);
  AppendUint(out, static_cast<uint64_t>(r));
}

inline void StringField(std::string* out, bool* first, std::string_view key,
                        std::string_view v) {
  Key(out, first, key);
  AppendEscaped(out, v);
}

inline void TimestampField(std::string* out, bool* first, double ts) {
  Key(out, first, "timestamp");
  std::string s = FormatRfc3339(ts);
  if (s.empty()) {
    out->append("null");
  } else {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
  }
}

void AppendMetadataValue(std::string* out, const MetadataValue& v) {
  if (std::holds_alternative<std::nullptr_t>(v)) {
    out->append("null");
  } else if (const bool* b = std::get_if<bool>(&v)) {
    out->append(*b ? "true" : "false");
  } else if (const double* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) {
      out->append("null");
    } else if (*d == std::floor(*d) && std::fabs(*d) < 9007199254740992.0) {
      // Integral metadata (total_memory_bytes) as an integer, like u64.
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(*d));
      out->append(buf, r.ptr - buf);
    } else {
      AppendDouble(out, *d);
    }
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    AppendEscaped(out, *s);
  } else if (const RawJson* raw = std::get_if<RawJson>(&v)) {
    if (IsValidJson(raw->text)) {
      out->append(raw->text);
    } else {
      AppendEscaped(out, raw->text);
    }
  }
}

}  // namespace

std::optional<std::string> Create::FindText(std::string_view key) const {
  const MetadataValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (const std::string* s = std::get_if<std::string>(v)) return *s;
  if (const bool* b = std::get_if<bool>(v)) {
    return std::string(*b ? "true" : "false");
  }
  if (std::holds_alternative<double>(*v)) {
    std::string out;
    AppendMetadataValue(&out, *v);
    return out;
  }
  return std::nullopt;
}

std::string QuoteJson(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendEscaped(&out, text);
  return out;
}

void AppendJson(const TaskMetrics& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "task_id", m.task_id);
  StringField(out, &first, "proplet_id", m.proplet_id);
  Key(out, &first, "metrics");
  {
    const ProcessMetrics& p = m.metrics;
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "cpu_percent", p.cpu_percent);
    IntField(out, &f, "memory_bytes", p.memory_bytes);
    FloatField(out, &f, "memory_percent", p.memory_percent);
    IntField(out, &f, "disk_read_bytes", p.disk_read_bytes);
    IntField(out, &f, "disk_write_bytes", p.disk_write_bytes);
    IntField(out, &f, "network_rx_bytes", p.network_rx_bytes);
    IntField(out, &f, "network_tx_bytes", p.network_tx_bytes);
    IntField(out, &f, "uptime_seconds", p.uptime_seconds);
    IntField(out, &f, "thread_count", p.thread_count);
    IntField(out, &f, "file_descriptor_count", p.file_descriptor_count);
    out->push_back('}');
  }
  Key(out, &first, "aggregated");
  if (!m.aggregated) {
    out->append("null");
  } else {
    const AggregatedMetrics& a = *m.aggregated;
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "avg_cpu_usage", a.avg_cpu_usage);
    FloatField(out, &f, "max_cpu_usage", a.max_cpu_usage);
    IntField(out, &f, "avg_memory_usage", a.avg_memory_usage);
    IntField(out, &f, "max_memory_usage", a.max_memory_usage);
    IntField(out, &f, "total_disk_read", a.total_disk_read);
    IntField(out, &f, "total_disk_write", a.total_disk_write);
    IntField(out, &f, "total_network_rx", a.total_network_rx);
    IntField(out, &f, "total_network_tx", a.total_network_tx);
    IntField(out, &f, "sample_count", a.sample_count);
    out->push_back('}');
  }
  TimestampField(out, &first, m.timestamp);
  out->push_back('}');
}

void AppendJson(const PropletMetrics& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "namespace", m.namespace_name);
  TimestampField(out, &first, m.timestamp);
  Key(out, &first, "cpu_metrics");
  {
    bool f = true;
    out->push_back('{');
    FloatField(out, &f, "user_seconds", m.cpu.user_seconds);
    FloatField(out, &f, "system_seconds", m.cpu.system_seconds);
    FloatField(out, &f, "percent", m.cpu.percent);
    out->push_back('}');
  }
  Key(out, &first, "memory_metrics");
  {
    const MemoryMetrics& mm = m.memory;
    bool f = true;
    out->push_back('{');
    IntField(out, &f, "rss_bytes", mm.rss_bytes);
    IntField(out, &f, "heap_alloc_bytes", mm.heap_alloc_bytes);
    IntField(out, &f, "heap_sys_bytes", mm.heap_sys_bytes);
    IntField(out, &f, "heap_inuse_bytes", mm.heap_inuse_bytes);
    IntField(out, &f, "container_usage_bytes", mm.container_usage_bytes);
    IntField(out, &f, "container_limit_bytes", mm.container_limit_bytes);
    IntField(out, &f, "heap_free_bytes", mm.heap_free_bytes);
    IntField(out, &f, "heap_max_alloc_bytes", mm.heap_max_alloc_bytes);
    out->push_back('}');
  }
  out->push_back('}');
}

void AppendJson(const Alive& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "status", m.status);
  StringField(out, &first, "namespace", m.namespace_name);
  out->push_back('}');
}

void AppendJson(const Create& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "proplet_id", m.proplet_id);
  StringField(out, &first, "namespace", m.namespace_name);
  Key(out, &first, "metadata");
  out->push_back('{');
  bool f = true;
  for (const auto& [k, v] : m.metadata) {
    if (!f) out->push_back(',');
    f = false;
    AppendEscaped(out, k);
    out->push_back(':');
    AppendMetadataValue(out, v);
  }
  out->push_back('}');
  out->push_back('}');
}

void AppendJson(const Results& m, std::string* out) {
  bool first = true;
  out->push_back('{');
  StringField(out, &first, "task_id", m.task_id);
  if (m.proplet_id) StringField(out, &first, "proplet_id", *m.proplet_id);
  Key(out, &first, "results");
  if (m.results.empty()) {
    out->append("null");
  } else if (IsValidJson(m.results)) {
    // Trim surrounding whitespace so the output stays compact.
    std::string_view r = m.results;
    auto ws = [](char c) {
      return c == ' ' || c == '\n' || c == '\r' || c == '\t';
    };
    while (!r.empty() && ws(r.front())) r.remove_prefix(1);
    while (!r.empty() && ws(r.back())) r.remove_suffix(1);
    out->append(r);
  } else {
    AppendEscaped(out, m.results);
  }
  Key(out, &first, "error");
  if (m.error) {
    AppendEscaped(out, *m.error);
  } else {
    out->append("null");
  }
  out->push_back('}');
}

template <typename T>
static std::string EncodeImpl(const T& m) {
  std::string out;
  out.reserve(512);
  AppendJson(m, &out);
  return out;
}

std::string Encode(const TaskMetrics& m) { return EncodeImpl(m); }
std::string Encode(const PropletMetrics& m) { return EncodeImpl(m); }
std::string Encode(const Alive& m) { return EncodeImpl(m); }
std::string Encode(const Create& m) { return EncodeImpl(m); }
std::string Encode(const Results& m) { return EncodeImpl(m); }

}  // namespace propmon::payload
