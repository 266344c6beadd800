// TlsServer: the OpenSSL side of the web config's tls_server_config
// (common/web_config.h). It owns one SSL_CTX that CivetWeb uses for every
// connection; the settings (certificate, key, client CA, client_auth_type,
// allowed SANs, versions, ciphers, curves) are applied per connection from
// the ClientHello callback, so Update() takes effect for the next handshake
// without a restart, as the toolkit's GetConfigForClient does.
//
// Thread-safety: Update() and the handshake callbacks may run concurrently
// (CivetWeb calls them on its worker threads).
#ifndef PROPMON_COMMON_TLS_SERVER_H_
#define PROPMON_COMMON_TLS_SERVER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/web_config.h"

namespace propmon {

// Maps the toolkit's (Go's) names onto OpenSSL's. Errors name the value.
// OpenSslCipherName returns "" for a TLS 1.3 suite (Go does not let them be
// configured either; they stay on).
StatusOr<int> OpenSslTlsVersion(std::string_view go_name);  // "TLS12"
StatusOr<std::string> OpenSslCipherName(std::string_view go_name);
StatusOr<std::string> OpenSslGroupName(std::string_view go_name);

// Checks that OpenSSL can use `settings`: the certificate and key parse and
// match, the client CA parses, and the ciphers and curves are accepted.
Status CheckTlsSettings(const TlsServerSettings& settings);

class TlsServer {
 public:
  // Fails when CheckTlsSettings fails or OpenSSL cannot create a context.
  static StatusOr<std::unique_ptr<TlsServer>> Create(
      const TlsServerSettings& settings);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // Uses `settings` for handshakes from now on; on error keeps the old ones.
  Status Update(const TlsServerSettings& settings);
  // The SSL_CTX (an SSL_CTX*) to hand to CivetWeb; owned by this object.
  void* ssl_ctx() const { return ctx_; }
  // Called at the start of every handshake (the web config's reload check).
  void SetHandshakeHook(std::function<void()> hook) { hook_ = std::move(hook); }
  // Handshakes refused by client-certificate checks (for self-metrics).
  long client_cert_failures() const;

  struct Material;  // parsed settings, shared with in-flight handshakes

 private:
  TlsServer() = default;
  static int ClientHello(void* ssl, int* alert, void* arg);
  static int Verify(int preverify_ok, void* store_ctx);

  void* ctx_ = nullptr;  // SSL_CTX*
  mutable std::mutex mu_;
  std::shared_ptr<const Material> current_;
  std::function<void()> hook_;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_TLS_SERVER_H_
