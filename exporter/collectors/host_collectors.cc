#include "exporter/collectors/host_collectors.h"

#include <algorithm>
#include <exception>
#include <set>

#include "common/log.h"
#include "common/metrics.h"
#include "exporter/collectors/cpu.h"
#include "exporter/collectors/hwmon.h"
#include "exporter/collectors/loadavg.h"
#include "exporter/collectors/meminfo.h"
#include "exporter/collectors/os.h"
#include "exporter/collectors/processes.h"
#include "exporter/collectors/stat.h"
#include "exporter/collectors/uname.h"
#include "exporter/collectors/vmstat.h"

namespace propmon::exporter {

const std::vector<std::string>& HostCollectorNames() {
  static const std::vector<std::string> kNames = {
      "cpu", "diskstats", "filesystem", "hwmon", "loadavg", "meminfo", "netdev",
      "os",  "processes", "stat",       "uname", "vmstat",  "gpu"};
  return kNames;
}

HostCollectors::HostCollectors(
    std::vector<std::unique_ptr<Collector>> collectors,
    std::shared_ptr<GpuCollector> gpu, const Clock* clock)
    : collectors_(std::move(collectors)), gpu_(std::move(gpu)), clock_(clock) {}

std::vector<std::string> HostCollectors::Names() const {
  std::vector<std::string> names;
  for (const auto& c : collectors_) names.emplace_back(c->Name());
  if (gpu_) names.emplace_back(gpu_->Name());
  return names;
}

std::map<pid_t, uint64_t> HostCollectors::GpuProcessMemory() const {
  return gpu_ ? gpu_->ProcessMemory() : std::map<pid_t, uint64_t>{};
}

std::vector<prometheus::MetricFamily> HostCollectors::Collect() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<prometheus::MetricFamily> all;
  FamilyBuilder success("propmon_exporter_collector_success",
                        "Whether a host collector succeeded in this scrape "
                        "(1) or failed and its output was dropped (0).",
                        prometheus::MetricType::Gauge);
  FamilyBuilder duration("propmon_exporter_collector_duration_seconds",
                         "How long a host collector took in this scrape.",
                         prometheus::MetricType::Gauge);
  std::vector<Collector*> run;
  for (const auto& c : collectors_) run.push_back(c.get());
  if (gpu_) run.push_back(gpu_.get());
  std::vector<prometheus::MetricFamily> part;
  for (Collector* c : run) {
    part.clear();
    const double start = clock_->Monotonic();
    Status s;
    try {
      s = c->Collect(&part);
    } catch (const std::exception& e) {
      s = Internal(std::string("exception: ") + e.what());
    } catch (...) {
      s = Internal("unknown exception");
    }
    const double took = clock_->Monotonic() - start;
    const std::string name(c->Name());
    if (s.ok()) {
      for (auto& f : part) {
        if (!f.metric.empty()) all.push_back(std::move(f));
      }
    } else {
      PM_LOG_EVERY_30S(kWarn)
          << "collector " << name << " failed: " << s.message();
    }
    success.Add({{"collector", name}}, s.ok() ? 1 : 0);
    duration.Add({{"collector", name}}, took);
  }
  duration.MoveTo(&all);
  success.MoveTo(&all);
  return all;
}

StatusOr<std::unique_ptr<HostCollectors>> MakeHostCollectors(
    const HostPaths& paths, const std::vector<std::string>& enabled_names,
    const std::vector<std::string>& disabled_names) {
  HostCollectorOptions o;
  o.paths = paths;
  return MakeHostCollectors(o, enabled_names, disabled_names);
}

StatusOr<std::unique_ptr<HostCollectors>> MakeHostCollectors(
    const HostCollectorOptions& options,
    const std::vector<std::string>& enabled_names,
    const std::vector<std::string>& disabled_names) {
  const auto& known = HostCollectorNames();
  std::string known_list;
  for (const auto& n : known) {
    known_list += (known_list.empty() ? "" : ", ") + n;
  }
  auto check = [&](const std::vector<std::string>& names,
                   const char* what) -> Status {
    for (const auto& n : names) {
      if (std::find(known.begin(), known.end(), n) == known.end()) {
        return InvalidArgument(std::string(what) + " host collector \"" + n +
                               "\" is unknown (known: " + known_list + ")");
      }
    }
    return Status::Ok();
  };
  if (Status s = check(enabled_names, "enabled"); !s.ok()) return s;
  if (Status s = check(disabled_names, "disabled"); !s.ok()) return s;
  std::set<std::string> disabled(disabled_names.begin(), disabled_names.end());
  for (const auto& n : enabled_names) {
    if (disabled.count(n)) {
      return InvalidArgument("host collector \"" + n +
                             "\" is both enabled and disabled");
    }
  }
  std::set<std::string> want;
  if (enabled_names.empty()) {
    want.insert(known.begin(), known.end());
  } else {
    want.insert(enabled_names.begin(), enabled_names.end());
  }
  for (const auto& n : disabled) want.erase(n);

  auto disk_ex = NameFilter::Exclude("diskstats device exclude",
                                     options.diskstats_device_exclude);
  if (!disk_ex.ok()) return disk_ex.status();
  auto mp_ex = NameFilter::Exclude("filesystem mount point exclude",
                                   options.filesystem_mount_points_exclude);
  if (!mp_ex.ok()) return mp_ex.status();
  auto fs_ex = NameFilter::Exclude("filesystem fs type exclude",
                                   options.filesystem_fs_types_exclude);
  if (!fs_ex.ok()) return fs_ex.status();
  auto net_ex = NameFilter::Exclude("netdev device exclude",
                                    options.netdev_device_exclude);
  if (!net_ex.ok()) return net_ex.status();

  const HostPaths& p = options.paths;
  std::vector<std::unique_ptr<Collector>> list;
  std::shared_ptr<GpuCollector> gpu;
  for (const auto& n : known) {
    if (!want.count(n)) continue;
    if (n == "cpu") {
      list.push_back(std::make_unique<CpuCollector>(p));
    } else if (n == "diskstats") {
      list.push_back(std::make_unique<DiskstatsCollector>(p, *disk_ex));
    } else if (n == "filesystem") {
      FilesystemCollector::Options fo;
      fo.mount_points_exclude = *mp_ex;
      fo.fs_types_exclude = *fs_ex;
      fo.statfs_timeout = options.statfs_timeout;
      fo.statfs = options.statfs;
      list.push_back(std::make_unique<FilesystemCollector>(p, std::move(fo)));
    } else if (n == "hwmon") {
      list.push_back(std::make_unique<HwmonCollector>(p));
    } else if (n == "loadavg") {
      list.push_back(std::make_unique<LoadavgCollector>(p));
    } else if (n == "meminfo") {
      list.push_back(std::make_unique<MeminfoCollector>(p));
    } else if (n == "netdev") {
      list.push_back(std::make_unique<NetdevCollector>(p, *net_ex));
    } else if (n == "os") {
      list.push_back(std::make_unique<OsCollector>(p));
    } else if (n == "processes") {
      list.push_back(std::make_unique<ProcessesCollector>(p));
    } else if (n == "stat") {
      list.push_back(std::make_unique<StatCollector>(p));
    } else if (n == "uname") {
      list.push_back(std::make_unique<UnameCollector>(p, options.privacy));
    } else if (n == "vmstat") {
      list.push_back(std::make_unique<VmstatCollector>(p));
    } else if (n == "gpu") {
      GpuCollector::Options go = options.gpu;
      go.privacy = go.privacy || options.privacy;
      gpu = std::make_shared<GpuCollector>(std::move(go));
    }
  }
  return std::make_unique<HostCollectors>(std::move(list), std::move(gpu));
}

}  // namespace propmon::exporter
