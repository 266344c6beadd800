// The bridge's pipeline: MQTT messages queued, decoded and applied to the
// mappings by one worker, and its self-metrics. The HTTP side is in
// http_api.cc, BridgeMain in app.cc.
#include "bridge/bridge.h"

#include <thread>

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
    nullptr,          nullptr,     nullptr, nullptr,
    nullptr,          nullptr,     nullptr, "cardinality_limit",
    "topic_mismatch", "no_metrics"};

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

constexpr auto kProblems = payload::kAllProblems;

std::vector<std::string> PropellerMessageReasons() {
  std::vector<std::string> v;
  for (payload::Reason r : payload::kAllReasons) {
    v.emplace_back(payload::ReasonName(r));
  }
  v.emplace_back("cardinality_limit");
  return v;
}

std::vector<std::string> PropellerFieldReasons() {
  std::vector<std::string> v;
  for (payload::Problem p : kProblems) v.emplace_back(payload::ProblemName(p));
  return v;
}

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
      propeller_counters_(PropellerMessageReasons(), PropellerFieldReasons()),
      queue_(config.queue_size) {
  if (config_.propeller_enabled) {
    mapping_ = std::make_unique<PropellerMapping>(
        config_.propeller, &store_, &task_history_, &proplet_history_, &hub_,
        clock_, &labels_);
  }
  for (const MappingSpec& spec : config_.mappings) {
    auto m = DeviceMapping::Create(spec, &store_, &labels_);
    if (!m.ok()) {
      init_status_ = m.status();
      break;
    }
    devices_.push_back(std::move(m).value());
    device_last_.push_back(std::make_unique<LastMessage>());
  }
  RegisterHttp();
}

Bridge::~Bridge() { Stop(); }

Status Bridge::Start(bool connect_mqtt) {
  if (!init_status_.ok()) return init_status_;
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
  ho.max_streams = static_cast<int>(config_.max_stream_clients);
  ho.web_config_file = config_.web_config_file;
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
  // CivetWeb's mg_stop can take up to 2 s (its listener polls in 2 s
  // quanta): it runs beside the MQTT disconnect, so SIGTERM exits within 5 s.
  hub_.Shutdown();
  std::thread http_stop([this] { http_.Stop(); });
  if (mqtt_) mqtt_->Stop(std::chrono::milliseconds(500));
  http_stop.join();
  stop_ = true;
  queue_.Close();
  if (worker_.joinable()) worker_.join();
  for (const auto& d : devices_) {
    Status s = d->SaveState();
    if (!s.ok()) {
      PM_LOG(kWarn) << "mapping " << d->name() << ": " << s.message();
    }
  }
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
  const double now = clock_->Monotonic();
  // Mappings drop force_monotonic state with the deadlines of its series,
  // before ExpireNow() reads a later "now", and no message is applied in
  // between (this is the worker thread): a series whose state went is
  // expired in the same tick.
  for (const auto& d : devices_) d->Tick(now);
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

void Bridge::Remember(LastMessage* last, const QueuedMessage& m) {
  std::lock_guard<std::mutex> lock(last->mu);
  last->has = true;
  last->topic.assign(m.topic);
  last->payload.assign(m.payload);
  last->time = m.receive_time;
  last->oversize_bytes = m.oversize_bytes;
}

void Bridge::Process(QueuedMessage& m) {
  std::vector<DeviceMapping*> matched;
  for (const auto& d : devices_) {
    if (d->MatchesTopic(m.topic)) matched.push_back(d.get());
  }
  bool propeller = false;
  if (mapping_) {
    // With no configured mapping claiming it, every message goes to the
    // Propeller mapping, whose codec names what is wrong with the topic.
    propeller = matched.empty();
    for (const auto& f : config_.topics) {
      if (propeller) break;
      propeller = MqttTopicMatches(f, m.topic);
    }
  }
  if (!propeller) {
    if (matched.empty()) {
      received_[kKindUnknown].fetch_add(1, std::memory_order_relaxed);
      Reject(ReasonIndex(payload::Reason::kUnknownTopic), m.topic,
             "no mapping's topic filters match the topic");
      return;
    }
    received_[kKindDevice].fetch_add(1, std::memory_order_relaxed);
  }
  if (!matched.empty()) {
    DeviceMapping::MessageReason why = DeviceMapping::kMessageReasonCount;
    bool accepted = ProcessDevices(m, matched, &why);
    // Counted once in the bridge-wide totals: by the Propeller mapping when
    // it takes the message, else as rejected when no mapping accepted it.
    if (!propeller && !accepted) {
      std::size_t reason = kReasonNoMetrics;
      switch (why) {
        case DeviceMapping::kInvalidJson:
          reason = ReasonIndex(payload::Reason::kInvalidJson);
          break;
        case DeviceMapping::kTooLarge:
          reason = ReasonIndex(payload::Reason::kTooLarge);
          break;
        case DeviceMapping::kTopicMismatch:
          reason = kReasonTopicMismatch;
          break;
        case DeviceMapping::kCardinalityLimit:
          reason = kReasonCardinality;
          break;
        default:
          break;
      }
      rejected_[reason].fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (propeller) ProcessPropeller(m);
}

bool Bridge::ProcessDevices(QueuedMessage& m,
                            const std::vector<DeviceMapping*>& matched,
                            DeviceMapping::MessageReason* first_rejection) {
  bool accepted = false;
  for (DeviceMapping* d : matched) {
    std::size_t index = 0;
    while (devices_[index].get() != d) ++index;
    Remember(device_last_[index].get(), m);
    DeviceMapping::Result r;
    if (m.oversize_bytes > 0) {
      r = d->RejectOversize(m.topic, m.oversize_bytes,
                            config_.max_payload_bytes, m.receive_time);
    } else {
      r = d->Apply(m.topic, m.payload, m.receive_time);
    }
    if (r.accepted) {
      accepted = true;
    } else if (*first_rejection == DeviceMapping::kMessageReasonCount) {
      *first_rejection = r.rejected;
    }
  }
  return accepted;
}

void Bridge::ProcessPropeller(QueuedMessage& m) {
  propeller_counters_.AddMatched();
  Remember(&propeller_last_, m);
  if (m.oversize_bytes > 0) {
    auto t = payload::ParseTopic(m.topic);
    received_[t.ok() ? KindIndex(t->kind) : kKindUnknown].fetch_add(
        1, std::memory_order_relaxed);
    propeller_counters_.AddRejected(ReasonIndex(payload::Reason::kTooLarge));
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
    if (r.error().label) {
      // An id, domain or channel that is no good label value: refused
      // (common/label.h), the message counted as label_invalid below.
      labels_.Add(r.error().in_topic ? kLabelTopic : kLabelPayload,
                  *r.error().label, label::Action::kRefused);
    }
    auto t = payload::ParseTopic(m.topic);
    received_[t.ok() ? KindIndex(t->kind) : kKindUnknown].fetch_add(
        1, std::memory_order_relaxed);
    propeller_counters_.AddRejected(ReasonIndex(r.error().reason));
    Reject(ReasonIndex(r.error().reason), m.topic, r.error().detail);
    return;
  }
  const payload::Decoded& d = *r;
  received_[KindIndex(d.kind)].fetch_add(1, std::memory_order_relaxed);
  for (const payload::FieldProblem& p : d.problems) {
    for (std::size_t i = 0; i < kProblemCount; ++i) {
      if (kProblems[i] == p.problem) {
        field_problems_[i].fetch_add(1, std::memory_order_relaxed);
        propeller_counters_.AddField(i);
      }
    }
  }
  for (const payload::LabelRepair& lr : d.repaired) {
    labels_.Add(kLabelPayload, lr.reason, label::Action::kRepaired);
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
    propeller_counters_.AddRejected(kReasonCardinality);
    Reject(kReasonCardinality, m.topic,
           "series limit " + std::to_string(config_.series_limit) +
               " reached; new series refused");
  } else if (outcome == PropellerMapping::Outcome::kUnattributed) {
    propeller_counters_.AddRejected(
        ReasonIndex(payload::Reason::kMissingField));
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
                       : i == kKindUnknown ? "unknown"
                                           : "device";
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
  AppendHeader(out, "propmon_bridge_label_values_total", label::Counts::kHelp,
               "counter");
  labels_.ForEach([out](const char* source, const char* reason,
                        const char* action, double n) {
    const Label l[] = {
        {"source", source}, {"reason", reason}, {"action", action}};
    AppendSample(out, "propmon_bridge_label_values_total", l, n);
  });
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
  AppendMappingMetrics(out);
  MqttStats ms;
  if (mqtt_enabled_.load() && mqtt_) ms = mqtt_->stats();
  AppendGauge(out, "propmon_bridge_mqtt_connected",
              "1 while connected to the MQTT broker.", ms.connected ? 1 : 0);
  AppendGauge(out, "propmon_bridge_mqtt_reconnects_total",
              "Connections to the broker established after the first.",
              static_cast<double>(ms.reconnects_total), "counter");
  AppendGauge(out, "propmon_bridge_mqtt_session_resets_total",
              "Resumed sessions the broker dropped three times in a row "
              "before acknowledging anything, given up for a clean one.",
              static_cast<double>(ms.session_resets_total), "counter");
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

void Bridge::AppendMappingMetrics(std::string* out) const {
  // (name, counters) of every mapping, Propeller's first.
  std::vector<std::pair<std::string_view, const MappingCounters*>> all;
  if (mapping_)
    all.emplace_back(PropellerMapping::kMappingName, &propeller_counters_);
  for (const auto& d : devices_) all.emplace_back(d->name(), &d->counters());
  AppendHeader(out, "propmon_bridge_mapping_messages_matched_total",
               "Messages whose topic matched the mapping's filters.",
               "counter");
  for (const auto& [name, c] : all) {
    const Label l[] = {{"mapping", name}};
    AppendSample(out, "propmon_bridge_mapping_messages_matched_total", l,
                 static_cast<double>(c->matched()));
  }
  AppendHeader(out, "propmon_bridge_mapping_messages_rejected_total",
               "Matched messages the mapping could not use at all, by reason.",
               "counter");
  for (const auto& [name, c] : all) {
    for (std::size_t i = 0; i < c->message_reasons().size(); ++i) {
      const Label l[] = {{"mapping", name},
                         {"reason", c->message_reasons()[i]}};
      AppendSample(out, "propmon_bridge_mapping_messages_rejected_total", l,
                   static_cast<double>(c->rejected(i)));
    }
  }
  AppendHeader(out, "propmon_bridge_mapping_fields_rejected_total",
               "Single fields the mapping dropped from messages it used "
               "(or tried to), by reason.",
               "counter");
  for (const auto& [name, c] : all) {
    for (std::size_t i = 0; i < c->field_reasons().size(); ++i) {
      const Label l[] = {{"mapping", name}, {"reason", c->field_reasons()[i]}};
      AppendSample(out, "propmon_bridge_mapping_fields_rejected_total", l,
                   static_cast<double>(c->field(i)));
    }
  }
}

}  // namespace propmon::bridge
