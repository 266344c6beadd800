#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace propmon {

FamilyBuilder::FamilyBuilder(std::string name, std::string help,
                             prometheus::MetricType type) {
  family_.name = std::move(name);
  family_.help = std::move(help);
  family_.type = type;
}

FamilyBuilder& FamilyBuilder::Add(const Labels& labels, double value) {
  prometheus::ClientMetric m;
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  switch (family_.type) {
    case prometheus::MetricType::Counter:
      m.counter.value = value;
      break;
    case prometheus::MetricType::Gauge:
      m.gauge.value = value;
      break;
    default:
      m.untyped.value = value;
  }
  family_.metric.push_back(std::move(m));
  return *this;
}

FamilyBuilder& FamilyBuilder::Add(
    std::initializer_list<std::pair<std::string, std::string>> labels,
    double value) {
  return Add(Labels(labels), value);
}

void FamilyBuilder::MoveTo(std::vector<prometheus::MetricFamily>* out) {
  if (!family_.metric.empty()) out->push_back(std::move(family_));
}

std::vector<prometheus::MetricFamily> MetricsEndpoint::Gather() const {
  std::vector<prometheus::MetricFamily> all;
  for (const auto* c : collectables_) {
    auto fams = c->Collect();
    for (auto& f : fams) {
      if (!f.metric.empty()) all.push_back(std::move(f));
    }
  }
  return all;
}

std::string RenderFamilies(const std::vector<prometheus::MetricFamily>& f) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, f);
  return out.str();
}

std::string MetricsEndpoint::Render() const { return RenderFamilies(Gather()); }

std::vector<prometheus::MetricFamily> HttpServerMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  HttpServer::Stats st = server_->stats();
  FamilyBuilder(prefix_ + "_http_requests_total",
                "HTTP requests received (all outcomes).", MetricType::Counter)
      .Add({}, static_cast<double>(st.requests))
      .MoveTo(&out);
  FamilyBuilder rejected(
      prefix_ + "_http_requests_rejected_total",
      "HTTP requests answered with an error before reaching a handler, by "
      "reason.",
      MetricType::Counter);
  for (int i = 0; i < HttpServer::kRejectCount; ++i) {
    rejected.Add({{"reason",
                   HttpServer::RejectName(static_cast<HttpServer::Reject>(i))}},
                 static_cast<double>(st.rejected[i]));
  }
  rejected.MoveTo(&out);
  FamilyBuilder(prefix_ + "_http_streams",
                "Stream (SSE) clients connected now.", MetricType::Gauge)
      .Add({}, st.active_streams)
      .MoveTo(&out);
  if (!st.web_config) return out;
  FamilyBuilder(prefix_ + "_web_config_last_reload_successful",
                "1 when the last read of --web.config.file succeeded.",
                MetricType::Gauge)
      .Add({}, st.last_reload_ok ? 1 : 0)
      .MoveTo(&out);
  FamilyBuilder(prefix_ + "_web_config_last_reload_success_timestamp_seconds",
                "When --web.config.file was last read successfully.",
                MetricType::Gauge)
      .Add({}, st.last_reload_success_time)
      .MoveTo(&out);
  FamilyBuilder(prefix_ + "_web_config_reloads_total",
                "Reads of --web.config.file, by result.", MetricType::Counter)
      .Add({{"result", "success"}}, static_cast<double>(st.reloads_ok))
      .Add({{"result", "failure"}}, static_cast<double>(st.reloads_failed))
      .MoveTo(&out);
  FamilyBuilder(prefix_ + "_http_basic_auth_bcrypt_total",
                "bcrypt computations for basic auth (checks not answered "
                "from the cache).",
                MetricType::Counter)
      .Add({}, static_cast<double>(st.bcrypt_runs))
      .MoveTo(&out);
  if (st.tls) {
    FamilyBuilder(prefix_ + "_tls_client_cert_failures_total",
                  "TLS handshakes refused because the client certificate "
                  "did not verify or had no allowed SAN.",
                  MetricType::Counter)
        .Add({}, static_cast<double>(st.client_cert_failures))
        .MoveTo(&out);
  }
  return out;
}

HttpResponse MetricsEndpoint::Serve(const HttpRequest&) const {
  HttpResponse r;
  r.content_type = kPrometheusContentType;
  r.body = Render();
  return r;
}

}  // namespace propmon
