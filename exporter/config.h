// The exporter's configuration: the YAML file (--config.file), the Propeller
// environment variables, and their precedence. docs/configuration.md lists
// every key.
//
// Precedence, highest first: command-line flags (where one exists, and only
// when given explicitly), PROPLET_* environment variables, the config file,
// built-in defaults. The exporter runs without a file.
//
// Errors: LoadConfig() returns InvalidArgument with a message of the form
// "FILE:LINE:COLUMN: KEY: MESSAGE" (1-based line and column, KEY a dotted
// path such as "tasks[1].profile.interval" or "mqtt.qos") for anything wrong
// in the file: YAML syntax, unknown keys (at every level), duplicate keys,
// wrong types, out-of-range values, invalid regexes and templates, bad
// profiles. Problems with an environment variable name the variable.
//
// Thread-safety: plain values and pure functions (the file and environment
// are read once by LoadConfig).
#ifndef PROPMON_EXPORTER_CONFIG_H_
#define PROPMON_EXPORTER_CONFIG_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "exporter/discovery.h"
#include "exporter/profile.h"

namespace propmon::exporter {

// The `mqtt:` section with the Propeller variables applied. Parsed and
// validated here; the publisher consumes it. Publishing is enabled when
// `url` is non-empty.
struct MqttConfig {
  std::string url;  // tcp://host:port or ssl://host:port; "" = no MQTT.
  std::string client_id;
  std::string username;
  std::string password;
  std::string ca_file;    // TLS: CA bundle (ssl:// only).
  std::string cert_file;  // TLS client certificate (needs key_file).
  std::string key_file;
  bool insecure = false;  // TLS without verifying the broker's certificate.
  int qos = 1;            // 0, 1 or 2.
  int keepalive_seconds = 30;
  bool clean_start = false;  // Keep the broker session (no loss on reconnect).
  std::string domain_id;
  std::string channel_id;
  size_t max_buffered_messages = 10000;  // Unsent messages kept offline.
  size_t max_buffered_bytes = 16 << 20;  // ... and their bytes, at most.
  int liveliness_interval_seconds = 10;
  int metrics_interval_seconds = 10;

  bool enabled() const { return !url.empty(); }
};

// Host collectors named in `collectors:`; the host code validates the names.
struct CollectorsConfig {
  std::vector<std::string> enabled;
  std::vector<std::string> disabled;
};

struct Config {
  std::string file;        // The file loaded; "" when none.
  std::string proplet_id;  // "" = not set (flag, then hostname decide).
  // Omit the hostname, IP and MAC addresses everywhere (/metrics, the API,
  // MQTT) and default the proplet id to a non-identifying one.
  bool privacy = false;
  bool enable_monitoring = true;  // PROPLET_ENABLE_MONITORING.
  // The profile of tasks (config or API) that name none; unset = `daemon`
  // for daemon tasks, `standard` otherwise.
  std::optional<MonitoringProfile> default_profile;
  std::string listen_address;  // web.listen_address; "" = not set.
  // web.enable_write_api: the task API's writes from every client, not
  // only loopback and authenticated ones (--web.enable-write-api also).
  bool enable_write_api = false;
  // Running tasks at most (API, config discovery); 1..1000000.
  size_t max_tasks = 4096;
  // Seconds between discovery passes; 0 = automatic (Discovery::AutoInterval).
  double discovery_interval_seconds = 0;
  std::vector<TaskRule> tasks;
  CollectorsConfig collectors;
  MqttConfig mqtt;
  // Where each key was set: dotted key -> "FILE:LINE:COLUMN", or the
  // environment variable's name. Used to place later errors.
  std::map<std::string, std::string> origins;

  // The TaskMonitor globals (enable_monitoring, metrics interval).
  MonitoringGlobals Globals() const;
  // The profile for a task that names none.
  MonitoringProfile ProfileFor(bool daemon) const;
};

// Looks an environment variable up; nullptr when unset. Tests pass a fake.
using EnvLookup = const char* (*)(const char*);

// Parses YAML text. `file` names the source in errors; relative pidfile
// paths are resolved against `base_dir` (the file's directory). Does not
// read the environment. Does not check cross-field rules that the
// environment may satisfy (see FinalizeConfig).
StatusOr<Config> ParseConfig(std::string_view yaml, const std::string& file,
                             const std::string& base_dir);

// Applies the PROPLET_* variables over *config (environment wins):
//   PROPLET_DOMAIN_ID, else PROPLET_TENANT_ID  -> mqtt.domain_id
//   PROPLET_CHANNEL_ID                          -> mqtt.channel_id
//   PROPLET_CLIENT_ID, else PROPLET_ENTITY_ID   -> mqtt.client_id,
//                                                 mqtt.username, proplet_id
//   PROPLET_CLIENT_KEY, else PROPLET_API_KEY    -> mqtt.password
//   PROPLET_MQTT_ADDRESS                        -> mqtt.url
//   PROPLET_LIVELINESS_INTERVAL (seconds)       ->
//   mqtt.liveliness_interval_seconds PROPLET_METRICS_INTERVAL (seconds) ->
//   mqtt.metrics_interval_seconds PROPLET_ENABLE_MONITORING (true/false) ->
//   enable_monitoring PROPLET_MQTT_QOS (0..2)                     -> mqtt.qos
// Empty variables count as unset. InvalidArgument naming the variable.
Status ApplyPropletEnv(Config* config, EnvLookup lookup = nullptr);

// Cross-field checks after the environment is applied: mqtt.url's scheme,
// domain and channel ids required with a url, TLS files only with ssl://,
// cert_file and key_file together.
Status FinalizeConfig(const Config& config);

// Reads `path` (none when empty), applies the environment, finalizes.
StatusOr<Config> LoadConfig(const std::string& path,
                            EnvLookup lookup = nullptr);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_CONFIG_H_
