// Durations and sizes as the configuration files write them, one set of rules
// for both daemons and the web config.
#ifndef PROPMON_COMMON_UNITS_H_
#define PROPMON_COMMON_UNITS_H_

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace propmon {

// "30s", "1m30s", "500ms", "2h", or a bare number of seconds. Go's duration
// strings (as Prometheus and the exporter-toolkit write them) parse the same.
StatusOr<double> ParseDuration(std::string_view text);
// "65536", "64KiB", "256MiB", "1GiB", "64KB", "1MB".
StatusOr<std::size_t> ParseBytes(std::string_view text);

}  // namespace propmon

#endif  // PROPMON_COMMON_UNITS_H_
