// MqttOptions: what an MqttClient connects with (broker URL, identity,
// session, TLS, QoS, buffer bounds, will), and its validation. Pure; the
// daemons' config readers fill it, MqttClient::Create() takes it.
#ifndef PROPMON_COMMON_MQTT_OPTIONS_H_
#define PROPMON_COMMON_MQTT_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace propmon {

// Last-will message the broker publishes if the connection dies without a
// clean disconnect. Use a topic of our own, never a Propeller topic.
struct MqttWill {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = false;
};

struct MqttOptions {
  // tcp://host[:port], mqtt://host[:port] (plain, default port 1883) or
  // ssl://host[:port], mqtts://host[:port] (TLS, default port 8883). IPv6
  // hosts in brackets: tcp://[::1]:1883.
  std::string url = "tcp://127.0.0.1:1883";
  // Must be set (and unique per broker) when clean_start is false: the broker
  // keys the persistent session by it. With clean_start true an empty id is
  // replaced by a random "propmon-XXXXXXXX".
  std::string client_id;
  std::string username;
  std::string password;  // Requires username (MQTT 3.1.1 forbids it alone).
  // TLS: ca_file verifies the broker (PEM). cert_file and key_file (PEM, both
  // or neither) present a client certificate. An ssl:// URL needs ca_file or
  // insecure; for a publicly signed broker point ca_file at
  // /etc/ssl/certs/ca-certificates.crt.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Skips verification of the broker's certificate and host name. Explicit
  // switch for test brokers; never the default.
  bool insecure = false;
  int keepalive_seconds = 30;  // 0..65535; 0 disables keepalive.
  // false = persistent session: the broker keeps subscriptions and queues
  // QoS>0 messages while we are away (MQTT 5: for session_expiry_seconds).
  bool clean_start = false;
  int qos = 1;           // Default QoS for Publish(topic, payload), 0..2.
  int mqtt_version = 3;  // 3 = MQTT 3.1.1, 5 = MQTT 5.
  std::size_t max_buffered_messages = 10000;
  // The buffer's byte cap (topics and payloads): whichever cap is reached
  // first drops the oldest messages.
  std::size_t max_buffered_bytes = 16 << 20;
  double reconnect_min_seconds = 1;
  double reconnect_max_seconds = 30;
  int connect_timeout_seconds = 10;
  // MQTT 5 only, with clean_start false: how long the broker keeps our
  // session after we disconnect.
  std::uint32_t session_expiry_seconds = 3600;
  // Messages handed to Paho and not yet acknowledged, at most. Keep it at
  // or below the broker's per-client limit (mosquitto: max_inflight_messages,
  // default 20): under MQTT 3.1.1 a broker over its limit cannot say so, and
  // mosquitto 2.0 then drops the message while acknowledging it. MQTT 5
  // brokers announce their limit (Receive Maximum) and Paho keeps to it.
  int max_inflight = 16;
  std::optional<MqttWill> will;
};

// Checks `options` and returns a normalized copy (url rewritten to
// tcp://host:port or ssl://host:port, client id filled in when allowed), or
// InvalidArgument whose message names the field and the problem.
[[nodiscard]] StatusOr<MqttOptions> ValidateMqttOptions(
    const MqttOptions& options);

// True if options.url (validated or not) selects TLS.
bool MqttUrlUsesTls(std::string_view url);

}  // namespace propmon

#endif  // PROPMON_COMMON_MQTT_OPTIONS_H_
