#include "common/http_server.h"

#include <civetweb.h>
#include <strings.h>
#include <sys/stat.h>

#include <cstring>
#include <exception>
#include <mutex>

#include "common/civetweb_tls.h"
#include "common/clock.h"
#include "common/gzip.h"
#include "common/log.h"
#include "common/payload.h"

namespace propmon {
namespace {

std::mutex g_init_mu;
int g_init_count = 0;

const char* StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool WriteAll(mg_connection* conn, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    int w = mg_write(conn, data.data() + off, data.size() - off);
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The response header lines every answer carries: the web config's
// headers, and X-Content-Type-Options: nosniff unless it sets that itself.
std::string CommonHeaders(const HeaderList* extra) {
  std::string out;
  bool nosniff = false;
  if (extra != nullptr) {
    for (const auto& [k, v] : *extra) {
      out += k + ": " + v + "\r\n";
      nosniff = nosniff || k == "X-Content-Type-Options";
    }
  }
  if (!nosniff) out += "X-Content-Type-Options: nosniff\r\n";
  return out;
}

void SendResponse(mg_connection* conn, const HttpRequest& req,
                  HttpResponse resp, const HeaderList* extra = nullptr) {
  bool gzip = false;
  if (resp.body.size() > 1024 && AcceptsGzip(req.Header("Accept-Encoding"))) {
    std::string z = GzipCompress(resp.body);
    if (!z.empty()) {
      resp.body = std::move(z);
      gzip = true;
    }
  }
  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " +
                     StatusText(resp.status) + "\r\n";
  head += "Content-Type: " + resp.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  if (gzip) head += "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n";
  head += CommonHeaders(extra);
  for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  if (!WriteAll(conn, head)) return;
  if (req.method != "HEAD") WriteAll(conn, resp.body);
}

class CivetStream : public HttpStream {
 public:
  CivetStream(mg_connection* conn, const std::atomic<bool>* stopping)
      : conn_(conn), stopping_(stopping) {}
  bool Write(std::string_view data) override {
    if (stopping_->load() || broken_) return false;
    if (!WriteAll(conn_, data)) broken_ = true;
    return !broken_;
  }
  bool Stopping() const override { return stopping_->load() || broken_; }

 private:
  mg_connection* conn_;
  const std::atomic<bool>* stopping_;
  bool broken_ = false;
};

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        strncasecmp(k.data(), name.data(), name.size()) == 0) {
      return v;
    }
  }
  return {};
}

bool HttpRequest::FromLoopback() const {
  std::string_view a = remote_addr;
  if (a == "::1") return true;
  if (a.substr(0, 7) == "::ffff:") a.remove_prefix(7);
  return a.substr(0, 4) == "127.";
}

std::optional<std::string> HttpRequest::QueryParam(
    std::string_view name) const {
  return FindQueryParam(query, name);
}

std::string UrlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += in[i] == '+' ? ' ' : in[i];
  }
  return out;
}

std::optional<std::string> FindQueryParam(std::string_view q,
                                          std::string_view name) {
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t end = q.find('&', pos);
    if (end == std::string_view::npos) end = q.size();
    std::string_view pair = q.substr(pos, end - pos);
    size_t eq = pair.find('=');
    std::string key = UrlDecode(pair.substr(0, eq));
    if (key == name) {
      return eq == std::string_view::npos ? std::string()
                                          : UrlDecode(pair.substr(eq + 1));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

bool IsInvalidRequestPath(std::string_view path) {
  return path.empty() || path.front() != '/' || HasSlashRun(path);
}

std::optional<size_t> FindRoute(const std::vector<RoutePattern>& routes,
                                std::string_view method, std::string_view path,
                                bool* path_matched) {
  *path_matched = false;
  for (size_t i = 0; i < routes.size(); ++i) {
    const RoutePattern& r = routes[i];
    bool match =
        r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
    if (!match) continue;
    *path_matched = true;
    if (r.method.empty() || r.method == method ||
        (r.method == "GET" && method == "HEAD")) {
      return i;
    }
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::JsonError(int status, std::string_view message) {
  // The codec's escaper: invalid UTF-8 in a message (a hostile key echoed
  // back) becomes U+FFFD, so the body is always valid JSON.
  return Json(status, "{\"error\":" + payload::QuoteJson(message) + "}");
}

StatusOr<std::string> ToCivetwebPorts(std::string_view addr) {
  if (addr.empty()) return InvalidArgument("empty listen address");
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("listen address \"" + std::string(addr) +
                           "\" has no port (want HOST:PORT or :PORT)");
  }
  std::string_view host = addr.substr(0, colon);
  std::string_view port = addr.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoi(std::string(port)) > 65535) {
    return InvalidArgument("listen address \"" + std::string(addr) +
                           "\" has an invalid port");
  }
  if (host.empty()) return std::string(port);
  if (host.front() == '[') {
    if (host.back() != ']') {
      return InvalidArgument("listen address \"" + std::string(addr) +
                             "\" has an unterminated IPv6 host");
    }
    return std::string(host) + ":" + std::string(port);
  }
  if (host.find_first_not_of("0123456789.") != std::string_view::npos) {
    if (host != "localhost") {
      return InvalidArgument("listen address \"" + std::string(addr) +
                             "\": host must be an IP address");
    }
    host = "127.0.0.1";
  }
  return std::string(host) + ":" + std::string(port);
}

HttpServer::HttpServer() {
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (g_init_count++ == 0) mg_init_library(0);
}

HttpServer::~HttpServer() {
  Stop();
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (--g_init_count == 0) mg_exit_library();
}

void HttpServer::Handle(std::string method, std::string path,
                        HttpHandler handler) {
  patterns_.push_back(RoutePattern{std::move(method), std::move(path), false});
  routes_.push_back(Route{std::move(handler), {}});
}

void HttpServer::HandlePrefix(std::string method, std::string prefix,
                              HttpHandler handler) {
  patterns_.push_back(RoutePattern{std::move(method), std::move(prefix), true});
  routes_.push_back(Route{std::move(handler), {}});
}

void HttpServer::HandleStream(std::string path, HttpStreamHandler handler) {
  patterns_.push_back(RoutePattern{"GET", std::move(path), false});
  routes_.push_back(Route{{}, std::move(handler)});
}

// The web config in force, with the stamps of its files at load time.
struct HttpServer::WebState {
  WebConfig config;
  std::vector<std::string> stamps;  // one per config.watched_files
};

namespace {

// "dev:ino:size:mtime" of a file, "" when it cannot be read: a change of
// any of them means the file was replaced or rewritten.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
         "." + std::to_string(st.st_mtim.tv_nsec);
}

std::vector<std::string> Stamps(const WebConfig& c) {
  std::vector<std::string> out;
  for (const auto& f : c.watched_files) out.push_back(FileStamp(f));
  return out;
}

bool VerifiesClientCerts(ClientAuth a) {
  return a == ClientAuth::kVerifyClientCertIfGiven ||
         a == ClientAuth::kRequireAndVerifyClientCert;
}

}  // namespace

bool HasSlashRun(std::string_view path) {
  return path.find("///") != std::string_view::npos;
}

const char* HttpServer::RejectName(Reject r) {
  static const char* const kNames[kRejectCount] = {
      "invalid_uri",  "too_large",    "not_found",   "method_not_allowed",
      "unauthorized", "rate_limited", "stream_limit"};
  return kNames[static_cast<int>(r)];
}

long HttpServer::requests_rejected_total() const {
  long n = 0;
  for (const auto& r : rejected_) n += r.load();
  return n;
}

HttpServer::Stats HttpServer::stats() const {
  Stats st;
  st.requests = requests_total_.load();
  for (int i = 0; i < kRejectCount; ++i) st.rejected[i] = rejected_[i].load();
  st.active_streams = active_streams_.load();
  std::lock_guard<std::mutex> lock(web_mu_);
  st.web_config = web_ != nullptr;
  st.tls = tls_ != nullptr;
  st.last_reload_ok = last_reload_ok_;
  st.last_reload_success_time = last_reload_success_time_;
  st.reloads_ok = reloads_ok_;
  st.reloads_failed = reloads_failed_;
  st.bcrypt_runs = auth_ ? auth_->bcrypt_runs() : 0;
  st.client_cert_failures = tls_ ? tls_->client_cert_failures() : 0;
  return st;
}

std::shared_ptr<const HttpServer::WebState> HttpServer::web_state() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return web_;
}

Status HttpServer::ReloadWebConfig() {
  if (options_.web_config_file.empty()) return Status::Ok();
  auto c = LoadWebConfig(options_.web_config_file);
  Status s = c.ok() ? Status::Ok() : c.status();
  std::lock_guard<std::mutex> lock(web_mu_);
  if (s.ok() && c->tls.enabled != (tls_ != nullptr)) {
    s = InvalidArgument(options_.web_config_file +
                        ": tls_server_config: turning TLS on or off needs a "
                        "restart");
  }
  if (s.ok() && tls_ != nullptr) s = tls_->Update(c->tls);
  if (!s.ok()) {
    ++reloads_failed_;
    last_reload_ok_ = false;
    // Keep the stamps of what was read, so a bad file is reported once, not
    // on every request; fixing it changes them again.
    if (web_ != nullptr) {
      auto keep = std::make_shared<WebState>(*web_);
      std::vector<std::string> files = keep->config.watched_files;
      if (c.ok()) files = c->watched_files;
      keep->config.watched_files = files;
      keep->stamps = Stamps(keep->config);
      web_ = std::move(keep);
    }
    PM_LOG(kError) << "web config: keeping the previous settings: "
                   << s.message();
    return s;
  }
  auto state = std::make_shared<WebState>();
  state->config = std::move(c).value();
  state->stamps = Stamps(state->config);
  limiter_->Configure(state->config.rate_limit_interval_seconds,
                      state->config.rate_limit_burst);
  bool first = web_ == nullptr;
  web_ = std::move(state);
  ++reloads_ok_;
  last_reload_ok_ = true;
  last_reload_success_time_ = SystemClock::Get()->Now();
  if (!first) {
    PM_LOG(kInfo) << "web config: reloaded " << options_.web_config_file;
  }
  return Status::Ok();
}

void HttpServer::MaybeReloadWebConfig() {
  std::shared_ptr<const WebState> state;
  {
    std::lock_guard<std::mutex> lock(web_mu_);
    if (web_ == nullptr) return;
    double now = SystemClock::Get()->Monotonic();
    if (now - last_web_check_ < 1.0) return;
    last_web_check_ = now;
    state = web_;
  }
  if (Stamps(state->config) != state->stamps) (void)ReloadWebConfig();
}

Status HttpServer::Start(const Options& options) {
  options_ = options;
  auto ports = ToCivetwebPorts(options.listen_address);
  if (!ports.ok()) return ports.status();
  std::string listening = *ports;
  if (!options.web_config_file.empty()) {
    auth_ = std::make_unique<BasicAuthenticator>();
    limiter_ = std::make_unique<RateLimiter>();
    auto c = LoadWebConfig(options.web_config_file);
    if (!c.ok()) return c.status();
    if (c->tls.enabled) {
      if (!mg_check_feature(MG_FEATURES_SSL)) {
        return Unavailable("web config " + options.web_config_file +
                           ": this CivetWeb has no TLS support");
      }
      Status compat = LoadCivetwebTlsCompat();
      if (!compat.ok()) {
        return Unavailable("TLS for CivetWeb: " + compat.message());
      }
      auto t = TlsServer::Create(c->tls);
      if (!t.ok()) {
        return InvalidArgument(options.web_config_file +
                               ": tls_server_config: " + t.status().message());
      }
      tls_ = std::move(t).value();
      tls_->SetHandshakeHook([this] { MaybeReloadWebConfig(); });
      // CivetWeb's "s" suffix: this port speaks TLS only, no plain HTTP.
      listening += "s";
    }
    Status s = ReloadWebConfig();
    if (!s.ok()) return s;
    PM_LOG(kInfo) << "web config " << options.web_config_file << ": TLS "
                  << (c->tls.enabled ? "on" : "off") << ", basic auth "
                  << (c->users.empty() ? "off" : "on") << ", rate limit "
                  << (c->rate_limit_interval_seconds > 0 ? "on" : "off");
  }
  std::string threads = std::to_string(options.num_threads);
  std::string timeout = std::to_string(options.request_timeout_ms);
  const char* opts[] = {
      "listening_ports", listening.c_str(), "num_threads", threads.c_str(),
      "request_timeout_ms", timeout.c_str(), "enable_keep_alive", "yes",
      // We write a response's head and body separately:
      // with Nagle on, the body of a small response on a
      // kept-alive connection waited for the client's
      // delayed ACK, about 40 ms per request.
      "tcp_nodelay", "1", "enable_directory_listing", "no", nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &HttpServer::BeginRequest;
  // Silence CivetWeb's own stderr logging; errors surface through Start().
  callbacks.log_message = [](const mg_connection*, const char* msg) {
    PM_LOG(kDebug) << "civetweb: " << msg;
    return 1;
  };
  // Our SSL_CTX (common/tls_server.h), kept and freed by us: 1 = "use it"
  // at creation, "do not free it" at the end.
  callbacks.external_ssl_ctx = [](void** ssl_ctx, void* user_data) {
    auto* self = static_cast<HttpServer*>(user_data);
    if (self->tls_ == nullptr) return 0;
    if (*ssl_ctx == nullptr) *ssl_ctx = self->tls_->ssl_ctx();
    return 1;
  };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = opts;
  mg_error_data err{};
  char errbuf[256] = {0};
  err.text = errbuf;
  err.text_buffer_size = sizeof(errbuf);
  ctx_ = mg_start2(&init, &err);
  if (ctx_ == nullptr) {
    return Unavailable("cannot listen on " + options.listen_address + ": " +
                       (errbuf[0] ? errbuf : "unknown error"));
  }
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : 0;
  return Status::Ok();
}

void HttpServer::Stop() {
  if (ctx_ == nullptr) return;
  stopping_ = true;
  mg_stop(ctx_);
  ctx_ = nullptr;
}

int HttpServer::BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* self = static_cast<HttpServer*>(info->user_data);
  try {
    return self->Serve(conn);
  } catch (const std::exception& e) {
    PM_LOG(kError) << "http handler threw: " << e.what();
  } catch (...) {
    PM_LOG(kError) << "http handler threw a non-standard exception";
  }
  mg_printf(conn,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
            "application/json\r\nContent-Length: "
            "26\r\n\r\n{\"error\":\"internal error\"}");
  return 500;
}

int HttpServer::RejectWith(mg_connection* conn, const HttpRequest& req,
                           Reject reason, HttpResponse resp) {
  rejected_[static_cast<int>(reason)].fetch_add(1);
  auto state = web_state();
  SendResponse(conn, req, resp, state ? &state->config.headers : nullptr);
  return resp.status;
}

int HttpServer::Serve(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  requests_total_.fetch_add(1);
  HttpRequest req;
  req.method = info->request_method ? info->request_method : "";
  const char* uri = info->local_uri_raw ? info->local_uri_raw : info->local_uri;
  req.path = uri ? uri : "";
  req.query = info->query_string ? info->query_string : "";
  req.remote_addr = info->remote_addr;
  for (int i = 0; i < info->num_headers; ++i) {
    req.headers.emplace_back(
        info->http_headers[i].name ? info->http_headers[i].name : "",
        info->http_headers[i].value ? info->http_headers[i].value : "");
  }
  // CVE-2025-55763: CivetWeb 1.14-1.16 overflows a heap buffer (strcat) when
  // it redirects a directory URI that holds long runs of slashes. That code
  // is in handle_request() after this callback, and runs only when the
  // callback returns 0 and a document root is set. Neither ever happens
  // here: Serve() answers every request (it returns the status, never 0)
  // and no document_root is configured. As defence in depth, such URIs are
  // refused here, before anything else looks at them.
  if (IsInvalidRequestPath(req.path)) {
    return RejectWith(conn, req, Reject::kInvalidUri,
                      HttpResponse::JsonError(400, "invalid request URI"));
  }

  MaybeReloadWebConfig();
  std::shared_ptr<const WebState> web = web_state();
  const HeaderList* extra = web ? &web->config.headers : nullptr;
  if (web != nullptr) {
    if (!limiter_->Allow(SystemClock::Get()->Monotonic())) {
      return RejectWith(conn, req, Reject::kRateLimited,
                        HttpResponse::JsonError(429, "too many requests"));
    }
    const WebConfig& wc = web->config;
    req.client_cert_verified =
        info->client_cert != nullptr && VerifiesClientCerts(wc.tls.client_auth);
    if (!wc.users.empty()) {
      auto cred = ParseBasicAuth(req.Header("Authorization"));
      if (cred && auth_->Check(wc.users, cred->first, cred->second)) {
        req.auth_user = cred->first;
      }
      bool excluded = false;
      for (const auto& p : wc.auth_excluded_paths) excluded |= p == req.path;
      if (req.auth_user.empty() && !excluded) {
        HttpResponse r = HttpResponse::JsonError(401, "unauthorized");
        r.headers.emplace_back("WWW-Authenticate", "Basic");
        return RejectWith(conn, req, Reject::kUnauthorized, std::move(r));
      }
    }
  }

  // Body, bounded.
  if (info->content_length > static_cast<long long>(options_.max_body_bytes)) {
    return RejectWith(
        conn, req, Reject::kTooLarge,
        HttpResponse::JsonError(
            413, "request body larger than " +
                     std::to_string(options_.max_body_bytes) + " bytes"));
  }
  if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
      info->content_length > 0) {
    // Straight into the body: CivetWeb's worker threads have 100 KiB
    // stacks (its CIVETWEB_THREAD_STACK_SIZE), and an 8 KiB buffer here,
    // in the frame of every request, overflowed one under clang's -O0 ASan.
    constexpr size_t kChunk = 8192;
    size_t got = 0;
    while (true) {
      req.body.resize(got + kChunk);
      int r = mg_read(conn, req.body.data() + got, kChunk);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
      if (got > options_.max_body_bytes) {
        return RejectWith(
            conn, req, Reject::kTooLarge,
            HttpResponse::JsonError(
                413, "request body larger than " +
                         std::to_string(options_.max_body_bytes) + " bytes"));
      }
    }
    req.body.resize(got);
  }

  bool path_matched = false;
  std::optional<size_t> index =
      FindRoute(patterns_, req.method, req.path, &path_matched);
  const Route* found = index ? &routes_[*index] : nullptr;
  if (found == nullptr) {
    return path_matched
               ? RejectWith(conn, req, Reject::kMethodNotAllowed,
                            HttpResponse::JsonError(405, "method not allowed"))
               : RejectWith(conn, req, Reject::kNotFound,
                            HttpResponse::JsonError(404, "not found"));
  }
  if (found->stream) {
    if (active_streams_.fetch_add(1) >= options_.max_streams) {
      active_streams_.fetch_sub(1);
      return RejectWith(
          conn, req, Reject::kStreamLimit,
          HttpResponse::JsonError(
              503, "too many stream clients (at most " +
                       std::to_string(options_.max_streams) + ")"));
    }
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n" +
        CommonHeaders(extra) + "\r\n";
    struct Release {
      std::atomic<int>* n;
      ~Release() { n->fetch_sub(1); }
    } release{&active_streams_};
    if (WriteAll(conn, head)) {
      CivetStream stream(conn, &stopping_);
      found->stream(req, stream);
    }
    return 200;
  }
  HttpResponse resp = found->handler(req);
  int status = resp.status;
  SendResponse(conn, req, std::move(resp), extra);
  return status;
}

}  // namespace propmon
