// The exporter daemon and the `run` subcommand, as libraries that main()
// calls and tests link.
#ifndef PROPMON_EXPORTER_APP_H_
#define PROPMON_EXPORTER_APP_H_

#include <memory>
#include <string>
#include <vector>

#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "exporter/task_monitor.h"

namespace propmon::exporter {

inline constexpr char kDefaultListenAddress[] = ":9652";
const char* Version();

// Serves the exporter's HTTP endpoints: /, /metrics, /-/healthy, /-/ready,
// /health, and whatever else is registered on server() before Start().
class ExporterHttp {
 public:
  ExporterHttp(TaskMonitor* monitor, MetricsEndpoint* metrics);
  HttpServer* server() { return &server_; }
  // `web_config_file`: --web.config.file ("" = plain HTTP, no auth).
  Status Start(const std::string& listen_address,
               const std::string& web_config_file = "");
  // Re-reads the web config (SIGHUP); keeps the old settings on error.
  Status ReloadWebConfig() { return server_.ReloadWebConfig(); }
  void Stop() { server_.Stop(); }
  int port() const { return server_.port(); }
  void SetReady(bool ready) { ready_ = ready; }

 private:
  TaskMonitor* monitor_;
  MetricsEndpoint* metrics_;
  HttpServer server_;
  HttpServerMetrics http_metrics_{&server_, "propmon_exporter"};
  std::atomic<bool> ready_{false};
};

// propmon_exporter_build_info and other process-level self-metrics.
class BuildInfoCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Entry points; return the process exit status.
int ExporterMain(const std::vector<std::string>& args);
int RunMain(const std::vector<std::string>& args);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_APP_H_
