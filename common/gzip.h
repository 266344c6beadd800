#ifndef PROPMON_COMMON_GZIP_H_
#define PROPMON_COMMON_GZIP_H_

#include <string>
#include <string_view>

namespace propmon {

// Returns `data` gzip-compressed (RFC 1952), or an empty string on failure.
// With libdeflate.
std::string GzipCompress(std::string_view data, int level = 1);
// The same with zlib (what GzipCompress used before; for comparison).
std::string GzipCompressZlib(std::string_view data, int level = 1);
// Returns true if an Accept-Encoding header value allows gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace propmon

#endif  // PROPMON_COMMON_GZIP_H_
