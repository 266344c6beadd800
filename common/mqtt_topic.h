// MQTT topic names and filters: validation and matching (MQTT 3.1.1 and 5
// rules, $share/GROUP/ prefixes). Pure functions, thread-safe; no client is
// needed (the bridge's mappings and config use them too).
#ifndef PROPMON_COMMON_MQTT_TOPIC_H_
#define PROPMON_COMMON_MQTT_TOPIC_H_

#include <string_view>

#include "common/status.h"

namespace propmon {

// Returns InvalidArgument unless `topic` is a valid topic name for PUBLISH
// (non-empty, at most 65535 bytes, no wildcards, no NUL).
Status ValidateMqttTopicName(std::string_view topic);
// Returns InvalidArgument unless `filter` is a valid subscription filter
// ('+' and '#' only as whole levels, '#' only last; a $share/GROUP/ prefix
// needs a non-empty group without wildcards and a valid filter after it).
Status ValidateMqttTopicFilter(std::string_view filter);
// Returns the filter without a "$share/GROUP/" prefix (the part that topics
// are matched against); other filters are returned as is.
std::string_view StripMqttSharePrefix(std::string_view filter);
// True if `topic` matches `filter` (MQTT rules: '+' one level, '#' the rest
// including the parent level; wildcards at the start never match topics that
// begin with '$'). `filter` must not carry a $share prefix.
bool MqttTopicMatches(std::string_view filter, std::string_view topic);

}  // namespace propmon

#endif  // PROPMON_COMMON_MQTT_TOPIC_H_
