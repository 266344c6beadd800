#include "exporter/app.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/flags.h"
#include "common/label.h"
#include "common/log.h"
#include "common/malloc_arenas.h"
#include "exporter/api.h"
#include "exporter/collectors/host_collectors.h"
#include "exporter/config.h"
#include "exporter/discovery.h"
#include "exporter/procfs.h"
#include "exporter/publisher.h"

#ifndef PROPMON_VERSION
#define PROPMON_VERSION "0.0.0"
#endif

namespace propmon::exporter {

const char* Version() { return PROPMON_VERSION; }

namespace {

const char kLanding[] = R"(<!DOCTYPE html>
<html><head><title>propmon-exporter</title></head>
<body><h1>propmon-exporter</h1>
<p>Per-task metrics under Propeller monitoring profiles.</p>
<ul>
<li><a href="/metrics">/metrics</a> Prometheus metrics</li>
<li><a href="/health">/health</a> status JSON</li>
<li><a href="/-/healthy">/-/healthy</a>, <a href="/-/ready">/-/ready</a></li>
<li><a href="/api/v1/tasks">/api/v1/tasks</a> tasks (JSON)</li>
<li><a href="/api/v1/system">/api/v1/system</a> system information (JSON)</li>
</ul></body></html>
)";

void InstallLogLevel(const FlagSet& flags, Status* status) {
  LogLevel level;
  if (!ParseLogLevel(flags.Get("log.level"), &level)) {
    *status =
        InvalidArgument("--log.level: want debug, info, warn or error, got \"" +
                        flags.Get("log.level") + "\"");
    return;
  }
  SetLogLevel(level);
}

std::string HostnameOrEmpty() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return {};
  return buf;
}

}  // namespace

ExporterHttp::ExporterHttp(TaskMonitor* monitor, MetricsEndpoint* metrics)
    : monitor_(monitor), metrics_(metrics) {
  metrics_->Add(&http_metrics_);
  server_.Handle("GET", "/", [](const HttpRequest&) {
    HttpResponse r = HttpResponse::Text(200, kLanding);
    r.content_type = "text/html; charset=utf-8";
    return r;
  });
  server_.Handle("GET", "/metrics", [this](const HttpRequest& req) {
    return metrics_->Serve(req);
  });
  server_.Handle("GET", "/-/healthy", [](const HttpRequest&) {
    return HttpResponse::Text(200, "OK\n");
  });
  server_.Handle("GET", "/-/ready", [this](const HttpRequest&) {
    return ready_ ? HttpResponse::Text(200, "OK\n")
                  : HttpResponse::Text(503, "not ready\n");
  });
  server_.Handle("GET", "/health", [this](const HttpRequest&) {
    nlohmann::json j = {{"status", "ok"},
                        {"running_tasks", monitor_->RunningTasks()}};
    return HttpResponse::Json(200, j.dump());
  });
}

Status ExporterHttp::Start(const std::string& listen_address,
                           const std::string& web_config_file) {
  HttpServer::Options o;
  o.listen_address = listen_address;
  o.web_config_file = web_config_file;
  return server_.Start(o);
}

std::vector<prometheus::MetricFamily> BuildInfoCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  FamilyBuilder b(
      "propmon_exporter_build_info",
      "A metric with a constant 1 labelled by the exporter's version.",
      prometheus::MetricType::Gauge);
  b.Add({{"version", Version()}}, 1);
  b.MoveTo(&out);
  return out;
}

namespace {

void DeclareCommonFlags(FlagSet* f) {
  f->String("web.listen-address", kDefaultListenAddress,
            "Address to serve /metrics and the API on.");
  f->String("web.config.file", "",
            "Web config (exporter-toolkit format): TLS, basic auth, "
            "headers, rate limit (docs/security.md).");
  f->String("path.procfs", "/proc", "procfs mount point.");
  f->String("path.sysfs", "/sys", "sysfs mount point.");
  f->String("path.rootfs", "/",
            "Root of the host file system (for filesystem statistics and "
            "/etc/os-release when running in a container).");
  f->String("log.level", "info", "One of debug, info, warn, error.");
  f->String("proplet-id", "",
            "Proplet id label (default: PROPLET_CLIENT_ID, then the "
            "hostname; with privacy: true, a hash of the machine id).");
  f->Bool("version", "Print the version and exit.");
  f->Bool("help", "Show this help.");
}

// With `privacy`, the fallback is a non-identifying id, not the hostname.
std::string ResolvePropletId(const FlagSet& f, bool privacy) {
  if (!f.Get("proplet-id").empty()) return f.Get("proplet-id");
  for (const char* env : {"PROPLET_CLIENT_ID", "PROPLET_ENTITY_ID"}) {
    const char* v = getenv(env);
    if (v && *v) return v;
  }
  if (privacy) {
    return AnonymousPropletId(f.Get("path.rootfs"), f.Get("path.procfs"));
  }
  return HostnameOrEmpty();
}

// The proplet id: the config's, unless --proplet-id is given or the config
// has none (then ResolvePropletId). It labels every series and keys the
// proplet at the bridge, so an invalid one is refused at start
// (common/label.h), never repaired.
StatusOr<std::string> PropletId(const FlagSet& f, const std::string& configured,
                                bool privacy) {
  std::string id = f.IsSet("proplet-id") || configured.empty()
                       ? ResolvePropletId(f, privacy)
                       : configured;
  if (auto why = label::Check(id)) {
    return InvalidArgument(
        "proplet_id \"" + label::Repaired(id) + "\" " +
        label::ReasonText(*why) +
        " (set it with --proplet-id, PROPLET_CLIENT_ID or proplet_id in the "
        "config: 1 to 256 bytes of UTF-8 without control characters)");
  }
  return id;
}

}  // namespace

int ExporterMain(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "run") {
    return RunMain(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  FlagSet flags;
  DeclareCommonFlags(&flags);
  flags.String("config.file", "", "YAML configuration file.");
  flags.Bool("web.enable-write-api",
             "Accept task API writes (POST, DELETE) from every client, not "
             "only loopback and web-config-authenticated ones.");
  Status st = flags.Parse(args);
  if (st.ok()) InstallLogLevel(flags, &st);
  if (!st.ok()) {
    std::cerr << "propmon-exporter: " << st.message() << "\n";
    return 2;
  }
  if (flags.GetBool("version")) {
    std::cout << "propmon-exporter " << Version() << "\n";
    return 0;
  }
  if (flags.GetBool("help")) {
    std::cout << "Usage: propmon-exporter [flags]\n"
                 "       propmon-exporter run [flags] -- CMD ARGS...\n\n"
              << flags.Usage();
    return 0;
  }
  if (!flags.positional().empty()) {
    std::cerr << "propmon-exporter: unexpected argument \""
              << flags.positional()[0] << "\" (subcommands: run)\n";
    return 2;
  }
  // The config file and the PROPLET_* environment (docs/configuration.md).
  auto config = LoadConfig(flags.Get("config.file"));
  if (!config.ok()) {
    std::cerr << "propmon-exporter: " << config.status().message() << "\n";
    return 2;
  }
  sigset_t sigs = BlockDaemonSignals({SIGCHLD});

  TaskMonitor::Options mo;
  mo.procfs = flags.Get("path.procfs");
  auto proplet_id = PropletId(flags, config->proplet_id, config->privacy);
  if (!proplet_id.ok()) {
    std::cerr << "propmon-exporter: " << proplet_id.status().message() << "\n";
    return 2;
  }
  mo.proplet_id = *proplet_id;
  mo.globals = config->Globals();
  mo.max_tasks = config->max_tasks;
  TaskMonitor monitor(mo);
  // Host collectors under node_exporter's names (docs/host-metrics.md).
  HostCollectorOptions host_options;
  host_options.paths.procfs = mo.procfs;
  host_options.paths.sysfs = flags.Get("path.sysfs");
  host_options.paths.rootfs = flags.Get("path.rootfs");
  host_options.privacy = config->privacy;
  auto host = MakeHostCollectors(host_options, config->collectors.enabled,
                                 config->collectors.disabled);
  if (!host.ok()) {
    std::cerr << "propmon-exporter: collectors: " << host.status().message()
              << "\n";
    return 2;
  }
  if (std::shared_ptr<GpuCollector> gpu = (*host)->gpu()) {
    monitor.SetGpuMemorySource([gpu] { return gpu->KnownProcessMemory(); });
  }
  BuildInfoCollector build_info;
  MetricsEndpoint metrics;
  metrics.Add(&build_info);
  metrics.Add(&monitor);
  metrics.Add(host->get());
  ExporterHttp http(&monitor, &metrics);
  TaskApiOptions api_options;
  api_options.default_profile = config->default_profile;
  api_options.enable_write_api =
      flags.GetBool("web.enable-write-api") || config->enable_write_api;
  std::shared_ptr<const ApiRefusals> api_refusals =
      RegisterTaskApi(http.server(), &monitor, std::move(api_options));
  metrics.Add(api_refusals.get());
  SysInfoOptions sysinfo;
  sysinfo.procfs = mo.procfs;
  sysinfo.sysfs = flags.Get("path.sysfs");
  sysinfo.rootfs = flags.Get("path.rootfs");
  sysinfo.privacy = config->privacy;
  sysinfo.proplet_id = mo.proplet_id;
  RegisterSystemApi(http.server(), sysinfo);
  // MQTT publishing (docs/mqtt.md) when mqtt.url / PROPLET_MQTT_ADDRESS is set.
  std::unique_ptr<Publisher> publisher;
  if (config->mqtt.enabled()) {
    auto p = Publisher::Create(
        MakePublisherOptions(*config, mo.proplet_id, mo.procfs));
    if (!p.ok()) {
      std::cerr << "propmon-exporter: " << p.status().message() << "\n";
      return 2;
    }
    publisher = std::move(p).value();
    monitor.AddObserver(publisher.get());
    metrics.Add(publisher.get());
  }
  std::unique_ptr<Discovery> discovery;
  if (!config->tasks.empty()) {
    discovery = std::make_unique<Discovery>(
        std::move(config->tasks), &monitor,
        Discovery::Options{mo.procfs, config->discovery_interval_seconds});
    metrics.Add(discovery.get());
  }
  std::string listen =
      flags.IsSet("web.listen-address") || config->listen_address.empty()
          ? flags.Get("web.listen-address")
          : config->listen_address;
  st = http.Start(listen, flags.Get("web.config.file"));
  if (!st.ok()) {
    PM_LOG(kError) << st.message();
    return 1;
  }
  if (publisher) (void)publisher->Start();
  monitor.Start();
  if (discovery) discovery->Start();
  http.SetReady(true);
  PM_LOG(kInfo) << "propmon-exporter " << Version() << " listening on "
                << listen << " proplet_id=" << mo.proplet_id;
  while (true) {
    const int sig = WaitForSignal(sigs);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig == SIGHUP) (void)http.ReloadWebConfig();  // logs its own errors
    if (sig == SIGCHLD) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
  }
  PM_LOG(kInfo) << "shutting down";
  http.SetReady(false);
  // CivetWeb's mg_stop can take up to 2 s (its listener polls in 2 s
  // quanta): it runs beside the rest. Up to 3 s go to publishing what the
  // buffer holds (and to reconnecting for it), so the daemon exits within
  // 5 s of SIGTERM; what is still unsent is logged and counted as dropped.
  std::thread http_stop([&http] { http.Stop(); });
  if (discovery) discovery->Stop();
  monitor.Stop();
  if (publisher) publisher->Stop(std::chrono::seconds(3));
  http_stop.join();
  return 0;
}

namespace {

// Tracks peaks for the run summary, over the monitor's own samples of the
// task (its profile's interval, and one more when the command exits). A
// figure no sample had stays unknown.
class PeakObserver : public TaskObserver {
 public:
  void OnSample(const TaskInfo&, const TaskSample& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    Max(s.memory_bytes, &peak_rss);
    Max(s.threads, &peak_threads);
    Max(s.open_fds, &peak_fds);
    // Counters as of the newest sample that has them (the exit sample has
    // no gauges, and may lack what the process took with it).
    if (s.cpu_seconds) cpu_seconds = s.cpu_seconds;
    if (s.disk_read_bytes) disk_read_bytes = s.disk_read_bytes;
    if (s.disk_write_bytes) disk_write_bytes = s.disk_write_bytes;
  }
  void OnEnded(const TaskInfo&) override {}
  template <typename T>
  static void Max(const std::optional<T>& v, std::optional<T>* peak) {
    if (v) *peak = std::max(peak->value_or(*v), *v);
  }
  std::mutex mu_;
  std::optional<uint64_t> peak_rss;
  std::optional<int64_t> peak_threads;
  std::optional<int64_t> peak_fds;
  std::optional<double> cpu_seconds;
  std::optional<uint64_t> disk_read_bytes;
  std::optional<uint64_t> disk_write_bytes;
};

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[64];
  snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

}  // namespace

int RunMain(const std::vector<std::string>& args) {
  FlagSet flags;
  DeclareCommonFlags(&flags);
  flags.String("web.listen-address", "",
               "Serve /metrics here while the command runs (off when empty).");
  flags.String("task-id", "", "Task id (default: run-<pid>).");
  flags.String("task-name", "", "Task name (default: the command).");
  flags.String("profile", "", "Monitoring profile preset name.");
  flags.String("profile-file", "",
               "JSON file with a custom monitoring profile.");
  flags.Bool("daemon", "Mark the task as a daemon (default profile: daemon).");
  flags.String("config.file", "",
               "YAML configuration file (its mqtt: section publishes the "
               "task's metrics and result).");
  Status st = flags.Parse(args);
  if (st.ok()) InstallLogLevel(flags, &st);
  if (st.ok() && flags.positional().empty()) {
    st = InvalidArgument("usage: propmon-exporter run [flags] -- CMD ARGS...");
  }
  if (st.ok() && flags.IsSet("profile") && flags.IsSet("profile-file")) {
    st = InvalidArgument("--profile and --profile-file are exclusive");
  }
  if (!st.ok()) {
    std::cerr << "propmon-exporter run: " << st.message() << "\n";
    return 2;
  }
  MonitoringProfile profile = DefaultProfile(flags.GetBool("daemon"));
  if (flags.IsSet("profile")) {
    auto p = PresetProfile(flags.Get("profile"));
    if (!p.ok()) {
      std::cerr << "propmon-exporter run: --profile: " << p.status().message()
                << "\n";
      return 2;
    }
    profile = *p;
  } else if (flags.IsSet("profile-file")) {
    std::string text;
    FILE* f = fopen(flags.Get("profile-file").c_str(), "rb");
    if (f == nullptr) {
      std::cerr << "propmon-exporter run: --profile-file: cannot open "
                << flags.Get("profile-file") << ": " << strerror(errno) << "\n";
      return 2;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    fclose(f);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) {
      std::cerr << "propmon-exporter run: " << flags.Get("profile-file")
                << ": not valid JSON\n";
      return 2;
    }
    auto p = ProfileFromJson(j, flags.Get("profile-file"));
    if (!p.ok()) {
      std::cerr << "propmon-exporter run: " << p.status().message() << "\n";
      return 2;
    }
    profile = *p;
  }
  auto config = LoadConfig(flags.Get("config.file"));
  if (!config.ok()) {
    std::cerr << "propmon-exporter run: " << config.status().message() << "\n";
    return 2;
  }

  sigset_t sigs = BlockDaemonSignals({SIGCHLD});
  std::vector<std::string> cmd = flags.positional();
  double t0 = SystemClock::Get()->Monotonic();
  pid_t child = fork();
  if (child < 0) {
    std::cerr << "propmon-exporter run: fork: " << strerror(errno) << "\n";
    return 1;
  }
  if (child == 0) {
    pthread_sigmask(SIG_UNBLOCK, &sigs, nullptr);
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fprintf(stderr, "propmon-exporter run: cannot execute %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
  }

  std::string task_id = flags.Get("task-id");
  if (task_id.empty()) task_id = "run-" + std::to_string(child);
  TaskMonitor::Options mo;
  mo.procfs = flags.Get("path.procfs");
  auto proplet_id = PropletId(flags, config->proplet_id, config->privacy);
  if (!proplet_id.ok()) {
    std::cerr << "propmon-exporter run: " << proplet_id.status().message()
              << "\n";
    return 2;
  }
  mo.proplet_id = *proplet_id;
  mo.globals = config->Globals();
  TaskMonitor monitor(mo);
  std::unique_ptr<Publisher> publisher;
  if (config->mqtt.enabled()) {
    PublisherOptions po =
        MakePublisherOptions(*config, mo.proplet_id, mo.procfs);
    // A client id of its own, so that a `run` next to the daemon (same
    // config) does not take over the daemon's MQTT session; a clean session,
    // since it drains before it exits.
    po.mqtt.client_id += "-run-" + std::to_string(getpid());
    po.mqtt.clean_start = true;
    auto p = Publisher::Create(std::move(po));
    if (p.ok()) {
      publisher = std::move(p).value();
      monitor.AddObserver(publisher.get());
      (void)publisher->Start();
    } else {
      PM_LOG(kError) << "mqtt: " << p.status().message();
    }
  }
  PeakObserver peaks;
  monitor.AddObserver(&peaks);
  TaskSpec spec;
  spec.id = task_id;
  spec.name = flags.Get("task-name").empty() ? cmd[0] : flags.Get("task-name");
  spec.daemon = flags.GetBool("daemon");
  spec.profile = profile;
  spec.pid = child;
  spec.source = "run";
  Status added = monitor.AddTask(spec);
  if (!added.ok())
    PM_LOG(kWarn) << "monitoring " << task_id << ": " << added.message();

  BuildInfoCollector build_info;
  MetricsEndpoint metrics;
  metrics.Add(&build_info);
  metrics.Add(&monitor);
  if (publisher) metrics.Add(publisher.get());
  std::unique_ptr<ExporterHttp> http;
  if (!flags.Get("web.listen-address").empty()) {
    http = std::make_unique<ExporterHttp>(&monitor, &metrics);
    Status hs = http->Start(flags.Get("web.listen-address"),
                            flags.Get("web.config.file"));
    if (!hs.ok()) {
      PM_LOG(kError) << hs.message();
      kill(child, SIGTERM);
    } else {
      http->SetReady(true);
    }
  }
  monitor.Start();

  int wait_status = 0;
  timespec tick{0, 500 * 1000 * 1000};
  while (true) {
    siginfo_t info{};
    int sig = sigtimedwait(&sigs, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      kill(child, sig);
      continue;
    }
    if (sig == SIGHUP && http) (void)http->ReloadWebConfig();
    // Wait without reaping, so the last sample still sees the process.
    siginfo_t w{};
    if (waitid(P_PID, child, &w, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        w.si_pid == child) {
      // The last sample, while the exited process can still be read.
      monitor.RunOnce(true);
      waitpid(child, &wait_status, 0);
      break;
    }
  }
  double wall = SystemClock::Get()->Monotonic() - t0;
  monitor.SetWaitStatus(task_id, wait_status);
  monitor.RunOnce(true);
  monitor.Stop();
  if (publisher) {
    publisher->TaskExited(task_id, wait_status);
    publisher->Stop(std::chrono::seconds(5));
  }
  if (http) http->Stop();

  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  double ru_user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  double ru_sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                    : 128 + WTERMSIG(wait_status);
  std::lock_guard<std::mutex> lock(peaks.mu_);
  auto bytes = [](const std::optional<uint64_t>& v) {
    return v ? HumanBytes(static_cast<double>(*v)) : std::string("unknown");
  };
  auto count = [](const std::optional<int64_t>& v) {
    return v ? std::to_string(*v) : std::string("unknown");
  };
  const double cpu = std::max(ru_user + ru_sys, peaks.cpu_seconds.value_or(0));
  // The kernel's peak of the largest reaped process, or the samples' peak.
  const std::optional<uint64_t> peak_rss = std::max<uint64_t>(
      peaks.peak_rss.value_or(0), static_cast<uint64_t>(ru.ru_maxrss) * 1024);
  char line[256];
  std::string out = "propmon: task " + task_id + " ";
  out += DescribeWaitStatus(wait_status) + "\n";
  snprintf(line, sizeof(line), "  wall time      %.3f s\n", wall);
  out += line;
  snprintf(line, sizeof(line),
           "  cpu time       %.3f s (user %.3f s, system %.3f s)\n", cpu,
           ru_user, ru_sys);
  out += line;
  out += "  peak rss       " + bytes(peak_rss) + "\n";
  out += "  disk read      " + bytes(peaks.disk_read_bytes) + "\n";
  out += "  disk written   " + bytes(peaks.disk_write_bytes) + "\n";
  out += "  peak threads   " + count(peaks.peak_threads) + "\n";
  out += "  peak open fds  " + count(peaks.peak_fds) + "\n";
  std::cerr << out;
  return code;
}

}  // namespace propmon::exporter
