// The Propeller codec's JSON reader (internal to common/payload*.cc):
// validating, iterative, no allocation unless a string has escapes, with
// SWAR/SSE2 scans for the long runs of plain bytes. IsValidJson() and the
// decoder (payload_decode.cc) read through it; everything here is inline so
// that the decoder's hot loops stay as fast as when they lived in one file.
#ifndef PROPMON_COMMON_JSON_READER_H_
#define PROPMON_COMMON_JSON_READER_H_

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/label.h"
#include "common/payload.h"

namespace propmon::payload::json_internal {

inline size_t Utf8SeqLen(const char* p, const char* end) {
  return label::Utf8SequenceLength(p, end);
}

// The SWAR scans below read 8 bytes as one little-endian word; on a
// big-endian machine they are skipped (the byte loops still run).
constexpr bool kLittleEndian = std::endian::native == std::endian::little;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline void AppendUtf8(std::string* out, uint32_t cp) {
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

}  // namespace propmon::payload::json_internal

#endif  // PROPMON_COMMON_JSON_READER_H_
