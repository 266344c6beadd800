// HttpServer: the one place CivetWeb is used. Serves registered handlers only
// (no document root is ever enabled: CVE-2025-55763). Handlers run on
// CivetWeb's worker threads and must be thread-safe; an exception escaping a
// handler is caught here and answered with a JSON 500.
#ifndef PROPMON_COMMON_HTTP_SERVER_H_
#define PROPMON_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

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

class HttpServer {
 public:
  struct Options {
    // ":9652", "127.0.0.1:9652", "[::1]:9652"; port 0 picks a free port.
    std::string listen_address = ":9652";
    size_t max_body_bytes = 64 * 1024;  // Larger bodies get 413.
    int num_threads = 16;
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

  // Binds and starts serving. Fails with a clear message on a bad address or
  // a port in use.
  Status Start(const Options& options);
  // Stops serving; waits for in-flight handlers. Idempotent.
  void Stop();
  // The bound port (useful with port 0). 0 before Start().
  int port() const { return port_; }

  // Counters of requests served, by outcome (for self-metrics).
  long requests_total() const { return requests_total_.load(); }
  long requests_rejected_total() const { return rejected_total_.load(); }

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix = false;
    HttpHandler handler;
    HttpStreamHandler stream;
  };
  static int BeginRequest(struct mg_connection* conn);
  int Serve(struct mg_connection* conn);

  std::vector<Route> routes_;
  Options options_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<long> requests_total_{0};
  std::atomic<long> rejected_total_{0};
};

// Converts a Prometheus-style listen address to CivetWeb's
// listening_ports syntax. Returns an error for malformed input.
StatusOr<std::string> ToCivetwebPorts(std::string_view listen_address);

}  // namespace propmon

#endif  // PROPMON_COMMON_HTTP_SERVER_H_
