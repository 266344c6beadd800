// Monitoring profiles (SPEC §1): the six presets, custom profiles parsed from
// the task JSON, validation, and the PROPLET_* globals.
#ifndef PROPMON_EXPORTER_PROFILE_H_
#define PROPMON_EXPORTER_PROFILE_H_

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace propmon::exporter {

struct MonitoringProfile {
  std::string name = "standard";  // Preset name, or "custom".
  bool enabled = true;
  int interval_seconds = 10;
  bool collect_cpu = true;
  bool collect_memory = true;
  bool collect_disk_io = true;
  bool collect_network_io = true;
  bool collect_threads = true;
  bool collect_file_descriptors = true;
  bool export_to_mqtt = true;
  bool retain_history = true;
  int history_size = 100;

  // History is kept (and `aggregated` sent) only when this is true.
  bool KeepsHistory() const { return retain_history && history_size > 0; }
  bool operator==(const MonitoringProfile&) const = default;
};

inline constexpr int kMinIntervalSeconds = 1;
inline constexpr int kMaxIntervalSeconds = 120;
inline constexpr int kMaxHistorySize = 100000;

// Names of the presets: standard, minimal, intensive, batch, realtime_api,
// daemon.
const std::vector<std::string>& PresetNames();

// Returns the preset, or InvalidArgument naming the unknown preset.
StatusOr<MonitoringProfile> PresetProfile(std::string_view name);

// The profile a task gets when none is given: `daemon` for daemon tasks,
// `standard` otherwise.
MonitoringProfile DefaultProfile(bool daemon);

// Parses a custom profile object. A missing field takes the standard value;
// a wrong type, an interval outside 1..120 s, a negative or huge history, or
// an unknown field is an InvalidArgument whose message names the field, e.g.
// "monitoring_profile.interval: must be an integer between 1 and 120".
// A string value is taken as a preset name.
StatusOr<MonitoringProfile> ProfileFromJson(
    const nlohmann::json& j,
    std::string_view field_prefix = "monitoring_profile");

// Checks ranges; message names the field.
Status ValidateProfile(const MonitoringProfile& p,
                       std::string_view field_prefix = "monitoring_profile");

// The profile as the seed's JSON object (plus "name").
nlohmann::json ProfileToJson(const MonitoringProfile& p);

// PROPLET_ENABLE_MONITORING (default true) and PROPLET_METRICS_INTERVAL
// (default 10 s, node-level publish interval).
struct MonitoringGlobals {
  bool enable_monitoring = true;
  int metrics_interval_seconds = 10;
};
// Reads the globals from the environment via `getenv`-like lookup. Invalid
// values are an InvalidArgument naming the variable.
StatusOr<MonitoringGlobals> GlobalsFromEnv(
    const char* (*lookup)(const char*) = nullptr);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_PROFILE_H_
