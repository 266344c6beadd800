// The exporter's MQTT publishing against the real Debian mosquitto, started
// by each test on a free loopback port: every Propeller topic's JSON checked
// against a ground-truth workload, intervals per profile, create once per
// connection, results of `propmon-exporter run` (exit 0, exit 3, a signal)
// and none for an observed process, no sample lost across a 10 s broker
// outage, password + TLS, and a wrong password in the daemon.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/mqtt_client.h"
#include "common/payload.h"
#include "exporter/publisher.h"
#include "exporter/task_monitor.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using mqtt_test::Broker;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testutil::Subprocess;
using testutil::TempDir;
using testutil::WaitUntil;

const char kFilter[] = "m/+/c/+/control/proplet/#";

double WallNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// One received message, parsed.
struct Received {
  std::string topic;
  std::string suffix;  // "alive", "create", "metrics", "task_metrics", ...
  std::string payload;
  json j;
  double received_at = 0;
};

// Collects what the subscription receives. Thread-safe.
class Inbox {
 public:
  MqttClient::MessageHandler Handler() {
    return [this](std::string_view topic, std::string_view payload) {
      Received r;
      r.topic = std::string(topic);
      r.suffix = r.topic.substr(r.topic.rfind('/') + 1);
      r.payload = std::string(payload);
      r.j = json::parse(r.payload, nullptr, false);
      r.received_at = WallNow();
      std::lock_guard lk(mu_);
      all_.push_back(std::move(r));
    };
  }
  std::vector<Received> Of(const std::string& suffix) const {
    std::lock_guard lk(mu_);
    std::vector<Received> out;
    for (const Received& r : all_) {
      if (r.suffix == suffix) out.push_back(r);
    }
    return out;
  }
  // task_metrics of one task.
  std::vector<Received> TaskMetrics(const std::string& task_id) const {
    std::vector<Received> out;
    for (Received& r : Of("task_metrics")) {
      if (r.j.is_object() && r.j.value("task_id", "") == task_id) {
        out.push_back(std::move(r));
      }
    }
    return out;
  }
  std::vector<Received> All() const {
    std::lock_guard lk(mu_);
    return all_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Received> all_;
};

std::unique_ptr<MqttClient> Subscribe(MqttOptions o, Inbox* inbox) {
  auto c = mqtt_test::MustCreate(o);
  if (!c) return nullptr;
  EXPECT_TRUE(c->Subscribe({kFilter}, 1, inbox->Handler()).ok());
  EXPECT_TRUE(c->Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)))
      << c->stats().last_error;
  return c;
}

PublisherOptions PubOptions(const std::string& url, const std::string& node) {
  PublisherOptions o;
  o.mqtt = mqtt_test::Options(url, "exporter-" + node);
  o.domain_id = "dom-1";
  o.channel_id = "chan-1";
  o.proplet_id = node;
  o.proplet_version = "propmon-exporter test";
  o.liveliness_interval_seconds = 1;
  o.metrics_interval_seconds = 1;
  return o;
}

TaskSpec Spec(const std::string& id, pid_t pid, const std::string& profile) {
  TaskSpec s;
  s.id = id;
  s.name = id;
  s.pid = pid;
  s.profile = *PresetProfile(profile);
  s.source = "api";
  return s;
}

double Timestamp(const Received& r) {
  if (!r.j.is_object() || !r.j.contains("timestamp") ||
      !r.j["timestamp"].is_string()) {
    return 0;
  }
  return payload::ParseRfc3339(r.j["timestamp"].get<std::string>()).value_or(0);
}

bool IsRfc3339Micro(const json& v) {
  static const std::regex re(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$)");
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

std::set<std::string> Keys(const json& o) {
  std::set<std::string> k;
  if (o.is_object()) {
    for (auto it = o.begin(); it != o.end(); ++it) k.insert(it.key());
  }
  return k;
}

// Ground truth, read independently of the exporter's code.
struct ProcTicks {
  unsigned long long utime = 0, stime = 0;
  long rss_pages = 0;
  bool ok = false;
};
ProcTicks ReadProcTicks(pid_t pid) {
  ProcTicks t;
  std::string s =
      testutil::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return t;
  // Fields from state (3) on: utime is 14, stime 15, rss 24.
  char state;
  int n = std::sscanf(s.c_str() + close + 2,
                      "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                      "%*d %*d %*d %*d %*d %*d %*u %*u %ld",
                      &state, &t.utime, &t.stime, &t.rss_pages);
  t.ok = n == 4;
  return t;
}
// busy and total ticks of the "cpu" line of /proc/stat.
std::pair<double, double> HostTicks() {
  std::string s = testutil::ReadFileOrEmpty("/proc/stat");
  unsigned long long v[8] = {0};
  std::sscanf(s.c_str(), "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
              &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  double total = 0;
  for (auto x : v) total += static_cast<double>(x);
  return {total - static_cast<double>(v[3] + v[4]), total};
}
uint64_t StatmRssBytes(const std::string& pid) {
  std::string s = testutil::ReadFileOrEmpty("/proc/" + pid + "/statm");
  unsigned long long size = 0, resident = 0;
  std::sscanf(s.c_str(), "%llu %llu", &size, &resident);
  return resident * static_cast<uint64_t>(getpagesize());
}
uint64_t MemTotalBytes() {
  std::string s = testutil::ReadFileOrEmpty("/proc/meminfo");
  unsigned long long kb = 0;
  std::sscanf(s.c_str(), "MemTotal: %llu kB", &kb);
  return kb * 1024;
}

// A time series sampled by the test every 100 ms, linearly interpolated.
class Series {
 public:
  void Add(double t, double v) {
    std::lock_guard lk(mu_);
    pts_.emplace_back(t, v);
  }
  std::optional<double> At(double t) const {
    std::lock_guard lk(mu_);
    for (size_t i = 1; i < pts_.size(); ++i) {
      if (pts_[i - 1].first <= t && t <= pts_[i].first) {
        double span = pts_[i].first - pts_[i - 1].first;
        double f = span > 0 ? (t - pts_[i - 1].first) / span : 0;
        return pts_[i - 1].second + f * (pts_[i].second - pts_[i - 1].second);
      }
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> pts_;
};

// ---------------------------------------------------------------------------

TEST(MqttPublishTest, EveryTopicMatchesGroundTruthAndProfileIntervals) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscribe(mqtt_test::Options(broker.Url(), "sub"), &inbox);
  ASSERT_TRUE(sub);

  TempDir dir;
  const std::string ready = dir.File("ready");
  Subprocess burner;
  const double launched = WallNow();
  ASSERT_TRUE(
      burner.Start({testutil::TestHelperBinary(), "alloc", "64", "threads", "3",
                    "files", "5", "ready", ready, "spin", "1"}));
  Subprocess idle;
  ASSERT_TRUE(idle.Start({testutil::TestHelperBinary(), "sleep", "60"}));
  ASSERT_TRUE(
      WaitUntil([&] { return access(ready.c_str(), F_OK) == 0; }, seconds(20)));

  // Ground truth every 100 ms: the burner's CPU ticks and the host's.
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  Series task_cpu, host_busy, host_total;
  std::atomic<bool> stop_truth{false};
  std::thread truth([&] {
    while (!stop_truth) {
      ProcTicks t = ReadProcTicks(burner.pid());
      auto [busy, total] = HostTicks();
      double now = WallNow();
      if (t.ok) task_cpu.Add(now, static_cast<double>(t.utime + t.stime) / hz);
      host_busy.Add(now, busy);
      host_total.Add(now, total);
      std::this_thread::sleep_for(milliseconds(100));
    }
  });

  TaskMonitor::Options mo;
  mo.proplet_id = "node-a";
  TaskMonitor monitor(mo);
  auto pub = Publisher::Create(PubOptions(broker.Url(), "node-a"));
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  Publisher& publisher = **pub;
  monitor.AddObserver(&publisher);
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(monitor.AddTask(Spec("burner", burner.pid(), "intensive")).ok());
  ASSERT_TRUE(monitor.AddTask(Spec("idle", idle.pid(), "minimal")).ok());
  monitor.Start();

  // Seven intensive samples (about 7 s once connected).
  EXPECT_TRUE(WaitUntil([&] { return inbox.TaskMetrics("burner").size() >= 7; },
                        seconds(30)));
  const std::string burner_pid = std::to_string(burner.pid());
  const uint64_t rss_truth = StatmRssBytes(burner_pid);
  size_t fds_truth = 0;
  for (auto& e :
       std::filesystem::directory_iterator("/proc/" + burner_pid + "/fd")) {
    (void)e;
    ++fds_truth;
  }
  monitor.Stop();
  stop_truth = true;
  truth.join();
  const MqttStats stats = publisher.mqtt_stats();
  publisher.Stop();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const uint64_t self_rss = StatmRssBytes("self");

  // Every topic is a Propeller topic under our domain/channel, valid JSON.
  std::set<std::string> suffixes;
  for (const Received& r : inbox.All()) {
    EXPECT_EQ(r.topic.rfind("m/dom-1/c/chan-1/control/proplet/", 0), 0u)
        << r.topic;
    EXPECT_TRUE(r.j.is_object()) << r.payload;
    suffixes.insert(r.suffix);
  }
  EXPECT_EQ(suffixes, (std::set<std::string>{"alive", "create", "metrics",
                                             "task_metrics"}));

  // create: once for the one connection.
  auto creates = inbox.Of("create");
  ASSERT_EQ(creates.size(), 1u + stats.reconnects_total);
  const json& c = creates[0].j;
  EXPECT_EQ(Keys(c),
            (std::set<std::string>{"proplet_id", "namespace", "metadata"}));
  EXPECT_EQ(c["proplet_id"], "node-a");
  EXPECT_EQ(c["namespace"], "default");
  const json& md = c["metadata"];
  utsname u{};
  uname(&u);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(md["os"], "linux");
  EXPECT_EQ(md["cpu_arch"], std::string(u.machine));
  ASSERT_TRUE(md["total_memory_bytes"].is_number_integer());
  EXPECT_EQ(md["total_memory_bytes"].get<uint64_t>(), MemTotalBytes());
  EXPECT_EQ(md["proplet_version"], "propmon-exporter test");
  EXPECT_EQ(md["hostname"], std::string(host));
  EXPECT_FALSE(md.contains("wasm_runtime"));  // we have none: not invented
  if (md.contains("ip")) EXPECT_TRUE(md["ip"].is_string());

  // alive: exactly Propeller's three keys, about once a second.
  auto alives = inbox.Of("alive");
  EXPECT_GE(alives.size(), 4u);
  for (const Received& r : alives) {
    EXPECT_EQ(r.j, json({{"proplet_id", "node-a"},
                         {"status", "alive"},
                         {"namespace", "default"}}));
  }

  // task_metrics: the intensive task about every second, the minimal one
  // never.
  EXPECT_TRUE(inbox.TaskMetrics("idle").empty());
  auto tm = inbox.TaskMetrics("burner");
  ASSERT_GE(tm.size(), 7u);
  std::sort(tm.begin(), tm.end(), [](const Received& a, const Received& b) {
    return Timestamp(a) < Timestamp(b);
  });
  const double mem_total = static_cast<double>(MemTotalBytes());
  double cpu_err_sum = 0;
  int cpu_n = 0;
  for (size_t i = 0; i < tm.size(); ++i) {
    const json& j = tm[i].j;
    SCOPED_TRACE(tm[i].payload);
    EXPECT_EQ(Keys(j),
              (std::set<std::string>{"task_id", "proplet_id", "metrics",
                                     "aggregated", "timestamp"}));
    EXPECT_EQ(j["proplet_id"], "node-a");
    EXPECT_TRUE(IsRfc3339Micro(j["timestamp"]));
    const json& m = j["metrics"];
    std::set<std::string> want = {"memory_bytes",         "memory_percent",
                                  "disk_read_bytes",      "disk_write_bytes",
                                  "uptime_seconds",       "thread_count",
                                  "file_descriptor_count"};
    if (i > 0 || m.contains("cpu_percent")) want.insert("cpu_percent");
    // Same network namespace as the exporter: no network figures.
    EXPECT_EQ(Keys(m), want);
    for (const char* k :
         {"memory_bytes", "disk_read_bytes", "disk_write_bytes",
          "uptime_seconds", "thread_count", "file_descriptor_count"}) {
      EXPECT_TRUE(m[k].is_number_integer()) << k;
    }
    EXPECT_EQ(m["thread_count"], 4);  // main + 3
    EXPECT_NEAR(m["memory_percent"].get<double>(),
                m["memory_bytes"].get<double>() / mem_total * 100, 1e-4);
    const double ts = Timestamp(tm[i]);
    EXPECT_NEAR(m["uptime_seconds"].get<double>(), ts - launched, 1.6);
    // aggregated over the retained history (intensive keeps 1000).
    const json& a = j["aggregated"];
    ASSERT_TRUE(a.is_object());
    EXPECT_TRUE(a["sample_count"].is_number_integer());
    EXPECT_GE(a["max_memory_usage"].get<double>(),
              a["avg_memory_usage"].get<double>());
    if (i > 0) {
      EXPECT_EQ(a["sample_count"].get<int>(),
                tm[i - 1].j["aggregated"]["sample_count"].get<int>() + 1);
      // About every second (the profile's interval; one pass may run late
      // on a loaded machine, the schedule stays on its grid).
      const double gap = ts - Timestamp(tm[i - 1]);
      EXPECT_GT(gap, 0.2);
      EXPECT_LT(gap, 1.8);
      // cpu_percent against the burner's CPU time read by the test.
      auto c0 = task_cpu.At(Timestamp(tm[i - 1]));
      auto c1 = task_cpu.At(ts);
      if (c0 && c1 && m.contains("cpu_percent")) {
        const double truth = (*c1 - *c0) / gap * 100;
        EXPECT_NEAR(m["cpu_percent"].get<double>(), truth, 20);
        cpu_err_sum += std::abs(m["cpu_percent"].get<double>() - truth);
        ++cpu_n;
        EXPECT_GE(a["max_cpu_usage"].get<double>(),
                  m["cpu_percent"].get<double>() - 1e-9);
      }
    }
  }
  const double mean_gap =
      (Timestamp(tm.back()) - Timestamp(tm.front())) / (tm.size() - 1);
  EXPECT_NEAR(mean_gap, 1.0, 0.1);
  ASSERT_GE(cpu_n, 3);
  EXPECT_LT(cpu_err_sum / cpu_n, 8);
  // The burner really burns (a busy 2-core machine still gives it a lot).
  EXPECT_GT(tm.back().j["metrics"]["cpu_percent"].get<double>(), 30);
  // RSS and descriptors against /proc read by the test.
  const json& last = tm.back().j["metrics"];
  EXPECT_NEAR(last["memory_bytes"].get<double>(),
              static_cast<double>(rss_truth), rss_truth * 0.05);
  EXPECT_GE(last["memory_bytes"].get<double>(), 64.0 * 1024 * 1024);
  EXPECT_EQ(last["file_descriptor_count"].get<size_t>(), fds_truth);

  // control/proplet/metrics: this process's own CPU and RSS, host CPU.
  auto pm = inbox.Of("metrics");
  ASSERT_GE(pm.size(), 4u);
  std::sort(pm.begin(), pm.end(), [](const Received& a, const Received& b) {
    return Timestamp(a) < Timestamp(b);
  });
  double prev_user = 0;
  double host_err_sum = 0;
  int host_n = 0;
  const SelfStats self_now = ReadSelfStats("/proc/self");
  for (size_t i = 0; i < pm.size(); ++i) {
    const json& j = pm[i].j;
    SCOPED_TRACE(pm[i].payload);
    EXPECT_EQ(Keys(j),
              (std::set<std::string>{"proplet_id", "namespace", "timestamp",
                                     "cpu_metrics", "memory_metrics"}));
    EXPECT_TRUE(IsRfc3339Micro(j["timestamp"]));
    EXPECT_EQ(
        Keys(j["cpu_metrics"]),
        (std::set<std::string>{"user_seconds", "system_seconds", "percent"}));
    std::set<std::string> mem_keys = {"rss_bytes"};
    if (self_now.container_usage_bytes) {
      mem_keys.insert("container_usage_bytes");
    }
    if (self_now.container_limit_bytes) {
      mem_keys.insert("container_limit_bytes");
    }
    EXPECT_EQ(Keys(j["memory_metrics"]), mem_keys);  // never heap_*
    const double user = j["cpu_metrics"]["user_seconds"].get<double>();
    EXPECT_GE(user, prev_user);
    prev_user = user;
    EXPECT_LE(user, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + 0.02);
    EXPECT_NEAR(j["memory_metrics"]["rss_bytes"].get<double>(),
                static_cast<double>(self_rss), self_rss * 0.2);
    const double pct = j["cpu_metrics"]["percent"].get<double>();
    EXPECT_GE(pct, 0);
    EXPECT_LE(pct, 100);
    if (i > 0) {
      const double t0 = Timestamp(pm[i - 1]), t1 = Timestamp(pm[i]);
      EXPECT_GT(t1 - t0, 0.2);
      EXPECT_LT(t1 - t0, 1.8);
      auto b0 = host_busy.At(t0), b1 = host_busy.At(t1);
      auto n0 = host_total.At(t0), n1 = host_total.At(t1);
      if (b0 && b1 && n0 && n1 && *n1 > *n0) {
        const double truth = (*b1 - *b0) / (*n1 - *n0) * 100;
        // Other processes make host CPU bursty: per message loosely, on
        // average tightly.
        EXPECT_NEAR(pct, truth, 30);
        host_err_sum += std::abs(pct - truth);
        ++host_n;
      }
    }
  }
  ASSERT_GE(host_n, 3);
  EXPECT_LT(host_err_sum / host_n, 10);
}

// `propmon-exporter run` with --config.file: results with error null for
// exit 0, "exited with status 3", "killed by signal 9 (Killed)"; each once.
TEST(MqttPublishTest, RunPublishesResultsOncePerTask) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscribe(mqtt_test::Options(broker.Url(), "sub-run"), &inbox);
  ASSERT_TRUE(sub);
  TempDir dir;
  const std::string cfg = dir.Write(
      "exporter.yaml", "proplet_id: run-node\nmqtt:\n  url: " + broker.Url() +
                           "\n  domain_id: dom-2\n  channel_id: chan-2\n");
  struct Run {
    std::string task_id;
    std::vector<std::string> cmd;
    int want_exit;
    json want_error;
  };
  const std::vector<Run> runs = {
      {"ok", {testutil::TestHelperBinary(), "exit", "0"}, 0, nullptr},
      {"bad",
       {testutil::TestHelperBinary(), "burn", "1.5", "exit", "3"},
       3,
       "exited with status 3"},
      {"killed",
       {"/bin/sh", "-c", "kill -9 $$"},
       137,
       "killed by signal 9 (Killed)"},
  };
  for (const Run& r : runs) {
    Subprocess p;
    std::vector<std::string> argv = {testutil::ExporterBinary(),
                                     "run",
                                     "--config.file",
                                     cfg,
                                     "--task-id",
                                     r.task_id,
                                     "--profile",
                                     "intensive",
                                     "--"};
    argv.insert(argv.end(), r.cmd.begin(), r.cmd.end());
    ASSERT_TRUE(p.Start(argv, dir.File(r.task_id + ".log")));
    auto st = p.Wait(seconds(30));
    ASSERT_TRUE(st.has_value());
    const int code = WIFEXITED(*st) ? WEXITSTATUS(*st) : 128 + WTERMSIG(*st);
    EXPECT_EQ(code, r.want_exit)
        << testutil::ReadFileOrEmpty(dir.File(r.task_id + ".log"));
  }
  // Each run drained before exiting; the subscriber gets them at once.
  auto results_of = [&](const std::string& id) {
    std::vector<Received> out;
    for (Received& r : inbox.Of("results")) {
      if (r.j.value("task_id", "") == id) out.push_back(std::move(r));
    }
    return out;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        return !results_of("ok").empty() && !results_of("bad").empty() &&
               !results_of("killed").empty();
      },
      seconds(10)));
  std::this_thread::sleep_for(milliseconds(300));
  for (const Run& r : runs) {
    auto got = results_of(r.task_id);
    ASSERT_EQ(got.size(), 1u) << r.task_id;
    EXPECT_EQ(got[0].topic, "m/dom-2/c/chan-2/control/proplet/results");
    EXPECT_EQ(got[0].j, json({{"task_id", r.task_id},
                              {"proplet_id", "run-node"},
                              {"results", ""},
                              {"error", r.want_error}}));
  }
  // One create per run (one connection each); the 1.5 s burn was sampled.
  EXPECT_EQ(inbox.Of("create").size(), runs.size());
  auto bad = inbox.TaskMetrics("bad");
  ASSERT_FALSE(bad.empty());
  EXPECT_EQ(bad[0].j["proplet_id"], "run-node");
}

// A task the exporter only observes: its end is noticed, but its exit
// status cannot be known, so no results message (neither an invented
// success nor an invented failure) is published.
TEST(MqttPublishTest, ObservedTaskEndPublishesNoResults) {
  Broker broker;
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscribe(mqtt_test::Options(broker.Url(), "sub-obs"), &inbox);
  ASSERT_TRUE(sub);
  TempDir dir;
  const std::string go = dir.File("go");
  // Exits with status 3 once the test creates `go`. Our child, but
  // registered as an observed (api) task, like any process the exporter
  // did not start.
  Subprocess p;
  ASSERT_TRUE(p.Start({"/bin/sh", "-c",
                       "while [ ! -e " + go +
                           " ]; do sleep 0.05; done; "
                           "exit 3"}));
  TaskMonitor::Options mo;
  mo.proplet_id = "node-o";
  TaskMonitor monitor(mo);
  auto pub = Publisher::Create(PubOptions(broker.Url(), "node-o"));
  ASSERT_TRUE(pub.ok());
  monitor.AddObserver(pub->get());
  ASSERT_TRUE((*pub)->Start().ok());
  ASSERT_TRUE(monitor.AddTask(Spec("observed", p.pid(), "intensive")).ok());
  monitor.Start();
  ASSERT_TRUE(WaitUntil([&] { return !inbox.TaskMetrics("observed").empty(); },
                        seconds(20)));
  dir.Write("go", "");
  ASSERT_TRUE(p.Wait(seconds(10)).has_value());  // reaped: gone from /proc
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto t = monitor.GetTask("observed");
        return t && t->state == TaskState::kEnded;
      },
      seconds(10)));
  // Messages arrive in order: an alive sent after the end was noticed
  // proves that anything published at the end has arrived.
  const size_t alives = inbox.Of("alive").size();
  ASSERT_TRUE(WaitUntil([&] { return inbox.Of("alive").size() > alives + 1; },
                        seconds(10)));
  monitor.Stop();
  (*pub)->Stop();
  EXPECT_TRUE(inbox.Of("results").empty());
}

// Broker down for 10 s during a 1 s-interval task: every sample taken
// during the outage arrives afterwards, in a continuous series, at QoS 1.
// The subscriber has a persistent session on a broker with persistence, so
// the broker queues for it whatever arrives before it is back.
TEST(MqttPublishTest, BrokerOutageLosesNoSamples) {
  Broker broker("", /*persistent=*/true);
  ASSERT_TRUE(broker.Start());
  Inbox inbox;
  auto sub = Subscribe(mqtt_test::Options(broker.Url(), "sub-outage"), &inbox);
  ASSERT_TRUE(sub);
  Subprocess task;
  ASSERT_TRUE(task.Start({testutil::TestHelperBinary(), "spin", "0.1"}));
  TaskMonitor::Options mo;
  mo.proplet_id = "node-out";
  TaskMonitor monitor(mo);
  PublisherOptions po = PubOptions(broker.Url(), "node-out");
  ASSERT_EQ(po.mqtt.qos, 1);
  ASSERT_FALSE(po.mqtt.clean_start);
  auto pub = Publisher::Create(po);
  ASSERT_TRUE(pub.ok());
  Publisher& publisher = **pub;
  monitor.AddObserver(&publisher);
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(monitor.AddTask(Spec("steady", task.pid(), "intensive")).ok());
  monitor.Start();
  ASSERT_TRUE(WaitUntil(
      [&] {
        MqttStats s = publisher.mqtt_stats();
        return inbox.TaskMetrics("steady").size() >= 2 && s.buffered == 0 &&
               s.inflight == 0;
      },
      seconds(20)));

  const double down_at = WallNow();
  broker.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !publisher.mqtt_stats().connected; },
                        seconds(10)));
  std::this_thread::sleep_for(seconds(10));
  const double up_at = WallNow();
  ASSERT_TRUE(broker.Start());
  // The exporter reconnects and flushes its buffer; then two more samples.
  ASSERT_TRUE(WaitUntil(
      [&] {
        MqttStats s = publisher.mqtt_stats();
        return s.connected && s.buffered == 0 && s.inflight == 0;
      },
      seconds(20)));
  std::this_thread::sleep_for(seconds(2));
  monitor.Stop();
  const long taken = monitor.GetTask("steady")->samples;
  publisher.Stop(seconds(5));
  const MqttStats stats = publisher.mqtt_stats();
  EXPECT_EQ(stats.dropped_total, 0u);
  EXPECT_EQ(stats.failed_total, 0u);
  EXPECT_GE(stats.reconnects_total, 1u);

  // Every sample taken arrives (duplicates allowed: at-least-once).
  std::set<double> ts;
  ASSERT_TRUE(WaitUntil(
      [&] {
        ts.clear();
        for (const Received& r : inbox.TaskMetrics("steady")) {
          ts.insert(Timestamp(r));
        }
        return static_cast<long>(ts.size()) >= taken;
      },
      seconds(20)))
      << ts.size() << " of " << taken;
  EXPECT_EQ(static_cast<long>(ts.size()), taken);
  std::vector<double> sorted(ts.begin(), ts.end());
  size_t during = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] > down_at && sorted[i] < up_at) ++during;
    if (i > 0) {
      EXPECT_LE(sorted[i] - sorted[i - 1], 1.5)
          << "gap before sample " << i << " of " << sorted.size();
    }
  }
  EXPECT_GE(during, 8u);  // 10 s at 1 s
  // A create per connection, none lost either (a create in flight when the
  // broker went down may arrive twice: at-least-once).
  EXPECT_GE(inbox.Of("create").size(), 1 + stats.reconnects_total);
}

// Password authentication over TLS (CA file made by the test with openssl).
TEST(MqttPublishTest, PublishesOverTlsWithPassword) {
  TempDir tmp;
  mqtt_test::Pki pki(tmp);
  ASSERT_TRUE(pki.ok);
  const std::string pwfile = tmp.File("passwd");
  ASSERT_EQ(std::system(("mosquitto_passwd -b -c " + pwfile +
                         " node-t s3cret >/dev/null 2>&1")
                            .c_str()),
            0);
  Broker broker(pki.Listener(false) + "allow_anonymous false\npassword_file " +
                pwfile + "\n");
  ASSERT_TRUE(broker.Start());
  MqttOptions so = mqtt_test::Options(broker.Url("ssl"), "sub-tls");
  so.ca_file = pki.d + "ca.crt";
  so.username = "node-t";
  so.password = "s3cret";
  Inbox inbox;
  auto sub = Subscribe(so, &inbox);
  ASSERT_TRUE(sub);
  PublisherOptions po = PubOptions(broker.Url("ssl"), "node-t");
  po.mqtt.ca_file = pki.d + "ca.crt";
  po.mqtt.username = "node-t";
  po.mqtt.password = "s3cret";
  po.privacy = true;
  auto pub = Publisher::Create(po);
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  ASSERT_TRUE((*pub)->Start().ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return !inbox.Of("create").empty() && !inbox.Of("alive").empty() &&
               !inbox.Of("metrics").empty();
      },
      seconds(20)));
  MetricsEndpoint m;
  m.Add(pub->get());
  auto metric = [&](const char* name) {
    return testutil::FindSample(testutil::ParseProm(m.Render()), name);
  };
  EXPECT_EQ(metric("propmon_exporter_mqtt_connected"), 1);
  // create, alive, metrics acknowledged (the PUBACKs may trail delivery).
  EXPECT_TRUE(WaitUntil(
      [&] {
        return metric("propmon_exporter_mqtt_published_total").value_or(0) >= 3;
      },
      seconds(10)));
  EXPECT_EQ(metric("propmon_exporter_mqtt_failed_total"), 0);
  EXPECT_EQ(metric("propmon_exporter_mqtt_dropped_total"), 0);
  (*pub)->Stop();
  // privacy: no hostname, no ip.
  const json md = inbox.Of("create").at(0).j.at("metadata");
  EXPECT_FALSE(md.contains("hostname"));
  EXPECT_FALSE(md.contains("ip"));
  EXPECT_EQ(md["os"], "linux");
}

// The daemon: a wrong password is a clear log line and
// propmon_exporter_mqtt_connected 0, not a crash; the right one publishes.
TEST(MqttPublishTest, DaemonWrongPasswordIsLoggedAndReportedNotFatal) {
  TempDir tmp;
  const std::string pwfile = tmp.File("passwd");
  ASSERT_EQ(std::system(("mosquitto_passwd -b -c " + pwfile +
                         " node-d s3cret >/dev/null 2>&1")
                            .c_str()),
            0);
  Broker broker("allow_anonymous false\npassword_file " + pwfile + "\n");
  ASSERT_TRUE(broker.Start());
  MqttOptions so = mqtt_test::Options(broker.Url(), "sub-daemon");
  so.username = "node-d";
  so.password = "s3cret";
  Inbox inbox;
  auto sub = Subscribe(so, &inbox);
  ASSERT_TRUE(sub);
  auto config = [&](const std::string& name, const std::string& password) {
    return tmp.Write(name, "proplet_id: " + name +
                               "\nmqtt:\n  url: " + broker.Url() +
                               "\n  domain_id: dom-3\n  channel_id: chan-3\n"
                               "  username: node-d\n  password: " +
                               password + "\n");
  };
  auto metric = [](int port, const char* name) {
    auto r = testutil::HttpGet(port, "/metrics");
    return testutil::FindSample(testutil::ParseProm(r.body), name);
  };

  const int bad_port = testutil::FreePort();
  Subprocess bad;
  ASSERT_TRUE(
      bad.Start({testutil::ExporterBinary(), "--config.file",
                 config("wrong", "not-the-password"), "--web.listen-address",
                 "127.0.0.1:" + std::to_string(bad_port)},
                tmp.File("wrong.log")));
  const int good_port = testutil::FreePort();
  Subprocess good;
  ASSERT_TRUE(good.Start(
      {testutil::ExporterBinary(), "--config.file", config("right", "s3cret"),
       "--web.listen-address", "127.0.0.1:" + std::to_string(good_port)},
      tmp.File("right.log")));

  ASSERT_TRUE(WaitUntil(
      [&] {
        return testutil::ReadFileOrEmpty(tmp.File("wrong.log"))
                   .find("broker refused") != std::string::npos;
      },
      seconds(20)))
      << testutil::ReadFileOrEmpty(tmp.File("wrong.log"));
  const std::string log = testutil::ReadFileOrEmpty(tmp.File("wrong.log"));
  EXPECT_TRUE(log.find("CONNACK return code 5 (not authorized)") !=
                  std::string::npos ||
              log.find("CONNACK return code 4 (bad user name or password)") !=
                  std::string::npos)
      << log;
  EXPECT_EQ(metric(bad_port, "propmon_exporter_mqtt_connected"), 0);
  EXPECT_EQ(metric(bad_port, "propmon_exporter_mqtt_published_total"), 0);
  EXPECT_TRUE(bad.running());

  ASSERT_TRUE(WaitUntil(
      [&] { return metric(good_port, "propmon_exporter_mqtt_connected") == 1; },
      seconds(20)));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const Received& r : inbox.Of("create")) {
          if (r.j.value("proplet_id", "") == "right") return true;
        }
        return false;
      },
      seconds(10)));
  for (const Received& r : inbox.All()) {
    EXPECT_NE(r.j.value("proplet_id", ""), "wrong") << r.payload;
  }
  EXPECT_TRUE(bad.running());
  bad.Signal(SIGTERM);
  good.Signal(SIGTERM);
  auto bs = bad.Wait(seconds(15));
  auto gs = good.Wait(seconds(15));
  ASSERT_TRUE(bs.has_value());
  ASSERT_TRUE(gs.has_value());
  EXPECT_TRUE(WIFEXITED(*bs) && WEXITSTATUS(*bs) == 0);
  EXPECT_TRUE(WIFEXITED(*gs) && WEXITSTATUS(*gs) == 0);
}

}  // namespace
}  // namespace propmon::exporter
