#include "common/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <cctype>

namespace propmon {

std::string GzipCompress(std::string_view data, int level) {
  // libdeflate compresses a whole buffer in one call, several times faster
  // than zlib at the same level (docs/performance.md, BM_Gzip).
  libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  if (c == nullptr) return {};
  std::string out;
  out.resize(libdeflate_gzip_compress_bound(c, data.size()));
  size_t n = libdeflate_gzip_compress(c, data.data(), data.size(), out.data(),
                                      out.size());
  libdeflate_free_compressor(c);
  if (n == 0) return {};
  out.resize(n);
  return out;
}

std::string GzipCompressZlib(std::string_view data, int level) {
  z_stream zs{};
  // 15 window bits + 16 selects the gzip wrapper.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return {};
  }
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  out.resize(produced);
  return out;
}

bool AcceptsGzip(std::string_view header) {
  // Tokens separated by commas; "gzip" or "gzip;q=..." with q > 0.
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view tok = header.substr(pos, end - pos);
    while (!tok.empty() && isspace(static_cast<unsigned char>(tok.front())))
      tok.remove_prefix(1);
    if (tok.substr(0, 4) == "gzip" &&
        (tok.size() == 4 || tok[4] == ';' ||
         isspace(static_cast<unsigned char>(tok[4])))) {
      size_t q = tok.find("q=");
      if (q == std::string_view::npos) return true;
      std::string_view qv = tok.substr(q + 2);
      return !(qv.substr(0, 1) == "0" &&
               qv.find_first_not_of("0.") == std::string_view::npos);
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace propmon
