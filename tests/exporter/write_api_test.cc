// The task API's write protection: 403 for writes from clients that are
// neither on loopback nor authenticated by the web config (unless
// enable_write_api), 415 for POST bodies that are not application/json, 429
// past max_tasks, in that order, and the counters of each refusal.
//
// A "remote" client is this host reached through one of its own non-loopback
// addresses: the server then sees that address as the peer, exactly as for
// another machine. Tests that need one skip when the host has none.
#include <arpa/inet.h>
#include <crypt.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "exporter/api.h"
#include "exporter/config.h"
#include "exporter/discovery.h"
#include "exporter/task_monitor.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testutil::Http;
using testutil::HttpResult;
using testutil::Subprocess;
using namespace std::chrono_literals;

// The first IPv4 address of an up, non-loopback interface; nullopt if none.
std::optional<std::string> NonLoopbackIpv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> out;
  for (ifaddrs* a = list; a != nullptr && !out; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if (!(a->ifa_flags & IFF_UP) || (a->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != nullptr &&
        std::string_view(buf).substr(0, 4) != "127.") {
      out = buf;
    }
  }
  freeifaddrs(list);
  return out;
}

// A one-shot HTTP/1.0 request to ip:port; status 0 when it failed.
HttpResult HttpTo(const std::string& ip, int port, const std::string& method,
                  const std::string& path, const std::string& body = "",
                  const std::vector<std::string>& headers = {}) {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: " + ip + "\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t sp = resp.find(' ');
  size_t end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos) return r;
  r.status = std::atoi(resp.c_str() + sp + 1);
  r.body = resp.substr(end + 4);
  return r;
}

std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)),
            nullptr);
  crypt_data data{};
  return crypt_rn(password.c_str(), salt, &data, sizeof(data));
}

std::string ErrorOf(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_string()
             ? j["error"].get<std::string>()
             : "(no JSON error in: " + r.body + ")";
}

// A TaskMonitor and the task API on an HttpServer listening on every IPv4
// address, and a sleeping process to register.
class WriteApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(worker_.Start({testutil::TestHelperBinary(), "sleep", "60"}));
    pid_ = std::to_string(worker_.pid());
    remote_ip_ = NonLoopbackIpv4();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  // Starts the server; `web_config` is a web config file path or "".
  void StartServer(TaskApiOptions api, size_t max_tasks = 4096,
                   const std::string& web_config = "") {
    TaskMonitor::Options o;
    o.proplet_id = "node-w";
    o.clock = &clock_;
    o.max_tasks = max_tasks;
    monitor_ = std::make_unique<TaskMonitor>(o);
    server_ = std::make_unique<HttpServer>();
    refusals_ = RegisterTaskApi(server_.get(), monitor_.get(), std::move(api));
    HttpServer::Options so;
    so.listen_address = "0.0.0.0:0";
    so.web_config_file = web_config;
    Status s = server_->Start(so);
    ASSERT_TRUE(s.ok()) << s.message();
    port_ = server_->port();
  }
  std::string Body(const std::string& id, const std::string& pid) const {
    return R"({"id": ")" + id + R"(", "pid": )" + pid + "}";
  }
  HttpResult LocalPost(const std::string& body,
                       const std::vector<std::string>& headers = {
                           "Content-Type: application/json"}) {
    return Http(port_, "POST", "/api/v1/tasks", body, headers);
  }
  HttpResult RemotePost(const std::string& body,
                        std::vector<std::string> headers = {
                            "Content-Type: application/json"}) {
    return HttpTo(*remote_ip_, port_, "POST", "/api/v1/tasks", body, headers);
  }
  std::string Scrape() {
    MetricsEndpoint m;
    m.Add(monitor_.get());
    m.Add(refusals_.get());
    return m.Render();
  }
  std::optional<double> Metric(const std::string& name,
                               const std::map<std::string, std::string>& l) {
    return testutil::FindSample(testutil::ParseProm(Scrape()), name, l);
  }

  FakeClock clock_;
  std::unique_ptr<TaskMonitor> monitor_;
  std::unique_ptr<HttpServer> server_;
  std::shared_ptr<const ApiRefusals> refusals_;
  int port_ = 0;
  Subprocess worker_;
  std::string pid_;
  std::optional<std::string> remote_ip_;
};

TEST(JsonMediaTypeTest, AcceptsJsonWithParametersInAnyCase) {
  struct Case {
    const char* value;
    bool json;
  } cases[] = {
      {"application/json", true},
      {"application/json; charset=utf-8", true},
      {"Application/JSON;charset=UTF-8", true},
      {"  application/json  ", true},
      {"application/json ;", true},
      {"", false},
      {"text/plain", false},
      {"text/plain; charset=utf-8", false},
      {"application/x-www-form-urlencoded", false},
      {"multipart/form-data; boundary=x", false},
      {"application/jsonp", false},
      {"application/json-seq", false},
      {"application/problem+json", false},
      {"xapplication/json", false},
      {"application/ json", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsJsonMediaType(c.value), c.json) << '"' << c.value << '"';
  }
}

TEST_F(WriteApiTest, RemoteWritesAreForbiddenAndReadsAreNot) {
  if (!remote_ip_) GTEST_SKIP() << "no non-loopback IPv4 address";
  StartServer({});
  ASSERT_EQ(LocalPost(Body("mine", pid_)).status, 201);

  HttpResult post = RemotePost(Body("theirs", pid_));
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_THAT(ErrorOf(post), StartsWith("forbidden: "));
  HttpResult del =
      HttpTo(*remote_ip_, port_, "DELETE", "/api/v1/tasks/mine", "", {});
  EXPECT_EQ(del.status, 403) << del.body;
  // 403 comes before 415 and before the body is read.
  EXPECT_EQ(RemotePost("not json", {"Content-Type: text/plain"}).status, 403);
  // Reads stay open.
  HttpResult list = HttpTo(*remote_ip_, port_, "GET", "/api/v1/tasks");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["total"], 1);
  EXPECT_EQ(
      HttpTo(*remote_ip_, port_, "GET", "/api/v1/tasks/mine/metrics").status,
      200);

  // Nothing changed; each refusal was counted.
  ASSERT_TRUE(monitor_->GetTask("mine"));
  EXPECT_FALSE(monitor_->GetTask("theirs"));
  EXPECT_EQ(refusals_->count(ApiRefusals::Reason::kForbidden), 3);
  EXPECT_EQ(Metric("propmon_exporter_api_requests_refused_total",
                   {{"reason", "forbidden"}}),
            3);
  EXPECT_EQ(Metric("propmon_exporter_api_requests_refused_total",
                   {{"reason", "unsupported_media_type"}}),
            0);
  // Loopback may still delete.
  EXPECT_EQ(Http(port_, "DELETE", "/api/v1/tasks/mine").status, 200);
}

TEST_F(WriteApiTest, EnableWriteApiOpensWritesToEveryone) {
  if (!remote_ip_) GTEST_SKIP() << "no non-loopback IPv4 address";
  TaskApiOptions api;
  api.enable_write_api = true;
  StartServer(api);
  HttpResult post = RemotePost(Body("theirs", pid_));
  ASSERT_EQ(post.status, 201) << post.body;
  // The media type is still checked.
  HttpResult form =
      RemotePost("id=x", {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(form.status, 415) << form.body;
  EXPECT_EQ(HttpTo(*remote_ip_, port_, "DELETE", "/api/v1/tasks/theirs").status,
            200);
  EXPECT_EQ(refusals_->count(ApiRefusals::Reason::kForbidden), 0);
}

TEST_F(WriteApiTest, ClientsTheWebConfigAuthenticatesMayWrite) {
  if (!remote_ip_) GTEST_SKIP() << "no non-loopback IPv4 address";
  testutil::TempDir dir;
  std::string web = dir.Write(
      "web.yml", "basic_auth_users:\n  ops: " + Bcrypt("s3cret") + "\n");
  StartServer({}, 4096, web);
  // "ops:s3cret" and "ops:wrong" in base64.
  const std::string good = "Authorization: Basic b3BzOnMzY3JldA==";
  const std::string bad = "Authorization: Basic b3BzOndyb25n";
  EXPECT_EQ(RemotePost(Body("x", pid_), {"Content-Type: application/json", bad})
                .status,
            401);
  HttpResult ok =
      RemotePost(Body("x", pid_), {"Content-Type: application/json", good});
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(HttpTo(*remote_ip_, port_, "DELETE", "/api/v1/tasks/x", "", {good})
                .status,
            200);
}

TEST_F(WriteApiTest, PostMustBeJson) {
  StartServer({});
  struct Case {
    std::vector<std::string> headers;
    int status;
  } cases[] = {
      {{}, 415},  // No Content-Type at all.
      {{"Content-Type: text/plain"}, 415},
      {{"Content-Type: text/plain; charset=utf-8"}, 415},
      {{"Content-Type: application/x-www-form-urlencoded"}, 415},
      {{"Content-Type: multipart/form-data; boundary=b"}, 415},
      {{"Content-Type: application/json; charset=utf-8"}, 201},
      {{"Content-Type: APPLICATION/JSON"}, 409},  // Same id: it got through.
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.headers.empty() ? "(none)" : c.headers[0]);
    HttpResult r = LocalPost(Body("j", pid_), c.headers);
    EXPECT_EQ(r.status, c.status) << r.body;
    if (c.status == 415) {
      EXPECT_THAT(ErrorOf(r),
                  StartsWith("Content-Type: must be application/json, got"));
    }
  }
  // 415 comes before the body is looked at.
  EXPECT_EQ(LocalPost("{not json", {"Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(LocalPost("{not json").status, 400);
  EXPECT_EQ(refusals_->count(ApiRefusals::Reason::kUnsupportedMediaType), 6);
  EXPECT_EQ(Metric("propmon_exporter_api_requests_refused_total",
                   {{"reason", "unsupported_media_type"}}),
            6);
  EXPECT_EQ(monitor_->ListTasks().size(), 1u);
}

TEST_F(WriteApiTest, MaxTasksCapsRunningTasksWith429) {
  StartServer({}, /*max_tasks=*/2);
  Subprocess short_lived;
  ASSERT_TRUE(short_lived.Start({testutil::TestHelperBinary(), "sleep", "60"}));
  ASSERT_EQ(LocalPost(Body("a", pid_)).status, 201);
  ASSERT_EQ(LocalPost(Body("b", std::to_string(short_lived.pid()))).status,
            201);
  HttpResult third = LocalPost(Body("c", pid_));
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_THAT(ErrorOf(third), StartsWith("max_tasks: 2 tasks are running"));
  EXPECT_FALSE(monitor_->GetTask("c"));
  EXPECT_EQ(monitor_->refused(TaskMonitor::Refusal::kMaxTasks), 1);
  EXPECT_EQ(
      Metric("propmon_exporter_tasks_refused_total", {{"reason", "max_tasks"}}),
      1);
  EXPECT_EQ(Metric("propmon_exporter_tasks_max", {}), 2);

  // A task that ends frees its place (it stays listed, ended).
  short_lived.Signal(SIGKILL);
  ASSERT_TRUE(short_lived.Wait(5s));
  monitor_->RunOnce(true);
  ASSERT_EQ(monitor_->GetTask("b")->state, TaskState::kEnded);
  ASSERT_EQ(LocalPost(Body("c", pid_)).status, 201);
  EXPECT_EQ(LocalPost(Body("d", pid_)).status, 429);
  // So does a deleted one; re-using an ended task's id takes a place too.
  ASSERT_EQ(Http(port_, "DELETE", "/api/v1/tasks/a").status, 200);
  ASSERT_EQ(LocalPost(Body("b", pid_)).status, 201);
  EXPECT_EQ(LocalPost(Body("d", pid_)).status, 429);
  EXPECT_EQ(monitor_->RunningTasks(), 2u);
  EXPECT_EQ(
      Metric("propmon_exporter_tasks_refused_total", {{"reason", "max_tasks"}}),
      3);
}

// Config-discovered tasks go through the same TaskMonitor::AddTask and so
// the same cap; the refusal is counted by reason there.
TEST(MaxTasksDiscoveryTest, ConfigTasksShareTheCap) {
  Subprocess a, b;
  ASSERT_TRUE(a.Start({testutil::TestHelperBinary(), "sleep", "60"}));
  ASSERT_TRUE(b.Start({testutil::TestHelperBinary(), "sleep", "60"}));
  auto config = ParseConfig(
      "max_tasks: 1\ntasks:\n  - id: a\n    pid: " + std::to_string(a.pid()) +
          "\n  - id: b\n    pid: " + std::to_string(b.pid()) + "\n",
      "t.yaml", "/");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->max_tasks, 1u);
  FakeClock clock;
  TaskMonitor::Options o;
  o.clock = &clock;
  o.max_tasks = config->max_tasks;
  TaskMonitor monitor(o);
  Discovery discovery(std::move(config->tasks), &monitor, Discovery::Options{});
  discovery.RunOnce();
  EXPECT_EQ(monitor.RunningTasks(), 1u);
  EXPECT_NE(monitor.GetTask("a").has_value(), monitor.GetTask("b").has_value());
  EXPECT_EQ(monitor.refused(TaskMonitor::Refusal::kMaxTasks), 1);
  EXPECT_EQ(discovery.errors(DiscoveryError::kAddFailed), 1);
}

TEST(MaxTasksConfigTest, RangeIsCheckedAndDefaultIs4096) {
  auto def = ParseConfig("", "t.yaml", "/");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->max_tasks, 4096u);
  EXPECT_FALSE(def->enable_write_api);
  for (const char* bad : {"max_tasks: 0\n", "max_tasks: 1000001\n",
                          "max_tasks: lots\n", "max_tasks: 1.5\n"}) {
    auto c = ParseConfig(bad, "t.yaml", "/");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(c.status().message(),
                HasSubstr("max_tasks: must be an integer between 1 and "
                          "1000000"));
  }
  auto web = ParseConfig("web:\n  enable_write_api: true\nmax_tasks: 1000000\n",
                         "t.yaml", "/");
  ASSERT_TRUE(web.ok()) << web.status().message();
  EXPECT_TRUE(web->enable_write_api);
  EXPECT_EQ(web->max_tasks, 1000000u);
  auto wrong = ParseConfig("web:\n  enable_write_api: yes\n", "t.yaml", "/");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(),
            "t.yaml:2:21: web.enable_write_api: must be true or false");
}

}  // namespace
}  // namespace propmon::exporter
