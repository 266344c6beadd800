#include "bridge/check.h"

#include <iostream>
#include <iterator>
#include <memory>

#include "bridge/device_mapping.h"
#include "bridge/propeller_mapping.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/mqtt_topic.h"
#include "common/payload.h"

namespace propmon::bridge {
namespace {

bool PropellerMatches(const BridgeConfig& config, std::string_view topic) {
  for (const auto& f : config.topics) {
    if (MqttTopicMatches(f, topic)) return true;
  }
  return false;
}

Explanation ExplainPropeller(const BridgeConfig& config, SeriesStore* store,
                             std::string_view topic, std::string_view payload,
                             double receive_time) {
  Explanation why;
  why.SetMessage(PropellerMapping::kMappingName, topic, payload, receive_time);
  if (payload.size() > config.max_payload_bytes) {
    why.rejected = payload::ReasonName(payload::Reason::kTooLarge);
    why.detail = "payload of " + std::to_string(payload.size()) +
                 " bytes is over limits.max_payload_bytes (" +
                 std::to_string(config.max_payload_bytes) + ")";
    return why;
  }
  payload::DecodeOptions opt;
  opt.max_bytes = config.max_payload_bytes;
  opt.receive_time = receive_time;
  auto d = payload::DecodeMessage(topic, payload, opt);
  if (!d.ok()) {
    why.rejected = payload::ReasonName(d.error().reason);
    why.detail = d.error().detail;
    return why;
  }
  for (const payload::FieldProblem& p : d->problems) {
    why.fields.push_back({payload::KindName(d->kind), p.Path(),
                          payload::ProblemName(p.problem),
                          "field dropped, the rest of the message is used"});
  }
  PropellerMapping mapping(config.propeller, store, nullptr, nullptr, nullptr,
                           SystemClock::Get());
  auto outcome = mapping.Apply(*d, topic, receive_time,
                               SystemClock::Get()->Monotonic(), nullptr, &why);
  if (outcome == PropellerMapping::Outcome::kCardinalityLimit) {
    why.rejected = "cardinality_limit";
    why.detail = "series limit reached; new series refused";
  } else if (outcome == PropellerMapping::Outcome::kUnattributed) {
    why.rejected = payload::ReasonName(payload::Reason::kMissingField);
    why.detail =
        "results without proplet_id for a task this bridge has not seen";
  }
  return why;
}

}  // namespace

StatusOr<std::vector<Explanation>> ExplainMessage(const BridgeConfig& config,
                                                  std::string_view topic,
                                                  std::string_view payload,
                                                  double receive_time,
                                                  std::string_view only) {
  std::vector<Explanation> out;
  SeriesStore store(SeriesStore::Options{config.series_limit},
                    SystemClock::Get());
  if (config.propeller_enabled &&
      (only.empty() || only == PropellerMapping::kMappingName) &&
      PropellerMatches(config, topic)) {
    out.push_back(
        ExplainPropeller(config, &store, topic, payload, receive_time));
  }
  for (const MappingSpec& spec : config.mappings) {
    if (!only.empty() && only != spec.name) continue;
    MappingSpec dry = spec;
    dry.state_directory.clear();  // a dry run never reads or writes state
    auto m = DeviceMapping::Create(std::move(dry), &store);
    if (!m.ok()) return m.status();
    if (!(*m)->MatchesTopic(topic)) continue;
    Explanation why;
    if (payload.size() > config.max_payload_bytes) {
      (*m)->RejectOversize(topic, payload.size(), config.max_payload_bytes,
                           receive_time, &why);
    } else {
      (*m)->Apply(topic, payload, receive_time, &why);
    }
    out.push_back(std::move(why));
  }
  return out;
}

int CheckMain(const std::vector<std::string>& args) {
  FlagSet flags;
  flags.String("config.file", "", "Path to the configuration file.");
  flags.String("topic", "", "The MQTT topic of the sample message.");
  flags.String("payload", "",
               "The payload of the sample message (default: read stdin).");
  flags.String("mapping", "", "Explain for this mapping only.");
  flags.Bool("json", "Print the explanations as JSON.");
  flags.Bool("help", "Print this help and exit.");
  Status st = flags.Parse(args);
  if (!st.ok()) {
    std::cerr << "propmon-bridge check: " << st.message() << "\n";
    return 2;
  }
  if (flags.GetBool("help")) {
    std::cout << "Usage: propmon-bridge check --config.file FILE --topic TOPIC "
                 "[--payload PAYLOAD]\n\n"
                 "Shows which mapping a message matches, every series it "
                 "would produce and why each field was rejected.\n\n"
              << flags.Usage();
    return 0;
  }
  if (!flags.IsSet("topic")) {
    std::cerr << "propmon-bridge check: --topic is required\n";
    return 2;
  }
  const std::string& topic = flags.Get("topic");
  Status valid = ValidateMqttTopicName(topic);
  if (!valid.ok()) {
    std::cerr << "propmon-bridge check: --topic: " << valid.message() << "\n";
    return 2;
  }
  BridgeConfig config;
  if (!flags.Get("config.file").empty()) {
    auto loaded = LoadConfigFile(flags.Get("config.file"));
    if (!loaded.ok()) {
      std::cerr << "propmon-bridge check: " << loaded.status().message()
                << "\n";
      return 2;
    }
    config = std::move(loaded).value();
  }
  for (const std::string& n : config.notices) {
    std::cout << "notice: " << n << "\n";
  }
  std::string payload;
  if (flags.IsSet("payload")) {
    payload = flags.Get("payload");
  } else {
    payload.assign(std::istreambuf_iterator<char>(std::cin),
                   std::istreambuf_iterator<char>());
  }
  auto list = ExplainMessage(config, topic, payload, SystemClock::Get()->Now(),
                             flags.Get("mapping"));
  if (!list.ok()) {
    std::cerr << "propmon-bridge check: " << list.status().message() << "\n";
    return 2;
  }
  bool json = flags.GetBool("json");
  if (json) {
    std::cout << "[";
    for (std::size_t i = 0; i < list->size(); ++i) {
      std::cout << (i ? "," : "") << (*list)[i].ToJson();
    }
    std::cout << "]\n";
  }
  if (list->empty()) {
    if (!json) {
      std::cout << "no mapping matches topic \"" << topic << "\"\n";
      for (const auto& f : config.SubscriptionFilters()) {
        std::cout << "  subscribed: " << f << "\n";
      }
    }
    return 1;
  }
  bool any = false;
  for (const Explanation& e : *list) {
    if (!json) std::cout << e.ToText();
    if (e.rejected.empty()) any = true;
  }
  return any ? 0 : 1;
}

}  // namespace propmon::bridge
