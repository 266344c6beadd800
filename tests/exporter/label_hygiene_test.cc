// Label hygiene in the exporter (common/label.h, docs/api.md): the
// propmon-exporter binary against real processes. A process renamed to
// bytes that are no UTF-8 is discovered with a repaired id and name; the
// task API repairs names and refuses ids (400 naming the field and the
// reason); every case is counted in propmon_exporter_label_values_total,
// and /metrics stays valid exposition text (promtool) of valid UTF-8.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/label.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testutil::FindSample;
using testutil::Http;
using testutil::ParseProm;
using testutil::Subprocess;
using namespace std::chrono_literals;

const std::string kFffd = "\xEF\xBF\xBD";

std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

// /metrics is valid exposition text of valid UTF-8. promtool's only
// complaints may be the lint ones the host collectors' node_exporter names
// draw (tests/exporter/host_collectors_test.cc).
void ExpectValidExposition(const std::string& text) {
  std::string fixed;
  EXPECT_FALSE(label::ReplaceInvalidUtf8(text, &fixed))
      << "/metrics holds invalid UTF-8";
  std::string report;
  int code = testutil::PromtoolCheckMetrics(text, &report);
  EXPECT_TRUE(code == 0 || code == 3) << "promtool exit " << code << "\n"
                                      << report;
  EXPECT_THAT(report, ::testing::Not(HasSubstr("error"))) << report;
}

double LabelCount(const std::vector<testutil::Sample>& s,
                  const std::string& source, const std::string& reason,
                  const std::string& action) {
  return FindSample(
             s, "propmon_exporter_label_values_total",
             {{"source", source}, {"reason", reason}, {"action", action}})
      .value_or(-1);
}

class ExporterLabelTest : public ::testing::Test {
 protected:
  void StartExporter(std::vector<std::string> args) {
    port_ = testutil::FreePort();
    args.insert(args.begin(), testutil::ExporterBinary());
    args.push_back("--web.listen-address=127.0.0.1:" + std::to_string(port_));
    ASSERT_TRUE(exporter_.Start(args, dir_.File("exporter.log")));
    ASSERT_TRUE(
        testutil::WaitUntil([&] { return testutil::PortOpen(port_); }, 10s))
        << testutil::ReadFileOrEmpty(dir_.File("exporter.log"));
  }
  // Starts `argv` and waits until its cmdline shows it has exec'ed.
  void StartWorker(Subprocess* p, const std::vector<std::string>& argv) {
    ASSERT_TRUE(p->Start(argv));
    std::string want;
    for (const auto& a : argv) want += a + '\0';
    std::string path = "/proc/" + std::to_string(p->pid()) + "/cmdline";
    ASSERT_TRUE(testutil::WaitUntil(
        [&] { return testutil::ReadFileOrEmpty(path) == want; }, 5s));
  }
  std::string Metrics() { return Http(port_, "GET", "/metrics").body; }
  json Tasks() {
    return json::parse(Http(port_, "GET", "/api/v1/tasks").body, nullptr,
                       false);
  }
  testutil::HttpResult Post(const std::string& body) {
    return Http(port_, "POST", "/api/v1/tasks", body,
                {"Content-Type: application/json"});
  }

  testutil::TempDir dir_;
  Subprocess exporter_;
  int port_ = 0;
};

// A process renamed with prctl(PR_SET_NAME, "\xff\x01") matched by a rule
// whose id and name templates use its comm: the task appears, its id and
// name repaired (each bad byte U+FFFD), both counted; an id template that
// renders 500 bytes from argv[0] is cut to 256 bytes.
TEST_F(ExporterLabelTest, RenamedProcessIsDiscoveredWithRepairedLabels) {
  std::string link = dir_.File("label-worker");
  std::filesystem::create_symlink(testutil::TestHelperBinary(), link);
  std::string long_name(250, 'z');
  std::string long_link = dir_.File(long_name);
  std::filesystem::create_symlink(testutil::TestHelperBinary(), long_link);
  Subprocess renamed, long_argv;
  StartWorker(&renamed, {link, "rename", "ff01", "sleep", "30"});
  std::string comm_path = "/proc/" + std::to_string(renamed.pid()) + "/comm";
  ASSERT_TRUE(testutil::WaitUntil(
      [&] { return testutil::ReadFileOrEmpty(comm_path) == "\xff\x01\n"; }, 5s))
      << testutil::ReadFileOrEmpty(comm_path);
  StartWorker(&long_argv, {long_link, "sleep", "30"});

  std::string esc = RegexEscape(dir_.path());
  std::string config =
      dir_.Write("exporter.yaml",
                 "proplet_id: label-node\ndiscovery_interval: 1\n"
                 "tasks:\n"
                 "  - id: '{{.Comm}}-{{.PID}}'\n"
                 "    name: '{{.Comm}}'\n"
                 "    cmdline: '^" +
                     esc +
                     "/label-worker rename'\n"
                     "  - id: 'long-{{.Matches.z}}-{{.Matches.z}}'\n"
                     "    name: 'long'\n"
                     "    cmdline: '^" +
                     esc + "/(?P<z>z+) sleep'\n");
  StartExporter({"--config.file=" + config});

  std::string want_id = kFffd + kFffd + "-" + std::to_string(renamed.pid());
  // 506 bytes rendered; the first 256 are "long-", 250 z's and the dash.
  std::string want_long = "long-" + long_name + "-";
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto s = ParseProm(Metrics());
        return FindSample(s, "proplet_task_info", {{"task_id", want_id}}) &&
               FindSample(s, "proplet_task_info", {{"task_id", want_long}});
      },
      15s))
      << Metrics() << testutil::ReadFileOrEmpty(dir_.File("exporter.log"));

  std::string text = Metrics();
  auto s = ParseProm(text);
  EXPECT_EQ(FindSample(s, "proplet_task_info",
                       {{"task_id", want_id},
                        {"name", kFffd + kFffd},
                        {"proplet_id", "label-node"}}),
            1);
  // The id and the name of the renamed process; the long id.
  EXPECT_EQ(LabelCount(s, "discovery", "invalid_utf8", "repaired"), 2);
  EXPECT_EQ(LabelCount(s, "discovery", "too_long", "repaired"), 1);
  EXPECT_EQ(LabelCount(s, "discovery", "empty", "refused"), 0);
  EXPECT_EQ(LabelCount(s, "api", "control_char", "refused"), 0);
  EXPECT_EQ(FindSample(s, "propmon_exporter_discovery_errors_total",
                       {{"reason", "invalid_id"}}),
            0);
  ExpectValidExposition(text);

  // The API shows the same task, with the repaired values.
  bool found = false;
  json tasks = Tasks();
  for (const json& t : tasks["tasks"]) {
    if (t["pid"] != renamed.pid()) continue;
    found = true;
    EXPECT_EQ(t["id"], want_id);
    EXPECT_EQ(t["name"], kFffd + kFffd);
    EXPECT_EQ(t["source"], "config");
  }
  EXPECT_TRUE(found) << tasks.dump();
}

// Task API: a name with U+0001 or of 60 KiB is repaired (201, the repaired
// name stored); an id with U+0001, of 60 KiB or empty is refused with 400
// naming the field and the reason. Each counted under source "api".
TEST_F(ExporterLabelTest, ApiRepairsNamesAndRefusesIds) {
  Subprocess worker;
  StartWorker(&worker, {testutil::TestHelperBinary(), "sleep", "30"});
  std::string pid = std::to_string(worker.pid());
  StartExporter({"--proplet-id=api-node"});

  // Present from the start, at 0.
  auto s0 = ParseProm(Metrics());
  for (const char* reason : {"empty", "control_char", "too_long"}) {
    EXPECT_EQ(LabelCount(s0, "api", reason, "refused"), 0) << reason;
  }
  EXPECT_EQ(LabelCount(s0, "api", "control_char", "repaired"), 0);
  EXPECT_EQ(LabelCount(s0, "api", "too_long", "repaired"), 0);
  EXPECT_EQ(LabelCount(s0, "discovery", "invalid_utf8", "repaired"), 0);

  auto r = Post(R"({"id":"ctl-name","name":"a\u0001b","pid":)" + pid + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["name"], "a" + kFffd + "b");

  std::string big(60 * 1024, 'n');
  r = Post(R"({"id":"big-name","name":")" + big + R"(","pid":)" + pid + "}");
  ASSERT_EQ(r.status, 201) << r.body.substr(0, 200);
  EXPECT_EQ(json::parse(r.body)["name"], std::string(256, 'n'));

  struct Refused {
    std::string id;
    const char* reason;
  } refused[] = {
      {"x\\u0001", "control_char"},
      {std::string(60 * 1024, 'i'), "too_long"},
      {"", "empty"},
  };
  for (const Refused& c : refused) {
    r = Post(R"({"id":")" + c.id + R"(","name":"n","pid":)" + pid + "}");
    EXPECT_EQ(r.status, 400) << c.reason;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e["field"], "id") << r.body;
    EXPECT_EQ(e["reason"], c.reason) << r.body;
    EXPECT_THAT(e["error"].get<std::string>(),
                StartsWith("id: must be 1 to 256 bytes of UTF-8 without "
                           "control characters"));
  }
  EXPECT_EQ(Tasks()["total"], 2);

  std::string text = Metrics();
  auto s = ParseProm(text);
  EXPECT_EQ(LabelCount(s, "api", "control_char", "repaired"), 1);
  EXPECT_EQ(LabelCount(s, "api", "too_long", "repaired"), 1);
  EXPECT_EQ(LabelCount(s, "api", "control_char", "refused"), 1);
  EXPECT_EQ(LabelCount(s, "api", "too_long", "refused"), 1);
  EXPECT_EQ(LabelCount(s, "api", "empty", "refused"), 1);
  EXPECT_EQ(FindSample(s, "proplet_task_info",
                       {{"task_id", "ctl-name"}, {"name", "a" + kFffd + "b"}}),
            1);
  EXPECT_EQ(
      FindSample(s, "proplet_task_info",
                 {{"task_id", "big-name"}, {"name", std::string(256, 'n')}}),
      1);
  EXPECT_EQ(text.find(std::string(257, 'n')), std::string::npos);
  ExpectValidExposition(text);
}

}  // namespace
}  // namespace propmon::exporter
