// Helpers to build Prometheus metric families fresh per scrape, and the
// /metrics endpoint that serializes a set of Collectables.
#ifndef PROPMON_COMMON_METRICS_H_
#define PROPMON_COMMON_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/http_server.h"

namespace propmon {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Appends samples to a MetricFamily. Not thread-safe; build per scrape.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help,
                prometheus::MetricType type);
  FamilyBuilder& Add(const Labels& labels, double value);
  FamilyBuilder& Add(
      std::initializer_list<std::pair<std::string, std::string>> labels,
      double value);
  bool empty() const { return family_.metric.empty(); }
  prometheus::MetricFamily Take() { return std::move(family_); }
  // Moves the family into `out` if it has samples.
  void MoveTo(std::vector<prometheus::MetricFamily>* out);

 private:
  prometheus::MetricFamily family_;
};

// Serves the Prometheus text exposition format from a list of Collectables.
// Thread-safe once all collectables are added.
class MetricsEndpoint {
 public:
  // `c` must outlive the endpoint.
  void Add(const prometheus::Collectable* c) { collectables_.push_back(c); }
  std::vector<prometheus::MetricFamily> Gather() const;
  std::string Render() const;
  HttpResponse Serve(const HttpRequest& req) const;

 private:
  std::vector<const prometheus::Collectable*> collectables_;
};

// The self-metrics of an HttpServer, named `<prefix>_http_*` and
// `<prefix>_web_config_*` (docs/metrics.md). `server` must outlive it.
class HttpServerMetrics : public prometheus::Collectable {
 public:
  HttpServerMetrics(const HttpServer* server, std::string prefix)
      : server_(server), prefix_(std::move(prefix)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const HttpServer* server_;
  std::string prefix_;
};

// Renders families in the text exposition format.
std::string RenderFamilies(const std::vector<prometheus::MetricFamily>& f);

// The content type of the text exposition format 0.0.4.
inline constexpr char kPrometheusContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace propmon

#endif  // PROPMON_COMMON_METRICS_H_
