#include "common/http_server.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "common/gzip.h"
#include "tests/testutil/testutil.h"

namespace propmon {
namespace {

using testutil::Http;
using testutil::RawRequest;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Handle("GET", "/hello", [](const HttpRequest& req) {
      return HttpResponse::Text(200,
                                "hi " + req.QueryParam("name").value_or("?"));
    });
    server_.Handle("POST", "/echo", [](const HttpRequest& req) {
      return HttpResponse::Json(201, req.body);
    });
    server_.Handle("GET", "/big", [](const HttpRequest&) {
      return HttpResponse::Text(200, std::string(100000, 'a'));
    });
    server_.Handle("GET", "/throw", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("boom");
    });
    HttpServer::Options opts;
    opts.listen_address = "127.0.0.1:0";
    ASSERT_TRUE(server_.Start(opts).ok());
    port_ = server_.port();
    ASSERT_GT(port_, 0);
  }
  HttpServer server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, ServesHandlerWithQuery) {
  auto r = Http(port_, "GET", "/hello?name=a%20b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi a b");
}

TEST_F(HttpServerTest, UnknownPathIsJson404) {
  auto r = Http(port_, "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);
}

TEST_F(HttpServerTest, WrongMethodIs405) {
  EXPECT_EQ(Http(port_, "DELETE", "/hello").status, 405);
}

TEST_F(HttpServerTest, EchoesBody) {
  auto r = Http(port_, "POST", "/echo", "{\"a\":1}");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"a\":1}");
}

TEST_F(HttpServerTest, RefusesLargeBodyWith413) {
  auto r = Http(port_, "POST", "/echo", std::string(70 * 1024, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("error"), std::string::npos);
  EXPECT_GE(server_.requests_rejected_total(), 1);
}

TEST_F(HttpServerTest, GzipWhenAsked) {
  auto r = Http(port_, "GET", "/big", "", {"Accept-Encoding: gzip"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-encoding"], "gzip");
  EXPECT_LT(r.body.size(), 100000u);
  auto plain = Http(port_, "GET", "/big");
  EXPECT_EQ(plain.body.size(), 100000u);
  EXPECT_EQ(plain.headers.count("content-encoding"), 0u);
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndServerSurvives) {
  EXPECT_EQ(Http(port_, "GET", "/throw").status, 500);
  EXPECT_EQ(Http(port_, "GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, HostileRequestsDoNotBreakServer) {
  const char* hostile[] = {
      "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET /hello HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /hello?%zz%00=%%%% HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const char* req : hostile) {
    std::string out = RawRequest(port_, req);
    EXPECT_EQ(out.find("root:"), std::string::npos) << req;
  }
  std::string long_uri =
      "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n";
  RawRequest(port_, long_uri);
  EXPECT_EQ(Http(port_, "GET", "/hello").status, 200);
}

// CVE-2025-55763: CivetWeb's overflow needs long runs of slashes in the URI.
// They are refused with 400 before CivetWeb's own URI handling matters (this
// test runs under ASan in scripts/sanitize.sh), and the server lives on.
TEST_F(HttpServerTest, SlashRunsAreRefusedBeforeCivetWebSeesThem) {
  const std::string uris[] = {
      "/" + std::string(5000, '/'),
      "/hello" + std::string(4000, '/'),
      "///hello",
      "/a" + std::string(65000, '/') + "b",
  };
  for (const std::string& uri : uris) {
    std::string out =
        RawRequest(port_, "GET " + uri + " HTTP/1.1\r\nHost: x\r\n\r\n");
    // CivetWeb itself refuses request lines past its buffer (no answer or
    // its own error); anything shorter reaches our guard.
    if (!out.empty() && uri.size() < 8000) {
      EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << uri.size();
    }
  }
  EXPECT_GE(server_.stats()
                .rejected[static_cast<int>(HttpServer::Reject::kInvalidUri)],
            2);
  EXPECT_EQ(Http(port_, "GET", "/hello").status, 200);
  EXPECT_EQ(Http(port_, "GET", "//hello").status, 404);  // two are fine
  EXPECT_TRUE(HasSlashRun("/a///b"));
  EXPECT_FALSE(HasSlashRun("/a//b"));
}

// The pure steps Serve() takes (fuzz/http_request_fuzz.cc drives them too).
TEST(HttpRequestTest, UrlDecode) {
  EXPECT_EQ(UrlDecode("a%20b+c%2Fd%2f"), "a b c/d/");
  EXPECT_EQ(UrlDecode("100%"), "100%");
  EXPECT_EQ(UrlDecode("%4"), "%4");
  EXPECT_EQ(UrlDecode("%zz%41"), "%zzA");
  EXPECT_EQ(UrlDecode("%00"), std::string(1, '\0'));
}

TEST(HttpRequestTest, FindQueryParam) {
  EXPECT_EQ(FindQueryParam("a=1&b=2&a=3", "a"), "1");
  EXPECT_EQ(FindQueryParam("a=1&b=2", "b"), "2");
  EXPECT_EQ(FindQueryParam("x&b", "x"), "");
  EXPECT_EQ(FindQueryParam("t%61sk=a%26b", "task"), "a&b");
  EXPECT_EQ(FindQueryParam("=v", ""), "v");
  EXPECT_EQ(FindQueryParam("", "a"), std::nullopt);
  EXPECT_EQ(FindQueryParam("ab=1", "a"), std::nullopt);
}

TEST(HttpRequestTest, FindRoute) {
  std::vector<RoutePattern> routes = {
      {"GET", "/metrics", false},
      {"POST", "/api/v1/tasks", false},
      {"GET", "/api/v1/tasks", false},
      {"", "/api/v1/tasks/", true},
  };
  bool matched = false;
  EXPECT_EQ(FindRoute(routes, "GET", "/metrics", &matched), 0u);
  EXPECT_EQ(FindRoute(routes, "HEAD", "/metrics", &matched), 0u);
  EXPECT_EQ(FindRoute(routes, "POST", "/metrics", &matched), std::nullopt);
  EXPECT_TRUE(matched);  // 405
  EXPECT_EQ(FindRoute(routes, "GET", "/metricsx", &matched), std::nullopt);
  EXPECT_FALSE(matched);  // 404
  EXPECT_EQ(FindRoute(routes, "GET", "/api/v1/tasks", &matched), 2u);
  EXPECT_EQ(FindRoute(routes, "DELETE", "/api/v1/tasks/a", &matched), 3u);
  EXPECT_EQ(FindRoute(routes, "GET", "/api/v1/task", &matched), std::nullopt);
  EXPECT_FALSE(matched);
  EXPECT_TRUE(IsInvalidRequestPath(""));
  EXPECT_TRUE(IsInvalidRequestPath("metrics"));
  EXPECT_TRUE(IsInvalidRequestPath("/a///b"));
  EXPECT_FALSE(IsInvalidRequestPath("//a//b"));
}

TEST(HttpRequestTest, FromLoopback) {
  HttpRequest r;
  for (const char* a : {"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"}) {
    r.remote_addr = a;
    EXPECT_TRUE(r.FromLoopback()) << a;
  }
  for (const char* a : {"10.0.0.1", "198.51.100.2", "::ffff:10.1.1.1",
                        "fe80::1", "1127.0.0.1", ""}) {
    r.remote_addr = a;
    EXPECT_FALSE(r.FromLoopback()) << a;
  }
}

// Error messages echo request input (a field name, a bad value): whatever
// bytes it holds, the body is valid JSON that gives the message back.
TEST(JsonErrorTest, BodyIsValidJsonForAnyMessage) {
  const std::string message =
      std::string("bad \"key\" \\ \n\t\x01 \xff\xfe end") + '\0' + "!";
  HttpResponse r = HttpResponse::JsonError(400, message);
  EXPECT_EQ(r.status, 400);
  auto j = nlohmann::json::parse(r.body);  // throws on invalid JSON/UTF-8
  EXPECT_EQ(
      j["error"].get<std::string>(),
      std::string("bad \"key\" \\ \n\t\x01 \xEF\xBF\xBD\xEF\xBF\xBD end") +
          '\0' + "!");
}

TEST(ListenAddressTest, Converts) {
  EXPECT_EQ(*ToCivetwebPorts(":9652"), "9652");
  EXPECT_EQ(*ToCivetwebPorts("127.0.0.1:9652"), "127.0.0.1:9652");
  EXPECT_EQ(*ToCivetwebPorts("[::1]:9652"), "[::1]:9652");
  EXPECT_FALSE(ToCivetwebPorts("9652x").ok());
  EXPECT_FALSE(ToCivetwebPorts("host:99999").ok());
  EXPECT_FALSE(ToCivetwebPorts("").ok());
}

TEST(ListenAddressTest, PortInUseIsClearError) {
  HttpServer a;
  HttpServer::Options o;
  o.listen_address = "127.0.0.1:0";
  ASSERT_TRUE(a.Start(o).ok());
  HttpServer b;
  o.listen_address = "127.0.0.1:" + std::to_string(a.port());
  Status s = b.Start(o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos);
}

// What zlib's gunzip makes of `z` (nullopt when it is not one valid gzip
// member).
std::optional<std::string> Gunzip(const std::string& z) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
  zs.avail_in = static_cast<uInt>(z.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    char buf[65536];
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  const bool whole = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!whole) return std::nullopt;
  return out;
}

// libdeflate's gzip (what /metrics sends) and zlib's both decompress, with
// zlib, to exactly the input, from empty to a large scrape-like body, and
// binary data.
TEST(GzipTest, RoundTripsThroughZlib) {
  std::string scrape;
  for (int i = 0; i < 20000; ++i) {
    scrape += "proplet_task_cpu_seconds_total{task_id=\"t" + std::to_string(i) +
              "\",proplet_id=\"p\"} " + std::to_string(i * 0.37) + "\n";
  }
  std::string binary;
  uint32_t x = 12345;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1103515245 + 12345;
    binary += static_cast<char>(x >> 24);
  }
  for (const std::string& in :
       {std::string(), std::string("x"), scrape, binary}) {
    for (int level : {1, 6}) {
      std::string z = GzipCompress(in, level);
      ASSERT_FALSE(z.empty());
      EXPECT_EQ(Gunzip(z), in) << in.size() << " bytes, level " << level;
      EXPECT_EQ(Gunzip(GzipCompressZlib(in, level)), in);
    }
  }
  EXPECT_LT(GzipCompress(scrape).size(), scrape.size() / 4);
}

TEST(GzipTest, AcceptsGzip) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=0.8"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("identity"));
}

}  // namespace
}  // namespace propmon
