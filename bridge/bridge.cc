#include "bridge/bridge.h"

#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <iostream>

#include "bridge/manager_json.h"
#include "bridge/text_format.h"
#include "common/log.h"

#ifndef PROPMON_VERSION
#define PROPMON_VERSION "dev"
#endif

namespace propmon::bridge {
namespace {

constexpr std::size_t kBatch = 256;

const char* kReasonNames[] = {
    // The codec's, in kAllReasons order, then the bridge's own.
    nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr, nullptr, "cardinality_limit"};

std::string ReasonLabel(std::size_t i) {
  if (i < payload::kAllReasons.size()) {
    return payload::ReasonName(payload::kAllReasons[i]);
  }
  return kReasonNames[i];
}

std::size_t ReasonIndex(payload::Reason r) {
  for (std::size_t i = 0; i < payload::kAllReasons.size(); ++i) {
    if (payload::kAllReasons[i] == r) return i;
  }
  return 0;
}

std::size_t KindIndex(payload::MessageKind k) {
  for (std::size_t i = 0; i < payload::kAllMessageKinds.size(); ++i) {
    if (payload::kAllMessageKinds[i] == k) return i;
  }
  return payload::kAllMessageKinds.size();
}

constexpr payload::Problem kProblems[] = {
    payload::Problem::kWrongType,  payload::Problem::kNegative,
    payload::Problem::kOutOfRange, payload::Problem::kDuplicate,
    payload::Problem::kInvalid,    payload::Problem::kLabelInvalid};

void AppendHeader(std::string* out, std::string_view name,
                  std::string_view help, std::string_view type) {
  out->append("# HELP ").append(name).push_back(' ');
  AppendHelpText(out, help);
  out->append("\n# TYPE ").append(name).push_back(' ');
  out->append(type).push_back('\n');
}

void AppendSample(std::string* out, std::string_view name,
                  std::span<const Label> labels, double value) {
  out->append(name);
  AppendLabels(out, labels);
  out->push_back(' ');
  AppendValue(out, value);
  out->push_back('\n');
}

void AppendGauge(std::string* out, std::string_view name, std::string_view help,
                 double value, std::string_view type = "gauge") {
  AppendHeader(out, name, help, type);
  AppendSample(out, name, {}, value);
}

// Percent-decodes one path segment.
std::string PathDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() + 0 && i + 2 <= in.size() - 1) {
      int hi = hex(in[i + 1]);
      int lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

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

const char* Version() { return PROPMON_VERSION; }

Bridge::Bridge(const BridgeConfig& config, const Clock* clock)
    : config_(config),
      clock_(clock),
      store_(SeriesStore::Options{config.series_limit}, clock),
      task_history_(HistoryStore::Options{config.history_per_id,
                                          config.history_memory_bytes / 2}),
      proplet_history_(HistoryStore::Options{config.history_per_id,
                                             config.history_memory_bytes / 2}),
      hub_(StreamHub::Options{config.max_stream_clients, 1000,
                              std::chrono::milliseconds(15000)}),
      queue_(config.queue_size) {
  if (config_.propeller_enabled) {
    mapping_ = std::make_unique<PropellerMapping>(
        config_.propeller, &store_, &task_history_, &proplet_history_, &hub_,
        clock_);
  }
  RegisterHttp();
}

Bridge::~Bridge() { Stop(); }

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

Status Bridge::Start(bool connect_mqtt) {
  if (started_.exchange(true)) return Internal("bridge already started");
  // The MQTT client is created (not connected) before the HTTP server
  // starts, so that /-/ready never answers before it exists.
  if (connect_mqtt) {
    auto client = MqttClient::Create(config_.EffectiveMqttOptions());
    if (!client.ok()) return client.status();
    mqtt_ = std::move(client).value();
    Status s = mqtt_->Subscribe(
        config_.SubscriptionFilters(), config_.mqtt.qos,
        [this](std::string_view topic, std::string_view payload) {
          Enqueue(topic, payload);
        });
    if (!s.ok()) {
      mqtt_.reset();
      return s;
    }
    mqtt_enabled_ = true;
  }
  HttpServer::Options ho;
  ho.listen_address = config_.listen_address;
  ho.num_threads = static_cast<int>(config_.max_stream_clients) + 8;
  Status s = http_.Start(ho);
  if (!s.ok()) return s;
  worker_ = std::thread([this] { WorkerLoop(); });
  if (mqtt_) {
    s = mqtt_->Start();
    if (!s.ok()) return s;  // Stop() (or the destructor) cleans up
  }
  return Status::Ok();
}

void Bridge::Stop() {
  if (!started_.load()) return;
  if (mqtt_) mqtt_->Stop(std::chrono::milliseconds(500));
  hub_.Shutdown();
  http_.Stop();
  stop_ = true;
  queue_.Close();
  if (worker_.joinable()) worker_.join();
  mqtt_.reset();
  started_ = false;
}

void Bridge::Enqueue(std::string_view topic, std::string_view payload) {
  QueuedMessage m;
  m.topic.assign(topic);
  m.receive_time = clock_->Now();
  m.receive_mono = clock_->Monotonic();
  if (payload.size() > config_.max_payload_bytes) {
    m.oversize_bytes = payload.size();
  } else {
    m.payload.assign(payload);
  }
  if (!queue_.TryPush(std::move(m))) {
    PM_LOG_EVERY_30S(kWarn) << "queue full (" << queue_.capacity()
                            << " messages): dropping messages; see "
                               "propmon_bridge_messages_dropped_total";
  }
}

bool Bridge::WaitIdle(std::chrono::milliseconds timeout) {
  std::uint64_t target = queue_.pushed_total();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (processed_.load() < target) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void Bridge::Tick() {
  if (mapping_) mapping_->Tick();
  store_.ExpireNow();
}

void Bridge::WorkerLoop() {
  std::vector<QueuedMessage> batch;
  batch.reserve(kBatch);
  const std::size_t max_batch = std::min(kBatch, queue_.capacity());
  double next_tick = clock_->Monotonic() + 1;
  while (true) {
    bool got =
        queue_.PopBatch(&batch, max_batch, std::chrono::milliseconds(200));
    if (got) {
      auto t0 = std::chrono::steady_clock::now();
      for (QueuedMessage& m : batch) {
        if (config_.debug_worker_delay_seconds > 0) {
          std::this_thread::sleep_for(std::chrono::duration<double>(
              config_.debug_worker_delay_seconds));
        }
        Process(m);
        processed_.fetch_add(1, std::memory_order_release);
      }
      auto t1 = std::chrono::steady_clock::now();
      processing_ns_.fetch_add(
          static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                  .count()),
          std::memory_order_relaxed);
    } else if (stop_.load()) {
      break;
    }
    double now = clock_->Monotonic();
    if (now >= next_tick) {
      Tick();
      next_tick = now + 1;
    }
  }
}

void Bridge::Reject(std::size_t reason, std::string_view topic,
                    std::string_view detail) {
  rejected_[reason].fetch_add(1, std::memory_order_relaxed);
  PM_LOG_EVERY_30S(kWarn) << "rejected message on topic \"" << topic << "\" ("
                          << ReasonLabel(reason) << "): " << detail;
}

void Bridge::Process(QueuedMessage& m) {
  if (m.oversize_bytes > 0) {
    auto t = payload::ParseTopic(m.topic);
    received_[t.ok() ? KindIndex(t->kind) : kKindUnknown].fetch_add(
        1, std::memory_order_relaxed);
    Reject(ReasonIndex(payload::Reason::kTooLarge), m.topic,
           "payload of " + std::to_string(m.oversize_bytes) +
               " bytes is over limits.max_payload_bytes (" +
               std::to_string(config_.max_payload_bytes) + ")");
    return;
  }
  payload::DecodeOptions opt;
  opt.max_bytes = config_.max_payload_bytes;
  opt.receive_time = m.receive_time;
  auto r = payload::DecodeMessage(m.topic, m.payload, opt);
  if (!r.ok()) {
    auto t = payload::ParseTopic(m.topic);
    received_[t.ok() ? KindIndex(t->kind) : kKindUnknown].fetch_add(
        1, std::memory_order_relaxed);
    Reject(ReasonIndex(r.error().reason), m.topic, r.error().detail);
    return;
  }
  const payload::Decoded& d = *r;
  received_[KindIndex(d.kind)].fetch_add(1, std::memory_order_relaxed);
  for (const payload::FieldProblem& p : d.problems) {
    for (std::size_t i = 0; i < kProblemCount; ++i) {
      if (kProblems[i] == p.problem) {
        field_problems_[i].fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  if (!d.problems.empty()) {
    PM_LOG_EVERY_30S(kWarn) << "dropped field " << d.problems[0].Path() << " ("
                            << payload::ProblemName(d.problems[0].problem)
                            << ") of a message on \"" << m.topic << "\"";
  }
  if (!mapping_) return;
  // The REST history keeps the payload as received (moved, not copied).
  auto outcome =
      mapping_->Apply(d, m.topic, m.receive_time, m.receive_mono, &m.payload);
  if (outcome == PropellerMapping::Outcome::kCardinalityLimit) {
    Reject(kReasonCardinality, m.topic,
           "series limit " + std::to_string(config_.series_limit) +
               " reached; new series refused");
  } else if (outcome == PropellerMapping::Outcome::kUnattributed) {
    Reject(ReasonIndex(payload::Reason::kMissingField), m.topic,
           "results without proplet_id for a task this bridge has not seen");
  }
}

std::uint64_t Bridge::received_total() const {
  std::uint64_t n = 0;
  for (const auto& c : received_) n += c.load();
  return n;
}

std::uint64_t Bridge::rejected_total(std::string_view reason) const {
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    if (ReasonLabel(i) == reason) return rejected_[i].load();
  }
  return 0;
}

void Bridge::AppendSelfMetrics(std::string* out) const {
  {
    const Label l[] = {{"version", Version()}};
    AppendHeader(out, "propmon_bridge_build_info",
                 "A metric with a constant 1 labelled by the bridge's version.",
                 "gauge");
    AppendSample(out, "propmon_bridge_build_info", l, 1);
  }
  AppendHeader(out, "propmon_bridge_messages_received_total",
               "MQTT messages the worker took from the queue, by topic kind "
               "(rejected ones included).",
               "counter");
  for (std::size_t i = 0; i < kKindCount; ++i) {
    const char* kind = i < kKindUnknown
                           ? payload::KindName(payload::kAllMessageKinds[i])
                           : "unknown";
    const Label l[] = {{"kind", kind}};
    AppendSample(out, "propmon_bridge_messages_received_total", l,
                 static_cast<double>(received_[i].load()));
  }
  AppendHeader(out, "propmon_bridge_messages_rejected_total",
               "Received messages that could not be used at all, by reason.",
               "counter");
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    std::string reason = ReasonLabel(i);
    const Label l[] = {{"reason", reason}};
    AppendSample(out, "propmon_bridge_messages_rejected_total", l,
                 static_cast<double>(rejected_[i].load()));
  }
  AppendHeader(out, "propmon_bridge_fields_dropped_total",
               "Single fields dropped from otherwise usable messages, by "
               "problem.",
               "counter");
  for (std::size_t i = 0; i < kProblemCount; ++i) {
    const Label l[] = {{"problem", payload::ProblemName(kProblems[i])}};
    AppendSample(out, "propmon_bridge_fields_dropped_total", l,
                 static_cast<double>(field_problems_[i].load()));
  }
  AppendGauge(out, "propmon_bridge_messages_dropped_total",
              "Messages dropped because the queue was full.",
              static_cast<double>(queue_.dropped_total()), "counter");
  AppendGauge(out, "propmon_bridge_queue_depth",
              "Messages waiting for the worker.",
              static_cast<double>(queue_.depth()));
  AppendGauge(out, "propmon_bridge_queue_capacity",
              "Most messages the queue holds before dropping.",
              static_cast<double>(queue_.capacity()));
  StoreStats st = store_.Stats();
  AppendGauge(out, "propmon_bridge_series", "Series held in the cache.",
              static_cast<double>(st.series));
  AppendGauge(out, "propmon_bridge_series_limit",
              "Most series held; new series beyond it are refused.",
              static_cast<double>(st.series_limit));
  AppendGauge(out, "propmon_bridge_series_expired_total",
              "Series removed because their task or proplet stopped "
              "reporting.",
              static_cast<double>(st.expired_total), "counter");
  AppendHeader(out, "propmon_bridge_mapping_series",
               "Series held in the cache, by mapping.", "gauge");
  for (const auto& [name, n] : st.mapping_series) {
    const Label l[] = {{"mapping", name}};
    AppendSample(out, "propmon_bridge_mapping_series", l,
                 static_cast<double>(n));
  }
  MqttStats ms;
  if (mqtt_enabled_.load() && mqtt_) ms = mqtt_->stats();
  AppendGauge(out, "propmon_bridge_mqtt_connected",
              "1 while connected to the MQTT broker.", ms.connected ? 1 : 0);
  AppendGauge(out, "propmon_bridge_mqtt_reconnects_total",
              "Connections to the broker established after the first.",
              static_cast<double>(ms.reconnects_total), "counter");
  AppendGauge(out, "propmon_bridge_message_processing_seconds_total",
              "Time the worker spent processing messages.",
              static_cast<double>(processing_ns_.load()) / 1e9, "counter");
  AppendGauge(
      out, "propmon_bridge_history_bytes",
      "Memory charged to the REST history (tasks and proplets).",
      static_cast<double>(task_history_.bytes() + proplet_history_.bytes()));
  AppendGauge(out, "propmon_bridge_history_evicted_total",
              "History items evicted early by the history memory cap.",
              static_cast<double>(task_history_.evicted_total() +
                                  proplet_history_.evicted_total()),
              "counter");
  AppendGauge(out, "propmon_bridge_stream_clients",
              "Connected live-stream (SSE) clients.",
              static_cast<double>(hub_.clients()));
  AppendGauge(out, "propmon_bridge_stream_dropped_total",
              "Live-stream events dropped for clients that read too slowly.",
              static_cast<double>(hub_.dropped_total()), "counter");
}

std::string Bridge::RenderMetrics() const {
  std::string out;
  out.reserve(last_render_size_.load(std::memory_order_relaxed) + 4096);
  AppendSelfMetrics(&out);
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
      "<p>Propeller's MQTT topics as Prometheus series. Version ";
  r.body += Version();
  r.body +=
      ".</p><ul>"
      "<li><a href=\"/metrics\">/metrics</a></li>"
      "<li><a href=\"/health\">/health</a></li>"
      "<li><a href=\"/api/v1/proplets\">/api/v1/proplets</a></li>"
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
  std::string id = PathDecode(raw_id);
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

namespace {

sigset_t BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int BridgeMain(const std::vector<std::string>& args) {
  FlagSet flags;
  DeclareFlags(&flags);
  Status st = flags.Parse(args);
  if (!st.ok()) {
    std::cerr << "propmon-bridge: " << st.message() << "\n";
    return 2;
  }
  if (flags.GetBool("version")) {
    std::cout << "propmon-bridge " << Version() << "\n";
    return 0;
  }
  if (flags.GetBool("help")) {
    std::cout << "Usage: propmon-bridge [flags]\n\n"
                 "Subscribes to Propeller's MQTT topics and serves them as "
                 "Prometheus series.\n\n"
              << flags.Usage();
    return 0;
  }
  if (!flags.positional().empty()) {
    std::cerr << "propmon-bridge: unexpected argument \""
              << flags.positional()[0] << "\"\n";
    return 2;
  }
  LogLevel level;
  if (!ParseLogLevel(flags.Get("log.level"), &level)) {
    std::cerr << "propmon-bridge: --log.level: want debug, info, warn or "
                 "error, got \""
              << flags.Get("log.level") << "\"\n";
    return 2;
  }
  SetLogLevel(level);
  auto config = ConfigFromFlags(flags);
  if (!config.ok()) {
    std::cerr << "propmon-bridge: " << config.status().message() << "\n";
    return 2;
  }
  sigset_t sigs = BlockSignals();
  Bridge bridge(*config);
  st = bridge.Start();
  if (!st.ok()) {
    PM_LOG(kError) << st.message();
    return 1;
  }
  std::string filters;
  for (const auto& f : config->SubscriptionFilters()) {
    filters += (filters.empty() ? "" : ",") + f;
  }
  PM_LOG(kInfo) << "propmon-bridge " << Version() << " listening on "
                << config->listen_address << " (port " << bridge.port()
                << "), broker " << config->mqtt.url << " topics " << filters;
  int sig = 0;
  sigwait(&sigs, &sig);
  PM_LOG(kInfo) << "signal " << sig << ": shutting down";
  bridge.Stop();
  return 0;
}

}  // namespace propmon::bridge
