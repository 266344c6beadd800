#include "common/http_server.h"

#include <civetweb.h>
#include <strings.h>

#include <cstring>
#include <exception>
#include <mutex>

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
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
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

bool WriteAll(mg_connection* conn, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    int w = mg_write(conn, data.data() + off, data.size() - off);
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

void SendResponse(mg_connection* conn, const HttpRequest& req,
                  HttpResponse resp) {
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
  head += "X-Content-Type-Options: nosniff\r\n";
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

std::optional<std::string> HttpRequest::QueryParam(
    std::string_view name) const {
  std::string_view q = query;
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
  routes_.push_back(
      Route{std::move(method), std::move(path), false, std::move(handler), {}});
}

void HttpServer::HandlePrefix(std::string method, std::string prefix,
                              HttpHandler handler) {
  routes_.push_back(Route{
      std::move(method), std::move(prefix), true, std::move(handler), {}});
}

void HttpServer::HandleStream(std::string path, HttpStreamHandler handler) {
  routes_.push_back(
      Route{"GET", std::move(path), false, {}, std::move(handler)});
}

Status HttpServer::Start(const Options& options) {
  options_ = options;
  auto ports = ToCivetwebPorts(options.listen_address);
  if (!ports.ok()) return ports.status();
  std::string threads = std::to_string(options.num_threads);
  const char* opts[] = {"listening_ports",
                        ports->c_str(),
                        "num_threads",
                        threads.c_str(),
                        "request_timeout_ms",
                        "30000",
                        "enable_keep_alive",
                        "yes",
                        "enable_directory_listing",
                        "no",
                        nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &HttpServer::BeginRequest;
  // Silence CivetWeb's own stderr logging; errors surface through Start().
  callbacks.log_message = [](const mg_connection*, const char* msg) {
    PM_LOG(kDebug) << "civetweb: " << msg;
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
  if (req.path.empty() || req.path.front() != '/') {
    rejected_total_.fetch_add(1);
    SendResponse(conn, req,
                 HttpResponse::JsonError(400, "invalid request URI"));
    return 400;
  }

  // Body, bounded.
  if (info->content_length > static_cast<long long>(options_.max_body_bytes)) {
    rejected_total_.fetch_add(1);
    SendResponse(
        conn, req,
        HttpResponse::JsonError(
            413, "request body larger than " +
                     std::to_string(options_.max_body_bytes) + " bytes"));
    return 413;
  }
  if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
      info->content_length > 0) {
    char buf[8192];
    while (true) {
      int r = mg_read(conn, buf, sizeof(buf));
      if (r <= 0) break;
      req.body.append(buf, static_cast<size_t>(r));
      if (req.body.size() > options_.max_body_bytes) {
        rejected_total_.fetch_add(1);
        SendResponse(
            conn, req,
            HttpResponse::JsonError(
                413, "request body larger than " +
                         std::to_string(options_.max_body_bytes) + " bytes"));
        return 413;
      }
    }
  }

  const Route* found = nullptr;
  bool path_matched = false;
  for (const Route& r : routes_) {
    bool match = r.prefix ? req.path.compare(0, r.path.size(), r.path) == 0
                          : req.path == r.path;
    if (!match) continue;
    path_matched = true;
    if (r.method.empty() || r.method == req.method ||
        (r.method == "GET" && req.method == "HEAD")) {
      found = &r;
      break;
    }
  }
  if (found == nullptr) {
    rejected_total_.fetch_add(1);
    HttpResponse resp = path_matched
                            ? HttpResponse::JsonError(405, "method not allowed")
                            : HttpResponse::JsonError(404, "not found");
    SendResponse(conn, req, resp);
    return resp.status;
  }
  if (found->stream) {
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n";
    if (!WriteAll(conn, head)) return 200;
    CivetStream stream(conn, &stopping_);
    found->stream(req, stream);
    return 200;
  }
  HttpResponse resp = found->handler(req);
  int status = resp.status;
  SendResponse(conn, req, std::move(resp));
  return status;
}

}  // namespace propmon
