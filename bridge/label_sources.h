// The sources of propmon_bridge_label_values_total (common/label.h): where
// a label value the bridge repaired or refused came from.
#ifndef PROPMON_BRIDGE_LABEL_SOURCES_H_
#define PROPMON_BRIDGE_LABEL_SOURCES_H_

#include <cstddef>
#include <vector>

#include "common/label.h"

namespace propmon::bridge {

enum LabelSource : std::size_t {
  // Topic levels: the Propeller domain and channel (refused), a configured
  // mapping's topic groups and topic_label (repaired).
  kLabelTopic,
  // Fields of a Propeller payload: task_id and proplet_id (refused), the
  // namespace and the create metadata of proplet_info (repaired).
  kLabelPayload,
  // Values a configured mapping takes from a payload: JSON label values and
  // fan-out keys (repaired).
  kLabelMapping,
};

// The sources in LabelSource order, each with the reasons it can meet
// (those series exist from the start). An empty topic level is no
// Propeller topic (unknown_topic) and an empty descriptive value is left
// empty; the JSON parser of configured mappings refuses invalid UTF-8.
inline std::vector<label::Counts::Source> BridgeLabelSources() {
  using R = label::Reason;
  return {
      {"topic",
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong},
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong}},
      {"payload",
       {R::kEmpty, R::kInvalidUtf8, R::kControlChar, R::kTooLong},
       {R::kInvalidUtf8, R::kControlChar, R::kTooLong}},
      {"mapping", {}, {R::kControlChar, R::kTooLong}},
  };
}

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_LABEL_SOURCES_H_
