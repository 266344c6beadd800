#include "exporter/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/clock.h"
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

const std::regex kRfc3339(
    R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))");

class TaskApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TaskMonitor::Options o;
    o.proplet_id = "node-7";
    o.clock = &clock_;
    monitor_ = std::make_unique<TaskMonitor>(o);
    TaskApiOptions api;
    api.default_profile = default_profile_;
    RegisterTaskApi(&server_, monitor_.get(), api);
    HttpServer::Options so;
    so.listen_address = "127.0.0.1:0";
    ASSERT_TRUE(server_.Start(so).ok());
    port_ = server_.port();
    ASSERT_TRUE(worker_.Start({testutil::TestHelperBinary(), "sleep", "30"}));
    pid_ = std::to_string(worker_.pid());
    // Wait until the worker has exec'd: sampled mid-exec, a process has an
    // empty address space (RSS 0), which is true but not what tests expect.
    std::string exe = "/proc/" + pid_ + "/exe";
    ASSERT_TRUE(testutil::WaitUntil(
        [&] {
          char buf[4096];
          ssize_t n = readlink(exe.c_str(), buf, sizeof(buf) - 1);
          return n > 0 && std::string(buf, static_cast<size_t>(n)) ==
                              testutil::TestHelperBinary();
        },
        std::chrono::seconds(10)));
  }
  void TearDown() override { server_.Stop(); }

  HttpResult Post(const std::string& body) {
    return Http(port_, "POST", "/api/v1/tasks", body,
                {"Content-Type: application/json"});
  }
  static json Body(const HttpResult& r) {
    return json::parse(r.body, nullptr, false);
  }
  // Asserts a JSON error response whose message starts with `want`.
  static void ExpectError(const HttpResult& r, int status,
                          const std::string& want) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_THAT(
        r.headers.count("content-type") ? r.headers.at("content-type") : "",
        StartsWith("application/json"));
    json j = Body(r);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_THAT(j["error"].get<std::string>(), StartsWith(want)) << r.body;
  }

  std::optional<MonitoringProfile> default_profile_;
  FakeClock clock_;
  std::unique_ptr<TaskMonitor> monitor_;
  HttpServer server_;
  int port_ = 0;
  Subprocess worker_;
  std::string pid_;
};

TEST_F(TaskApiTest, RegistersTheSeedTaskJsonPlusPid) {
  auto r = Post(R"({"id": "550e8400-e29b-41d4-a716-446655440001",
      "functionName": "compute", "imageURL": "registry.example.com/c:v1",
      "params": [10, 20], "daemon": false,
      "monitoringProfile": {"enabled": true, "interval": 5, "history_size": 50,
                            "collect_network_io": false},
      "env": {"MODE": "fast"}, "pid": )" +
                pid_ + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers["location"],
            "/api/v1/tasks/550e8400-e29b-41d4-a716-446655440001");
  json j = Body(r);
  EXPECT_EQ(j["id"], "550e8400-e29b-41d4-a716-446655440001");
  EXPECT_EQ(j["name"], "compute");
  EXPECT_EQ(j["daemon"], false);
  EXPECT_EQ(j["pid"], worker_.pid());
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["source"], "api");
  EXPECT_EQ(j["include_children"], true);
  EXPECT_EQ(j["env"], json({{"MODE", "fast"}}));
  // The resolved profile: given fields, the rest from `standard`.
  EXPECT_EQ(j["profile"]["name"], "custom");
  EXPECT_EQ(j["profile"]["interval"], 5);
  EXPECT_EQ(j["profile"]["history_size"], 50);
  EXPECT_EQ(j["profile"]["collect_network_io"], false);
  EXPECT_EQ(j["profile"]["collect_disk_io"], true);
  EXPECT_TRUE(std::regex_match(j["registered_at"].get<std::string>(), kRfc3339))
      << j["registered_at"];
  EXPECT_TRUE(j["last_sample"].is_null());

  // What GET returns is what POST said was stored.
  auto g =
      Http(port_, "GET", "/api/v1/tasks/550e8400-e29b-41d4-a716-446655440001");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(Body(g), j);
}

TEST_F(TaskApiTest, NameAndPresetProfileAndDaemonDefault) {
  auto r = Post(R"({"id": "a", "name": "n", "functionName": "f",
      "monitoring_profile": "intensive", "pid": )" +
                pid_ + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["name"], "n");
  EXPECT_EQ(Body(r)["profile"]["name"], "intensive");
  r = Post(R"({"id": "d", "daemon": true, "pid": )" + pid_ + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["profile"]["name"], "daemon");
  r = Post(R"({"id": "s", "pid": )" + pid_ + R"(, "include_children": false})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["profile"]["name"], "standard");
  EXPECT_EQ(Body(r)["include_children"], false);
  EXPECT_EQ(Body(r)["name"], "");
}

TEST_F(TaskApiTest, ErrorsNameTheField) {
  std::string p = pid_;
  struct Case {
    std::string body;
    int status;
    std::string want;
  } cases[] = {
      {"", 400, "body: empty"},
      {"{\"id\": ", 400, "body: invalid JSON: parse error"},
      {"[1, 2]", 400, "body: must be a JSON object"},
      {"{\"pid\": " + p + "}", 400, "id: required"},
      {"{\"id\": 5, \"pid\": " + p + "}", 400, "id: must be a string"},
      {"{\"id\": \"\", \"pid\": " + p + "}", 400, "id: must be 1 to 256 bytes"},
      {"{\"id\": \"a\\u0001b\", \"pid\": " + p + "}", 400,
       "id: must be 1 to 256 bytes"},
      {"{\"id\": \"a\"}", 400, "pid: required"},
      {"{\"id\": \"a\", \"pid\": \"" + p + "\"}", 400,
       "pid: must be a positive integer"},
      {"{\"id\": \"a\", \"pid\": -3}", 400, "pid: must be a positive integer"},
      {"{\"id\": \"a\", \"pid\": 1.5}", 400, "pid: must be a positive integer"},
      {"{\"id\": \"a\", \"pid\": 99999999999}", 400,
       "pid: must be a positive integer"},
      {"{\"id\": \"a\", \"pid\": 2147483647}", 400,
       "pid: process 2147483647 is not running"},
      {"{\"id\": \"a\", \"daemon\": \"yes\", \"pid\": " + p + "}", 400,
       "daemon: must be true or false"},
      {"{\"id\": \"a\", \"functionName\": 3, \"pid\": " + p + "}", 400,
       "functionName: must be a string"},
      {"{\"id\": \"a\", \"env\": {\"K\": 1}, \"pid\": " + p + "}", 400,
       "env.K: must be a string"},
      {"{\"id\": \"a\", \"env\": [], \"pid\": " + p + "}", 400,
       "env: must be an object of strings"},
      {"{\"id\": \"a\", \"monitoringProfile\": {\"interval\": 0}, \"pid\": " +
           p + "}",
       400, "monitoringProfile.interval: must be an integer between 1 and 120"},
      {"{\"id\": \"a\", \"monitoring_profile\": {\"history_size\": -1}, "
       "\"pid\": " +
           p + "}",
       400, "monitoring_profile.history_size: must be between 0 and"},
      {"{\"id\": \"a\", \"monitoring_profile\": {\"colour\": 1}, \"pid\": " +
           p + "}",
       400, "monitoring_profile.colour: unknown field"},
      {"{\"id\": \"a\", \"monitoring_profile\": \"turbo\", \"pid\": " + p + "}",
       400, "monitoring_profile: unknown monitoring profile \"turbo\""},
      {"{\"id\": \"a\", \"monitoring_profile\": \"minimal\", "
       "\"monitoringProfile\": \"minimal\", \"pid\": " +
           p + "}",
       400, "monitoring_profile: give monitoring_profile or monitoringProfile"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    ExpectError(Post(c.body), c.status, c.want);
  }
  // Nothing was registered by any of them.
  EXPECT_TRUE(monitor_->ListTasks().empty());
}

TEST_F(TaskApiTest, DuplicateIdIs409AndOversizedBodyIs413) {
  std::string body = R"({"id": "dup", "pid": )" + pid_ + "}";
  ASSERT_EQ(Post(body).status, 201);
  ExpectError(Post(body), 409, "task \"dup\" already exists");
  std::string big = R"({"id": "big", "pid": )" + pid_ + R"(, "params": ")" +
                    std::string(70 * 1024, 'x') + "\"}";
  ExpectError(Post(big), 413, "request body larger than");
}

TEST_F(TaskApiTest, ListGetAndDelete) {
  Subprocess short_lived;
  ASSERT_TRUE(short_lived.Start({testutil::TestHelperBinary(), "sleep", "30"}));
  ASSERT_EQ(Post(R"({"id": "long", "pid": )" + pid_ + "}").status, 201);
  ASSERT_EQ(Post(R"({"id": "short", "pid": )" +
                 std::to_string(short_lived.pid()) + "}")
                .status,
            201);
  monitor_->RunOnce(true);
  short_lived.Signal(SIGKILL);
  ASSERT_TRUE(short_lived.Wait(5s));
  clock_.Advance(10);
  monitor_->RunOnce(true);  // Notices the exit.

  auto r = Http(port_, "GET", "/api/v1/tasks");
  ASSERT_EQ(r.status, 200);
  json j = Body(r);
  EXPECT_EQ(j["total"], 2);
  std::map<std::string, json> by_id;
  for (const auto& t : j["tasks"]) by_id[t["id"]] = t;
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id["long"]["state"], "running");
  EXPECT_FALSE(by_id["long"].contains("ended_at"));
  EXPECT_EQ(by_id["short"]["state"], "ended");
  EXPECT_TRUE(std::regex_match(by_id["short"]["ended_at"].get<std::string>(),
                               kRfc3339));
  // The last sample, in the task_metrics layout.
  const json& last = by_id["long"]["last_sample"];
  ASSERT_TRUE(last.is_object()) << by_id["long"];
  EXPECT_EQ(last["task_id"], "long");
  EXPECT_EQ(last["proplet_id"], "node-7");
  EXPECT_GT(last["metrics"]["memory_bytes"].get<double>(), 0);
  EXPECT_EQ(by_id["long"]["samples"], 2);

  auto missing = Http(port_, "GET", "/api/v1/tasks/nope");
  ExpectError(missing, 404, "task \"nope\" not found");

  auto del = Http(port_, "DELETE", "/api/v1/tasks/long");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(Body(del)["deleted"], "long");
  EXPECT_EQ(Body(del)["task"]["id"], "long");
  ExpectError(Http(port_, "GET", "/api/v1/tasks/long"), 404, "task \"long\"");
  ExpectError(Http(port_, "DELETE", "/api/v1/tasks/long"), 404,
              "task \"long\"");
  // Monitoring stopped; the process was not touched.
  EXPECT_TRUE(worker_.running());
  EXPECT_EQ(Body(Http(port_, "GET", "/api/v1/tasks"))["total"], 1);
}

TEST_F(TaskApiTest, OddPathsAndMethods) {
  ASSERT_EQ(Post(R"({"id": "a/b c", "pid": )" + pid_ + "}").status, 201);
  auto r = Http(port_, "GET", "/api/v1/tasks/a%2Fb%20c");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["id"], "a/b c");
  ASSERT_EQ(Http(port_, "GET", "/api/v1/tasks/a%2Fb%20c/metrics").status, 200);
  // Decoded once: '/' may be written as is, and '%' stays a '%'.
  ASSERT_EQ(Http(port_, "GET", "/api/v1/tasks/a/b%20c").status, 200);
  ASSERT_EQ(Post(R"({"id": "100%", "pid": )" + pid_ + "}").status, 201);
  ASSERT_EQ(Http(port_, "GET", "/api/v1/tasks/100%25").status, 200);
  ExpectError(Http(port_, "GET", "/api/v1/tasks/"), 404, "not found");
  ExpectError(Http(port_, "GET", "/api/v1/tasks/a/b"), 404,
              "task \"a/b\" not found");
  ExpectError(Http(port_, "GET", "/api/v1/tasks/a/b/metrics"), 404,
              "task \"a/b\" not found");
  ExpectError(Http(port_, "PUT", "/api/v1/tasks/x"), 405, "method not allowed");
  ExpectError(Http(port_, "POST", "/api/v1/tasks/x/metrics"), 405,
              "method not allowed");
  ExpectError(Http(port_, "DELETE", "/api/v1/tasks"), 405,
              "method not allowed");
}

TEST_F(TaskApiTest, HistoryPagesAreConsistent) {
  ASSERT_EQ(Post(R"({"id": "h", "monitoringProfile": "intensive", "pid": )" +
                 pid_ + "}")
                .status,
            201);
  const int kSamples = 7;
  for (int i = 0; i < kSamples; ++i) {
    monitor_->RunOnce(true);
    clock_.Advance(1);
  }
  auto all = Http(port_, "GET", "/api/v1/tasks/h/metrics?limit=1000");
  ASSERT_EQ(all.status, 200) << all.body;
  json full = Body(all);
  EXPECT_EQ(full["offset"], 0);
  EXPECT_EQ(full["limit"], 1000);
  EXPECT_EQ(full["total"], kSamples);
  ASSERT_EQ(full["metrics"].size(), static_cast<size_t>(kSamples));

  // Pages of 3 put together are the whole history, oldest first.
  json joined = json::array();
  for (int offset = 0; offset < kSamples + 3; offset += 3) {
    auto r = Http(port_, "GET",
                  "/api/v1/tasks/h/metrics?offset=" + std::to_string(offset) +
                      "&limit=3");
    ASSERT_EQ(r.status, 200) << r.body;
    json page = Body(r);
    EXPECT_EQ(page["offset"], offset);
    EXPECT_EQ(page["limit"], 3);
    EXPECT_EQ(page["total"], kSamples);
    size_t want = offset >= kSamples ? 0 : std::min(3, kSamples - offset);
    ASSERT_EQ(page["metrics"].size(), want) << offset;
    for (const auto& m : page["metrics"]) joined.push_back(m);
  }
  EXPECT_EQ(joined, full["metrics"]);

  std::string prev;
  for (size_t i = 0; i < full["metrics"].size(); ++i) {
    const json& m = full["metrics"][i];
    EXPECT_EQ(m["task_id"], "h");
    EXPECT_EQ(m["proplet_id"], "node-7");
    std::string ts = m["timestamp"].get<std::string>();
    EXPECT_TRUE(std::regex_match(ts, kRfc3339)) << ts;
    EXPECT_GT(ts, prev);  // Oldest first (same format, so string order).
    prev = ts;
    // Only the task_metrics field names; nothing absent shows as 0.
    static const std::set<std::string> kFields = {
        "cpu_percent",     "memory_bytes",          "memory_percent",
        "disk_read_bytes", "disk_write_bytes",      "uptime_seconds",
        "thread_count",    "file_descriptor_count", "network_rx_bytes",
        "network_tx_bytes"};
    for (const auto& [k, v] : m["metrics"].items()) {
      EXPECT_TRUE(kFields.count(k)) << k;
    }
    // The test's worker shares our network namespace: no network figures.
    EXPECT_FALSE(m["metrics"].contains("network_rx_bytes"));
    EXPECT_GT(m["metrics"]["memory_bytes"].get<double>(), 0);
    EXPECT_GT(m["metrics"]["memory_percent"].get<double>(), 0);
    EXPECT_LT(m["metrics"]["memory_percent"].get<double>(), 100);
    EXPECT_EQ(m["metrics"]["thread_count"], 1);
    // The first sample has no interval behind it: no CPU figure at all.
    EXPECT_EQ(m["metrics"].contains("cpu_percent"), i > 0) << i;
    // Aggregates over the retained history up to this sample.
    ASSERT_TRUE(m["aggregated"].is_object());
    EXPECT_EQ(m["aggregated"]["sample_count"], i + 1);
    EXPECT_EQ(m["aggregated"]["max_memory_usage"].get<double>() >=
                  m["metrics"]["memory_bytes"].get<double>(),
              true);
  }
}

TEST_F(TaskApiTest, HistoryQueryValidation) {
  ASSERT_EQ(Post(R"({"id": "q", "pid": )" + pid_ + "}").status, 201);
  monitor_->RunOnce(true);
  auto r = Http(port_, "GET", "/api/v1/tasks/q/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["offset"], 0);
  EXPECT_EQ(Body(r)["limit"], 100);
  EXPECT_EQ(Body(r)["total"], 1);
  r = Http(port_, "GET", "/api/v1/tasks/q/metrics?limit=5000");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["limit"], 1000);
  r = Http(port_, "GET", "/api/v1/tasks/q/metrics?limit=0");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["total"], 1);
  EXPECT_TRUE(Body(r)["metrics"].empty());
  for (const char* q : {"offset=abc", "offset=-1", "offset=1.5",
                        "offset=", "offset=99999999999999999999999"}) {
    ExpectError(Http(port_, "GET", std::string("/api/v1/tasks/q/metrics?") + q),
                400, "offset: must be a non-negative integer");
  }
  for (const char* q : {"limit=ten", "limit=-5", "limit=1e3"}) {
    ExpectError(Http(port_, "GET", std::string("/api/v1/tasks/q/metrics?") + q),
                400, "limit: must be a non-negative integer");
  }
  ExpectError(Http(port_, "GET", "/api/v1/tasks/unknown/metrics"), 404,
              "task \"unknown\" not found");
}

TEST_F(TaskApiTest, MinimalProfileKeepsNoHistory) {
  ASSERT_EQ(Post(R"({"id": "m", "monitoring_profile": "minimal", "pid": )" +
                 pid_ + "}")
                .status,
            201);
  monitor_->RunOnce(true);
  auto r = Http(port_, "GET", "/api/v1/tasks/m/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["total"], 0);
  auto t = Body(Http(port_, "GET", "/api/v1/tasks/m"));
  EXPECT_TRUE(t["last_sample"]["aggregated"].is_null()) << t;
  // minimal collects CPU and memory only: the rest is absent, not 0.
  EXPECT_FALSE(t["last_sample"]["metrics"].contains("disk_read_bytes")) << t;
  EXPECT_FALSE(t["last_sample"]["metrics"].contains("thread_count")) << t;
}

class DefaultProfileApiTest : public TaskApiTest {
 protected:
  void SetUp() override {
    default_profile_ = *PresetProfile("batch");
    TaskApiTest::SetUp();
  }
};

TEST_F(DefaultProfileApiTest, ConfiguredDefaultProfileApplies) {
  auto r = Post(R"({"id": "x", "daemon": true, "pid": )" + pid_ + "}");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(Body(r)["profile"]["name"], "batch");
}

TEST(HistoryPageJsonTest, AggregatedIsAbsentWithoutHistory) {
  TaskSample s;
  s.timestamp = 1700000000.5;
  s.cpu_usage_ratio = 0.25;
  s.memory_bytes = 1000;
  json j = json::parse(HistoryPageJson("t", "p", {s, s}, 1, 5, 2, false));
  EXPECT_EQ(j["offset"], 1);
  EXPECT_EQ(j["total"], 2);
  ASSERT_EQ(j["metrics"].size(), 1u);
  // The manager's form: `aggregated` is omitted, not null.
  EXPECT_FALSE(j["metrics"][0].contains("aggregated")) << j;
  EXPECT_DOUBLE_EQ(j["metrics"][0]["metrics"]["cpu_percent"].get<double>(), 25);
  // Go's time.RFC3339Nano: trailing fraction zeros trimmed.
  EXPECT_EQ(j["metrics"][0]["timestamp"], "2023-11-14T22:13:20.5Z");
}

// --- The real binary
// ----------------------------------------------------------

// Returns the fenced block that follows `marker` (the fence line included in
// the marker), up to the closing fence.
std::string BlockAfter(const std::string& doc, const std::string& marker) {
  size_t at = doc.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  size_t end = doc.find("\n```", at);
  return end == std::string::npos ? "" : doc.substr(at, end - at + 1);
}

std::string ReplaceAll(std::string s, const std::string& from,
                       const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos;
       at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Runs a bash script; returns its stdout and sets *status.
std::string RunBash(const testutil::TempDir& dir, const std::string& script,
                    int* status) {
  std::string path = dir.Write("script.sh", script);
  FILE* f = popen(("bash " + path + " 2>/dev/null").c_str(), "r");
  std::string out;
  if (f == nullptr) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  *status = pclose(f);
  return out;
}

class ExporterBinaryTest : public ::testing::Test {
 protected:
  bool StartExporter(std::vector<std::string> args, int port) {
    args.insert(args.begin(), testutil::ExporterBinary());
    if (!exporter_.Start(args, dir_.File("exporter.log"))) return false;
    return testutil::WaitUntil([&] { return testutil::PortOpen(port); }, 10s);
  }
  testutil::TempDir dir_;
  Subprocess exporter_;
};

TEST_F(ExporterBinaryTest, DocsApiExamplesWorkVerbatim) {
  int port = testutil::FreePort();
  ASSERT_TRUE(
      StartExporter({"--web.listen-address=127.0.0.1:" + std::to_string(port),
                     "--proplet-id=worker-01"},
                    port))
      << testutil::ReadFileOrEmpty(dir_.File("exporter.log"));
  std::string doc =
      testutil::ReadFileOrEmpty(testutil::SourceDir() + "/docs/api.md");
  std::string here = "127.0.0.1:" + std::to_string(port);

  std::string walk = BlockAfter(doc, "<!-- walkthrough -->\n```sh\n");
  ASSERT_FALSE(walk.empty());
  int status = 0;
  std::string out =
      RunBash(dir_, ReplaceAll(walk, "127.0.0.1:9652", here), &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr(R"("id":"demo-1")"));
  EXPECT_THAT(out, HasSubstr(R"("state":"running")"));
  EXPECT_THAT(out, HasSubstr(R"({"offset":1,"limit":2,"total":)"));
  EXPECT_THAT(out, HasSubstr(R"("hardware":{)"));
  EXPECT_THAT(out, HasSubstr(R"({"deleted":"demo-1")"));

  // Every "$ command" of a console block prints exactly what follows it.
  int commands = 0;
  for (size_t at = doc.find("```console\n"); at != std::string::npos;
       at = doc.find("```console\n", at + 1)) {
    std::string block = BlockAfter(doc.substr(at), "```console\n");
    std::istringstream lines(block);
    std::string line, cmd, want;
    auto check = [&] {
      if (cmd.empty()) return;
      ++commands;
      int st = 0;
      std::string got =
          RunBash(dir_, ReplaceAll(cmd, "127.0.0.1:9652", here), &st);
      EXPECT_EQ(st, 0) << cmd;
      EXPECT_EQ(got + "\n", want) << cmd;
    };
    while (std::getline(lines, line)) {
      if (line.rfind("$ ", 0) == 0) {
        check();
        cmd = line.substr(2);
        want.clear();
      } else {
        want += line + "\n";
      }
    }
    check();
  }
  EXPECT_GE(commands, 9);
}

TEST_F(ExporterBinaryTest, ConfigFileTasksAreDiscovered) {
  std::filesystem::create_symlink(testutil::TestHelperBinary(),
                                  dir_.File("e2e-worker-5"));
  Subprocess worker;
  ASSERT_TRUE(worker.Start({dir_.File("e2e-worker-5"), "sleep", "30"}));
  int port = testutil::FreePort();
  std::string esc;
  for (char c : dir_.path()) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      esc += '\\';
    }
    esc += c;
  }
  std::string config =
      dir_.Write("exporter.yaml",
                 "proplet_id: cfg-node\nprivacy: true\ndiscovery_interval: 1\n"
                 "web:\n  listen_address: '127.0.0.1:" +
                     std::to_string(port) +
                     "'\n"
                     "tasks:\n"
                     "  - id: 'e2e-{{.Matches.n}}'\n"
                     "    cmdline: '^" +
                     esc +
                     R"(/e2e-worker-(?P<n>\d+) ')"
                     "\n"
                     "    profile: intensive\n"
                     "  - id: gone\n    pidfile: missing.pid\n");
  ASSERT_TRUE(StartExporter({"--config.file=" + config}, port))
      << testutil::ReadFileOrEmpty(dir_.File("exporter.log"));
  ASSERT_TRUE(testutil::WaitUntil(
      [&] { return Http(port, "GET", "/api/v1/tasks/e2e-5").status == 200; },
      10s));
  json t = json::parse(Http(port, "GET", "/api/v1/tasks/e2e-5").body);
  EXPECT_EQ(t["source"], "config");
  EXPECT_EQ(t["pid"], worker.pid());
  EXPECT_EQ(t["profile"]["name"], "intensive");

  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto s = testutil::ParseProm(Http(port, "GET", "/metrics").body);
        auto v =
            testutil::FindSample(s, "propmon_exporter_discovery_errors_total",
                                 {{"reason", "pidfile_unreadable"}});
        return v && *v >= 1 &&
               testutil::FindSample(
                   s, "proplet_task_info",
                   {{"task_id", "e2e-5"}, {"proplet_id", "cfg-node"}});
      },
      10s));
  json sys = json::parse(Http(port, "GET", "/api/v1/system").body);
  EXPECT_EQ(sys["proplet_id"], "cfg-node");
  EXPECT_FALSE(sys["software"].contains("hostname"));  // privacy: true
  exporter_.Stop();

  // The flag wins over web.listen_address.
  int flag_port = testutil::FreePort();
  ASSERT_TRUE(StartExporter(
      {"--config.file=" + config,
       "--web.listen-address=127.0.0.1:" + std::to_string(flag_port)},
      flag_port));
  EXPECT_EQ(Http(flag_port, "GET", "/api/v1/tasks").status, 200);
}

TEST_F(ExporterBinaryTest, BadConfigExitsWithTheLocation) {
  std::string config =
      dir_.Write("bad.yaml", "tasks:\n  - comm: x\n    colour: red\n");
  Subprocess p;
  ASSERT_TRUE(p.Start({testutil::ExporterBinary(), "--config.file=" + config},
                      dir_.File("bad.log")));
  auto st = p.Wait(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 2);
  EXPECT_THAT(testutil::ReadFileOrEmpty(dir_.File("bad.log")),
              HasSubstr(config + ":3:5: tasks[0].colour: unknown key"));
}

// The proplet id labels every series: one with a control character or past
// 256 bytes is refused at start, never published (common/label.h).
TEST_F(ExporterBinaryTest, InvalidPropletIdIsRefusedAtStart) {
  for (const std::string& id :
       {std::string("node\x01a"), std::string(300, 'p')}) {
    Subprocess p;
    ASSERT_TRUE(p.Start({testutil::ExporterBinary(), "--proplet-id=" + id,
                         "--web.listen-address=127.0.0.1:0"},
                        dir_.File("id.log")));
    auto st = p.Wait(10s);
    ASSERT_TRUE(st);
    EXPECT_TRUE(WIFEXITED(*st));
    EXPECT_EQ(WEXITSTATUS(*st), 2);
    EXPECT_THAT(testutil::ReadFileOrEmpty(dir_.File("id.log")),
                HasSubstr("proplet_id \""));
  }
}

}  // namespace
}  // namespace propmon::exporter
