// propmon-bridge's command line: `check`, flags and config, then the bridge
// until SIGINT/SIGTERM (SIGHUP re-reads the web config).
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "bridge/check.h"
#include "common/log.h"
#include "common/malloc_arenas.h"

namespace propmon::bridge {

int BridgeMain(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "check") {
    return CheckMain(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  FlagSet flags;
  DeclareFlags(&flags);
  Status st = flags.Parse(args);
  if (!st.ok()) {
    std::cerr << "propmon-bridge: " << st.message() << "\n";
    return 2;
  }
  if (flags.GetBool("version")) {
    std::cout << "propmon-bridge " << Version() << "\n";
    return 0;
  }
  if (flags.GetBool("help")) {
    std::cout << "Usage: propmon-bridge [flags]\n"
                 "       propmon-bridge check --config.file FILE --topic T "
                 "[--payload P]\n\n"
                 "Subscribes to Propeller's MQTT topics (and those of the "
                 "configured mappings) and serves them as Prometheus "
                 "series.\n\n"
              << flags.Usage();
    return 0;
  }
  if (!flags.positional().empty()) {
    std::cerr << "propmon-bridge: unexpected argument \""
              << flags.positional()[0] << "\"\n";
    return 2;
  }
  LogLevel level;
  if (!ParseLogLevel(flags.Get("log.level"), &level)) {
    std::cerr << "propmon-bridge: --log.level: want debug, info, warn or "
                 "error, got \""
              << flags.Get("log.level") << "\"\n";
    return 2;
  }
  SetLogLevel(level);
  auto config = ConfigFromFlags(flags);
  if (!config.ok()) {
    std::cerr << "propmon-bridge: " << config.status().message() << "\n";
    return 2;
  }
  for (const std::string& n : config->notices) PM_LOG(kWarn) << n;
  {
    MqttOptions mo = config->EffectiveMqttOptions();
    if (mo.clean_start) {
      PM_LOG(kWarn) << "mqtt: clean session (client id "
                    << (mo.client_id.empty() ? "random" : mo.client_id)
                    << "): messages published while the bridge is away are "
                       "lost; use mqtt.clean_start: false and a stable "
                       "mqtt.client_id to keep them";
    } else {
      PM_LOG(kInfo) << "mqtt: persistent session, client id " << mo.client_id;
    }
  }
  sigset_t sigs = BlockDaemonSignals();
  Bridge bridge(*config);
  st = bridge.Start();
  if (!st.ok()) {
    PM_LOG(kError) << st.message();
    return 1;
  }
  std::string filters;
  for (const auto& f : config->SubscriptionFilters()) {
    filters += (filters.empty() ? "" : ",") + f;
  }
  PM_LOG(kInfo) << "propmon-bridge " << Version() << " listening on "
                << config->listen_address << " (port " << bridge.port()
                << "), broker " << config->mqtt.url << " topics " << filters;
  int sig = 0;
  while (true) {
    sig = WaitForSignal(sigs);
    if (sig != SIGHUP) break;
    (void)bridge.ReloadWebConfig();  // logs its own errors
  }
  PM_LOG(kInfo) << "signal " << sig << ": shutting down";
  bridge.Stop();
  return 0;
}

}  // namespace propmon::bridge
