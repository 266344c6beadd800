#include "common/web_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

namespace propmon {
namespace {

// bcrypt of "fakepassword" at cost 10: checked for unknown users so that the
// answer takes as long as for a known one (the toolkit does the same).
constexpr char kDummyHash[] =
    "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
constexpr size_t kCacheSize = 256;

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = Base64Value(c);
      if (v[j] < 0) return std::nullopt;
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string CacheKey(const std::string& user, const std::string& hash,
                     const std::string& password) {
  // Lengths first, so that no two (user, hash, password) triples collide.
  std::string in;
  for (const std::string* s : {&user, &hash, &password}) {
    uint64_t n = s->size();
    in.append(reinterpret_cast<const char*>(&n), sizeof(n));
    in += *s;
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  explicit_bzero(in.data(), in.size());
  return std::string(reinterpret_cast<char*>(md), sizeof(md));
}

}  // namespace

Status CheckBcryptHash(std::string_view hash) {
  // $2a$, $2b$ or $2y$, a two-digit cost 04..31, 53 characters of salt and
  // hash in bcrypt's base64 alphabet.
  static constexpr std::string_view kAlphabet =
      "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' ||
      (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$' ||
      hash[6] != '$' || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' ||
      hash[5] > '9') {
    return InvalidArgument(
        "not a bcrypt hash (want $2y$, $2b$ or $2a$ and 60 characters, e.g. "
        "from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)");
  }
  int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) {
    return InvalidArgument("bcrypt cost " + std::to_string(cost) +
                           " outside 4..31");
  }
  if (hash.substr(7).find_first_not_of(kAlphabet) != std::string_view::npos) {
    return InvalidArgument("not a bcrypt hash (bad character)");
  }
  return Status::Ok();
}

std::optional<std::pair<std::string, std::string>> ParseBasicAuth(
    std::string_view header) {
  // RFC 7617: the scheme is case-insensitive.
  if (header.size() < 6 || strncasecmp(header.data(), "Basic ", 6) != 0) {
    return std::nullopt;
  }
  header.remove_prefix(6);
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  auto decoded = Base64Decode(header);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

bool BasicAuthenticator::Check(const std::map<std::string, std::string>& users,
                               const std::string& user,
                               const std::string& password) {
  auto it = users.find(user);
  bool known = it != users.end();
  const std::string hash = known ? it->second : kDummyHash;
  std::string key = CacheKey(user, hash, password);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = cache_.find(key);
    if (c != cache_.end()) return known && c->second;
  }
  bool ok = false;
  {
    std::lock_guard<std::mutex> lock(bcrypt_mu_);
    crypt_data data;
    memset(&data, 0, sizeof(data));
    const char* out = crypt_rn(password.c_str(), hash.c_str(), &data,
                               static_cast<int>(sizeof(data)));
    ok = out != nullptr && out[0] != '*' && strlen(out) == hash.size() &&
         CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
    // A NUL inside the password would make crypt see a shorter one.
    ok = ok && password.find('\0') == std::string::npos;
    explicit_bzero(&data, sizeof(data));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++bcrypt_runs_;
  if (cache_.size() >= kCacheSize) cache_.erase(cache_.begin());
  cache_[key] = ok;
  return known && ok;
}

long BasicAuthenticator::bcrypt_runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bcrypt_runs_;
}

void RateLimiter::Configure(double interval_seconds, int burst) {
  std::lock_guard<std::mutex> lock(mu_);
  if (interval_seconds == interval_ && burst == burst_) return;
  interval_ = interval_seconds;
  burst_ = burst;
  tokens_ = burst;
  last_ = -1;
}

bool RateLimiter::Allow(double now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (interval_ <= 0) return true;
  if (last_ >= 0 && now > last_) {
    tokens_ = std::min<double>(burst_, tokens_ + (now - last_) / interval_);
  }
  last_ = std::max(last_, now);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

}  // namespace propmon
