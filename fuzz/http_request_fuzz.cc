// libFuzzer target: what common/http_server does with a raw HTTP request
// before and around a handler, without a socket: the URI guard
// (IsInvalidRequestPath, CVE-2025-55763's slash runs), routing (FindRoute,
// over both daemons' real route tables), query parsing (FindQueryParam,
// UrlDecode), header lookup, and the header parsers requests reach
// (ParseBasicAuth, AcceptsGzip, IsJsonMediaType), plus the JSON error body
// that echoes request bytes. CivetWeb itself (Debian's library, not
// instrumented) parses the request line and percent-decodes the path; the
// target does both the same way, the decoding with CivetWeb's own
// mg_url_decode.
//
// Input: one flag byte (bit 0: the bridge's routes, else the exporter's),
// then the request: "METHOD URI VERSION\r\n", header lines, an empty line,
// the body (lines may end in "\n" alone).
// Checks, beyond "no crash, no sanitizer report":
// - UrlDecode is mg_url_decode in its form mode, byte for byte, and undoes
//   percent-encoding of any bytes; FindQueryParam returns what a plain
//   reading of the query says, and finds an encoded pair put first;
// - FindRoute picks the first route whose path and method both match, and
//   says 405 rather than 404 exactly when some route has the path;
// - IsInvalidRequestPath is "empty, relative, or holds ///";
// - Header() is case-insensitive and returns the first; a parsed basic
//   credential encodes back to itself and its user has no ':';
//   IsJsonMediaType agrees with a plain reading of the media type;
// - a JSON error echoing the path, a header or the query is valid JSON.
#include <civetweb.h>
#include <strings.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/gzip.h"
#include "common/http_server.h"
#include "common/payload.h"
#include "common/web_auth.h"
#include "exporter/api.h"

namespace {

using propmon::FindQueryParam;
using propmon::FindRoute;
using propmon::HttpRequest;
using propmon::HttpResponse;
using propmon::RoutePattern;
using propmon::UrlDecode;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "http_request_fuzz: %s\n", what);
  std::abort();
}

// The routes as the daemons register them (exporter/app.cc, exporter/api.cc;
// bridge/bridge.cc), in registration order.
const std::vector<RoutePattern>& ExporterRoutes() {
  static const auto* r = new std::vector<RoutePattern>{
      {"GET", "/", false},
      {"GET", "/metrics", false},
      {"GET", "/-/healthy", false},
      {"GET", "/-/ready", false},
      {"GET", "/health", false},
      {"POST", "/api/v1/tasks", false},
      {"GET", "/api/v1/tasks", false},
      {"", "/api/v1/tasks/", true},
      {"GET", "/api/v1/system", false},
  };
  return *r;
}

const std::vector<RoutePattern>& BridgeRoutes() {
  static const auto* r = new std::vector<RoutePattern>{
      {"GET", "/metrics", false},
      {"GET", "/", false},
      {"GET", "/-/healthy", false},
      {"GET", "/-/ready", false},
      {"GET", "/health", false},
      {"GET", "/api/v1/proplets", false},
      {"GET", "/api/v1/debug/mappings", false},
      {"GET", "/api/v1/stream", false},
      {"GET", "/tasks/", true},
      {"GET", "/proplets/", true},
  };
  return *r;
}

std::string_view NextLine(std::string_view* rest) {
  size_t nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  *rest =
      nl == std::string_view::npos ? std::string_view() : rest->substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// CivetWeb's decoder (is_form 1: '+' is a space, as in a query string).
std::string CivetDecode(std::string_view in, int is_form) {
  std::string out(in.size() + 1, '\0');
  int n = mg_url_decode(in.data(), static_cast<int>(in.size()), out.data(),
                        static_cast<int>(out.size()), is_form);
  Check(n >= 0, "mg_url_decode ran out of room");
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Encode(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

void CheckDecoding(std::string_view s) {
  std::string ours = UrlDecode(s);
  Check(ours == CivetDecode(s, 1), "UrlDecode differs from mg_url_decode");
  Check(ours.size() <= s.size(), "UrlDecode grew the text");
  Check(UrlDecode(Encode(s)) == s, "UrlDecode does not undo percent-encoding");
}

// The query read plainly: '&'-separated pairs, split at the first '='.
std::optional<std::string> PlainParam(std::string_view query,
                                      std::string_view name) {
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view key =
        eq == std::string_view::npos ? pair : pair.substr(0, eq);
    if (CivetDecode(key, 1) == name) {
      return eq == std::string_view::npos ? std::string()
                                          : CivetDecode(pair.substr(eq + 1), 1);
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

void CheckQuery(std::string_view query) {
  CheckDecoding(query);
  std::string first_key;
  {
    std::string_view pair = query.substr(0, query.find('&'));
    first_key = UrlDecode(pair.substr(0, pair.find('=')));
  }
  for (const std::string& name :
       {std::string("offset"), std::string("limit"), std::string("task_id"),
        std::string("proplet_id"), std::string(""), first_key}) {
    Check(FindQueryParam(query, name) == PlainParam(query, name),
          "FindQueryParam differs from a plain reading");
  }
  // An encoded pair put first is found, whatever the rest holds.
  std::string key = first_key.empty() ? "k" : first_key;
  std::string value(query.substr(0, 32));
  std::string q = Encode(key) + "=" + Encode(value) + "&" + std::string(query);
  Check(FindQueryParam(q, key) == value, "an encoded first pair is not found");
}

void CheckRoute(const std::vector<RoutePattern>& routes,
                std::string_view method, std::string_view path) {
  bool path_matched = false;
  std::optional<size_t> got = FindRoute(routes, method, path, &path_matched);
  auto path_ok = [&](const RoutePattern& r) {
    return r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
  };
  auto method_ok = [&](const RoutePattern& r) {
    return r.method.empty() || r.method == method ||
           (r.method == "GET" && method == "HEAD");
  };
  std::optional<size_t> want;
  bool any_path = false;
  for (size_t i = 0; i < routes.size(); ++i) {
    any_path = any_path || path_ok(routes[i]);
    if (!want && path_ok(routes[i]) && method_ok(routes[i])) want = i;
  }
  Check(got == want, "FindRoute picked another route");
  if (!got) Check(path_matched == any_path, "FindRoute's 404/405 is wrong");
}

bool PlainJsonMediaType(std::string_view v) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  std::string lower;
  for (char c : v) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower == "application/json";
}

std::string Base64(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void CheckJsonError(std::string_view message) {
  HttpResponse r = HttpResponse::JsonError(404, message);
  Check(propmon::payload::IsValidJson(r.body), "JSON error body is invalid");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The request line, as CivetWeb splits it.
  HttpRequest req;
  std::string_view line = NextLine(&rest);
  size_t sp1 = line.find(' ');
  req.method = std::string(line.substr(0, sp1));
  std::string_view uri;
  if (sp1 != std::string_view::npos) {
    uri = line.substr(sp1 + 1);
    uri = uri.substr(0, uri.rfind(' '));
  }
  size_t qmark = uri.find('?');
  std::string_view raw_path = uri.substr(0, qmark);
  if (qmark != std::string_view::npos) {
    req.query = std::string(uri.substr(qmark + 1));
  }
  req.path = CivetDecode(raw_path, 0);
  // CivetWeb keeps at most MG_MAX_HEADERS (64) headers.
  while (!rest.empty() && req.headers.size() < MG_MAX_HEADERS) {
    std::string_view h = NextLine(&rest);
    if (h.empty()) break;
    size_t colon = h.find(':');
    std::string_view value = colon == std::string_view::npos
                                 ? std::string_view()
                                 : h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace_back(std::string(h.substr(0, colon)),
                             std::string(value));
  }
  req.body = std::string(rest);

  // The guard, then routing (Serve() refuses a bad path before routing).
  const std::string& p = req.path;
  Check(propmon::IsInvalidRequestPath(p) ==
            (p.empty() || p[0] != '/' || p.find("///") != std::string::npos),
        "IsInvalidRequestPath");
  Check(propmon::HasSlashRun(raw_path) ==
            (raw_path.find("///") != std::string_view::npos),
        "HasSlashRun");
  CheckRoute((flags & 1) ? BridgeRoutes() : ExporterRoutes(), req.method,
             req.path);
  CheckRoute((flags & 1) ? ExporterRoutes() : BridgeRoutes(), req.method,
             req.path);
  CheckJsonError("task \"" + req.path + "\" not found");

  CheckQuery(req.query);
  CheckDecoding(raw_path);
  Check(UrlDecode(raw_path).size() <= raw_path.size(), "path decoding grew");

  // Headers.
  for (const auto& [name, value] : req.headers) {
    std::string upper;
    for (char c : name) {
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::string first;
    for (const auto& [n2, v2] : req.headers) {
      if (n2.size() == name.size() &&
          strncasecmp(n2.data(), name.data(), name.size()) == 0) {
        first = v2;
        break;
      }
    }
    Check(req.Header(upper) == first, "Header() is not the first match");
    CheckJsonError(value);
  }
  std::string auth = req.Header("Authorization");
  if (auto cred = propmon::ParseBasicAuth(auth)) {
    Check(cred->first.find(':') == std::string::npos, "user holds ':'");
    auto again = propmon::ParseBasicAuth(
        "Basic " + Base64(cred->first + ":" + cred->second));
    Check(again && *again == *cred, "basic credential round trip");
  }
  (void)propmon::AcceptsGzip(req.Header("Accept-Encoding"));
  const std::string type = req.Header("Content-Type");
  Check(propmon::exporter::IsJsonMediaType(type) == PlainJsonMediaType(type),
        "IsJsonMediaType");
  req.remote_addr = req.Header("X-Remote-Addr");
  if (req.FromLoopback()) {
    std::string_view a = req.remote_addr;
    Check(
        a == "::1" || a.rfind("127.", 0) == 0 || a.rfind("::ffff:127.", 0) == 0,
        "FromLoopback");
  }
  return 0;
}
