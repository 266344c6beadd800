// The bridge's configuration: defaults, the YAML file (--config.file) and
// the command-line flags that override it.
//
// File layout (docs/bridge.md lists every key):
//   mqtt:      url, client_id, username, password, password_file, ca_file,
//              cert_file, key_file, insecure, qos, clean_start,
//              session_expiry, keepalive, protocol_version, shared_group,
//              topics
//   web:       listen_address, max_stream_clients, config_file
//   limits:    max_payload_bytes, series_limit, queue_size, history_per_id,
//              history_memory_bytes, expiry, expiry_intervals
//   propeller: enabled, alive_timeout, finished_grace
//   mappings:  a list of configurable mappings (MappingSpec), each with
//              name, topics, topic_regex, ... and a list of metrics
// Unknown keys are errors. Top-level keys are dispatched through one table.
//
// mqtt2prometheus config files are accepted unchanged: a file with a
// top-level `metrics:` key, or whose `mqtt:` section has one of
// mqtt2prometheus' keys (server, user, topic_path, device_id_regex, ...), is
// parsed with the mqtt2prometheus key table instead and becomes one mapping
// named "mqtt2prometheus" with the Propeller mapping off
// (docs/migrating-from-mqtt2prometheus.md).
//
// Errors name the place: "FILE:LINE:COLUMN: message" (1-based).
//
// Thread-safety: plain functions and values.
#ifndef PROPMON_BRIDGE_CONFIG_H_
#define PROPMON_BRIDGE_CONFIG_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/mapping_spec.h"
#include "bridge/propeller_mapping.h"
#include "common/flags.h"
#include "common/mqtt_client.h"
#include "common/status.h"
#include "common/units.h"

namespace propmon::bridge {

inline constexpr char kDefaultListenAddress[] = ":9641";

struct BridgeConfig {
  // MQTT connection. protocol_version 0 = automatic: 5 with a shared group,
  // else 3 (MQTT 3.1.1).
  MqttOptions mqtt;
  int protocol_version = 0;
  std::string shared_group;  // "" = no shared subscription
  std::vector<std::string> topics = PropellerTopicFilters();

  std::string listen_address = kDefaultListenAddress;
  std::size_t max_stream_clients = 8;
  // web.config_file / --web.config.file: TLS, basic auth, headers, rate
  // limit (common/web_config.h); "" = plain HTTP.
  std::string web_config_file;

  std::size_t max_payload_bytes = 64 * 1024;
  std::size_t series_limit = 200000;
  std::size_t queue_size = 100000;
  std::size_t history_per_id = 1000;
  std::size_t history_memory_bytes = std::size_t{256} << 20;

  bool propeller_enabled = true;
  PropellerOptions propeller;

  // Configurable mappings (`mappings:`, or the one built from an
  // mqtt2prometheus file).
  std::vector<MappingSpec> mappings;
  bool mqtt2prometheus = false;  // the file was an mqtt2prometheus config
  // Startup notices (ignored keys and why); the daemon logs each.
  std::vector<std::string> notices;

  // Test hook (--debug.worker-delay): the worker sleeps this long per
  // message, to prove overload handling. Never set in production.
  double debug_worker_delay_seconds = 0;

  BridgeConfig();
  // The subscription filters: `topics` when the Propeller mapping is
  // enabled, then every mapping's topics; duplicates dropped (first kept),
  // each with the $share/GROUP/ prefix when shared_group is set.
  std::vector<std::string> SubscriptionFilters() const;
  // The MQTT options as used: the protocol version chosen, and with a
  // persistent session and no client id, DefaultClientId(listen_address)
  // (a clean session when there is none, i.e. port 0).
  MqttOptions EffectiveMqttOptions() const;
};

// Looks up an environment variable: its value, or nullopt when unset.
using EnvLookup =
    std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
std::optional<std::string> ProcessEnv(const std::string& name);

// Parses YAML text; `filename` is used in error messages. Values not in
// the text keep `base`'s (a `mappings:` list replaces base's mappings).
// mqtt2prometheus files read MQTT2PROM_MQTT_USER and
// MQTT2PROM_MQTT_PASSWORD through `env`, which override the file when set
// and non-empty.
StatusOr<BridgeConfig> ParseConfig(std::string_view yaml,
                                   const std::string& filename,
                                   const BridgeConfig& base,
                                   const EnvLookup& env);
// The same with the process environment.
StatusOr<BridgeConfig> ParseConfig(std::string_view yaml,
                                   const std::string& filename,
                                   const BridgeConfig& base = BridgeConfig());
// Reads and parses a file.
StatusOr<BridgeConfig> LoadConfigFile(
    const std::string& path, const BridgeConfig& base = BridgeConfig());

// "propmon-bridge-HOST-PORT" from the host name and the listen address's
// port; "" when the port is 0 or missing.
std::string DefaultClientId(const std::string& listen_address);

// Declares the bridge's flags on `flags`.
void DeclareFlags(FlagSet* flags);
// Builds the configuration: defaults, then --config.file, then flags that
// were given explicitly. Validates the result.
StatusOr<BridgeConfig> ConfigFromFlags(const FlagSet& flags);
// Checks values that depend on each other (also: mapping names are unique,
// and there is something to subscribe to); InvalidArgument names the key.
Status ValidateConfig(const BridgeConfig& config);

// common/units.h: one reader of durations and sizes for every config file.
using propmon::ParseBytes;
using propmon::ParseDuration;

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_CONFIG_H_
