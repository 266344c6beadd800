// Basic authentication and rate limiting of the web config
// (common/web_config.h), as the Prometheus exporter-toolkit does them.
#ifndef PROPMON_COMMON_WEB_AUTH_H_
#define PROPMON_COMMON_WEB_AUTH_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace propmon {

// Returns OK when `hash` has the form of a bcrypt hash ($2a$, $2b$ or $2y$,
// cost 04..31, 60 characters); the error says what is wrong.
Status CheckBcryptHash(std::string_view hash);

// Decodes an "Authorization: Basic ..." header value into user and
// password. nullopt when it is not a well-formed Basic credential.
std::optional<std::pair<std::string, std::string>> ParseBasicAuth(
    std::string_view header);

// Checks user/password pairs against bcrypt hashes with the system's
// crypt(3) (libxcrypt), comparing in constant time. A successful or failed
// check is cached (at most 256 entries) under SHA-256(user, hash,
// password), never the password itself, so a scraper sending the same
// credentials every 15 s pays bcrypt once. An unknown user is checked
// against a fixed hash, so timing does not reveal which users exist.
// Thread-safe; bcrypt runs one at a time (it is CPU-bound by design).
class BasicAuthenticator {
 public:
  // Returns true when `password` matches `users[user]`.
  bool Check(const std::map<std::string, std::string>& users,
             const std::string& user, const std::string& password);
  // bcrypt computations done (cache misses), for tests and self-metrics.
  long bcrypt_runs() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, bool> cache_;
  long bcrypt_runs_ = 0;
  std::mutex bcrypt_mu_;
};

// A token bucket: one token every `interval_seconds`, at most `burst`
// tokens (golang.org/x/time/rate semantics, as the toolkit uses it). An
// interval of 0 disables it. Thread-safe.
class RateLimiter {
 public:
  // Reconfigures; a changed setting starts from a full bucket.
  void Configure(double interval_seconds, int burst);
  // Takes a token at monotonic time `now` (seconds); false when none left.
  bool Allow(double now);

 private:
  std::mutex mu_;
  double interval_ = 0;
  int burst_ = 0;
  double tokens_ = 0;
  double last_ = -1;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_WEB_AUTH_H_
