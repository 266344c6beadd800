// Small file helpers using open/read (no iostreams on hot paths).
#ifndef PROPMON_COMMON_FILE_H_
#define PROPMON_COMMON_FILE_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace propmon {

// Reads the whole file into *out (reusing its capacity). Returns NotFound
// when the file does not exist (ENOENT/ESRCH: a process that vanished), and
// Unavailable for other errors. Reads at most `max_bytes`.
Status ReadFileTo(const std::string& path, std::string* out,
                  size_t max_bytes = 16 << 20);

// Writes `data` to `path` atomically (temp file + rename).
Status WriteFileAtomic(const std::string& path, std::string_view data);

}  // namespace propmon

#endif  // PROPMON_COMMON_FILE_H_
