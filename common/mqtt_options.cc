#include "common/mqtt_options.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "common/mqtt_topic.h"

namespace propmon {
namespace {

bool ParsePort(std::string_view text, int* port) {
  if (text.empty()) return false;
  int value = 0;
  auto [ptr, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < 1 || value > 65535) return false;
  *port = value;
  return true;
}

// Splits scheme://host[:port] and returns the normalized tcp:// or ssl://
// form, or an error message.
StatusOr<std::string> NormalizeUrl(std::string_view url) {
  auto bad = [&](const std::string& why) -> Status {
    return InvalidArgument("mqtt url \"" + std::string(url) + "\": " + why);
  };
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return bad(
        "expected scheme://host[:port] with scheme tcp, mqtt, ssl or mqtts");
  }
  std::string_view scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  bool tls;
  if (scheme == "tcp" || scheme == "mqtt") {
    tls = false;
  } else if (scheme == "ssl" || scheme == "mqtts") {
    tls = true;
  } else {
    return bad("unsupported scheme \"" + std::string(scheme) +
               "\" (use tcp, mqtt, ssl or mqtts)");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos ||
      rest.find('?') != std::string_view::npos ||
      rest.find('@') != std::string_view::npos) {
    return bad("only host[:port] may follow the scheme");
  }
  std::string_view host;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in host");
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
    if (host.size() <= 2) return bad("empty host");
  } else {
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
      if (host.find(':') != std::string_view::npos) {
        return bad("IPv6 hosts must be written in brackets, e.g. [::1]");
      }
    } else {
      host = rest;
    }
    if (host.empty()) return bad("empty host");
  }
  int port = tls ? 8883 : 1883;
  if (!port_text.empty() && !ParsePort(port_text, &port)) {
    return bad("port \"" + std::string(port_text) + "\" is not in 1..65535");
  }
  return std::string(tls ? "ssl://" : "tcp://") + std::string(host) + ":" +
         std::to_string(port);
}

Status CheckReadable(const char* field, const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    return InvalidArgument(std::string("mqtt ") + field + " \"" + path +
                           "\": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string RandomClientId() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint32_t> dist;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "propmon-%08x", dist(rd));
  return buf;
}

}  // namespace

bool MqttUrlUsesTls(std::string_view url) {
  return url.substr(0, 6) == "ssl://" || url.substr(0, 8) == "mqtts://";
}

StatusOr<MqttOptions> ValidateMqttOptions(const MqttOptions& options) {
  MqttOptions out = options;
  StatusOr<std::string> url = NormalizeUrl(options.url);
  if (!url.ok()) return url.status();
  out.url = *url;
  const bool tls = MqttUrlUsesTls(out.url);
  if (options.qos < 0 || options.qos > 2) {
    return InvalidArgument("mqtt qos " + std::to_string(options.qos) +
                           " is outside 0..2");
  }
  if (options.mqtt_version != 3 && options.mqtt_version != 5) {
    return InvalidArgument("mqtt mqtt_version " +
                           std::to_string(options.mqtt_version) +
                           " is not supported (use 3 for MQTT 3.1.1 or 5)");
  }
  if (options.keepalive_seconds < 0 || options.keepalive_seconds > 65535) {
    return InvalidArgument("mqtt keepalive_seconds " +
                           std::to_string(options.keepalive_seconds) +
                           " is outside 0..65535");
  }
  if (options.connect_timeout_seconds < 1 ||
      options.connect_timeout_seconds > 300) {
    return InvalidArgument("mqtt connect_timeout_seconds " +
                           std::to_string(options.connect_timeout_seconds) +
                           " is outside 1..300");
  }
  if (options.max_buffered_bytes < 1024) {
    return InvalidArgument("mqtt max_buffered_bytes must be at least 1024");
  }
  if (options.max_buffered_messages < 1) {
    return InvalidArgument("mqtt max_buffered_messages must be at least 1");
  }
  if (options.max_inflight < 1 || options.max_inflight > 65535) {
    return InvalidArgument("mqtt max_inflight " +
                           std::to_string(options.max_inflight) +
                           " is outside 1..65535");
  }
  if (!(options.reconnect_min_seconds > 0) ||
      !std::isfinite(options.reconnect_min_seconds)) {
    return InvalidArgument("mqtt reconnect_min_seconds must be > 0");
  }
  if (!(options.reconnect_max_seconds >= options.reconnect_min_seconds) ||
      !std::isfinite(options.reconnect_max_seconds)) {
    return InvalidArgument(
        "mqtt reconnect_max_seconds must be >= reconnect_min_seconds");
  }
  if (!options.password.empty() && options.username.empty()) {
    return InvalidArgument("mqtt password given without username");
  }
  if (options.client_id.size() > 65535) {
    return InvalidArgument("mqtt client_id is longer than 65535 bytes");
  }
  if (options.client_id.empty()) {
    if (!options.clean_start) {
      return InvalidArgument(
          "mqtt client_id is required with clean_start=false (the broker "
          "keys the persistent session by it)");
    }
    out.client_id = RandomClientId();
  }
  if (!options.cert_file.empty() && options.key_file.empty()) {
    return InvalidArgument("mqtt cert_file given without key_file");
  }
  if (!options.key_file.empty() && options.cert_file.empty()) {
    return InvalidArgument("mqtt key_file given without cert_file");
  }
  if (!tls && (!options.ca_file.empty() || !options.cert_file.empty())) {
    return InvalidArgument(
        "mqtt ca_file/cert_file are set but the url is not ssl:// or "
        "mqtts://");
  }
  if (tls && options.ca_file.empty() && !options.insecure) {
    return InvalidArgument(
        "mqtt url uses TLS but neither ca_file nor insecure is set (for a "
        "publicly signed broker use ca_file "
        "/etc/ssl/certs/ca-certificates.crt)");
  }
  for (auto [field, path] :
       {std::pair<const char*, const std::string*>{"ca_file", &options.ca_file},
        {"cert_file", &options.cert_file},
        {"key_file", &options.key_file}}) {
    if (path->empty()) continue;
    if (Status s = CheckReadable(field, *path); !s.ok()) return s;
  }
  if (options.will) {
    if (Status s = ValidateMqttTopicName(options.will->topic); !s.ok()) {
      return InvalidArgument("mqtt will topic: " + s.message());
    }
    if (options.will->qos < 0 || options.will->qos > 2) {
      return InvalidArgument("mqtt will qos " +
                             std::to_string(options.will->qos) +
                             " is outside 0..2");
    }
  }
  return out;
}

}  // namespace propmon
