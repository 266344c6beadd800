#include "common/units.h"

#include <charconv>
#include <cmath>
#include <string>

namespace propmon {

StatusOr<double> ParseDuration(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty duration");
  // A bare number is seconds.
  {
    double v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
      if (!std::isfinite(v) || v < 0) {
        return InvalidArgument("invalid duration \"" + std::string(text) +
                               "\"");
      }
      return v;
    }
  }
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    double v = 0;
    auto r = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (r.ec != std::errc() || v < 0) {
      return InvalidArgument("invalid duration \"" + std::string(text) +
                             "\" (want e.g. 30s, 5m, 1h30m, 500ms)");
    }
    i = static_cast<size_t>(r.ptr - text.data());
    size_t u = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(u, i - u);
    double scale;
    if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else if (unit == "d") {
      scale = 86400;
    } else if (unit == "w") {
      scale = 7 * 86400;
    } else {
      return InvalidArgument("invalid duration \"" + std::string(text) +
                             "\" (units: ms, s, m, h, d, w)");
    }
    total += v * scale;
  }
  if (!std::isfinite(total)) {
    return InvalidArgument("invalid duration \"" + std::string(text) + "\"");
  }
  return total;
}

StatusOr<std::size_t> ParseBytes(std::string_view text) {
  unsigned long long v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || text.empty()) {
    return InvalidArgument("invalid size \"" + std::string(text) +
                           "\" (want e.g. 65536, 64KiB, 256MiB)");
  }
  std::string_view unit = text.substr(static_cast<size_t>(r.ptr - text.data()));
  unsigned long long scale;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB") {
    scale = 1ull << 10;
  } else if (unit == "MiB") {
    scale = 1ull << 20;
  } else if (unit == "GiB") {
    scale = 1ull << 30;
  } else if (unit == "KB" || unit == "kB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000 * 1000;
  } else if (unit == "GB") {
    scale = 1000 * 1000 * 1000;
  } else {
    return InvalidArgument("invalid size unit in \"" + std::string(text) +
                           "\" (B, KiB, MiB, GiB, KB, MB, GB)");
  }
  if (v > std::numeric_limits<std::size_t>::max() / scale) {
    return InvalidArgument("size \"" + std::string(text) + "\" is too large");
  }
  return static_cast<std::size_t>(v * scale);
}

}  // namespace propmon
