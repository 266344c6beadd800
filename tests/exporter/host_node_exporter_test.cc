// Side-by-side truth test: Debian's prometheus-node-exporter and our
// HostCollectors (served by propmon::HttpServer + MetricsEndpoint) scrape
// the same machine at nearly the same time, and every series name both emit
// must agree:
//   - label sets identical (same set of label maps per name);
//   - static gauges (MemTotal, filesystem size, boot time, *_info, ...)
//     exactly equal;
//   - counters (and node_exporter's untyped vmstat counters): node_exporter's
//     value, read between our two scrapes, must lie within
//     [min(ours), max(ours)] widened by 1 % (one scrape interval of drift is
//     covered by the bracket, rounding by the 1 %);
//   - memory gauges: within the bracket widened by 1 % of MemTotal;
//     filesystem free/avail/files_free: widened by 1 % of that file system's
//     size/files; load averages: widened by 1 % + 0.01; gauges that swing
//     from one instant to the next (procs_running, procs_blocked, io_now):
//     label sets only.
// If anything disagrees, the whole scrape triple is taken once more (a
// mount or a burst of activity between scrapes) and only that second
// attempt counts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http_server.h"
#include "common/metrics.h"
#include "exporter/collectors/host_collectors.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using testutil::Sample;
using LabelMap = std::map<std::string, std::string>;

constexpr char kNodeExporter[] = "/usr/bin/prometheus-node-exporter";

struct Scrape {
  std::map<std::string, std::map<LabelMap, double>> series;
  std::map<std::string, std::string> types;  // From "# TYPE" lines.
};

Scrape Parse(const std::string& text) {
  Scrape s;
  for (const Sample& x : testutil::ParseProm(text)) {
    s.series[x.name][x.labels] = x.value;
  }
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream f(line.substr(7));
    std::string name, type;
    f >> name >> type;
    s.types[name] = type;
  }
  return s;
}

bool Ignored(const std::string& name) {
  for (const char* p : {"propmon_", "node_scrape_", "node_exporter_", "go_",
                        "process_", "promhttp_", "node_textfile_"}) {
    if (name.rfind(p, 0) == 0) return true;
  }
  return false;
}

const std::set<std::string>& ExactGauges() {
  static const std::set<std::string> k = {"node_memory_MemTotal_bytes",
                                          "node_memory_SwapTotal_bytes",
                                          "node_memory_HugePages_Total",
                                          "node_memory_Hugepagesize_bytes",
                                          "node_memory_VmallocTotal_bytes",
                                          "node_filesystem_size_bytes",
                                          "node_filesystem_files",
                                          "node_filesystem_readonly",
                                          "node_filesystem_device_error",
                                          "node_boot_time_seconds",
                                          "node_os_version",
                                          "node_hwmon_temp_crit_celsius",
                                          "node_hwmon_temp_max_celsius"};
  return k;
}

const std::set<std::string>& VolatileGauges() {
  static const std::set<std::string> k = {
      "node_procs_running", "node_procs_blocked", "node_disk_io_now"};
  return k;
}

// Compares node_exporter's scrape `ne` with ours taken before (`a`) and
// after (`b`). Returns the disagreements; fills *shared with the names
// compared.
std::vector<std::string> Compare(const Scrape& a, const Scrape& ne,
                                 const Scrape& b,
                                 std::vector<std::string>* shared) {
  std::vector<std::string> errors;
  shared->clear();
  double mem_total = 0;
  if (auto it = a.series.find("node_memory_MemTotal_bytes");
      it != a.series.end() && !it->second.empty()) {
    mem_total = it->second.begin()->second;
  }
  for (const auto& [name, ne_samples] : ne.series) {
    if (Ignored(name) || !a.series.count(name)) continue;
    shared->push_back(name);
    const auto& ours = a.series.at(name);
    std::set<LabelMap> ne_labels, our_labels;
    for (const auto& [l, v] : ne_samples) ne_labels.insert(l);
    for (const auto& [l, v] : ours) our_labels.insert(l);
    if (ne_labels != our_labels) {
      std::ostringstream msg;
      msg << name << ": label sets differ (node_exporter " << ne_labels.size()
          << ", ours " << our_labels.size() << ")";
      for (const auto& l : ne_labels) {
        if (our_labels.count(l)) continue;
        msg << "\n  only node_exporter:";
        for (const auto& [k, v] : l) msg << " " << k << "=\"" << v << "\"";
      }
      for (const auto& l : our_labels) {
        if (ne_labels.count(l)) continue;
        msg << "\n  only ours:";
        for (const auto& [k, v] : l) msg << " " << k << "=\"" << v << "\"";
      }
      errors.push_back(msg.str());
      continue;
    }
    if (VolatileGauges().count(name)) continue;
    const std::string type =
        ne.types.count(name) ? ne.types.at(name) : "untyped";
    const bool info =
        name.size() > 5 && name.compare(name.size() - 5, 5, "_info") == 0;
    for (const auto& [labels, nv] : ne_samples) {
      const double v1 = ours.at(labels);
      const double v2 = b.series.count(name) && b.series.at(name).count(labels)
                            ? b.series.at(name).at(labels)
                            : v1;
      double lo = std::min(v1, v2), hi = std::max(v1, v2);
      double slack = 0;
      if (info || ExactGauges().count(name)) {
        slack = 0;
      } else if (type == "counter" || type == "untyped") {
        slack = 0.01 * std::fabs(nv) + 1e-9;
      } else if (name.rfind("node_memory_", 0) == 0) {
        slack = 0.01 * mem_total;
      } else if (name.rfind("node_filesystem_", 0) == 0) {
        const char* total = name == "node_filesystem_files_free"
                                ? "node_filesystem_files"
                                : "node_filesystem_size_bytes";
        slack = ne.series.count(total) && ne.series.at(total).count(labels)
                    ? 0.01 * ne.series.at(total).at(labels)
                    : 0.01 * std::fabs(nv);
      } else if (name.rfind("node_load", 0) == 0) {
        slack = 0.01 * std::fabs(nv) + 0.01;
      } else {
        slack = 0.01 * std::fabs(nv) + 1e-9;
      }
      if (nv < lo - slack || nv > hi + slack) {
        std::ostringstream msg;
        msg.precision(17);
        msg << name << "{";
        for (const auto& [k, v] : labels) msg << k << "=\"" << v << "\",";
        msg << "} node_exporter " << nv << " not in ours [" << v1 << ", " << v2
            << "] +- " << slack;
        errors.push_back(msg.str());
      }
    }
  }
  return errors;
}

class HostNodeExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kNodeExporter, X_OK), 0)
        << kNodeExporter << " is required (Debian prometheus-node-exporter)";
    auto h = MakeHostCollectors(HostCollectorOptions{}, {}, {"gpu"});
    ASSERT_TRUE(h.ok()) << h.status().message();
    host_ = std::move(*h);
    endpoint_.Add(host_.get());
    server_.Handle("GET", "/metrics",
                   [this](const HttpRequest& r) { return endpoint_.Serve(r); });
    HttpServer::Options o;
    o.listen_address = "127.0.0.1:0";
    ASSERT_TRUE(server_.Start(o).ok());

    ne_port_ = testutil::FreePort();
    // Only the collectors we implement, each with its default settings.
    std::vector<std::string> argv = {
        kNodeExporter,
        "--web.listen-address=127.0.0.1:" + std::to_string(ne_port_),
        "--web.disable-exporter-metrics",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.diskstats",
        "--collector.filesystem",
        "--collector.hwmon",
        "--collector.loadavg",
        "--collector.meminfo",
        "--collector.netdev",
        "--collector.os",
        "--collector.stat",
        "--collector.uname",
        "--collector.vmstat"};
    ASSERT_TRUE(ne_.Start(argv, log_dir_.File("node_exporter.log")));
    ASSERT_TRUE(testutil::WaitUntil(
        [&] { return testutil::HttpGet(ne_port_, "/metrics").status == 200; },
        std::chrono::seconds(20)))
        << testutil::ReadFileOrEmpty(log_dir_.File("node_exporter.log"));
  }

  void TearDown() override {
    ne_.Stop();
    server_.Stop();
  }

  std::string Get(int port) {
    auto r = testutil::HttpGet(port, "/metrics");
    EXPECT_EQ(r.status, 200) << "port " << port;
    return r.body;
  }

  testutil::TempDir log_dir_;
  std::unique_ptr<HostCollectors> host_;
  MetricsEndpoint endpoint_;
  HttpServer server_;
  testutil::Subprocess ne_;
  int ne_port_ = 0;
};

TEST_F(HostNodeExporterTest, SharedSeriesAgree) {
  std::vector<std::string> errors, shared;
  Scrape ne;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Scrape a = Parse(Get(server_.port()));
    ne = Parse(Get(ne_port_));
    Scrape b = Parse(Get(server_.port()));
    errors = Compare(a, ne, b, &shared);
    if (errors.empty()) break;
    std::cerr << "attempt " << attempt << ": " << errors.size()
              << " disagreement(s), first: " << errors[0] << "\n";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (const auto& e : errors) ADD_FAILURE() << e;

  // The comparison must cover the core series (a renamed series would
  // otherwise silently drop out of it).
  std::set<std::string> got(shared.begin(), shared.end());
  for (const char* must : {"node_cpu_seconds_total",
                           "node_memory_MemTotal_bytes",
                           "node_memory_MemAvailable_bytes",
                           "node_memory_Active_anon_bytes",
                           "node_memory_HugePages_Total",
                           "node_load1",
                           "node_load15",
                           "node_disk_read_bytes_total",
                           "node_disk_written_bytes_total",
                           "node_disk_io_time_seconds_total",
                           "node_disk_info",
                           "node_filesystem_size_bytes",
                           "node_filesystem_avail_bytes",
                           "node_network_receive_bytes_total",
                           "node_network_transmit_packets_total",
                           "node_boot_time_seconds",
                           "node_context_switches_total",
                           "node_forks_total",
                           "node_intr_total",
                           "node_procs_running",
                           "node_uname_info",
                           "node_os_info",
                           "node_os_version",
                           "node_vmstat_pgfault"}) {
    EXPECT_TRUE(got.count(must)) << must << " not emitted by both";
  }
  if (ne.series.count("node_hwmon_temp_celsius")) {
    EXPECT_TRUE(got.count("node_hwmon_temp_celsius"));
  }
  // For the record: what node_exporter has that we do not.
  std::ostringstream only_ne;
  for (const auto& [name, s] : ne.series) {
    if (!Ignored(name) && !got.count(name)) only_ne << " " << name;
  }
  std::cerr << "compared " << shared.size() << " series names; only in "
            << "node_exporter:" << only_ne.str() << "\n";
  RecordProperty("shared_series_names", static_cast<int>(shared.size()));
}

}  // namespace
}  // namespace propmon::exporter
