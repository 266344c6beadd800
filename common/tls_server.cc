#include "common/tls_server.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/log.h"

namespace propmon {

// Everything a handshake needs, parsed once per settings version. In-flight
// handshakes hold a reference (SSL ex_data), so Update() never frees what
// a handshake still uses.
struct TlsServer::Material {
  TlsServerSettings settings;
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;          // certificates after the leaf
  X509_STORE* ca_store = nullptr;            // client CA, for verification
  STACK_OF(X509_NAME) * ca_names = nullptr;  // sent in CertificateRequest
  std::string cipher_list;                   // "" = OpenSSL's default
  std::string groups;                        // "" = OpenSSL's default
  std::atomic<long>* failures = nullptr;

  ~Material() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(ca_store);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
  }
};

namespace {

std::atomic<long> g_client_cert_failures{0};

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// Every certificate in a PEM text, in order.
std::vector<X509*> ReadCerts(const std::string& pem) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return out;
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    out.push_back(x);
  }
  ERR_clear_error();  // the end of the text reads as an error
  BIO_free(bio);
  return out;
}

int SslIndex() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::shared_ptr<const TlsServer::Material>*>(ptr);
      });
  return index;
}

StatusOr<std::shared_ptr<TlsServer::Material>> BuildMaterial(
    const TlsServerSettings& s) {
  auto m = std::make_shared<TlsServer::Material>();
  m->settings = s;
  std::vector<X509*> certs = ReadCerts(s.cert_pem);
  if (certs.empty()) {
    return InvalidArgument("cert: no PEM certificate found");
  }
  m->cert = certs[0];
  m->chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(m->chain, certs[i]);
  BIO* bio =
      BIO_new_mem_buf(s.key_pem.data(), static_cast<int>(s.key_pem.size()));
  m->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (m->key == nullptr) {
    return InvalidArgument("key: no PEM private key found (" + OpenSslError() +
                           ")");
  }
  if (X509_check_private_key(m->cert, m->key) != 1) {
    ERR_clear_error();
    return InvalidArgument("key: does not match the certificate");
  }
  if (!s.client_ca_pem.empty()) {
    std::vector<X509*> cas = ReadCerts(s.client_ca_pem);
    if (cas.empty()) {
      return InvalidArgument("client_ca: no PEM certificate found");
    }
    m->ca_store = X509_STORE_new();
    m->ca_names = sk_X509_NAME_new_null();
    for (X509* ca : cas) {
      X509_STORE_add_cert(m->ca_store, ca);
      sk_X509_NAME_push(m->ca_names, X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
  }
  for (const std::string& c : s.cipher_suites) {
    m->cipher_list += (m->cipher_list.empty() ? "" : ":") + c;
  }
  for (const std::string& g : s.curve_preferences) {
    m->groups += (m->groups.empty() ? "" : ":") + g;
  }
  // Try the lists on a scratch context: OpenSSL must accept all of them.
  SSL_CTX* scratch = SSL_CTX_new(TLS_server_method());
  if (scratch == nullptr) return Internal("SSL_CTX_new: " + OpenSslError());
  Status st = Status::Ok();
  for (const std::string& c : s.cipher_suites) {
    if (SSL_CTX_set_cipher_list(scratch, c.c_str()) != 1) {
      st = InvalidArgument("cipher_suites: OpenSSL cannot use " + c + " (" +
                           OpenSslError() + ")");
      break;
    }
  }
  if (st.ok() && !m->groups.empty() &&
      SSL_CTX_set1_groups_list(scratch, m->groups.c_str()) != 1) {
    st = InvalidArgument("curve_preferences: OpenSSL cannot use " + m->groups +
                         " (" + OpenSslError() + ")");
  }
  if (st.ok() && (SSL_CTX_set_min_proto_version(scratch, s.min_version) != 1 ||
                  SSL_CTX_set_max_proto_version(scratch, s.max_version) != 1)) {
    st = InvalidArgument("min_version/max_version: OpenSSL cannot use them");
  }
  SSL_CTX_free(scratch);
  if (!st.ok()) return st;
  return m;
}

// Go's net.IP.String() forms, which the toolkit compares against.
std::string IpString(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const unsigned char* d = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  if (len == 4) inet_ntop(AF_INET, d, buf, sizeof(buf));
  if (len == 16) inet_ntop(AF_INET6, d, buf, sizeof(buf));
  return buf;
}

// True when the certificate has a SAN (DNS, e-mail, IP or URI) that is
// exactly one of `allowed`.
bool HasAllowedSan(X509* cert, const std::vector<std::string>& allowed) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return false;
  bool found = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && !found; ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    std::string value;
    if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
      const ASN1_IA5STRING* s = n->d.ia5;
      value.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                   static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      value = IpString(n->d.iPAddress);
    } else {
      continue;
    }
    found = std::find(allowed.begin(), allowed.end(), value) != allowed.end();
  }
  GENERAL_NAMES_free(names);
  return found;
}

}  // namespace

StatusOr<int> OpenSslTlsVersion(std::string_view go_name) {
  if (go_name == "TLS10") return TLS1_VERSION;
  if (go_name == "TLS11") return TLS1_1_VERSION;
  if (go_name == "TLS12") return TLS1_2_VERSION;
  if (go_name == "TLS13") return TLS1_3_VERSION;
  return InvalidArgument("unknown TLS version: " + std::string(go_name) +
                         " (want TLS10, TLS11, TLS12 or TLS13)");
}

StatusOr<std::string> OpenSslCipherName(std::string_view go_name) {
  // Go names suites by their IANA names, which OpenSSL knows as the
  // "standard" name of each cipher.
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal("SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
  std::string out;
  bool found = false;
  bool tls13 = false;
  STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(list) && !found; ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    const char* std_name = SSL_CIPHER_standard_name(c);
    if (std_name != nullptr && go_name == std_name) {
      found = true;
      tls13 = std::string_view(SSL_CIPHER_get_version(c)) == "TLSv1.3";
      out = SSL_CIPHER_get_name(c);
    }
  }
  SSL_CTX_free(ctx);
  if (!found) {
    return InvalidArgument("unknown cipher: " + std::string(go_name));
  }
  return tls13 ? std::string() : out;
}

StatusOr<std::string> OpenSslGroupName(std::string_view go_name) {
  if (go_name == "CurveP256") return std::string("P-256");
  if (go_name == "CurveP384") return std::string("P-384");
  if (go_name == "CurveP521") return std::string("P-521");
  if (go_name == "X25519") return std::string("X25519");
  return InvalidArgument("unknown curve: " + std::string(go_name) +
                         " (want CurveP256, CurveP384, CurveP521 or X25519)");
}

Status CheckTlsSettings(const TlsServerSettings& settings) {
  auto m = BuildMaterial(settings);
  return m.ok() ? Status::Ok() : m.status();
}

StatusOr<std::unique_ptr<TlsServer>> TlsServer::Create(
    const TlsServerSettings& settings) {
  std::unique_ptr<TlsServer> t(new TlsServer());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal("SSL_CTX_new: " + OpenSslError());
  t->ctx_ = ctx;
  // Client certificates with session resumption need a session id context.
  static const unsigned char kSid[] = "propmon";
  SSL_CTX_set_session_id_context(ctx, kSid, sizeof(kSid) - 1);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_client_hello_cb(
      ctx,
      [](SSL* ssl, int* alert, void* arg) {
        return TlsServer::ClientHello(ssl, alert, arg);
      },
      t.get());
  Status s = t->Update(settings);
  if (!s.ok()) return s;
  return t;
}

TlsServer::~TlsServer() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

Status TlsServer::Update(const TlsServerSettings& settings) {
  auto m = BuildMaterial(settings);
  if (!m.ok()) return m.status();
  (*m)->failures = &g_client_cert_failures;
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(m).value();
  return Status::Ok();
}

long TlsServer::client_cert_failures() const {
  return g_client_cert_failures.load();
}

int TlsServer::ClientHello(void* ssl_ptr, int* alert, void* arg) {
  SSL* ssl = static_cast<SSL*>(ssl_ptr);
  auto* self = static_cast<TlsServer*>(arg);
  if (self->hook_) self->hook_();
  std::shared_ptr<const Material> m;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    m = self->current_;
  }
  if (m == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const TlsServerSettings& s = m->settings;
  bool ok = SSL_set_min_proto_version(ssl, s.min_version) == 1 &&
            SSL_set_max_proto_version(ssl, s.max_version) == 1 &&
            SSL_use_cert_and_key(ssl, m->cert, m->key, m->chain, 1) == 1;
  if (ok && !m->cipher_list.empty()) {
    ok = SSL_set_cipher_list(ssl, m->cipher_list.c_str()) == 1;
  }
  if (ok && !m->groups.empty()) {
    ok = SSL_set1_groups_list(ssl, m->groups.c_str()) == 1;
  }
  if (s.prefer_server_cipher_suites) {
    SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_clear_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  int mode = SSL_VERIFY_NONE;
  switch (s.client_auth) {
    case ClientAuth::kNoClientCert:
      break;
    case ClientAuth::kRequestClientCert:
    case ClientAuth::kVerifyClientCertIfGiven:
      mode = SSL_VERIFY_PEER;
      break;
    case ClientAuth::kRequireAnyClientCert:
    case ClientAuth::kRequireAndVerifyClientCert:
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      break;
  }
  SSL_set_verify(ssl, mode, [](int preverify_ok, X509_STORE_CTX* x) {
    return TlsServer::Verify(preverify_ok, x);
  });
  if (ok && m->ca_store != nullptr) {
    ok = SSL_set1_verify_cert_store(ssl, m->ca_store) == 1;
    STACK_OF(X509_NAME)* names = SSL_dup_CA_list(m->ca_names);
    SSL_set_client_CA_list(ssl, names);
  }
  if (ok) {
    ok = SSL_set_ex_data(ssl, SslIndex(),
                         new std::shared_ptr<const Material>(m)) == 1;
  }
  if (!ok) {
    PM_LOG(kWarn) << "tls: cannot apply the web config to a connection: "
                  << OpenSslError();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsServer::Verify(int preverify_ok, void* store_ctx) {
  auto* x = static_cast<X509_STORE_CTX*>(store_ctx);
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* mp = ssl == nullptr ? nullptr
                            : static_cast<std::shared_ptr<const Material>*>(
                                  SSL_get_ex_data(ssl, SslIndex()));
  if (mp == nullptr || *mp == nullptr) return 0;
  const Material& m = **mp;
  bool verifies =
      m.settings.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
      m.settings.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  bool ok = verifies ? preverify_ok == 1 : true;
  // The SAN check applies to the client's own certificate (depth 0), after
  // the chain verified, as the toolkit's VerifyPeerCertificate does.
  if (ok && X509_STORE_CTX_get_error_depth(x) == 0 &&
      !m.settings.client_allowed_sans.empty()) {
    ok = HasAllowedSan(X509_STORE_CTX_get_current_cert(x),
                       m.settings.client_allowed_sans);
    if (!ok) X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
  }
  if (!ok && m.failures != nullptr) m.failures->fetch_add(1);
  return ok ? 1 : 0;
}

}  // namespace propmon
