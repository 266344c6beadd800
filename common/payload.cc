#include "common/payload.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/json_reader.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace propmon::payload {

// ===========================================================================
// Names.
// ===========================================================================

const char* KindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kTaskMetrics:
      return "task_metrics";
    case MessageKind::kLegacyTaskMetrics:
      return "legacy_task_metrics";
    case MessageKind::kPropletMetrics:
      return "proplet_metrics";
    case MessageKind::kAlive:
      return "alive";
    case MessageKind::kCreate:
      return "create";
    case MessageKind::kResults:
      return "results";
  }
  return "unknown";
}

std::string_view TopicSuffix(MessageKind kind) {
  switch (kind) {
    case MessageKind::kTaskMetrics:
      return "control/proplet/task_metrics";
    case MessageKind::kLegacyTaskMetrics:
      return "metrics/proplet";
    case MessageKind::kPropletMetrics:
      return "control/proplet/metrics";
    case MessageKind::kAlive:
      return "control/proplet/alive";
    case MessageKind::kCreate:
      return "control/proplet/create";
    case MessageKind::kResults:
      return "control/proplet/results";
  }
  return "";
}

std::string MakeTopic(std::string_view domain, std::string_view channel,
                      MessageKind kind) {
  std::string_view suffix = TopicSuffix(kind);
  std::string t;
  t.reserve(6 + domain.size() + channel.size() + suffix.size());
  t.append("m/").append(domain).append("/c/").append(channel).append("/");
  t.append(suffix);
  return t;
}

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kInvalidJson:
      return "invalid_json";
    case Reason::kNotObject:
      return "not_object";
    case Reason::kMissingField:
      return "missing_field";
    case Reason::kWrongType:
      return "wrong_type";
    case Reason::kTooLarge:
      return "too_large";
    case Reason::kLabelInvalid:
      return "label_invalid";
    case Reason::kUnknownTopic:
      return "unknown_topic";
  }
  return "unknown";
}

const char* TimestampSourceName(TimestampSource source) {
  switch (source) {
    case TimestampSource::kRfc3339:
      return "rfc3339";
    case TimestampSource::kSystemTime:
      return "system_time";
    case TimestampSource::kDeviceTime:
      return "device_time";
    case TimestampSource::kMissing:
      return "missing";
    case TimestampSource::kInvalid:
      return "invalid";
  }
  return "unknown";
}

const char* ProblemName(Problem problem) {
  switch (problem) {
    case Problem::kWrongType:
      return "wrong_type";
    case Problem::kNegative:
      return "negative";
    case Problem::kOutOfRange:
      return "out_of_range";
    case Problem::kDuplicate:
      return "duplicate";
    case Problem::kInvalid:
      return "invalid";
  }
  return "unknown";
}

std::string FieldProblem::Path() const {
  std::string p;
  if (object != nullptr && object[0] != '\0') {
    p.append(object).append(".");
  }
  p.append(field != nullptr ? field : "");
  return p;
}

bool FieldProblem::operator==(const FieldProblem& o) const {
  return problem == o.problem && std::strcmp(object, o.object) == 0 &&
         std::strcmp(field, o.field) == 0;
}

// ===========================================================================
// UTF-8 and labels.
// ===========================================================================

int JsonDepth(std::string_view text) {
  int depth = 0;
  int max = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

// ===========================================================================
// Topics.
// ===========================================================================

Result<Topic> ParseTopic(std::string_view topic) {
  auto unknown = [&] {
    return Error{Reason::kUnknownTopic,
                 "topic is not a Propeller proplet topic: " +
                     std::string(topic.substr(0, 200))};
  };
  if (topic.size() < 2 || topic.substr(0, 2) != "m/") return unknown();
  std::string_view rest = topic.substr(2);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return unknown();
  std::string_view domain = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  if (rest.size() < 2 || rest.substr(0, 2) != "c/") return unknown();
  rest = rest.substr(2);
  slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return unknown();
  std::string_view channel = rest.substr(0, slash);
  std::string_view suffix = rest.substr(slash + 1);
  for (MessageKind kind : kAllMessageKinds) {
    if (suffix == TopicSuffix(kind)) {
      for (auto [what, value] :
           {std::pair{"domain", domain}, std::pair{"channel", channel}}) {
        if (auto bad = label::Check(value)) {
          Error e{Reason::kLabelInvalid,
                  std::string("topic ") + what + " " + label::ReasonText(*bad)};
          e.label = bad;
          e.in_topic = true;
          return e;
        }
      }
      return Topic{domain, channel, kind};
    }
  }
  return unknown();
}

bool IsValidJson(std::string_view text, int max_depth) {
  json_internal::Reader r(text, max_depth);
  if (r.AtEnd()) return false;
  if (!r.SkipValue(0)) return false;
  return r.AtEnd();
}

const MetadataValue* Create::Find(std::string_view key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace propmon::payload
