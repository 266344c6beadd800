#include "common/web_config.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <string>

#include "common/http_server.h"
#include "common/tls_server.h"
#include "common/web_auth.h"
#include "tests/testutil/testutil.h"

namespace propmon {
namespace {

using testutil::TempDir;

// A self-signed certificate and key made with the openssl command.
void MakeCert(const TempDir& dir, const std::string& name) {
  std::string cmd = "cd " + dir.path() +
                    " && openssl req -x509 -newkey ec -pkeyopt "
                    "ec_paramgen_curve:P-256 -nodes -keyout " +
                    name + ".key -out " + name +
                    ".crt -days 1 -subj /CN=localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)),
            nullptr);
  crypt_data data{};
  return crypt_rn(password.c_str(), salt, &data, sizeof(data));
}

TEST(WebConfigTest, LoadsTheToolkitsDocumentedExampleUnchanged) {
  TempDir dir;
  MakeCert(dir, "server");
  std::ifstream in(std::string(PROPMON_SOURCE_DIR) +
                   "/tests/fixtures/web/toolkit-web-config.yml");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  auto c = LoadWebConfig(dir.Write("web-config.yml", text));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->tls.enabled);
  EXPECT_EQ(c->users.size(), 2u);
  EXPECT_EQ(c->users.count("alice"), 1u);
  EXPECT_EQ(c->rate_limit_interval_seconds, 1);
  EXPECT_EQ(c->rate_limit_burst, 20);
  EXPECT_EQ(c->tls.min_version, TLS1_2_VERSION);  // the toolkit's defaults
  EXPECT_EQ(c->tls.max_version, TLS1_3_VERSION);
  // The file and the two files it names are watched for changes.
  EXPECT_EQ(c->watched_files.size(), 3u);
}

TEST(WebConfigTest, ReadsEveryKey) {
  TempDir dir;
  MakeCert(dir, "server");
  MakeCert(dir, "ca");
  std::string hash = Bcrypt("pw");
  auto c = LoadWebConfig(dir.Write("w.yml", R"(
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [a.example, 10.0.0.1]
  min_version: TLS13
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
  curve_preferences: [CurveP384, X25519]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: sameorigin
    X-Content-Type-Options: nosniff
    X-XSS-Protection: "1; mode=block"
basic_auth_users:
  u: )" + hash + R"(
basic_auth_excluded_paths: [/-/healthy, /-/ready]
rate_limit:
  interval: 500ms
  burst: 5
)"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tls.client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_FALSE(c->tls.client_ca_pem.empty());
  EXPECT_EQ(c->tls.client_allowed_sans.size(), 2u);
  EXPECT_EQ(c->tls.min_version, TLS1_3_VERSION);
  // The TLS 1.3 suite is not configurable (as in Go): only one is kept, by
  // its OpenSSL name.
  ASSERT_EQ(c->tls.cipher_suites.size(), 1u);
  EXPECT_EQ(c->tls.cipher_suites[0], "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_FALSE(c->tls.prefer_server_cipher_suites);
  EXPECT_EQ(c->tls.curve_preferences,
            (std::vector<std::string>{"P-384", "X25519"}));
  EXPECT_FALSE(c->http2);
  EXPECT_EQ(c->headers.size(), 3u);
  EXPECT_EQ(c->users.at("u"), hash);
  EXPECT_EQ(c->auth_excluded_paths.size(), 2u);
  EXPECT_EQ(c->rate_limit_interval_seconds, 0.5);
  EXPECT_EQ(c->rate_limit_burst, 5);
}

TEST(WebConfigTest, AnEmptyFileIsPlainHttp) {
  TempDir dir;
  auto c = LoadWebConfig(dir.Write("w.yml", ""));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->tls.enabled);
  EXPECT_TRUE(c->users.empty());
}

TEST(WebConfigTest, ErrorsNameFileLineAndKey) {
  TempDir dir;
  MakeCert(dir, "server");
  MakeCert(dir, "other");
  struct Case {
    std::string yaml;
    std::string want;  // after "FILE:"
  } cases[] = {
      {"tls_server_config:\n  cert_file: server.crt\n",
       "2: tls_server_config: missing one of key or key_file"},
      {"tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n",
       "2: tls_server_config.cert_file: cannot read"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
       "tls_server_config: key: does not match the certificate"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  min_version: TLS14\n",
       "4: tls_server_config.min_version: unknown TLS version: TLS14"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  cipher_suites: [TLS_MADE_UP]\n",
       "4: tls_server_config.cipher_suites: unknown cipher: TLS_MADE_UP"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  curve_preferences: [CurveP999]\n",
       "4: tls_server_config.curve_preferences: unknown curve: CurveP999"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  client_auth_type: Sometimes\n",
       "4: tls_server_config.client_auth_type: invalid ClientAuth"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  client_ca_file: other.crt\n",
       "tls_server_config.client_auth_type: client CA's have been configured "
       "without a Client Auth Policy"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  client_auth_type: RequireAndVerifyClientCert\n",
       "tls_server_config.client_ca_file: client_auth_type "
       "RequireAndVerifyClientCert needs"},
      {"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
       "  min_version: TLS13\n  max_version: TLS12\n",
       "tls_server_config.min_version: is above max_version"},
      {"basic_auth_users:\n  alice: secret\n",
       "2: basic_auth_users.alice: not a bcrypt hash"},
      {"basic_auth_users:\n  alice: "
       "$2y$99$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n",
       "basic_auth_users.alice: bcrypt cost 99 outside 4..31"},
      {"http_server_config:\n  headers:\n    Set-Cookie: x\n",
       "3: http_server_config.headers.Set-Cookie: HTTP header \"Set-Cookie\" "
       "can not be configured"},
      {"http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
       "http_server_config.headers.X-Frame-Options: invalid value \"allow\""},
      {"http_server_config:\n  http2: maybe\n",
       "2: http_server_config.http2: want true or false"},
      {"rate_limit:\n  interval: soon\n", "2: rate_limit.interval: invalid"},
      {"rate_limit:\n  burst: -1\n", "rate_limit.burst: want a non-negative"},
      {"tls_config:\n  cert_file: x\n", "1: tls_config: unknown key"},
      {"basic_auth_users: [a]\n", "basic_auth_users: want a mapping"},
      {"a: [\n", "w.yml:"},
  };
  for (const Case& c : cases) {
    std::string path = dir.Write("w.yml", c.yaml);
    auto r = LoadWebConfig(path);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().message().rfind(path + ":", 0), 0u)
        << r.status().message();
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << "got: " << r.status().message() << "\nwant: " << c.want;
  }
  auto missing = LoadWebConfig(dir.path() + "/absent.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent.yml"), std::string::npos);
}

TEST(TlsNamesTest, MapsGoNamesOntoOpenSsl) {
  EXPECT_EQ(*OpenSslCipherName("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            "ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_EQ(*OpenSslCipherName("TLS_RSA_WITH_AES_128_CBC_SHA"), "AES128-SHA");
  EXPECT_EQ(*OpenSslCipherName("TLS_AES_256_GCM_SHA384"), "");  // TLS 1.3
  EXPECT_FALSE(OpenSslCipherName("ECDHE-RSA-AES128-GCM-SHA256").ok());
  EXPECT_EQ(*OpenSslGroupName("CurveP521"), "P-521");
  EXPECT_EQ(*OpenSslTlsVersion("TLS10"), TLS1_VERSION);
}

TEST(BasicAuthTest, ParsesTheHeader) {
  auto c = ParseBasicAuth("Basic YWxpY2U6cGE6c3M=");  // alice:pa:ss
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->first, "alice");
  EXPECT_EQ(c->second, "pa:ss");
  EXPECT_TRUE(ParseBasicAuth("basic Ym9iOg==").has_value());  // bob:
  for (const char* bad : {"", "Basic", "Bearer YWxpY2U6cGE=", "Basic !!!!",
                          "Basic YWxpY2U", "Basic YWxpY2U=",  // no colon
                          "Basic YQ==YQ=="}) {
    EXPECT_FALSE(ParseBasicAuth(bad).has_value()) << bad;
  }
}

TEST(BasicAuthTest, ChecksBcryptAndCachesByHash) {
  std::map<std::string, std::string> users = {{"alice", Bcrypt("wonder")},
                                              {"bob", Bcrypt("builder")}};
  BasicAuthenticator auth;
  EXPECT_TRUE(auth.Check(users, "alice", "wonder"));
  EXPECT_FALSE(auth.Check(users, "alice", "builder"));
  EXPECT_FALSE(auth.Check(users, "bob", "wonder"));
  EXPECT_FALSE(auth.Check(users, "carol", "wonder"));  // unknown user
  EXPECT_FALSE(auth.Check(users, "alice", std::string("wonder\0x", 8)));
  long runs = auth.bcrypt_runs();
  EXPECT_EQ(runs, 5);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(auth.Check(users, "alice", "wonder"));
    EXPECT_FALSE(auth.Check(users, "alice", "builder"));
  }
  EXPECT_EQ(auth.bcrypt_runs(), runs);  // answered from the cache
  // A changed hash (a new password in the file) is a new cache key.
  users["alice"] = Bcrypt("other");
  EXPECT_FALSE(auth.Check(users, "alice", "wonder"));
  EXPECT_TRUE(auth.Check(users, "alice", "other"));
  EXPECT_EQ(auth.bcrypt_runs(), runs + 2);
  // The toolkit's $2y$ hashes check too (carol123 from its test data).
  users["carol"] =
      "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";
  EXPECT_TRUE(auth.Check(users, "carol", "carol123"));
}

TEST(RateLimiterTest, IsATokenBucket) {
  RateLimiter r;
  EXPECT_TRUE(r.Allow(0));  // unconfigured: no limit
  r.Configure(1.0, 3);
  EXPECT_TRUE(r.Allow(10));
  EXPECT_TRUE(r.Allow(10));
  EXPECT_TRUE(r.Allow(10));
  EXPECT_FALSE(r.Allow(10));
  EXPECT_FALSE(r.Allow(10.5));
  EXPECT_TRUE(r.Allow(11.1));  // one token a second
  EXPECT_FALSE(r.Allow(11.2));
  EXPECT_TRUE(r.Allow(100));  // refills up to the burst only
  EXPECT_TRUE(r.Allow(100));
  EXPECT_TRUE(r.Allow(100));
  EXPECT_FALSE(r.Allow(100));
  r.Configure(0, 0);
  EXPECT_TRUE(r.Allow(100));
}

// The server side: basic auth, excluded paths and headers through a real
// HttpServer, and a bad reload keeping the old settings.
TEST(HttpServerWebConfigTest, AuthHeadersAndReload) {
  TempDir dir;
  std::string cfg =
      dir.Write("w.yml", "basic_auth_users:\n  alice: " + Bcrypt("pw") +
                             "\nbasic_auth_excluded_paths: [/open]\n"
                             "http_server_config:\n  headers:\n"
                             "    X-Frame-Options: deny\n");
  HttpServer server;
  server.Handle("GET", "/who", [](const HttpRequest& r) {
    return HttpResponse::Text(200, r.auth_user);
  });
  server.Handle("GET", "/open", [](const HttpRequest& r) {
    return HttpResponse::Text(200, r.Authenticated() ? "auth" : "anon");
  });
  HttpServer::Options o;
  o.listen_address = "127.0.0.1:0";
  o.web_config_file = cfg;
  ASSERT_TRUE(server.Start(o).ok());
  int port = server.port();
  auto r = testutil::Http(port, "GET", "/who");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["www-authenticate"], "Basic");
  EXPECT_EQ(r.headers["x-frame-options"], "deny");
  r = testutil::Http(port, "GET", "/who", "",
                     {"Authorization: Basic YWxpY2U6cHc="});  // alice:pw
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "alice");
  EXPECT_EQ(testutil::Http(port, "GET", "/open").body, "anon");
  // A broken file: refused, old settings kept, counted.
  dir.Write("w.yml", "basic_auth_users: oops\n");
  EXPECT_FALSE(server.ReloadWebConfig().ok());
  EXPECT_EQ(testutil::Http(port, "GET", "/who").status, 401);
  HttpServer::Stats st = server.stats();
  EXPECT_FALSE(st.last_reload_ok);
  EXPECT_EQ(st.reloads_failed, 1);
  // A good one takes effect: no users, so no auth.
  dir.Write("w.yml", "http_server_config:\n  http2: true\n");
  EXPECT_TRUE(server.ReloadWebConfig().ok());
  EXPECT_EQ(testutil::Http(port, "GET", "/who").status, 200);
  EXPECT_TRUE(server.stats().last_reload_ok);
  server.Stop();
}

// A GET over TLS with OpenSSL as the client; returns the status line, or ""
// when the handshake or the request failed. `client` names a cert/key pair
// in `dir` to present ("" = none).
std::string TlsGet(int port, const TempDir& dir, const std::string& ca,
                   const std::string& client) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, (dir.path() + "/" + ca).c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!client.empty()) {
    SSL_CTX_use_certificate_file(
        ctx, (dir.path() + "/" + client + ".crt").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(
        ctx, (dir.path() + "/" + client + ".key").c_str(), SSL_FILETYPE_PEM);
  }
  std::string out;
  BIO* bio = BIO_new_ssl_connect(ctx);
  SSL* ssl = nullptr;
  BIO_get_ssl(bio, &ssl);
  std::string host = "127.0.0.1:" + std::to_string(port);
  BIO_set_conn_hostname(bio, host.c_str());
  if (BIO_do_connect(bio) == 1 && BIO_do_handshake(bio) == 1) {
    const char req[] =
        "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (BIO_write(bio, req, sizeof(req) - 1) > 0) {
      char buf[256];
      int n = BIO_read(bio, buf, sizeof(buf));
      if (n > 0) out.assign(buf, static_cast<size_t>(n));
    }
  }
  ERR_clear_error();
  BIO_free_all(bio);
  SSL_CTX_free(ctx);
  return out.substr(0, out.find("\r\n"));
}

// TLS through CivetWeb with our SSL_CTX (and the OpenSSL 3 stand-ins of
// common/civetweb_tls.h; this runs under ASan in scripts/sanitize.sh):
// served with the right CA, mutual TLS enforced, a new certificate picked up
// by a reload.
TEST(HttpServerWebConfigTest, ServesTlsAndReloadsCertificates) {
  TempDir dir;
  MakeCert(dir, "server");
  MakeCert(dir, "client");
  dir.Write("w.yml",
            "tls_server_config:\n  cert_file: server.crt\n"
            "  key_file: server.key\n");
  HttpServer server;
  server.Handle("GET", "/x", [](const HttpRequest& r) {
    return HttpResponse::Text(200, r.client_cert_verified ? "mtls" : "tls");
  });
  HttpServer::Options o;
  o.listen_address = "127.0.0.1:0";
  o.web_config_file = dir.path() + "/w.yml";
  Status st = server.Start(o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(TlsGet(server.port(), dir, "server.crt", ""), "HTTP/1.1 200 OK");
  EXPECT_EQ(testutil::Http(server.port(), "GET", "/x").status, 0);  // no HTTP
  // Mutual TLS: the client certificate is its own CA here.
  dir.Write("w.yml",
            "tls_server_config:\n  cert_file: server.crt\n"
            "  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n"
            "  client_ca_file: client.crt\n");
  ASSERT_TRUE(server.ReloadWebConfig().ok());
  EXPECT_EQ(TlsGet(server.port(), dir, "server.crt", ""), "");
  EXPECT_EQ(TlsGet(server.port(), dir, "server.crt", "client"),
            "HTTP/1.1 200 OK");
  EXPECT_EQ(TlsGet(server.port(), dir, "server.crt", "server"), "");
  EXPECT_GE(server.stats().client_cert_failures, 1);  // the untrusted one
  // A new server certificate: the old CA no longer verifies it.
  MakeCert(dir, "server");
  ASSERT_TRUE(server.ReloadWebConfig().ok());
  EXPECT_EQ(TlsGet(server.port(), dir, "client.crt", "client"), "");
  EXPECT_EQ(TlsGet(server.port(), dir, "server.crt", "client"),
            "HTTP/1.1 200 OK");
  server.Stop();
}

TEST(HttpServerWebConfigTest, BadFileFailsStart) {
  TempDir dir;
  HttpServer server;
  HttpServer::Options o;
  o.listen_address = "127.0.0.1:0";
  o.web_config_file = dir.Write("w.yml", "rate_limit: {burst: x}\n");
  Status s = server.Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("w.yml:1: rate_limit.burst"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace propmon
