#include "exporter/publisher.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "common/file.h"
#include "common/log.h"
#include "common/metrics.h"
#include "exporter/app.h"
#include "exporter/collectors/cpu.h"
#include "exporter/collectors/filesystem.h"
#include "exporter/parse_util.h"
#include "exporter/procfs.h"
#include "exporter/sysinfo.h"

namespace propmon::exporter {

namespace {

using payload::MessageKind;

// Results ids remembered for de-duplication, at most.
constexpr size_t kMaxResultsRemembered = 1024;

std::string JoinCgroupPath(const MountPoint& m, std::string_view cg_path) {
  // A mount whose root is not "/" (cgroup namespace seen from outside, or a
  // bind mount) shows the part of the hierarchy below that root.
  std::string_view rel = cg_path;
  if (m.root != "/" && !m.root.empty()) {
    if (rel.substr(0, m.root.size()) == m.root &&
        (rel.size() == m.root.size() || rel[m.root.size()] == '/')) {
      rel.remove_prefix(m.root.size());
    }
  }
  std::string out = m.mount_point;
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (!rel.empty() && rel.front() != '/') out += '/';
  out += rel;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::optional<uint64_t> ReadCgroupFile(const std::string& path) {
  std::string buf;
  if (!ReadFileTo(path, &buf, 4096).ok()) return std::nullopt;
  return ParseCgroupBytes(buf);
}

std::string FirstIpv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  std::string out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0 || (a->ifa_flags & IFF_LOOPBACK) != 0) {
      continue;
    }
    char buf[INET_ADDRSTRLEN] = {0};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != nullptr) {
      out = buf;
      break;
    }
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Parsers and readers.
// ---------------------------------------------------------------------------

std::optional<std::string> ParseCgroupV2Path(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.substr(0, 3) == "0::") {
      std::string_view path = TrimSpace(line.substr(3));
      if (path.empty() || path.front() != '/') return std::nullopt;
      // "(deleted)" marks a cgroup that was removed under us.
      if (path.find(" (deleted)") != std::string_view::npos) {
        return std::nullopt;
      }
      return std::string(path);
    }
  }
  return std::nullopt;
}

std::optional<MountPoint> ParseCgroup2Mount(std::string_view mountinfo) {
  while (!mountinfo.empty()) {
    size_t nl = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, nl);
    mountinfo = nl == std::string_view::npos ? std::string_view()
                                             : mountinfo.substr(nl + 1);
    size_t sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    std::vector<std::string_view> pre, post;
    SplitFields(line.substr(0, sep), &pre);
    SplitFields(line.substr(sep + 3), &post);
    if (pre.size() < 5 || post.empty() || post[0] != "cgroup2") continue;
    MountPoint m;
    m.root = UnescapeMountField(pre[3]);
    m.mount_point = UnescapeMountField(pre[4]);
    if (m.mount_point.empty() || m.mount_point.front() != '/') continue;
    return m;
  }
  return std::nullopt;
}

bool ParseSelfStat(std::string_view text, double ticks_per_second,
                   uint64_t page_size, SelfStats* out) {
  auto st = ParseProcStat(text);  // the one /proc/PID/stat parser
  if (!st.ok() || !(ticks_per_second > 0)) return false;
  out->user_seconds = static_cast<double>(st->utime) / ticks_per_second;
  out->system_seconds = static_cast<double>(st->stime) / ticks_per_second;
  if (st->rss_pages >= 0) {
    out->rss_bytes = static_cast<uint64_t>(st->rss_pages) * page_size;
  }
  return true;
}

std::optional<uint64_t> ParseCgroupBytes(std::string_view text) {
  text = TrimSpace(text);
  if (text.empty() || text == "max") return std::nullopt;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

SelfStats ReadSelfStats(const std::string& self_proc) {
  SelfStats s;
  std::string buf;
  if (ReadFileTo(self_proc + "/stat", &buf).ok()) {
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    ParseSelfStat(buf, hz > 0 ? static_cast<double>(hz) : 100.0,
                  page > 0 ? static_cast<uint64_t>(page) : 4096, &s);
  }
  std::optional<std::string> cg;
  if (ReadFileTo(self_proc + "/cgroup", &buf).ok()) cg = ParseCgroupV2Path(buf);
  std::optional<MountPoint> mount;
  if (cg && ReadFileTo(self_proc + "/mountinfo", &buf).ok()) {
    mount = ParseCgroup2Mount(buf);
  }
  if (cg && mount) {
    const std::string dir = JoinCgroupPath(*mount, *cg);
    s.container_usage_bytes = ReadCgroupFile(dir + "/memory.current");
    // memory.max exists only where memory.current does (non-root cgroups).
    if (s.container_usage_bytes) {
      s.container_limit_bytes = ReadCgroupFile(dir + "/memory.max");
    }
  }
  return s;
}

NodeFacts ReadNodeFacts(const std::string& procfs, bool privacy) {
  NodeFacts f;
  utsname u{};
  if (uname(&u) == 0) f.cpu_arch = u.machine;
  std::string buf;
  if (ReadFileTo(procfs + "/meminfo", &buf).ok()) {
    f.total_memory_bytes = ParseMemInfo(buf).total_bytes;
  }
  if (!privacy) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) == 0) f.hostname = host;
    f.ip = FirstIpv4();
  }
  return f;
}

PublisherOptions MakePublisherOptions(const Config& config,
                                      const std::string& proplet_id,
                                      const std::string& procfs) {
  const MqttConfig& m = config.mqtt;
  PublisherOptions o;
  o.mqtt.url = m.url;
  o.mqtt.client_id =
      m.client_id.empty() ? "propmon-exporter-" + proplet_id : m.client_id;
  o.mqtt.username = m.username;
  o.mqtt.password = m.password;
  o.mqtt.ca_file = m.ca_file;
  o.mqtt.cert_file = m.cert_file;
  o.mqtt.key_file = m.key_file;
  o.mqtt.insecure = m.insecure;
  o.mqtt.qos = m.qos;
  o.mqtt.keepalive_seconds = m.keepalive_seconds;
  o.mqtt.clean_start = m.clean_start;
  o.mqtt.max_buffered_messages = std::max<size_t>(1, m.max_buffered_messages);
  o.mqtt.max_buffered_bytes = m.max_buffered_bytes;
  o.domain_id = m.domain_id;
  o.channel_id = m.channel_id;
  o.proplet_id = proplet_id;
  o.proplet_version = std::string("propmon-exporter ") + Version();
  o.liveliness_interval_seconds = m.liveliness_interval_seconds;
  o.metrics_interval_seconds = m.metrics_interval_seconds;
  o.enable_monitoring = config.enable_monitoring;
  o.privacy = config.privacy;
  o.procfs = procfs;
  return o;
}

// ---------------------------------------------------------------------------
// Publisher.
// ---------------------------------------------------------------------------

StatusOr<std::unique_ptr<Publisher>> Publisher::Create(
    PublisherOptions options) {
  if (options.proplet_id.empty()) {
    return InvalidArgument("mqtt: the proplet id is empty");
  }
  if (!payload::IsValidLabel(options.domain_id)) {
    return InvalidArgument("mqtt domain_id \"" + options.domain_id +
                           "\" is empty or not a valid id");
  }
  if (!payload::IsValidLabel(options.channel_id)) {
    return InvalidArgument("mqtt channel_id \"" + options.channel_id +
                           "\" is empty or not a valid id");
  }
  for (auto [name, id] : {std::pair{"domain_id", &options.domain_id},
                          std::pair{"channel_id", &options.channel_id}}) {
    if (id->find_first_of("/+#") != std::string::npos) {
      return InvalidArgument(std::string("mqtt ") + name + " \"" + *id +
                             "\" must not contain '/', '+' or '#' (it is a "
                             "topic level)");
    }
  }
  if (!(options.liveliness_interval_seconds > 0) ||
      !(options.metrics_interval_seconds > 0) ||
      !std::isfinite(options.liveliness_interval_seconds) ||
      !std::isfinite(options.metrics_interval_seconds)) {
    return InvalidArgument(
        "mqtt: liveliness and metrics intervals must be > 0");
  }
  auto client = MqttClient::Create(options.mqtt);
  if (!client.ok()) return client.status();
  return std::unique_ptr<Publisher>(
      new Publisher(std::move(options), std::move(client).value()));
}

Publisher::Publisher(PublisherOptions options,
                     std::unique_ptr<MqttClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  auto topic = [&](MessageKind k) {
    return payload::MakeTopic(options_.domain_id, options_.channel_id, k);
  };
  topic_task_metrics_ = topic(MessageKind::kTaskMetrics);
  topic_metrics_ = topic(MessageKind::kPropletMetrics);
  topic_alive_ = topic(MessageKind::kAlive);
  topic_create_ = topic(MessageKind::kCreate);
  topic_results_ = topic(MessageKind::kResults);
}

Publisher::~Publisher() { Stop(std::chrono::milliseconds(0)); }

std::string Publisher::Topic(MessageKind kind) const {
  return payload::MakeTopic(options_.domain_id, options_.channel_id, kind);
}

MqttStats Publisher::mqtt_stats() const { return client_->stats(); }

Status Publisher::Start() {
  {
    std::lock_guard lk(mu_);
    if (started_) return InvalidArgument("publisher already started");
    started_ = true;
  }
  client_->SetConnectedHandler([this] { OnConnected(); });
  Status s = client_->Start();
  if (!s.ok()) return s;
  timer_ = std::thread([this] { TimerLoop(); });
  PM_LOG(kInfo) << "mqtt: publishing to " << client_->options().url << " as m/"
                << options_.domain_id << "/c/" << options_.channel_id
                << "/control/proplet/*"
                << " client_id=" << client_->options().client_id
                << " qos=" << client_->options().qos;
  return Status::Ok();
}

void Publisher::Stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  // MqttClient::Stop drains only while connected: give a connection that is
  // still being made (a short `run` task) the same time to come up.
  const auto deadline = std::chrono::steady_clock::now() + drain;
  // Not after the reconnect backoff (which may be 30 s by now): an attempt
  // every 250 ms while the window lasts.
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    MqttStats s = client_->stats();
    if (s.connected || s.buffered + s.inflight == 0) break;
    if (i % 12 == 0) client_->ConnectNow();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  client_->Stop(std::max(left, std::chrono::milliseconds(0)));
}

void Publisher::Send(MessageKind kind, const std::string& json) {
  const std::string* topic = nullptr;
  switch (kind) {
    case MessageKind::kTaskMetrics:
    case MessageKind::kLegacyTaskMetrics:
      topic = &topic_task_metrics_;
      break;
    case MessageKind::kPropletMetrics:
      topic = &topic_metrics_;
      break;
    case MessageKind::kAlive:
      topic = &topic_alive_;
      break;
    case MessageKind::kCreate:
      topic = &topic_create_;
      break;
    case MessageKind::kResults:
      topic = &topic_results_;
      break;
  }
  Status s = client_->Publish(*topic, json);
  if (!s.ok()) {
    // Counted by the client (failed_total).
    PM_LOG_EVERY_30S(kWarn) << "mqtt: cannot publish "
                            << payload::KindName(kind) << ": " << s.message();
  }
}

void Publisher::OnConnected() {
  // Never let an exception escape into the client's thread.
  try {
    NodeFacts facts = ReadNodeFacts(options_.procfs, options_.privacy);
    Send(MessageKind::kCreate, payload::Encode(BuildCreate(
                                   options_.proplet_id, options_.namespace_name,
                                   options_.proplet_version, facts)));
    Send(MessageKind::kAlive,
         payload::Encode(
             BuildAlive(options_.proplet_id, options_.namespace_name)));
  } catch (const std::exception& e) {
    PM_LOG_EVERY_30S(kError) << "mqtt: on connect: " << e.what();
  }
}

void Publisher::PublishAlive() {
  // An alive that waits in the buffer says nothing true when it finally
  // arrives: send it only while connected (each connect sends one at once).
  if (!client_->stats().connected) return;
  Send(MessageKind::kAlive, payload::Encode(BuildAlive(
                                options_.proplet_id, options_.namespace_name)));
}

std::optional<CpuTimes> Publisher::ReadHostCpu() const {
  // The cpu collector's reader of /proc/stat (node_cpu_seconds_total).
  auto t = ReadHostCpuTimes(HostPaths{options_.procfs});
  if (!t.ok()) return std::nullopt;
  return *t;
}

void Publisher::PublishPropletMetrics() {
  std::optional<double> ratio;
  std::optional<CpuTimes> now_cpu = ReadHostCpu();
  if (now_cpu) {
    if (last_host_cpu_) ratio = CpuUsageRatio(*last_host_cpu_, *now_cpu);
    last_host_cpu_ = now_cpu;
  }
  SelfStats self = ReadSelfStats(options_.self_proc);
  Send(MessageKind::kPropletMetrics,
       payload::Encode(
           BuildPropletMetrics(options_.proplet_id, options_.namespace_name,
                               SystemClock::Get()->Now(), self, ratio)));
}

void Publisher::TimerLoop() {
  using Clock = std::chrono::steady_clock;
  auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(s));
  };
  const auto alive_every = to_duration(options_.liveliness_interval_seconds);
  const auto metrics_every = to_duration(options_.metrics_interval_seconds);
  if (options_.enable_monitoring) {
    // The first reading of /proc/stat: the first message then has a percent.
    last_host_cpu_ = ReadHostCpu();
  }
  const auto t0 = Clock::now();
  auto next_alive = t0 + alive_every;
  auto next_metrics = t0 + metrics_every;
  // Next point of a fixed grid after `now` (missed ticks are skipped).
  auto advance = [](Clock::time_point* next, Clock::duration every,
                    Clock::time_point now) {
    *next += every;
    if (*next <= now) {
      auto behind = (now - *next) / every + 1;
      *next += every * behind;
    }
  };
  std::unique_lock lk(mu_);
  while (!stop_) {
    auto now = Clock::now();
    bool alive_due = now >= next_alive;
    bool metrics_due = options_.enable_monitoring && now >= next_metrics;
    if (alive_due || metrics_due) {
      lk.unlock();
      try {
        if (alive_due) PublishAlive();
        if (metrics_due) PublishPropletMetrics();
      } catch (const std::exception& e) {
        PM_LOG_EVERY_30S(kError) << "mqtt: timer: " << e.what();
      }
      lk.lock();
      now = Clock::now();
      if (alive_due) advance(&next_alive, alive_every, now);
      if (metrics_due) advance(&next_metrics, metrics_every, now);
      continue;
    }
    auto wake = options_.enable_monitoring ? std::min(next_alive, next_metrics)
                                           : next_alive;
    cv_.wait_until(lk, wake);
  }
}

void Publisher::OnSample(const TaskInfo& task, const TaskSample& sample) {
  const MonitoringProfile& p = task.spec.profile;
  if (!p.enabled || !p.export_to_mqtt) return;
  // The final sample of an ended task has counters but no gauges; a manager
  // that reads missing figures as 0 would record a false zero point.
  if (task.state != TaskState::kRunning) return;
  try {
    Send(MessageKind::kTaskMetrics,
         payload::Encode(BuildTaskMetrics(options_.proplet_id, task, sample)));
  } catch (const std::exception& e) {
    PM_LOG_EVERY_30S(kError) << "mqtt: task_metrics: " << e.what();
  }
}

void Publisher::PublishResultsOnce(const std::string& task_id,
                                   int wait_status) {
  Send(MessageKind::kResults, payload::Encode(BuildResults(
                                  options_.proplet_id, task_id, wait_status)));
  auto err = WaitStatusError(wait_status);
  PM_LOG(kInfo) << "mqtt: results published for task " << task_id
                << " error=" << (err ? *err : std::string("null"));
}

void Publisher::OnEnded(const TaskInfo& task) {
  try {
    if (task.wait_status) {
      {
        std::lock_guard lk(mu_);
        if (results_sent_.insert(task.spec.id).second) {
          results_order_.push_back(task.spec.id);
          if (results_order_.size() > kMaxResultsRemembered) {
            results_sent_.erase(results_order_.front());
            results_order_.pop_front();
          }
        }
      }
      PublishResultsOnce(task.spec.id, *task.wait_status);
      return;
    }
    if (task.spec.source == "run") return;  // TaskExited() will report it.
    PM_LOG(kInfo) << "mqtt: task " << task.spec.id
                  << " ended; its exit status is unknown (the process was "
                     "not started by the exporter): no results message";
  } catch (const std::exception& e) {
    PM_LOG_EVERY_30S(kError) << "mqtt: results: " << e.what();
  }
}

void Publisher::TaskExited(const std::string& task_id, int wait_status) {
  {
    std::lock_guard lk(mu_);
    if (results_sent_.erase(task_id) > 0) {
      results_order_.erase(
          std::find(results_order_.begin(), results_order_.end(), task_id));
      return;
    }
  }
  PublishResultsOnce(task_id, wait_status);
}

std::vector<prometheus::MetricFamily> Publisher::Collect() const {
  using prometheus::MetricType;
  MqttStats s = client_->stats();
  std::vector<prometheus::MetricFamily> out;
  auto one = [&](const char* name, const char* help, MetricType type,
                 double v) {
    FamilyBuilder b(name, help, type);
    b.Add(Labels{}, v);
    b.MoveTo(&out);
  };
  one("propmon_exporter_mqtt_connected",
      "1 while connected to the MQTT broker, else 0.", MetricType::Gauge,
      s.connected ? 1 : 0);
  one("propmon_exporter_mqtt_buffered_messages",
      "Messages waiting in the exporter's buffer for the broker.",
      MetricType::Gauge, static_cast<double>(s.buffered));
  one("propmon_exporter_mqtt_published_total",
      "Messages acknowledged by the broker (QoS 1/2) or sent (QoS 0).",
      MetricType::Counter, static_cast<double>(s.published_total));
  one("propmon_exporter_mqtt_failed_total",
      "Messages given up on: invalid, refused by the broker, or repeated "
      "delivery failures.",
      MetricType::Counter, static_cast<double>(s.failed_total));
  {
    // By topic: every topic the exporter publishes to, from 0.
    FamilyBuilder b("propmon_exporter_mqtt_dropped_total",
                    "Messages dropped, by topic: oldest pushed out of a full "
                    "buffer, or unsent at shutdown.",
                    MetricType::Counter);
    std::map<std::string, double> by_topic;
    for (const std::string* t : {&topic_create_, &topic_alive_, &topic_metrics_,
                                 &topic_task_metrics_, &topic_results_}) {
      by_topic[*t] = 0;
    }
    for (const auto& [t, n] : s.dropped_by_topic) {
      by_topic[t] += static_cast<double>(n);
    }
    for (const auto& [t, n] : by_topic) b.Add({{"topic", t}}, n);
    b.MoveTo(&out);
  }
  one("propmon_exporter_mqtt_buffered_bytes",
      "Bytes (topics and payloads) waiting in the exporter's buffer.",
      MetricType::Gauge, static_cast<double>(s.buffered_bytes));
  one("propmon_exporter_mqtt_reconnects_total",
      "Connections to the broker established after the first one.",
      MetricType::Counter, static_cast<double>(s.reconnects_total));
  one("propmon_exporter_mqtt_session_resets_total",
      "Resumed sessions the broker dropped three times in a row before "
      "acknowledging anything, given up for a clean one.",
      MetricType::Counter, static_cast<double>(s.session_resets_total));
  return out;
}

}  // namespace propmon::exporter
