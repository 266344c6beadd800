#include "common/mqtt_client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "common/log.h"
#include "common/publish_buffer.h"
#include "mqtt/async_client.h"

namespace propmon {
namespace {

// A message handed to Paho this many times without being acknowledged or
// refused for good is given up on (failed_total). Disconnects do not count.
constexpr int kMaxDeliveryAttempts = 10;
// After Paho says "disconnected" on a publish, wait this long for its
// connection-lost callback before trying again.
constexpr double kDisconnectedPauseSeconds = 0.1;
// After an MQTT 5 broker said "quota exceeded" or "server busy".
constexpr double kBusyPauseSeconds = 0.5;

double MonotonicSeconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::time_point ToTimePoint(double mono_seconds) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(mono_seconds)));
}

// What a failed Paho call or action reported.
struct PahoError {
  int rc = MQTTASYNC_FAILURE;  // Paho C return code or MQTT 3 CONNACK code.
  int reason_code = 0;         // MQTT 5 reason code, 0 if none.
  std::string message;
};

// The one place where Paho exceptions are caught: runs f() and returns what
// it threw, if anything.
template <typename F>
std::optional<PahoError> CallPaho(F&& f) noexcept {
  try {
    f();
    return std::nullopt;
  } catch (const mqtt::exception& e) {
    PahoError err;
    err.rc = e.get_return_code();
    // get_reason_code() falls back to the return code when there is none.
    err.reason_code = e.get_reason_code() == err.rc ? 0 : e.get_reason_code();
    err.message = e.what();
    return err;
  } catch (const std::exception& e) {
    return PahoError{MQTTASYNC_FAILURE, 0, e.what()};
  } catch (...) {
    return PahoError{MQTTASYNC_FAILURE, 0, "unknown exception"};
  }
}

// How deep the current thread is inside a callback (Paho's or ours); Stop()
// refuses to run there instead of deadlocking on itself.
thread_local int callback_depth = 0;

// Runs f(), swallowing and logging anything it throws: for code that Paho
// calls on its own threads, where an escaping exception kills the process.
template <typename F>
void Shielded(const char* where, F&& f) noexcept {
  struct Depth {
    Depth() { ++callback_depth; }
    ~Depth() { --callback_depth; }
  } depth;
  try {
    f();
  } catch (const std::exception& e) {
    PM_LOG_EVERY_30S(kError)
        << "mqtt: exception in " << where << ": " << e.what();
  } catch (...) {
    PM_LOG_EVERY_30S(kError) << "mqtt: unknown exception in " << where;
  }
}

std::string Connack3Text(int rc) {
  switch (rc) {
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "unknown";
  }
}

// Describes a Paho failure for logs and last_error, e.g.
// "broker refused: CONNACK return code 5 (not authorized)".
std::string ReasonCodeText(int reason_code) {
  const char* text =
      MQTTReasonCode_toString(static_cast<enum MQTTReasonCodes>(reason_code));
  return "reason code " + std::to_string(reason_code) + " (" +
         (text ? text : "unknown") + ")";
}

std::string DescribeError(int rc, int reason_code, bool connect) {
  std::string out;
  if (reason_code >= 0x80) {
    out = "broker refused: " + ReasonCodeText(reason_code);
  } else if (connect && rc > 0 && rc <= 5) {
    out = "broker refused: CONNACK return code " + std::to_string(rc) + " (" +
          Connack3Text(rc) + ")";
  } else {
    const char* text = MQTTAsync_strerror(rc);
    out = "paho rc " + std::to_string(rc) + " (" +
          (text ? text : "unknown error") + ")";
  }
  return out;
}

// Failures worth retrying: the connection went away or Paho was busy.
bool IsTransient(int rc) {
  switch (rc) {
    case MQTTASYNC_FAILURE:
    case MQTTASYNC_DISCONNECTED:
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
    case MQTTASYNC_NO_MORE_MSGIDS:
    case MQTTASYNC_OPERATION_INCOMPLETE:
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:
    case MQTTASYNC_COMMAND_IGNORED:
    case MQTTASYNC_MAX_BUFFERED:
      return true;
    default:
      return false;
  }
}

void* ContextOf(std::uint64_t id) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
}
std::uint64_t IdOf(void* context) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(context));
}

// Paho C reports why a TLS handshake failed (the alert sent or received,
// a host name mismatch) only through its process-wide trace hook, and Paho
// C++ 1.2's per-connection TLS error handler is unsafe (see
// FillConnectOptions). So while any TLS connect is in progress the trace
// level is raised to "minimum" and the last such line is kept; otherwise
// the level stays at "error" so that established connections pay nothing.
// A process with several TLS clients connecting at once may attribute a
// line to the wrong one; the daemons have one client each. Thread-safe.
class TlsTap {
 public:
  static TlsTap& Get() {
    static TlsTap* tap = new TlsTap();  // Never destroyed: Paho may call late.
    return *tap;
  }
  // Returns the sequence number to pass to Since().
  std::uint64_t BeginConnect() {
    std::lock_guard lk(mu_);
    if (connecting_++ == 0) MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MINIMUM);
    return seq_;
  }
  void EndConnect() {
    std::lock_guard lk(mu_);
    if (connecting_ > 0 && --connecting_ == 0) {
      MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    }
  }
  // The last TLS detail seen after `seq`, or "".
  std::string Since(std::uint64_t seq) {
    std::lock_guard lk(mu_);
    return seq_ > seq ? last_ : std::string();
  }

 private:
  TlsTap() {
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    MQTTAsync_setTraceCallback(&TlsTap::Callback);
  }

  static void Callback(enum MQTTASYNC_TRACE_LEVELS, char* message) noexcept {
    try {
      if (message != nullptr) Get().Observe(message);
    } catch (...) {
    }
  }

  // Lines of interest (Paho C 1.3 wording):
  //   "SSL alert write:fatal:unknown CA"        we aborted the handshake
  //   "SSL alert read:fatal:unknown"            the broker aborted it
  //   "X509_check_host for hostname H failed"   then, for IPs and names:
  //   "rc from X509_check_ip_asc is 0"          the certificate names
  //                                             neither: host mismatch
  void Observe(std::string_view m) {
    std::string detail;
    if (size_t at = m.find("SSL alert "); at != std::string_view::npos) {
      std::string_view alert = m.substr(at + 10);
      const bool sent = alert.substr(0, 6) == "write:";
      if (alert.find(":fatal:") == std::string_view::npos) return;
      std::string_view what = alert.substr(alert.rfind(':') + 1);
      while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) {
        what.remove_suffix(1);
      }
      detail = sent ? "TLS: we aborted the handshake (alert \"" +
                          std::string(what) + "\")"
                    : "TLS: the broker aborted the handshake (alert \"" +
                          std::string(what) + "\")";
      if (sent && what == "unknown CA") {
        detail += ": the broker's certificate is not signed by ca_file";
      }
    } else if (size_t at = m.find("X509_check_host for hostname ");
               at != std::string_view::npos) {
      std::string_view rest = m.substr(at + 29);
      std::lock_guard lk(mu_);
      pending_host_ = std::string(rest.substr(0, rest.find(" failed")));
      return;
    } else if (size_t at = m.find("rc from X509_check_ip_asc is ");
               at != std::string_view::npos) {
      std::lock_guard lk(mu_);
      if (m.substr(at + 29, 1) != "1" && !pending_host_.empty()) {
        ++seq_;
        last_ = "TLS: the broker's certificate does not name host \"" +
                pending_host_ + "\"";
      }
      pending_host_.clear();
      return;
    } else {
      return;
    }
    std::lock_guard lk(mu_);
    ++seq_;
    last_ = std::move(detail);
  }

  std::mutex mu_;
  std::string pending_host_;
  int connecting_ = 0;
  std::uint64_t seq_ = 0;
  std::string last_;
};

}  // namespace

// ---------------------------------------------------------------------------

class MqttClient::Impl {
 public:
  explicit Impl(MqttOptions options)
      : options_(std::move(options)),
        buffer_(options_.max_buffered_messages, options_.max_buffered_bytes),
        rng_(std::random_device{}()),
        connect_listener_(this, Listener::kConnect),
        publish_listener_(this, Listener::kPublish),
        subscribe_listener_(this, Listener::kSubscribe),
        subs_snapshot_(std::make_shared<const std::vector<Subscription>>()) {}

  ~Impl() {
    Stop(std::chrono::milliseconds(0));
    // Destroying the Paho client first: no callback can arrive afterwards.
    client_.reset();
  }

  Status Init() {
    std::optional<PahoError> err = CallPaho([&] {
      client_ = std::make_unique<mqtt::async_client>(
          options_.url, options_.client_id, mqtt::create_options(MQTTVERSION_5),
          nullptr);
      client_->set_connection_lost_handler([this](const std::string& cause) {
        Shielded("connection lost handler", [&] { OnConnectionLost(cause); });
      });
      client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        Shielded("message handler", [&] { OnMessage(msg); });
      });
      client_->set_disconnected_handler(
          [this](const mqtt::properties&, mqtt::ReasonCode code) {
            Shielded("disconnected handler",
                     [&] { OnServerDisconnect(static_cast<int>(code)); });
          });
    });
    if (err) {
      client_.reset();
      return Internal("mqtt: cannot create client for " + options_.url + ": " +
                      err->message);
    }
    return Status::Ok();
  }

  const MqttOptions& options() const { return options_; }

  bool SetConnectedHandler(ConnectedHandler h) {
    std::lock_guard lk(mu_);
    if (started_) return false;
    on_connected_ = std::move(h);
    return true;
  }
  bool SetConnectionLostHandler(ConnectionLostHandler h) {
    std::lock_guard lk(mu_);
    if (started_) return false;
    on_connection_lost_ = std::move(h);
    return true;
  }

  Status Start() {
    std::lock_guard lk(mu_);
    if (started_) return Internal("mqtt: Start() called twice");
    if (stopping_) return Unavailable("mqtt: client was stopped");
    started_ = true;
    next_attempt_ = 0;
    worker_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  void Stop(std::chrono::milliseconds drain) {
    if (callback_depth > 0) {
      PM_LOG(kError) << "mqtt: Stop() called from an MQTT callback; ignored "
                        "(it would wait for itself)";
      return;
    }
    std::unique_lock lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (!started_) {
      DropRemainingLocked();
      return;
    }
    const double deadline =
        MonotonicSeconds() + std::chrono::duration<double>(drain).count();
    // A connection that has just come up still owes its connected
    // handler's messages (the exporter's create and alive): wait for the
    // handler too, not only for the buffer.
    cv_.wait_until(lk, ToTimePoint(deadline), [&] {
      return (buffer_.empty() && inflight_.empty() && events_.empty() &&
              !handling_event_) ||
             state_ != State::kConnected;
    });
    stop_requested_ = true;
    const bool was_connected = state_ == State::kConnected;
    lk.unlock();
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (was_connected) {
      std::optional<PahoError> err = CallPaho(
          [&] { client_->disconnect(500)->wait_for(std::chrono::seconds(1)); });
      if (err) {
        PM_LOG(kWarn) << "mqtt: disconnect from " << options_.url
                      << " failed: " << err->message;
      }
    }
    {
      // Waits for callbacks in progress; later ones return at once.
      std::unique_lock cb(callback_mu_);
      closed_ = true;
    }
    lk.lock();
    EndTlsTapLocked();
    state_ = State::kDisconnected;
    connected_ = false;
    subscribed_ = false;
    DropRemainingLocked();
  }

  void ConnectNow() {
    {
      std::lock_guard lk(mu_);
      if (!started_ || stop_requested_ || state_ != State::kDisconnected) {
        return;
      }
      next_attempt_ = 0;
    }
    cv_.notify_all();
  }

  Status Publish(std::string_view topic, std::string_view payload, int qos,
                 bool retain) {
    if (Status s = ValidateMqttTopicName(topic); !s.ok()) {
      CountFailed("publish: " + s.message());
      return s;
    }
    if (qos < 0 || qos > 2) {
      Status s = InvalidArgument("publish: qos " + std::to_string(qos) +
                                 " is outside 0..2");
      CountFailed(s.message());
      return s;
    }
    {
      std::lock_guard lk(mu_);
      // During Stop()'s drain, the handlers it waits for may still publish.
      const bool draining_handler =
          handling_event_ && !stop_requested_ && callback_depth > 0;
      if (stopping_ && !draining_handler) {
        ++failed_total_;
        last_error_ = "publish after Stop()";
        return Unavailable("mqtt: client is stopped");
      }
      NoteDroppedLocked(buffer_.Push(topic, payload, qos, retain));
      buffered_ = buffer_.size();
    }
    cv_.notify_all();
    return Status::Ok();
  }

  Status Subscribe(const std::vector<std::string>& filters, int qos,
                   MessageHandler handler) {
    if (filters.empty()) return InvalidArgument("subscribe: no filters");
    if (qos < 0 || qos > 2) {
      return InvalidArgument("subscribe: qos " + std::to_string(qos) +
                             " is outside 0..2");
    }
    if (!handler) return InvalidArgument("subscribe: empty handler");
    for (const std::string& f : filters) {
      if (Status s = ValidateMqttTopicFilter(f); !s.ok()) {
        return InvalidArgument("subscribe: " + s.message());
      }
    }
    {
      std::lock_guard lk(mu_);
      if (stopping_) return Unavailable("mqtt: client is stopped");
      Subscription sub;
      sub.filters = filters;
      for (const std::string& f : filters) {
        sub.match_filters.emplace_back(StripMqttSharePrefix(f));
      }
      sub.qos = qos;
      sub.handler = std::make_shared<MessageHandler>(std::move(handler));
      subs_.push_back(std::move(sub));
      subscribed_ = false;
      {
        std::lock_guard sl(snapshot_mu_);
        subs_snapshot_ =
            std::make_shared<const std::vector<Subscription>>(subs_);
      }
      if (state_ == State::kConnected)
        subs_to_send_.push_back(subs_.size() - 1);
    }
    cv_.notify_all();
    return Status::Ok();
  }

  MqttStats stats() const {
    MqttStats s;
    s.connected = connected_.load();
    s.subscribed = subscribed_.load();
    s.buffered = buffered_.load();
    s.inflight = inflight_count_.load();
    s.published_total = published_total_.load();
    s.failed_total = failed_total_.load();
    s.dropped_total = dropped_total_.load();
    s.reconnects_total = reconnects_total_.load();
    s.session_resets_total = session_resets_total_.load();
    s.connect_failures_total = connect_failures_total_.load();
    s.received_total = received_total_.load();
    s.unmatched_total = unmatched_total_.load();
    s.handler_errors_total = handler_errors_total_.load();
    std::lock_guard lk(mu_);
    s.last_error = last_error_;
    s.buffered_bytes = buffer_.bytes();
    s.dropped_by_topic.assign(buffer_.dropped_by_topic().begin(),
                              buffer_.dropped_by_topic().end());
    return s;
  }

 private:
  enum class State { kDisconnected, kConnecting, kConnected };

  using Pending = PendingMessage;

  struct Subscription {
    std::vector<std::string> filters;        // As given (maybe $share/...).
    std::vector<std::string> match_filters;  // Without $share prefix.
    int qos = 0;
    std::shared_ptr<MessageHandler> handler;
  };

  // Forwards Paho's action results to the Impl, never letting anything
  // escape.
  class Listener : public mqtt::iaction_listener {
   public:
    enum Kind { kConnect, kPublish, kSubscribe };
    Listener(Impl* impl, Kind kind) : impl_(impl), kind_(kind) {}
    void on_success(const mqtt::token& tok) override {
      Shielded("paho success callback",
               [&] { impl_->OnAction(kind_, tok, true); });
    }
    void on_failure(const mqtt::token& tok) override {
      Shielded("paho failure callback",
               [&] { impl_->OnAction(kind_, tok, false); });
    }

   private:
    Impl* impl_;
    Kind kind_;
  };

  struct Event {
    bool connected = false;  // else: connection lost
    std::string cause;
  };

  // Fills a fresh connect_options for one connect() call. Built anew each
  // time and never copied or moved by us: Paho C++ 1.2 keeps raw pointers
  // into the object (properties, will, TLS strings) that a move leaves
  // dangling. No TLS error handler either: 1.2 registers the address of a
  // temporary copy as its context, which Paho C calls after it is gone
  // (without one, Paho C prints OpenSSL's reason to stderr itself).
  void FillConnectOptions(mqtt::connect_options& o, bool clean) const {
    o.set_mqtt_version(options_.mqtt_version == 5 ? MQTTVERSION_5
                                                  : MQTTVERSION_3_1_1);
    if (options_.mqtt_version == 5) {
      o.set_clean_start(clean);
      o.set_properties(mqtt::properties{
          {mqtt::property::SESSION_EXPIRY_INTERVAL,
           static_cast<std::int32_t>(
               options_.clean_start ? 0u : options_.session_expiry_seconds)}});
    } else {
      o.set_clean_session(clean);
    }
    o.set_keep_alive_interval(options_.keepalive_seconds);
    o.set_connect_timeout(options_.connect_timeout_seconds);
    o.set_automatic_reconnect(false);  // We reconnect ourselves.
    o.set_max_inflight(options_.max_inflight);
    if (!options_.username.empty()) o.set_user_name(options_.username);
    if (!options_.password.empty()) o.set_password(options_.password);
    if (options_.will) {
      o.set_will(mqtt::will_options(options_.will->topic,
                                    options_.will->payload, options_.will->qos,
                                    options_.will->retain));
    }
    if (MqttUrlUsesTls(options_.url)) {
      mqtt::ssl_options ssl;
      if (!options_.ca_file.empty()) ssl.set_trust_store(options_.ca_file);
      if (!options_.cert_file.empty()) ssl.set_key_store(options_.cert_file);
      if (!options_.key_file.empty()) ssl.set_private_key(options_.key_file);
      ssl.set_enable_server_cert_auth(!options_.insecure);
      ssl.set_verify(!options_.insecure);
      o.set_ssl(ssl);
    }
  }

  // --- Background thread ---------------------------------------------------

  void Run() {
    std::unique_lock lk(mu_);
    while (!stop_requested_) {
      const double now = MonotonicSeconds();
      if (!events_.empty()) {
        Event e = std::move(events_.front());
        events_.pop_front();
        ConnectedHandler on_connected = on_connected_;
        ConnectionLostHandler on_lost = on_connection_lost_;
        handling_event_ = true;
        lk.unlock();
        if (e.connected && on_connected) {
          Shielded("connected handler", on_connected);
        } else if (!e.connected && on_lost) {
          Shielded("connection lost handler", [&] { on_lost(e.cause); });
        }
        lk.lock();
        handling_event_ = false;
        cv_.notify_all();
        continue;
      }
      double wake = now + 3600;
      switch (state_) {
        case State::kDisconnected:
          if (now >= next_attempt_) {
            BeginConnect(lk);
            continue;
          }
          wake = next_attempt_;
          break;
        case State::kConnecting:
          if (now >= connect_deadline_) {
            // Paho never reported back; start over.
            ConnectFailedLocked(
                connect_gen_,
                PahoError{MQTTASYNC_FAILURE, 0, "no answer to connect"});
            continue;
          }
          wake = connect_deadline_;
          break;
        case State::kConnected:
          if (!subs_to_send_.empty()) {
            SendOneSubscribe(lk);
            continue;
          }
          if (!buffer_.empty() && now >= publish_pause_until_ &&
              inflight_.size() < static_cast<size_t>(options_.max_inflight)) {
            HandOffOne(lk);
            continue;
          }
          if (!buffer_.empty() && now < publish_pause_until_) {
            wake = publish_pause_until_;
          }
          break;
      }
      cv_.wait_until(lk, ToTimePoint(wake));
    }
  }

  void BeginConnect(std::unique_lock<std::mutex>& lk) {
    const std::uint64_t gen = ++connect_gen_;
    state_ = State::kConnecting;
    if (MqttUrlUsesTls(options_.url)) {
      tls_tap_seq_ = TlsTap::Get().BeginConnect();
      tls_tap_active_ = true;
    }
    connect_deadline_ =
        MonotonicSeconds() + options_.connect_timeout_seconds + 5;
    const bool clean = options_.clean_start || force_clean_;
    connecting_clean_ = clean;
    lk.unlock();
    std::optional<PahoError> err = CallPaho([&] {
      mqtt::connect_options opts;
      FillConnectOptions(opts, clean);
      client_->connect(opts, ContextOf(gen), connect_listener_);
    });
    lk.lock();
    if (err) ConnectFailedLocked(gen, *err);
  }

  void HandOffOne(std::unique_lock<std::mutex>& lk) {
    Pending p = buffer_.PopFront();
    buffered_ = buffer_.size();
    const std::uint64_t id = next_id_++;
    mqtt::message_ptr msg = mqtt::message::create(
        p.topic, p.payload.data(), p.payload.size(), p.qos, p.retain);
    inflight_.emplace(id, std::move(p));
    inflight_count_ = inflight_.size();
    lk.unlock();
    std::optional<PahoError> err = CallPaho(
        [&] { client_->publish(msg, ContextOf(id), publish_listener_); });
    lk.lock();
    if (!err) return;
    auto it = inflight_.find(id);
    if (it == inflight_.end()) return;  // A callback got there first.
    Pending back = std::move(it->second);
    inflight_.erase(it);
    inflight_count_ = inflight_.size();
    if (err->rc == MQTTASYNC_DISCONNECTED) {
      // Not the message's fault: keep it and wait for connection-lost.
      RequeueLocked(std::move(back));
      publish_pause_until_ = MonotonicSeconds() + kDisconnectedPauseSeconds;
      return;
    }
    PublishFailedLocked(std::move(back), *err);
  }

  void SendOneSubscribe(std::unique_lock<std::mutex>& lk) {
    const size_t index = subs_to_send_.front();
    subs_to_send_.pop_front();
    const Subscription& sub = subs_[index];
    auto filters = mqtt::string_collection::create(sub.filters);
    mqtt::iasync_client::qos_collection qos(sub.filters.size(), sub.qos);
    const std::uint64_t id = next_id_++;
    pending_subs_[id] = index;
    lk.unlock();
    std::optional<PahoError> err = CallPaho([&] {
      client_->subscribe(filters, qos, ContextOf(id), subscribe_listener_);
    });
    lk.lock();
    if (err) SubscribeFailedLocked(id, *err);
  }

  // --- Paho callbacks (Paho's threads) ------------------------------------

  void OnAction(Listener::Kind kind, const mqtt::token& tok, bool success) {
    std::shared_lock cb(callback_mu_);
    if (closed_) return;
    const std::uint64_t id = IdOf(tok.get_user_context());
    PahoError err;
    err.rc = tok.get_return_code();
    err.reason_code = static_cast<int>(tok.get_reason_code());
    if (err.reason_code == mqtt::MQTTPP_V3_CODE) err.reason_code = 0;
    switch (kind) {
      case Listener::kConnect: {
        // MQTT 5 refusals arrive with the reason code as the return code.
        if (err.reason_code == 0 && err.rc >= 0x80) err.reason_code = err.rc;
        bool session_present = false;
        if (success) {
          // Only present on success; tolerate its absence.
          std::optional<PahoError> e = CallPaho([&] {
            session_present = tok.get_connect_response().is_session_present();
          });
          (void)e;
        }
        {
          std::lock_guard lk(mu_);
          if (success) {
            ConnectedLocked(id, session_present);
          } else {
            ConnectFailedLocked(id, err);
          }
        }
        cv_.notify_all();
        break;
      }
      case Listener::kPublish: {
        if (success && err.reason_code >= 0x80) success = false;
        {
          std::lock_guard lk(mu_);
          auto it = inflight_.find(id);
          if (it == inflight_.end()) break;  // Stale: already re-queued.
          Pending p = std::move(it->second);
          inflight_.erase(it);
          inflight_count_ = inflight_.size();
          if (success) {
            ++published_total_;
          } else {
            PublishFailedLocked(std::move(p), err);
          }
        }
        cv_.notify_all();
        break;
      }
      case Listener::kSubscribe: {
        std::vector<int> codes;
        if (success) {
          std::optional<PahoError> e = CallPaho([&] {
            const mqtt::subscribe_response rsp = tok.get_subscribe_response();
            for (auto rc : rsp.get_reason_codes()) {
              codes.push_back(static_cast<int>(rc));
            }
          });
          (void)e;
        }
        std::lock_guard lk(mu_);
        for (int code : codes) {
          if (code >= 0x80) {
            success = false;
            err.reason_code = code;
          }
        }
        if (success) {
          SubscribedLocked(id);
        } else {
          SubscribeFailedLocked(id, err);
        }
        break;
      }
    }
  }

  void OnConnectionLost(const std::string& cause) {
    std::shared_lock cb(callback_mu_);
    if (closed_) return;
    {
      std::lock_guard lk(mu_);
      if (state_ != State::kConnected) return;
      state_ = State::kDisconnected;
      connected_ = false;
      subscribed_ = false;
      pending_subs_.clear();
      subs_to_send_.clear();
      consecutive_failures_ = 0;
      next_attempt_ = MonotonicSeconds() + BackoffLocked();
      if (connecting_clean_) {
        // Paho forgets a clean session's in-flight messages: take them back.
        RequeueAllInflightLocked();
      }
      // A resumed session the broker drops at once, again and again, without
      // acknowledging anything (mosquitto 2.0 after a SIGKILL has been seen
      // to refuse the messages Paho resends: "malformed packet") would hold
      // every message forever. After three, the next connect is clean:
      // Paho's session state goes, and its unacknowledged messages come
      // back to our buffer and are sent again (duplicates are possible,
      // loss is not).
      // Only a session that held unacknowledged messages counts: a
      // subscriber's (or an idle publisher's) short sessions are just a
      // flapping broker, and a clean start would throw its queue away.
      if (!connecting_clean_ && !inflight_.empty() &&
          MonotonicSeconds() - connected_at_ < kShortSessionSeconds &&
          published_total_.load() == published_at_connect_) {
        if (++short_sessions_ >= kShortSessionsBeforeReset) {
          short_sessions_ = 0;
          force_clean_ = true;
          ++session_resets_total_;
          PM_LOG(kWarn) << "mqtt: " << options_.url
                        << " dropped the resumed session "
                        << kShortSessionsBeforeReset
                        << " times without acknowledging anything; the next "
                           "connection starts a clean session and resends "
                           "what was unacknowledged";
        }
      } else {
        short_sessions_ = 0;
      }
      std::string why = cause.empty() ? "connection closed" : cause;
      if (server_disconnect_reason_ != 0) {
        why += " (broker sent DISCONNECT with " +
               ReasonCodeText(server_disconnect_reason_) + ")";
        server_disconnect_reason_ = 0;
      }
      last_error_ = "connection to " + options_.url + " lost: " + why;
      events_.push_back(Event{false, why});
      {
        PM_LOG_EVERY_30S(kWarn)
            << "mqtt: " << last_error_ << "; reconnecting, "
            << buffer_.size() + inflight_.size() << " message(s) held";
      }
    }
    cv_.notify_all();
  }

  void OnMessage(const mqtt::const_message_ptr& msg) {
    std::shared_lock cb(callback_mu_);
    if (closed_ || !msg) return;
    ++received_total_;
    std::shared_ptr<const std::vector<Subscription>> subs;
    {
      std::lock_guard sl(snapshot_mu_);
      subs = subs_snapshot_;
    }
    const std::string& topic = msg->get_topic();
    const mqtt::binary_ref& payload_ref = msg->get_payload_ref();
    std::string_view payload =
        payload_ref ? std::string_view(payload_ref.data(), payload_ref.size())
                    : std::string_view();
    bool matched = false;
    for (const Subscription& sub : *subs) {
      bool hit = false;
      for (const std::string& f : sub.match_filters) {
        if (MqttTopicMatches(f, topic)) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
      matched = true;
      try {
        (*sub.handler)(topic, payload);
      } catch (const std::exception& e) {
        ++handler_errors_total_;
        PM_LOG_EVERY_30S(kError) << "mqtt: message handler for topic " << topic
                                 << " threw: " << e.what();
      } catch (...) {
        ++handler_errors_total_;
        PM_LOG_EVERY_30S(kError)
            << "mqtt: message handler for topic " << topic << " threw";
      }
    }
    if (!matched) {
      ++unmatched_total_;
      PM_LOG_EVERY_30S(kWarn)
          << "mqtt: message on topic " << topic
          << " matches no subscription (left from an earlier session?)";
    }
  }

  // MQTT 5: the broker said why it is closing (e.g. 142, session taken
  // over by another client with the same id). Connection-lost follows.
  void OnServerDisconnect(int reason_code) {
    std::shared_lock cb(callback_mu_);
    if (closed_) return;
    std::lock_guard lk(mu_);
    server_disconnect_reason_ = reason_code;
  }

  // --- State changes (mu_ held) ------------------------------------------

  void ConnectedLocked(std::uint64_t gen, bool session_present) {
    if (gen != connect_gen_ || state_ != State::kConnecting) return;
    EndTlsTapLocked();
    state_ = State::kConnected;
    connected_ = true;
    if (ever_connected_) ++reconnects_total_;
    ever_connected_ = true;
    consecutive_failures_ = 0;
    publish_pause_until_ = 0;
    connected_at_ = MonotonicSeconds();
    published_at_connect_ = published_total_.load();
    if (connecting_clean_ || !session_present) {
      // Paho discarded its session state (and with it the unacknowledged
      // messages) on this connect: send them again ourselves.
      RequeueAllInflightLocked();
    }
    force_clean_ = false;
    pending_subs_.clear();
    confirmed_subs_.clear();
    subs_to_send_.clear();
    for (size_t i = 0; i < subs_.size(); ++i) subs_to_send_.push_back(i);
    subscribed_ = false;
    events_.push_back(Event{true, {}});
    PM_LOG(kInfo) << "mqtt: connected to " << options_.url
                  << " client_id=" << options_.client_id
                  << " session_present=" << (session_present ? 1 : 0)
                  << " buffered=" << buffer_.size();
  }

  void ConnectFailedLocked(std::uint64_t gen, const PahoError& err) {
    if (gen != connect_gen_ || state_ != State::kConnecting) return;
    std::string tls_detail =
        tls_tap_active_ ? TlsTap::Get().Since(tls_tap_seq_) : std::string();
    EndTlsTapLocked();
    state_ = State::kDisconnected;
    ++connect_failures_total_;
    const double delay = BackoffLocked();
    ++consecutive_failures_;
    next_attempt_ = MonotonicSeconds() + delay;
    std::string detail = DescribeError(err.rc, err.reason_code, true);
    if (!err.message.empty()) detail += " [" + err.message + "]";
    if (err.rc == MQTTASYNC_FAILURE && err.reason_code == 0) {
      if (!tls_detail.empty()) {
        detail += "; " + tls_detail;
        if (options_.cert_file.empty() &&
            tls_detail.find("broker aborted") != std::string::npos) {
          detail +=
              "; does the broker require a client certificate "
              "(cert_file/key_file)?";
        }
      } else {
        detail += MqttUrlUsesTls(options_.url)
                      ? "; TCP connect or TLS handshake failed"
                      : "; TCP connect failed or the connection was closed";
      }
    }
    last_error_ = "connect to " + options_.url + " failed: " + detail;
    PM_LOG_EVERY_30S(kWarn)
        << "mqtt: " << last_error_ << "; retrying in " << delay << " s";
  }

  void EndTlsTapLocked() {
    if (!tls_tap_active_) return;
    tls_tap_active_ = false;
    TlsTap::Get().EndConnect();
  }

  void PublishFailedLocked(Pending p, const PahoError& err) {
    // MQTT 5 "quota exceeded" and "server busy" are worth another try after
    // a pause; any other refusal by the broker is final.
    const bool busy = err.reason_code == MQTTREASONCODE_QUOTA_EXCEEDED ||
                      err.reason_code == MQTTREASONCODE_SERVER_BUSY;
    const bool refused = err.reason_code >= 0x80 && !busy;
    if (!refused && (busy || IsTransient(err.rc)) &&
        ++p.failures < kMaxDeliveryAttempts) {
      if (busy) {
        publish_pause_until_ = MonotonicSeconds() + kBusyPauseSeconds;
      }
      RequeueLocked(std::move(p));
      return;
    }
    ++failed_total_;
    last_error_ = "publish to " + p.topic +
                  " failed: " + DescribeError(err.rc, err.reason_code, false);
    PM_LOG_EVERY_30S(kWarn) << "mqtt: " << last_error_;
  }

  void SubscribedLocked(std::uint64_t id) {
    auto it = pending_subs_.find(id);
    if (it == pending_subs_.end()) return;
    confirmed_subs_.push_back(it->second);
    pending_subs_.erase(it);
    if (state_ == State::kConnected && confirmed_subs_.size() == subs_.size() &&
        subs_to_send_.empty() && pending_subs_.empty()) {
      subscribed_ = true;
    }
  }

  void SubscribeFailedLocked(std::uint64_t id, const PahoError& err) {
    auto it = pending_subs_.find(id);
    if (it == pending_subs_.end()) return;
    std::string filters;
    for (const std::string& f : subs_[it->second].filters) {
      if (!filters.empty()) filters += ",";
      filters += f;
    }
    pending_subs_.erase(it);
    last_error_ = "subscribe to " + filters +
                  " failed: " + DescribeError(err.rc, err.reason_code, false);
    PM_LOG_EVERY_30S(kWarn)
        << "mqtt: " << last_error_ << " (retried on the next connection)";
  }

  // Puts a message back in sequence order and enforces the buffer limit.
  void RequeueLocked(Pending p) {
    NoteDroppedLocked(buffer_.Requeue(std::move(p)));
    buffered_ = buffer_.size();
  }

  void RequeueAllInflightLocked() {
    std::vector<Pending> back;
    back.reserve(inflight_.size());
    for (auto& [id, p] : inflight_) back.push_back(std::move(p));
    inflight_.clear();
    inflight_count_ = 0;
    std::sort(back.begin(), back.end(),
              [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
    for (Pending& p : back) RequeueLocked(std::move(p));
  }

  // After the buffer dropped `dropped` of its oldest messages to stay
  // within its bounds: counts and says so.
  void NoteDroppedLocked(size_t dropped) {
    if (dropped == 0) return;
    dropped_total_ = buffer_.dropped_total();
    last_error_ =
        "buffer full (" + std::to_string(options_.max_buffered_messages) +
        " messages or " + std::to_string(options_.max_buffered_bytes) +
        " bytes): dropped the oldest";
    PM_LOG_EVERY_30S(kWarn)
        << "mqtt: buffer of " << options_.max_buffered_messages
        << " messages / " << options_.max_buffered_bytes
        << " bytes is full while " << options_.url
        << " is unreachable; dropping the oldest (dropped_total="
        << dropped_total_.load() << ")";
  }

  void DropRemainingLocked() {
    const size_t remaining = buffer_.size() + inflight_.size();
    for (const auto& [id, p] : inflight_) buffer_.CountDropped(p.topic);
    buffer_.DropAll();
    inflight_.clear();
    buffered_ = 0;
    inflight_count_ = 0;
    if (remaining > 0) {
      dropped_total_ = buffer_.dropped_total();
      PM_LOG(kWarn) << "mqtt: stopped with " << remaining
                    << " message(s) not acknowledged by " << options_.url
                    << "; counted as dropped";
    }
  }

  void CountFailed(const std::string& why) {
    ++failed_total_;
    std::lock_guard lk(mu_);
    last_error_ = why;
  }

  // Delay before the next connect attempt: min * 2^failures, capped at max,
  // with +-10% jitter kept inside [min, max].
  double BackoffLocked() {
    const double lo = options_.reconnect_min_seconds;
    const double hi = options_.reconnect_max_seconds;
    double d = lo * std::pow(2.0, std::min(consecutive_failures_, 30));
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    d *= jitter(rng_);
    return std::clamp(d, lo, hi);
  }

  const MqttOptions options_;
  std::unique_ptr<mqtt::async_client> client_;

  // Held only briefly, never while calling into Paho.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;         // GUARDED_BY(mu_)
  bool stopping_ = false;        // GUARDED_BY(mu_)
  bool stop_requested_ = false;  // GUARDED_BY(mu_)
  State state_ = State::kDisconnected;
  bool ever_connected_ = false;
  int consecutive_failures_ = 0;
  double next_attempt_ = 0;
  double connect_deadline_ = 0;
  double publish_pause_until_ = 0;
  std::uint64_t connect_gen_ = 0;
  std::uint64_t next_id_ = 1;
  PublishBuffer buffer_;  // Messages not yet handed to Paho.
  // Session recovery (OnConnectionLost): short resumed sessions in a row.
  static constexpr double kShortSessionSeconds = 5;
  static constexpr int kShortSessionsBeforeReset = 3;
  bool connecting_clean_ = false;  // the current/last connect was clean
  bool force_clean_ = false;       // the next connect starts clean
  int short_sessions_ = 0;
  double connected_at_ = 0;
  std::uint64_t published_at_connect_ = 0;
  std::atomic<std::uint64_t> session_resets_total_{0};
  std::map<std::uint64_t, Pending> inflight_;  // Action id -> message.
  std::vector<Subscription> subs_;
  std::deque<size_t> subs_to_send_;
  std::map<std::uint64_t, size_t> pending_subs_;  // Action id -> subs_ index.
  std::vector<size_t> confirmed_subs_;
  std::deque<Event> events_;
  bool handling_event_ = false;  // Run() is inside a handler of events_
  std::string last_error_;
  int server_disconnect_reason_ = 0;
  bool tls_tap_active_ = false;  // This client counts in TlsTap's connecting.
  std::uint64_t tls_tap_seq_ = 0;
  ConnectedHandler on_connected_;
  ConnectionLostHandler on_connection_lost_;
  std::minstd_rand rng_;
  std::thread worker_;

  Listener connect_listener_;
  Listener publish_listener_;
  Listener subscribe_listener_;

  // What the message callback dispatches on, replaced on Subscribe().
  std::mutex snapshot_mu_;
  std::shared_ptr<const std::vector<Subscription>> subs_snapshot_;

  // Callbacks hold it shared; Stop() takes it exclusively to set closed_,
  // after which callbacks return without touching anything else.
  std::shared_mutex callback_mu_;
  bool closed_ = false;

  std::atomic<bool> connected_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<std::uint64_t> buffered_{0};
  std::atomic<std::uint64_t> inflight_count_{0};
  std::atomic<std::uint64_t> published_total_{0};
  std::atomic<std::uint64_t> failed_total_{0};
  std::atomic<std::uint64_t> dropped_total_{0};
  std::atomic<std::uint64_t> reconnects_total_{0};
  std::atomic<std::uint64_t> connect_failures_total_{0};
  std::atomic<std::uint64_t> received_total_{0};
  std::atomic<std::uint64_t> unmatched_total_{0};
  std::atomic<std::uint64_t> handler_errors_total_{0};
};

// ---------------------------------------------------------------------------

StatusOr<std::unique_ptr<MqttClient>> MqttClient::Create(
    const MqttOptions& options) {
  StatusOr<MqttOptions> valid = ValidateMqttOptions(options);
  if (!valid.ok()) return valid.status();
  auto impl = std::make_unique<Impl>(std::move(valid).value());
  if (Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<MqttClient>(new MqttClient(std::move(impl)));
}

MqttClient::MqttClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttClient::~MqttClient() = default;

bool MqttClient::SetConnectedHandler(ConnectedHandler handler) {
  return impl_->SetConnectedHandler(std::move(handler));
}

bool MqttClient::SetConnectionLostHandler(ConnectionLostHandler handler) {
  return impl_->SetConnectionLostHandler(std::move(handler));
}

Status MqttClient::Start() { return impl_->Start(); }

void MqttClient::Stop(std::chrono::milliseconds drain) { impl_->Stop(drain); }

void MqttClient::ConnectNow() { impl_->ConnectNow(); }

Status MqttClient::Publish(std::string_view topic, std::string_view payload,
                           int qos, bool retain) {
  return impl_->Publish(topic, payload, qos, retain);
}

Status MqttClient::Publish(std::string_view topic, std::string_view payload) {
  return impl_->Publish(topic, payload, impl_->options().qos, false);
}

Status MqttClient::Subscribe(const std::vector<std::string>& filters, int qos,
                             MessageHandler handler) {
  return impl_->Subscribe(filters, qos, std::move(handler));
}

MqttStats MqttClient::stats() const { return impl_->stats(); }

const MqttOptions& MqttClient::options() const { return impl_->options(); }

}  // namespace propmon
