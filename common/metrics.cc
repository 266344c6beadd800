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

std::string MetricsEndpoint::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Gather());
  return out.str();
}

HttpResponse MetricsEndpoint::Serve(const HttpRequest&) const {
  HttpResponse r;
  r.content_type = kPrometheusContentType;
  r.body = Render();
  return r;
}

}  // namespace propmon
