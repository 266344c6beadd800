#include "common/mqtt_topic.h"

#include <string>

namespace propmon {

Status ValidateMqttTopicName(std::string_view topic) {
  if (topic.empty()) return InvalidArgument("topic is empty");
  if (topic.size() > 65535) {
    return InvalidArgument("topic is longer than 65535 bytes");
  }
  if (topic.find_first_of(std::string_view("+#\0", 3)) !=
      std::string_view::npos) {
    return InvalidArgument("topic \"" + std::string(topic) +
                           "\" contains a wildcard or NUL");
  }
  return Status::Ok();
}

namespace {
Status ValidatePlainFilter(std::string_view full, std::string_view filter) {
  auto bad = [&](const char* why) {
    return InvalidArgument("topic filter \"" + std::string(full) +
                           "\": " + why);
  };
  if (filter.empty()) return bad("empty");
  if (filter.find('\0') != std::string_view::npos) return bad("contains NUL");
  size_t start = 0;
  while (true) {
    size_t end = filter.find('/', start);
    std::string_view level = filter.substr(start, end == std::string_view::npos
                                                      ? std::string_view::npos
                                                      : end - start);
    if (level.find('#') != std::string_view::npos) {
      if (level != "#") return bad("'#' must be a whole level");
      if (end != std::string_view::npos) return bad("'#' must be last");
    }
    if (level.find('+') != std::string_view::npos && level != "+") {
      return bad("'+' must be a whole level");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return Status::Ok();
}
}  // namespace

Status ValidateMqttTopicFilter(std::string_view filter) {
  if (filter.size() > 65535) {
    return InvalidArgument("topic filter is longer than 65535 bytes");
  }
  if (filter.substr(0, 7) == "$share/") {
    std::string_view rest = filter.substr(7);
    size_t slash = rest.find('/');
    std::string_view group = rest.substr(0, slash);
    if (slash == std::string_view::npos || group.empty() ||
        group.find_first_of("+#") != std::string_view::npos) {
      return InvalidArgument("topic filter \"" + std::string(filter) +
                             "\": $share/ needs a group name without "
                             "wildcards, then a filter");
    }
    return ValidatePlainFilter(filter, rest.substr(slash + 1));
  }
  return ValidatePlainFilter(filter, filter);
}

std::string_view StripMqttSharePrefix(std::string_view filter) {
  if (filter.substr(0, 7) != "$share/") return filter;
  size_t slash = filter.find('/', 7);
  if (slash == std::string_view::npos) return filter;
  return filter.substr(slash + 1);
}

bool MqttTopicMatches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  size_t f = 0;
  size_t t = 0;
  while (true) {
    size_t f_end = filter.find('/', f);
    std::string_view f_level = filter.substr(f, f_end == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : f_end - f);
    if (f_level == "#") return true;  // Matches the rest, and the parent.
    if (t > topic.size()) {
      return false;  // Topic exhausted, filter continues (not with "#").
    }
    size_t t_end = topic.find('/', t);
    std::string_view t_level =
        topic.substr(t, t_end == std::string_view::npos ? std::string_view::npos
                                                        : t_end - t);
    if (f_level != "+" && f_level != t_level) return false;
    const bool f_last = f_end == std::string_view::npos;
    const bool t_last = t_end == std::string_view::npos;
    if (f_last && t_last) return true;
    if (f_last) return false;
    if (t_last) {
      // "a/#" matches "a": the filter may end in exactly one more "#".
      return filter.substr(f_end + 1) == "#";
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

}  // namespace propmon
