#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace propmon {

Status ReadFileTo(const std::string& path, std::string* out, size_t max_bytes) {
  out->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH) return NotFound(path + ": " + strerror(e));
    return Unavailable(path + ": " + strerror(e));
  }
  if (out->capacity() < 4096) out->reserve(4096);
  while (out->size() < max_bytes) {
    size_t old = out->size();
    size_t want = out->capacity() - old;
    if (want < 1024) {
      out->reserve(out->capacity() * 2);
      want = out->capacity() - old;
    }
    if (want > max_bytes - old) want = max_bytes - old;
    out->resize(old + want);
    ssize_t r = read(fd, out->data() + old, want);
    if (r < 0) {
      int e = errno;
      out->resize(old);
      close(fd);
      if (e == ESRCH || e == ENOENT) return NotFound(path + ": " + strerror(e));
      return Unavailable(path + ": " + strerror(e));
    }
    out->resize(old + static_cast<size_t>(r));
    if (r == 0) break;
  }
  close(fd);
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable(tmp + ": " + strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w <= 0) {
      close(fd);
      return Unavailable(tmp + ": " + strerror(errno));
    }
    off += static_cast<size_t>(w);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return Unavailable(path + ": " + strerror(errno));
  }
  return Status::Ok();
}

}  // namespace propmon
