// The bridge's HTTP side: the routes of docs/bridge.md ("Endpoints") and
// their handlers, /metrics rendering included. The pipeline is in bridge.cc,
// BridgeMain in app.cc.
#include <charconv>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "bridge/check.h"
#include "bridge/text_format.h"
#include "common/manager_json.h"

namespace propmon::bridge {
namespace {

// Reads an optional non-negative integer query parameter the way the
// manager does (Go strconv.ParseUint): absent gives `def`, anything else
// that is not a base-10 uint64 is an error.
bool ReadUintParam(const HttpRequest& req, std::string_view name,
                   std::uint64_t def, std::uint64_t* out) {
  auto v = req.QueryParam(name);
  if (!v) {
    *out = def;
    return true;
  }
  const std::string& s = *v;
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

void Bridge::RegisterHttp() {
  http_.Handle("GET", "/metrics",
               [this](const HttpRequest& r) { return ServeMetrics(r); });
  http_.Handle("GET", "/",
               [this](const HttpRequest& r) { return ServeLanding(r); });
  http_.Handle("GET", "/-/healthy", [](const HttpRequest&) {
    return HttpResponse::Text(200, "OK\n");
  });
  http_.Handle("GET", "/-/ready",
               [this](const HttpRequest& r) { return ServeReady(r); });
  http_.Handle("GET", "/health",
               [this](const HttpRequest& r) { return ServeHealth(r); });
  http_.Handle("GET", "/api/v1/proplets",
               [this](const HttpRequest& r) { return ServeProplets(r); });
  http_.Handle("GET", "/api/v1/debug/mappings",
               [this](const HttpRequest& r) { return ServeDebugMappings(r); });
  http_.HandleStream(
      "/api/v1/stream",
      [this](const HttpRequest& r, HttpStream& s) { hub_.Serve(r, s); });
  http_.HandlePrefix("GET", "/tasks/", [this](const HttpRequest& r) {
    return ServeHistory(r, "/tasks/", payload::MessageKind::kTaskMetrics,
                        task_history_);
  });
  http_.HandlePrefix("GET", "/proplets/", [this](const HttpRequest& r) {
    return ServeHistory(r, "/proplets/", payload::MessageKind::kPropletMetrics,
                        proplet_history_);
  });
}

HttpResponse Bridge::ServeDebugMappings(const HttpRequest&) const {
  struct Item {
    MappingSpec spec;
    const MappingCounters* counters;
    const LastMessage* last;
    const char* kind;
  };
  std::vector<Item> items;
  if (mapping_) {
    items.push_back(
        {PropellerSpec(), &propeller_counters_, &propeller_last_, "builtin"});
    items.back().spec.topics = config_.topics;
  }
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    items.push_back(
        {devices_[i]->spec(), &devices_[i]->counters(), device_last_[i].get(),
         config_.mqtt2prometheus ? "mqtt2prometheus" : "configured"});
  }
  StoreStats st = store_.Stats();
  std::string j = "{\"mappings\":[";
  for (std::size_t n = 0; n < items.size(); ++n) {
    const Item& it = items[n];
    if (n > 0) j += ',';
    j += "{\"name\":";
    AppendGoJsonString(&j, it.spec.name);
    j += ",\"kind\":";
    AppendGoJsonString(&j, it.kind);
    j += ",\"topics\":[";
    for (std::size_t k = 0; k < it.spec.topics.size(); ++k) {
      if (k > 0) j += ',';
      AppendGoJsonString(&j, it.spec.topics[k]);
    }
    j += "],\"topic_regex\":";
    AppendGoJsonString(&j, it.spec.topic_regex.pattern());
    j += ",\"payload\":";
    AppendGoJsonString(&j, PayloadKindName(it.spec.payload));
    j += ",\"metrics\":[";
    for (std::size_t k = 0; k < it.spec.metrics.size(); ++k) {
      if (k > 0) j += ',';
      j += "{\"name\":";
      AppendGoJsonString(&j, it.spec.metrics[k].name);
      j += ",\"value\":";
      AppendGoJsonString(&j, it.spec.metrics[k].value.text);
      j += "}";
    }
    std::size_t series = 0;
    for (const auto& [name, count] : st.mapping_series) {
      if (name == it.spec.name) series = count;
    }
    j += "],\"series\":" + std::to_string(series);
    j += ",\"matched\":" + std::to_string(it.counters->matched());
    j += ",\"rejected\":{";
    bool first = true;
    for (std::size_t k = 0; k < it.counters->message_reasons().size(); ++k) {
      if (!first) j += ',';
      first = false;
      AppendGoJsonString(&j, it.counters->message_reasons()[k]);
      j += ":" + std::to_string(it.counters->rejected(k));
    }
    j += "},\"fields_rejected\":{";
    first = true;
    for (std::size_t k = 0; k < it.counters->field_reasons().size(); ++k) {
      if (!first) j += ',';
      first = false;
      AppendGoJsonString(&j, it.counters->field_reasons()[k]);
      j += ":" + std::to_string(it.counters->field(k));
    }
    j += "},\"last_message\":";
    LastMessage last;
    {
      std::lock_guard<std::mutex> lock(it.last->mu);
      last.has = it.last->has;
      last.topic = it.last->topic;
      last.payload = it.last->payload;
      last.time = it.last->time;
      last.oversize_bytes = it.last->oversize_bytes;
    }
    if (!last.has) {
      j += "null";
    } else {
      // Explained by a dry run of the same mapping over a scratch store.
      Explanation x;
      if (last.oversize_bytes > 0) {
        x.SetMessage(it.spec.name, last.topic, "", last.time);
        x.rejected = "too_large";
        x.detail = "payload of " + std::to_string(last.oversize_bytes) +
                   " bytes is over limits.max_payload_bytes";
      } else {
        auto e = ExplainMessage(config_, last.topic, last.payload, last.time,
                                it.spec.name);
        if (e.ok() && !e->empty()) x = std::move(e->front());
      }
      j += x.ToJson();
    }
    j += "}";
  }
  j += "]}";
  return HttpResponse::Json(200, j);
}

namespace {

// propmon_bridge_samples_missed_total and _duplicate_total, per domain and
// channel seen (docs/metrics.md).
std::vector<prometheus::MetricFamily> SampleGapFamilies(
    const std::vector<PropellerMapping::SampleGapCount>& gaps) {
  FamilyBuilder missed(
      "propmon_bridge_samples_missed_total",
      "Task samples that never reached the bridge: jumps in a task's "
      "timestamps beyond 1.5 learned intervals.",
      prometheus::MetricType::Counter);
  FamilyBuilder dup("propmon_bridge_samples_duplicate_total",
                    "Task samples received twice (same task and timestamp; "
                    "QoS 1 redelivery).",
                    prometheus::MetricType::Counter);
  for (const auto& g : gaps) {
    missed.Add({{"domain", g.domain}, {"channel", g.channel}}, g.missed);
    dup.Add({{"domain", g.domain}, {"channel", g.channel}}, g.duplicates);
  }
  std::vector<prometheus::MetricFamily> out;
  missed.MoveTo(&out);
  dup.MoveTo(&out);
  return out;
}

}  // namespace

std::string Bridge::RenderMetrics() const {
  std::string out;
  out.reserve(last_render_size_.load(std::memory_order_relaxed) + 4096);
  AppendSelfMetrics(&out);
  out += RenderFamilies(http_metrics_.Collect());
  if (mapping_)
    out += RenderFamilies(SampleGapFamilies(mapping_->SampleGaps()));
  store_.Render(&out);
  last_render_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

HttpResponse Bridge::ServeMetrics(const HttpRequest&) const {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = RenderMetrics();
  return r;
}

bool Bridge::Ready() const {
  if (!mqtt_enabled_.load()) return started_.load();
  return mqtt_ && mqtt_->stats().subscribed;
}

HttpResponse Bridge::ServeReady(const HttpRequest&) const {
  if (Ready()) return HttpResponse::Text(200, "Ready\n");
  return HttpResponse::Text(503,
                            "Not ready: not subscribed to the broker yet\n");
}

HttpResponse Bridge::ServeHealth(const HttpRequest&) const {
  MqttStats ms;
  bool enabled = mqtt_enabled_.load() && mqtt_;
  if (enabled) ms = mqtt_->stats();
  bool healthy = !enabled || ms.connected;
  std::string j = "{\"status\":";
  j += healthy ? "\"ok\"" : "\"degraded\"";
  j += ",\"version\":";
  AppendGoJsonString(&j, Version());
  j += ",\"mqtt\":{\"enabled\":";
  j += enabled ? "true" : "false";
  j += ",\"url\":";
  AppendGoJsonString(&j, config_.mqtt.url);
  j += ",\"connected\":";
  j += ms.connected ? "true" : "false";
  j += ",\"subscribed\":";
  j += ms.subscribed ? "true" : "false";
  j += ",\"reconnects\":" + std::to_string(ms.reconnects_total);
  j += ",\"received\":" + std::to_string(ms.received_total);
  j += ",\"unmatched\":" + std::to_string(ms.unmatched_total);
  j += ",\"last_error\":";
  AppendGoJsonString(&j, ms.last_error);
  j += "},\"queue\":{\"depth\":" + std::to_string(queue_.depth()) +
       ",\"capacity\":" + std::to_string(queue_.capacity()) +
       ",\"dropped\":" + std::to_string(queue_.dropped_total()) + "}";
  std::uint64_t rejected = 0;
  for (const auto& r : rejected_) rejected += r.load();
  j += ",\"messages\":{\"received\":" + std::to_string(received_total()) +
       ",\"rejected\":" + std::to_string(rejected) +
       ",\"dropped\":" + std::to_string(queue_.dropped_total()) + "}";
  j += ",\"series\":" + std::to_string(store_.size()) + "}";
  return HttpResponse::Json(healthy ? 200 : 503, j);
}

HttpResponse Bridge::ServeLanding(const HttpRequest&) const {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!DOCTYPE html>\n<html><head><title>propmon-bridge</title></head>"
      "<body><h1>propmon-bridge</h1>"
      "<p>Propeller's MQTT topics (and any MQTT device's, through the "
      "configured mappings) as Prometheus series. Version ";
  r.body += Version();
  r.body +=
      ".</p><ul>"
      "<li><a href=\"/metrics\">/metrics</a></li>"
      "<li><a href=\"/health\">/health</a></li>"
      "<li><a href=\"/api/v1/proplets\">/api/v1/proplets</a></li>"
      "<li><a href=\"/api/v1/debug/mappings\">/api/v1/debug/mappings</a> "
      "(each mapping and its last message, explained)</li>"
      "<li>/api/v1/stream (Server-Sent Events; ?task_id=, ?proplet_id=)</li>"
      "<li>/tasks/{id}/metrics, /proplets/{id}/metrics "
      "(Propeller manager's API)</li>"
      "</ul></body></html>\n";
  return r;
}

HttpResponse Bridge::ServeHistory(const HttpRequest& req,
                                  std::string_view prefix,
                                  payload::MessageKind kind,
                                  const HistoryStore& history) const {
  std::string_view rest = std::string_view(req.path).substr(prefix.size());
  constexpr std::string_view kSuffix = "/metrics";
  if (rest.size() <= kSuffix.size() ||
      rest.substr(rest.size() - kSuffix.size()) != kSuffix) {
    return HttpResponse::JsonError(404, "not found");
  }
  std::string_view raw_id = rest.substr(0, rest.size() - kSuffix.size());
  if (raw_id.find('/') != std::string_view::npos) {
    return HttpResponse::JsonError(404, "not found");
  }
  // The server has percent-decoded the path already (HttpRequest::path).
  std::string id(raw_id);
  std::uint64_t offset = 0;
  std::uint64_t limit = 0;
  if (!ReadUintParam(req, "offset", 0, &offset)) {
    return HttpResponse::JsonError(
        400, "invalid offset: want a non-negative integer");
  }
  if (!ReadUintParam(req, "limit", 100, &limit)) {
    return HttpResponse::JsonError(
        400, "invalid limit: want a non-negative integer");
  }
  HistoryStore::Page page = history.Get(id, offset, limit);
  std::vector<std::string> items;
  items.reserve(page.items.size());
  payload::DecodeOptions opt;
  opt.max_bytes = config_.max_payload_bytes;
  for (const HistoryStore::PageItem& item : page.items) {
    opt.receive_time = item.time;
    // These payloads decoded once already; decoding is deterministic.
    auto d = payload::Decode(kind, item.data, opt);
    if (!d.ok()) continue;
    std::string json;
    if (const auto* tm = d->As<payload::TaskMetrics>()) {
      AppendManagerItem(*tm, &json);
    } else if (const auto* pm = d->As<payload::PropletMetrics>()) {
      AppendManagerItem(*pm, &json);
    }
    items.push_back(std::move(json));
  }
  return HttpResponse::Json(200, ManagerPage(offset, limit, page.total, items));
}

HttpResponse Bridge::ServeProplets(const HttpRequest&) const {
  std::vector<PropellerMapping::PropletSummary> list;
  if (mapping_) list = mapping_->Proplets();
  std::string j =
      "{\"total\":" + std::to_string(list.size()) + ",\"proplets\":[";
  bool first = true;
  for (const auto& p : list) {
    if (!first) j += ',';
    first = false;
    j += "{\"id\":";
    AppendGoJsonString(&j, p.id);
    j += ",\"namespace\":";
    AppendGoJsonString(&j, p.namespace_name);
    j += ",\"domain\":";
    AppendGoJsonString(&j, p.domain);
    j += ",\"channel\":";
    AppendGoJsonString(&j, p.channel);
    j += ",\"alive\":";
    j += p.alive ? "true" : "false";
    j += ",\"last_seen\":";
    AppendGoJsonString(&j, GoRfc3339Nano(p.last_seen));
    j += ",\"last_alive\":";
    if (p.last_alive > 0) {
      AppendGoJsonString(&j, GoRfc3339Nano(p.last_alive));
    } else {
      j += "null";
    }
    j += ",\"running_tasks\":[";
    for (size_t i = 0; i < p.running_tasks.size(); ++i) {
      if (i > 0) j += ',';
      AppendGoJsonString(&j, p.running_tasks[i]);
    }
    j += "]}";
  }
  j += "]}";
  return HttpResponse::Json(200, j);
}

}  // namespace propmon::bridge
