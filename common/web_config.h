// WebConfig: the web configuration file of both daemons
// (--web.config.file), in the format of the Prometheus exporter-toolkit, so
// a file written for node_exporter loads unchanged: tls_server_config,
// http_server_config, basic_auth_users, basic_auth_excluded_paths,
// rate_limit. docs/security.md documents every key and what it maps to.
//
// LoadWebConfig reads and validates a file completely (the certificate and
// key it names are read and checked to match, every bcrypt hash is checked
// for form), so a file that loads is one the server can use. Plain data; no
// thread-safety concerns.
#ifndef PROPMON_COMMON_WEB_CONFIG_H_
#define PROPMON_COMMON_WEB_CONFIG_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace propmon {

// The exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType).
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

struct TlsServerSettings {
  bool enabled = false;
  // PEM text, read from cert_file/key_file or given inline (cert/key).
  std::string cert_pem;
  std::string key_pem;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  std::string client_ca_pem;                     // "" = none
  std::vector<std::string> client_allowed_sans;  // exact SAN matches
  // OpenSSL protocol versions (TLS1_2_VERSION, ...).
  int min_version = 0;
  int max_version = 0;
  // OpenSSL names of the TLS <= 1.2 cipher suites; empty = OpenSSL's
  // defaults. TLS 1.3 suites are not configurable, as in Go.
  std::vector<std::string> cipher_suites;
  bool prefer_server_cipher_suites = true;
  // OpenSSL group names ("P-256", "X25519", ...); empty = defaults.
  std::vector<std::string> curve_preferences;
};

struct WebConfig {
  std::string path;  // the file; "" = no web config
  TlsServerSettings tls;
  bool http2 = true;  // accepted; CivetWeb serves HTTP/1.1 only
  // Extra response headers (the toolkit's five), in file order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::map<std::string, std::string> users;  // user -> bcrypt hash
  std::vector<std::string> auth_excluded_paths;
  double rate_limit_interval_seconds = 0;  // 0 = no rate limit
  int rate_limit_burst = 0;
  // The file and every file it names: a change to any of them reloads.
  std::vector<std::string> watched_files;
};

// Reads and validates the web config at `path`. Relative file names in it
// are relative to the file's directory, as in the toolkit. Errors read
// "FILE:LINE: key: message" (key as a dotted path).
StatusOr<WebConfig> LoadWebConfig(const std::string& path);

}  // namespace propmon

#endif  // PROPMON_COMMON_WEB_CONFIG_H_
