#include "exporter/profile.h"

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace propmon::exporter {
namespace {

MonitoringProfile Make(const char* name, int interval, bool disk, bool net,
                       bool threads, bool fds, bool export_mqtt, bool history,
                       int history_size) {
  MonitoringProfile p;
  p.name = name;
  p.interval_seconds = interval;
  p.collect_disk_io = disk;
  p.collect_network_io = net;
  p.collect_threads = threads;
  p.collect_file_descriptors = fds;
  p.export_to_mqtt = export_mqtt;
  p.retain_history = history;
  p.history_size = history_size;
  return p;
}

const std::vector<MonitoringProfile>& Presets() {
  static const auto* presets = new std::vector<MonitoringProfile>{
      Make("standard", 10, true, true, true, true, true, true, 100),
      Make("minimal", 60, false, false, false, false, false, false, 0),
      Make("intensive", 1, true, true, true, true, true, true, 1000),
      Make("batch", 30, true, false, false, false, true, true, 200),
      Make("realtime_api", 5, false, true, true, true, true, true, 500),
      Make("daemon", 120, true, true, true, true, true, true, 500),
  };
  return *presets;
}

}  // namespace

const std::vector<std::string>& PresetNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& p : Presets()) v->push_back(p.name);
    return v;
  }();
  return *names;
}

StatusOr<MonitoringProfile> PresetProfile(std::string_view name) {
  for (const auto& p : Presets()) {
    if (p.name == name) return p;
  }
  std::string known;
  for (const auto& n : PresetNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown monitoring profile \"" + std::string(name) +
                         "\" (known: " + known + ")");
}

MonitoringProfile DefaultProfile(bool daemon) {
  return *PresetProfile(daemon ? "daemon" : "standard");
}

Status ValidateProfile(const MonitoringProfile& p, std::string_view prefix) {
  std::string pre = std::string(prefix) + ".";
  if (p.interval_seconds < kMinIntervalSeconds ||
      p.interval_seconds > kMaxIntervalSeconds) {
    return InvalidArgument(
        pre + "interval: must be an integer between 1 and 120 (seconds), got " +
        std::to_string(p.interval_seconds));
  }
  if (p.history_size < 0 || p.history_size > kMaxHistorySize) {
    return InvalidArgument(pre + "history_size: must be between 0 and " +
                           std::to_string(kMaxHistorySize) + ", got " +
                           std::to_string(p.history_size));
  }
  return Status::Ok();
}

StatusOr<MonitoringProfile> ProfileFromJson(const nlohmann::json& j,
                                            std::string_view prefix) {
  std::string pre = std::string(prefix);
  if (j.is_string()) {
    auto p = PresetProfile(j.get<std::string>());
    if (!p.ok()) return InvalidArgument(pre + ": " + p.status().message());
    return p;
  }
  if (!j.is_object()) {
    return InvalidArgument(pre + ": must be an object or a preset name");
  }
  MonitoringProfile p = DefaultProfile(false);
  p.name = "custom";
  struct BoolField {
    const char* key;
    bool MonitoringProfile::*member;
  };
  static const BoolField kBools[] = {
      {"enabled", &MonitoringProfile::enabled},
      {"collect_cpu", &MonitoringProfile::collect_cpu},
      {"collect_memory", &MonitoringProfile::collect_memory},
      {"collect_disk_io", &MonitoringProfile::collect_disk_io},
      {"collect_network_io", &MonitoringProfile::collect_network_io},
      {"collect_threads", &MonitoringProfile::collect_threads},
      {"collect_file_descriptors",
       &MonitoringProfile::collect_file_descriptors},
      {"export_to_mqtt", &MonitoringProfile::export_to_mqtt},
      {"retain_history", &MonitoringProfile::retain_history},
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    std::string field = pre + "." + key;
    bool handled = false;
    for (const auto& b : kBools) {
      if (key == b.key) {
        if (!v.is_boolean()) {
          return InvalidArgument(field + ": must be true or false");
        }
        p.*(b.member) = v.get<bool>();
        handled = true;
      }
    }
    if (handled) continue;
    if (key == "interval" || key == "history_size") {
      if (!v.is_number()) {
        return InvalidArgument(field + ": must be a number");
      }
      double d = v.get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 1e9) {
        return InvalidArgument(field + ": must be a whole number");
      }
      (key == "interval" ? p.interval_seconds : p.history_size) =
          static_cast<int>(d);
      continue;
    }
    if (key == "name") {
      if (!v.is_string()) return InvalidArgument(field + ": must be a string");
      continue;  // Informational; the stored name stays "custom".
    }
    return InvalidArgument(field + ": unknown field");
  }
  Status s = ValidateProfile(p, prefix);
  if (!s.ok()) return s;
  return p;
}

nlohmann::json ProfileToJson(const MonitoringProfile& p) {
  return nlohmann::json{
      {"name", p.name},
      {"enabled", p.enabled},
      {"interval", p.interval_seconds},
      {"collect_cpu", p.collect_cpu},
      {"collect_memory", p.collect_memory},
      {"collect_disk_io", p.collect_disk_io},
      {"collect_network_io", p.collect_network_io},
      {"collect_threads", p.collect_threads},
      {"collect_file_descriptors", p.collect_file_descriptors},
      {"export_to_mqtt", p.export_to_mqtt},
      {"retain_history", p.retain_history},
      {"history_size", p.history_size},
  };
}

StatusOr<MonitoringGlobals> GlobalsFromEnv(const char* (*lookup)(const char*)) {
  auto get = [&](const char* name) -> const char* {
    return lookup ? lookup(name) : std::getenv(name);
  };
  MonitoringGlobals g;
  if (const char* v = get("PROPLET_ENABLE_MONITORING"); v && *v) {
    std::string s = v;
    if (s == "true" || s == "1" || s == "yes") {
      g.enable_monitoring = true;
    } else if (s == "false" || s == "0" || s == "no") {
      g.enable_monitoring = false;
    } else {
      return InvalidArgument(
          "PROPLET_ENABLE_MONITORING: want true or false, got \"" + s + "\"");
    }
  }
  if (const char* v = get("PROPLET_METRICS_INTERVAL"); v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > 3600) {
      return InvalidArgument(
          "PROPLET_METRICS_INTERVAL: want whole seconds between 1 and 3600, "
          "got \"" +
          std::string(v) + "\"");
    }
    g.metrics_interval_seconds = static_cast<int>(n);
  }
  return g;
}

}  // namespace propmon::exporter
