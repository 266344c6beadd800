#include "common/web_config.h"

#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <set>

#include "common/file.h"
#include "common/tls_server.h"
#include "common/units.h"
#include "common/web_auth.h"

namespace propmon {
namespace {

// Reads one file's YAML into a WebConfig, naming FILE:LINE: key in errors.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {
    size_t slash = path_.rfind('/');
    dir_ = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
  }

  Status Error(const YAML::Node& n, const std::string& key,
               const std::string& msg) const {
    std::string where = path_;
    if (n.IsDefined() && n.Mark().line >= 0) {
      where += ":" + std::to_string(n.Mark().line + 1);
    }
    return InvalidArgument(where + ": " + key + ": " + msg);
  }

  // Calls fn(key, value) for each entry of mapping `n`; unknown keys and
  // duplicates are errors (the toolkit reads with UnmarshalStrict).
  template <typename Fn>
  Status Map(const YAML::Node& n, const std::string& path,
             const std::set<std::string>& known, Fn fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsMap())
      return Error(n, path.empty() ? "(top)" : path, "want a mapping");
    std::set<std::string> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar())
        return Error(kv.first, path, "key not a string");
      std::string key = kv.first.Scalar();
      std::string full = path.empty() ? key : path + "." + key;
      if (!known.empty() && known.count(key) == 0) {
        return Error(kv.first, full, "unknown key");
      }
      if (!seen.insert(key).second) {
        return Error(kv.first, full, "duplicate key");
      }
      Status s = fn(key, full, kv.second);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  StatusOr<std::string> String(const YAML::Node& n,
                               const std::string& key) const {
    if (n.IsNull()) return std::string();
    if (!n.IsScalar()) return Error(n, key, "want a string");
    return n.Scalar();
  }

  StatusOr<bool> Bool(const YAML::Node& n, const std::string& key) const {
    // YAML 1.1 booleans as Go's yaml.v2 reads them.
    static const std::set<std::string> kTrue = {
        "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const std::set<std::string> kFalse = {
        "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (n.IsScalar()) {
      if (kTrue.count(n.Scalar())) return true;
      if (kFalse.count(n.Scalar())) return false;
    }
    return Error(n, key, "want true or false");
  }

  StatusOr<std::vector<std::string>> List(const YAML::Node& n,
                                          const std::string& key) const {
    std::vector<std::string> out;
    if (n.IsNull()) return out;
    if (!n.IsSequence()) return Error(n, key, "want a list of strings");
    for (const auto& item : n) {
      if (!item.IsScalar()) return Error(item, key, "want a list of strings");
      out.push_back(item.Scalar());
    }
    return out;
  }

  // A file name relative to the config file's directory, read whole.
  StatusOr<std::string> ReadNamed(const YAML::Node& n, const std::string& key,
                                  const std::string& name, WebConfig* c) const {
    std::string p = !name.empty() && name[0] == '/' ? name : dir_ + name;
    std::string text;
    Status s = ReadFileTo(p, &text, 1 << 20);
    if (!s.ok()) return Error(n, key, "cannot read " + p + ": " + s.message());
    c->watched_files.push_back(p);
    return text;
  }

  Status Tls(const YAML::Node& n, WebConfig* c) const {
    TlsServerSettings& t = c->tls;
    t.min_version = TLS1_2_VERSION;
    t.max_version = TLS1_3_VERSION;
    std::string cert, key, cert_file, key_file, ca, ca_file, auth;
    YAML::Node cert_file_node, key_file_node, ca_file_node, auth_node;
    Status s =
        Map(n, "tls_server_config",
            {"cert", "key", "client_ca", "cert_file", "key_file",
             "client_auth_type", "client_ca_file", "client_allowed_sans",
             "min_version", "max_version", "cipher_suites",
             "prefer_server_cipher_suites", "curve_preferences"},
            [&](const std::string& k, const std::string& full,
                const YAML::Node& v) -> Status {
              auto str = [&](std::string* out) -> Status {
                auto r = String(v, full);
                if (!r.ok()) return r.status();
                *out = *r;
                return Status::Ok();
              };
              if (k == "cert") return str(&cert);
              if (k == "key") return str(&key);
              if (k == "client_ca") return str(&ca);
              if (k == "cert_file") {
                cert_file_node = v;
                return str(&cert_file);
              }
              if (k == "key_file") {
                key_file_node = v;
                return str(&key_file);
              }
              if (k == "client_ca_file") {
                ca_file_node = v;
                return str(&ca_file);
              }
              if (k == "client_auth_type") {
                auth_node = v;
                return str(&auth);
              }
              if (k == "client_allowed_sans") {
                auto l = List(v, full);
                if (!l.ok()) return l.status();
                t.client_allowed_sans = *l;
                return Status::Ok();
              }
              if (k == "min_version" || k == "max_version") {
                auto r = String(v, full);
                if (!r.ok()) return r.status();
                auto ver = OpenSslTlsVersion(*r);
                if (!ver.ok()) return Error(v, full, ver.status().message());
                (k == "min_version" ? t.min_version : t.max_version) = *ver;
                return Status::Ok();
              }
              if (k == "prefer_server_cipher_suites") {
                auto b = Bool(v, full);
                if (!b.ok()) return b.status();
                t.prefer_server_cipher_suites = *b;
                return Status::Ok();
              }
              auto l = List(v, full);
              if (!l.ok()) return l.status();
              for (const std::string& name : *l) {
                auto o = k == "cipher_suites" ? OpenSslCipherName(name)
                                              : OpenSslGroupName(name);
                if (!o.ok()) return Error(v, full, o.status().message());
                if (o->empty()) continue;  // a TLS 1.3 suite: always on
                (k == "cipher_suites" ? t.cipher_suites : t.curve_preferences)
                    .push_back(*o);
              }
              return Status::Ok();
            });
    if (!s.ok()) return s;
    // The toolkit's IsEnabled(): any TLS field turns TLS on.
    t.enabled = !cert.empty() || !key.empty() || !cert_file.empty() ||
                !key_file.empty() || !ca.empty() || !ca_file.empty() ||
                !auth.empty();
    if (!t.enabled) return Status::Ok();
    if (!cert.empty() && !cert_file.empty()) {
      return Error(n, "tls_server_config.cert",
                   "give cert or cert_file, not both");
    }
    if (!key.empty() && !key_file.empty()) {
      return Error(n, "tls_server_config.key",
                   "give key or key_file, not both");
    }
    if (!ca.empty() && !ca_file.empty()) {
      return Error(n, "tls_server_config.client_ca",
                   "give client_ca or client_ca_file, not both");
    }
    if (cert.empty() && cert_file.empty()) {
      return Error(n, "tls_server_config", "missing one of cert or cert_file");
    }
    if (key.empty() && key_file.empty()) {
      return Error(n, "tls_server_config", "missing one of key or key_file");
    }
    if (!cert_file.empty()) {
      auto r = ReadNamed(cert_file_node, "tls_server_config.cert_file",
                         cert_file, c);
      if (!r.ok()) return r.status();
      cert = *r;
    }
    if (!key_file.empty()) {
      auto r =
          ReadNamed(key_file_node, "tls_server_config.key_file", key_file, c);
      if (!r.ok()) return r.status();
      key = *r;
    }
    if (!ca_file.empty()) {
      auto r = ReadNamed(ca_file_node, "tls_server_config.client_ca_file",
                         ca_file, c);
      if (!r.ok()) return r.status();
      ca = *r;
    }
    t.cert_pem = cert;
    t.key_pem = key;
    t.client_ca_pem = ca;
    static const std::pair<const char*, ClientAuth> kAuth[] = {
        {"", ClientAuth::kNoClientCert},
        {"NoClientCert", ClientAuth::kNoClientCert},
        {"RequestClientCert", ClientAuth::kRequestClientCert},
        {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
        {"RequireClientCert", ClientAuth::kRequireAnyClientCert},
        {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
        {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
    };
    bool known = false;
    for (const auto& [name, value] : kAuth) {
      if (auth == name) {
        t.client_auth = value;
        known = true;
      }
    }
    if (!known) {
      return Error(auth_node, "tls_server_config.client_auth_type",
                   "invalid ClientAuth \"" + auth +
                       "\" (want NoClientCert, RequestClientCert, "
                       "RequireAnyClientCert, VerifyClientCertIfGiven or "
                       "RequireAndVerifyClientCert)");
    }
    if (!ca.empty() && t.client_auth == ClientAuth::kNoClientCert) {
      return Error(n, "tls_server_config.client_auth_type",
                   "client CA's have been configured without a Client Auth "
                   "Policy");
    }
    if (ca.empty() &&
        (t.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
         t.client_auth == ClientAuth::kRequireAndVerifyClientCert)) {
      return Error(
          n, "tls_server_config.client_ca_file",
          "client_auth_type " + auth + " needs client_ca_file or client_ca");
    }
    if (t.min_version > t.max_version) {
      return Error(n, "tls_server_config.min_version", "is above max_version");
    }
    s = CheckTlsSettings(t);
    if (!s.ok()) {
      return Error(n, "tls_server_config", s.message());
    }
    return Status::Ok();
  }

  Status Http(const YAML::Node& n, WebConfig* c) const {
    return Map(
        n, "http_server_config", {"http2", "headers"},
        [&](const std::string& k, const std::string& full,
            const YAML::Node& v) -> Status {
          if (k == "http2") {
            auto b = Bool(v, full);
            if (!b.ok()) return b.status();
            c->http2 = *b;
            return Status::Ok();
          }
          // The toolkit's five headers; two take fixed values.
          return Map(
              v, full, {},
              [&](const std::string& h, const std::string& hfull,
                  const YAML::Node& hv) -> Status {
                static const std::map<std::string, std::vector<std::string>>
                    kHeaders = {{"Strict-Transport-Security", {}},
                                {"X-Content-Type-Options", {"nosniff"}},
                                {"X-Frame-Options", {"deny", "sameorigin"}},
                                {"X-XSS-Protection", {}},
                                {"Content-Security-Policy", {}}};
                auto it = kHeaders.find(h);
                if (it == kHeaders.end()) {
                  return Error(
                      hv, hfull,
                      "HTTP header \"" + h + "\" can not be configured");
                }
                auto value = String(hv, hfull);
                if (!value.ok()) return value.status();
                if (value->find_first_of("\r\n") != std::string::npos) {
                  return Error(hv, hfull, "value holds a line break");
                }
                if (!it->second.empty()) {
                  bool ok = false;
                  for (const auto& a : it->second) ok = ok || *value == a;
                  if (!ok) {
                    std::string want;
                    for (const auto& a : it->second) {
                      want += (want.empty() ? "" : ", ") + a;
                    }
                    return Error(hv, hfull,
                                 "invalid value \"" + *value +
                                     "\" (want one of: " + want + ")");
                  }
                }
                if (!value->empty()) c->headers.emplace_back(h, *value);
                return Status::Ok();
              });
        });
  }

  Status Users(const YAML::Node& n, WebConfig* c) const {
    return Map(n, "basic_auth_users", {},
               [&](const std::string& user, const std::string& full,
                   const YAML::Node& v) -> Status {
                 auto hash = String(v, full);
                 if (!hash.ok()) return hash.status();
                 Status s = CheckBcryptHash(*hash);
                 if (!s.ok()) return Error(v, full, s.message());
                 c->users[user] = *hash;
                 return Status::Ok();
               });
  }

  Status RateLimit(const YAML::Node& n, WebConfig* c) const {
    return Map(
        n, "rate_limit", {"interval", "burst"},
        [&](const std::string& k, const std::string& full,
            const YAML::Node& v) -> Status {
          if (!v.IsScalar()) return Error(v, full, "want a scalar");
          if (k == "interval") {
            auto d = ParseDuration(v.Scalar());
            if (!d.ok()) return Error(v, full, d.status().message());
            c->rate_limit_interval_seconds = *d;
            return Status::Ok();
          }
          int b = 0;
          const std::string& s = v.Scalar();
          auto r = std::from_chars(s.data(), s.data() + s.size(), b);
          if (r.ec != std::errc() || r.ptr != s.data() + s.size() || b < 0) {
            return Error(v, full, "want a non-negative integer");
          }
          c->rate_limit_burst = b;
          return Status::Ok();
        });
  }

 private:
  std::string path_;
  std::string dir_;
};

}  // namespace

StatusOr<WebConfig> LoadWebConfig(const std::string& path) {
  WebConfig c;
  c.path = path;
  c.watched_files.push_back(path);
  std::string text;
  Status read = ReadFileTo(path, &text, 1 << 20);
  if (!read.ok()) return InvalidArgument(path + ": " + read.message());
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " +
                           e.msg);
  }
  Reader r(path);
  c.tls.min_version = TLS1_2_VERSION;
  c.tls.max_version = TLS1_3_VERSION;
  Status s =
      r.Map(root, "",
            {"tls_server_config", "http_server_config", "basic_auth_users",
             "basic_auth_excluded_paths", "rate_limit"},
            [&](const std::string& k, const std::string& full,
                const YAML::Node& v) -> Status {
              if (k == "tls_server_config") return r.Tls(v, &c);
              if (k == "http_server_config") return r.Http(v, &c);
              if (k == "basic_auth_users") return r.Users(v, &c);
              if (k == "rate_limit") return r.RateLimit(v, &c);
              auto l = r.List(v, full);
              if (!l.ok()) return l.status();
              c.auth_excluded_paths = *l;
              return Status::Ok();
            });
  if (!s.ok()) return s;
  return c;
}

}  // namespace propmon
