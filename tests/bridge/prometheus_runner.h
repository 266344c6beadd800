// Starts a real Debian `prometheus` on a free loopback port scraping given
// targets, and runs PromQL instant queries through its HTTP API. Header-only
// so that any test binary can include it (the integrator's exporter ->
// bridge -> Prometheus test reuses it).
//
//   testutil::TempDir dir;
//   testutil::Subprocess prom;
//   int port = testutil::FreePort();
//   ASSERT_TRUE(StartPrometheus(&prom, port, dir, {"127.0.0.1:9641"}));
//   auto r = QueryPrometheus(port, "proplet_task_cpu_usage_ratio");
//   // r->at(0).labels["task_id"], r->at(0).value
#ifndef PROPMON_TESTS_BRIDGE_PROMETHEUS_RUNNER_H_
#define PROPMON_TESTS_BRIDGE_PROMETHEUS_RUNNER_H_

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/testutil/testutil.h"

namespace propmon::testutil {

struct PromResult {
  std::map<std::string, std::string> labels;  // includes __name__
  double value = 0;
};

inline std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Writes a prometheus.yml scraping `targets` (host:port, path /metrics)
// every `scrape_interval` under job `job`, starts prometheus on
// 127.0.0.1:port with its data in dir, and waits until it is ready.
// `extra_config` is appended to the file (rule_files:, more jobs, ...).
inline bool StartPrometheus(Subprocess* proc, int port, const TempDir& dir,
                            const std::vector<std::string>& targets,
                            const std::string& job = "propmon-bridge",
                            const std::string& scrape_interval = "1s",
                            const std::string& extra_config = "") {
  std::string conf = "global:\n  scrape_interval: " + scrape_interval +
                     "\n  evaluation_interval: " + scrape_interval +
                     "\nscrape_configs:\n  - job_name: " + job +
                     "\n    static_configs:\n      - targets: [";
  for (size_t i = 0; i < targets.size(); ++i) {
    conf += (i ? ", \"" : "\"") + targets[i] + "\"";
  }
  conf += "]\n" + extra_config;
  std::string conf_path = dir.Write("prometheus.yml", conf);
  if (!proc->Start({"prometheus", "--config.file=" + conf_path,
                    "--storage.tsdb.path=" + dir.File("prom-data"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port),
                    "--log.level=warn"},
                   dir.File("prometheus.log"))) {
    return false;
  }
  return WaitUntil([&] { return HttpGet(port, "/-/ready").status == 200; },
                   std::chrono::seconds(30), std::chrono::milliseconds(100));
}

// Runs an instant query. Returns nullopt on an HTTP or API error (the
// reason in *error when given); an empty vector when nothing matched.
inline std::optional<std::vector<PromResult>> QueryPrometheus(
    int port, const std::string& promql, std::string* error = nullptr) {
  auto r = HttpGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || !j.is_object() || j.value("status", "") != "success") {
    if (error) *error = std::to_string(r.status) + " " + r.body;
    return std::nullopt;
  }
  std::vector<PromResult> out;
  const auto& data = j["data"];
  if (data.value("resultType", "") == "scalar") {
    PromResult p;
    p.value =
        std::strtod(data["result"][1].get<std::string>().c_str(), nullptr);
    out.push_back(p);
    return out;
  }
  for (const auto& item : data["result"]) {
    PromResult p;
    for (auto it = item["metric"].begin(); it != item["metric"].end(); ++it) {
      p.labels[it.key()] = it.value().get<std::string>();
    }
    p.value = std::strtod(item["value"][1].get<std::string>().c_str(), nullptr);
    out.push_back(std::move(p));
  }
  return out;
}

// Polls a query until it returns at least one sample (or the timeout).
inline std::vector<PromResult> WaitForQuery(int port, const std::string& promql,
                                            std::chrono::milliseconds timeout) {
  std::vector<PromResult> last;
  WaitUntil(
      [&] {
        auto r = QueryPrometheus(port, promql);
        if (r && !r->empty()) {
          last = *r;
          return true;
        }
        return false;
      },
      timeout, std::chrono::milliseconds(250));
  return last;
}

}  // namespace propmon::testutil

#endif  // PROPMON_TESTS_BRIDGE_PROMETHEUS_RUNNER_H_
