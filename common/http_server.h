// HttpServer: the one place CivetWeb is used. Serves registered handlers only
// (no document root is ever enabled: CVE-2025-55763). Handlers run on
// CivetWeb's worker threads and must be thread-safe; an exception escaping a
// handler is caught here and answered with a JSON 500.
//
// With a web config (Options::web_config_file, common/web_config.h) every
// route, streams included, is behind its TLS, basic auth, rate limit and
// headers; the file is re-read when it (or a file it names) changes, and on
// ReloadWebConfig() (the daemons call it on SIGHUP).
#ifndef PROPMON_COMMON_HTTP_SERVER_H_
#define PROPMON_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/tls_server.h"
#include "common/web_auth.h"
#include "common/web_config.h"

struct mg_context;
struct mg_connection;

namespace propmon {

struct HttpRequest {
  std::string method;
  std::string path;   // Decoded path without the query string.
  std::string query;  // Raw query string (after '?'), may be empty.
  std::string body;
  std::string remote_addr;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set by the server from its web config (--web.config.file): the user a
  // valid basic-auth header named, and whether the client presented a
  // certificate that the web config's client CA verified.
  std::string auth_user;
  bool client_cert_verified = false;

  // Returns true when the web config authenticated this request (basic auth
  // or a verified client certificate). False when no web config asks for
  // either.
  bool Authenticated() const {
    return !auth_user.empty() || client_cert_verified;
  }
  // Returns true when the peer's address is a loopback address
  // (127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104).
  bool FromLoopback() const;

  // Returns the first header with this name (case-insensitive), or "".
  std::string Header(std::string_view name) const;
  // Returns the URL-decoded value of the first query parameter `name`.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(int status, std::string body);
  // {"error": message} with proper JSON escaping.
  static HttpResponse JsonError(int status, std::string_view message);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A long-lived response (Server-Sent Events). Write() returns false once the
// client has gone away or the server is stopping; the handler must return
// then.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual bool Write(std::string_view data) = 0;
  virtual bool Stopping() const = 0;
};
using HttpStreamHandler = std::function<void(const HttpRequest&, HttpStream&)>;

// A route as registered: its method ("" = any; "GET" also serves HEAD) and
// path (matched exactly, or as a prefix).
struct RoutePattern {
  std::string method;
  std::string path;
  bool prefix = false;
};

class HttpServer {
 public:
  struct Options {
    // ":9652", "127.0.0.1:9652", "[::1]:9652"; port 0 picks a free port.
    std::string listen_address = ":9652";
    size_t max_body_bytes = 64 * 1024;  // Larger bodies get 413.
    // Worker threads: the number of connections served at once (more wait
    // in CivetWeb's queue, then the listen backlog).
    int num_threads = 16;
    // Stream (SSE) clients at once; more get 503.
    int max_streams = 8;
    // A client must send its whole request header within this time (and
    // each body read or response write must progress within it), so slow
    // clients hold a worker for at most this long.
    int request_timeout_ms = 5000;
    // The exporter-toolkit web config file; "" = plain HTTP, no auth.
    std::string web_config_file;
  };

  // Requests answered with an error before reaching a handler, by reason.
  enum class Reject {
    kInvalidUri,        // 400: not absolute, or a run of slashes
    kTooLarge,          // 413
    kNotFound,          // 404
    kMethodNotAllowed,  // 405
    kUnauthorized,      // 401: basic auth missing or wrong
    kRateLimited,       // 429: the web config's rate_limit
    kStreamLimit,       // 503: max_streams reached
  };
  static constexpr int kRejectCount = 7;
  static const char* RejectName(Reject r);

  struct Stats {
    long requests = 0;
    long rejected[kRejectCount] = {};
    bool web_config = false;  // a web config is in use
    bool tls = false;
    bool last_reload_ok = true;
    double last_reload_success_time = 0;  // Unix seconds
    long reloads_ok = 0;
    long reloads_failed = 0;
    long bcrypt_runs = 0;
    long client_cert_failures = 0;
    int active_streams = 0;
  };

  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registration must happen before Start(). `path` matches exactly;
  // HandlePrefix matches any path starting with `prefix`. Later
  // registrations do not override earlier exact matches. Method "" = any.
  void Handle(std::string method, std::string path, HttpHandler handler);
  void HandlePrefix(std::string method, std::string prefix,
                    HttpHandler handler);
  void HandleStream(std::string path, HttpStreamHandler handler);

  // Binds and starts serving. Fails with a clear message on a bad address,
  // a port in use, or a bad web config ("FILE:LINE: key: message").
  Status Start(const Options& options);
  // Re-reads the web config now. On error the previous settings stay and the
  // error is logged and returned. Turning TLS on or off needs a restart.
  Status ReloadWebConfig();
  // Stops serving; waits for in-flight handlers. Idempotent.
  void Stop();
  // The bound port (useful with port 0). 0 before Start().
  int port() const { return port_; }

  // Counters of requests served, by outcome (for self-metrics).
  long requests_total() const { return requests_total_.load(); }
  long requests_rejected_total() const;
  Stats stats() const;

 private:
  struct WebState;
  // The handlers of patterns_[i] (one of the two is set).
  struct Route {
    HttpHandler handler;
    HttpStreamHandler stream;
  };
  static int BeginRequest(struct mg_connection* conn);
  int Serve(struct mg_connection* conn);
  // Re-reads the web config when one of its files changed (checked at most
  // once a second, on requests and handshakes).
  void MaybeReloadWebConfig();
  std::shared_ptr<const WebState> web_state() const;
  int RejectWith(struct mg_connection* conn, const HttpRequest& req,
                 Reject reason, HttpResponse resp);

  std::vector<RoutePattern> patterns_;
  std::vector<Route> routes_;  // Parallel to patterns_.
  Options options_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<long> requests_total_{0};
  std::atomic<long> rejected_[kRejectCount] = {};
  std::atomic<int> active_streams_{0};

  mutable std::mutex web_mu_;
  std::shared_ptr<const WebState> web_;  // null without a web config
  double last_web_check_ = 0;            // monotonic seconds
  long reloads_ok_ = 0;
  long reloads_failed_ = 0;
  bool last_reload_ok_ = true;
  double last_reload_success_time_ = 0;
  std::unique_ptr<TlsServer> tls_;
  std::unique_ptr<BasicAuthenticator> auth_;
  std::unique_ptr<RateLimiter> limiter_;
};

// Returns true when `path` (as sent, before decoding) holds a run of three
// or more slashes: refused before CivetWeb's own URI handling could matter
// (CVE-2025-55763, see http_server.cc).
bool HasSlashRun(std::string_view path);

// The pure steps of request handling, callable without CivetWeb or a socket
// (fuzz/http_request_fuzz.cc drives them with raw requests).

// Returns true when the server answers the path (as CivetWeb hands it over)
// with 400 before anything else: empty, not absolute, or a slash run.
bool IsInvalidRequestPath(std::string_view path);

// Percent-decodes one query-string component: "%XY" (two hex digits) is that
// byte, '+' is a space; any other byte, a lone '%' included, stays as is.
std::string UrlDecode(std::string_view in);

// The URL-decoded value of the first parameter called `name` (compared after
// decoding) in a raw query string ("a=1&b=2"): "" for "name" without '=',
// nullopt when there is none. HttpRequest::QueryParam.
std::optional<std::string> FindQueryParam(std::string_view query,
                                          std::string_view name);

// The index of the route (RoutePattern, above) a request goes to: the first, in
// registration order, whose path matches and whose method allows the request's.
// nullopt when none does; *path_matched then tells a 405 (some route has the
// path) from a 404.
std::optional<size_t> FindRoute(const std::vector<RoutePattern>& routes,
                                std::string_view method, std::string_view path,
                                bool* path_matched);

// Converts a Prometheus-style listen address to CivetWeb's
// listening_ports syntax. Returns an error for malformed input.
StatusOr<std::string> ToCivetwebPorts(std::string_view listen_address);

}  // namespace propmon

#endif  // PROPMON_COMMON_HTTP_SERVER_H_
