#include "common/label.h"

#include <bit>
#include <cstring>

namespace propmon::label {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

constexpr bool kLittleEndian = std::endian::native == std::endian::little;
constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Returns nonzero if any byte of `word` may be below 0x20, 0x7F, or at
// least 0x80 (may flag more than that; never misses one).
inline std::uint64_t MaybeNotPlainAscii(std::uint64_t word) {
  std::uint64_t del = word ^ (kOnes * 0x7F);
  return ((word - kOnes * 0x20) | (del - kOnes) | word) & kHighs;
}

// True if the valid UTF-8 `s` holds a C0 control, DEL or a C1 control.
bool HasControl(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  // Plain printable ASCII, 8 bytes at a time.
  while (kLittleEndian && end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    if (MaybeNotPlainAscii(word) != 0) break;
    p += 8;
  }
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  std::size_t n = static_cast<std::size_t>(end - p);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = u[i];
    if (c < 0x20 || c == 0x7F) return true;
    // C1 controls U+0080..U+009F are encoded C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < n && u[i + 1] <= 0x9F) return true;
  }
  return false;
}

bool ValidUtf8(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    if (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & kHighs) == 0) {
        p += 8;
        continue;
      }
    }
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = Utf8SequenceLength(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

}  // namespace

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kEmpty:
      return "empty";
    case Reason::kInvalidUtf8:
      return "invalid_utf8";
    case Reason::kControlChar:
      return "control_char";
    case Reason::kTooLong:
      return "too_long";
  }
  return "unknown";
}

const char* ReasonText(Reason reason) {
  switch (reason) {
    case Reason::kEmpty:
      return "is empty";
    case Reason::kInvalidUtf8:
      return "is not valid UTF-8";
    case Reason::kControlChar:
      return "contains a control character";
    case Reason::kTooLong:
      return "is longer than 256 bytes";
  }
  return "is not a valid label value";
}

const char* ActionName(Action action) {
  return action == Action::kRepaired ? "repaired" : "refused";
}

std::optional<Reason> CheckValidUtf8(std::string_view value) {
  if (value.empty()) return Reason::kEmpty;
  if (HasControl(value)) return Reason::kControlChar;
  if (value.size() > kMaxBytes) return Reason::kTooLong;
  return std::nullopt;
}

std::optional<Reason> Check(std::string_view value) {
  if (value.empty()) return Reason::kEmpty;
  if (!ValidUtf8(value)) return Reason::kInvalidUtf8;
  return CheckValidUtf8(value);
}

std::optional<Reason> Repair(std::string* value) {
  std::optional<Reason> r = Check(*value);
  if (!r || *r == Reason::kEmpty) return r;
  if (*r == Reason::kTooLong) {
    // Valid and free of controls: only the cut.
  } else {
    std::string out;
    out.reserve(value->size() + 8);
    const char* p = value->data();
    const char* end = p + value->size();
    while (p < end) {
      auto c = static_cast<unsigned char>(*p);
      if (c < 0x80) {
        if (c < 0x20 || c == 0x7F) {
          out.append(kReplacement);
        } else {
          out.push_back(static_cast<char>(c));
        }
        ++p;
        continue;
      }
      std::size_t n = Utf8SequenceLength(p, end);
      if (n == 0) {
        out.append(kReplacement);
        ++p;
        continue;
      }
      if (c == 0xC2 && static_cast<unsigned char>(p[1]) <= 0x9F) {
        out.append(kReplacement);  // a C1 control
      } else {
        out.append(p, n);
      }
      p += n;
    }
    *value = std::move(out);
  }
  if (value->size() > kMaxBytes) {
    std::size_t cut = kMaxBytes;
    while (cut > 0 &&
           (static_cast<unsigned char>((*value)[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    value->resize(cut);
  }
  return r;
}

std::string Repaired(std::string_view value) {
  std::string s(value);
  Repair(&s);
  return s;
}

bool ReplaceInvalidUtf8(std::string_view text, std::string* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  const char* p = begin;
  const char* copied = begin;  // text before this is in *out already
  bool bad = false;
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = Utf8SequenceLength(p, end);
    if (n > 0) {
      p += n;
      continue;
    }
    if (!bad) {
      out->clear();
      out->reserve(text.size() + 8);
      bad = true;
    }
    out->append(copied, p);
    out->append(kReplacement);
    copied = ++p;
  }
  if (bad) out->append(copied, end);
  return bad;
}

// ---------------------------------------------------------------------------
// Counts.
// ---------------------------------------------------------------------------

Counts::Counts(std::vector<Source> sources)
    : sources_(std::move(sources)),
      counts_(new std::atomic<std::uint64_t>[sources_.size() * kCells]) {
  for (std::size_t i = 0; i < sources_.size() * kCells; ++i) counts_[i] = 0;
}

std::size_t Counts::Cell(std::size_t source, Reason reason,
                         Action action) const {
  return source * kCells +
         static_cast<std::size_t>(reason) * kAllActions.size() +
         static_cast<std::size_t>(action);
}

void Counts::Add(std::size_t source, Reason reason, Action action) {
  if (source >= sources_.size()) return;
  counts_[Cell(source, reason, action)].fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t Counts::Get(std::size_t source, Reason reason,
                          Action action) const {
  if (source >= sources_.size()) return 0;
  return counts_[Cell(source, reason, action)].load(std::memory_order_relaxed);
}

std::optional<Reason> Counts::Refuse(std::size_t source,
                                     std::string_view value) {
  std::optional<Reason> r = Check(value);
  if (r) Add(source, *r, Action::kRefused);
  return r;
}

std::optional<Reason> Counts::Repair(std::size_t source, std::string* value) {
  std::optional<Reason> r = label::Repair(value);
  if (r && *r != Reason::kEmpty) Add(source, *r, Action::kRepaired);
  return r;
}

void Counts::ForEach(const std::function<void(const char*, const char*,
                                              const char*, double)>& f) const {
  for (std::size_t s = 0; s < sources_.size(); ++s) {
    const Source& src = sources_[s];
    for (Reason r : kAllReasons) {
      for (Action a : kAllActions) {
        const auto& listed = a == Action::kRefused ? src.refused : src.repaired;
        bool precreated = false;
        for (Reason l : listed) precreated = precreated || l == r;
        std::uint64_t n = Get(s, r, a);
        if (!precreated && n == 0) continue;
        f(src.name, ReasonName(r), ActionName(a), static_cast<double>(n));
      }
    }
  }
}

}  // namespace propmon::label
