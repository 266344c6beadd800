// libFuzzer target: the configuration file parser (bridge/config.h), both
// the native format and mqtt2prometheus files. The file is operator input
// (lower priority than the network inputs); yaml-cpp is third-party.
//
// A config that parses is validated, its subscription filters and MQTT
// options are computed, and each mapping is created in a SeriesStore and
// given one fixed message (state_directory is cleared first: the target
// never reads or writes state files).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/config.h"
#include "bridge/device_mapping.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "common/log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace propmon;          // NOLINT
  using namespace propmon::bridge;  // NOLINT
  static const bool init = [] {
    SetLogLevel(LogLevel::kError);
    return true;
  }();
  (void)init;
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  // No environment: the result depends on the input only.
  EnvLookup no_env = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  auto config = ParseConfig(yaml, "fuzz.yaml", BridgeConfig(), no_env);
  if (!config.ok()) return 0;
  (void)ValidateConfig(*config);
  (void)config->SubscriptionFilters();
  (void)config->EffectiveMqttOptions();

  FakeClock clock;
  SeriesStore store(SeriesStore::Options{100}, &clock);
  for (MappingSpec spec : config->mappings) {
    spec.state_directory.clear();
    auto m = DeviceMapping::Create(std::move(spec), &store);
    if (!m.ok()) continue;
    Explanation why;
    (*m)->Apply("sensors/kitchen/dht22",
                R"({"temperature":21.5,"humidity":40,"state":"on"})",
                clock.Now(), &why);
    (void)why.ToJson();
  }
  return 0;
}
