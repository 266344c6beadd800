// Explaining messages: what a message does in each mapping, computed by
// applying it to fresh mappings over a scratch SeriesStore (the running
// bridge's series are never touched). Used by `propmon-bridge check` and by
// GET /api/v1/debug/mappings (for the last message of each mapping).
//
// A dry run starts from empty state: force_monotonic offsets, a task's
// earlier proplet and the series limit of the live bridge are not part of
// it.
//
// Thread-safety: ExplainMessage is reentrant (it builds its own state).
#ifndef PROPMON_BRIDGE_CHECK_H_
#define PROPMON_BRIDGE_CHECK_H_

#include <string>
#include <string_view>
#include <vector>

#include "bridge/config.h"
#include "bridge/explanation.h"
#include "common/status.h"

namespace propmon::bridge {

// Explains `payload` on `topic` for every mapping of `config` whose topics
// match (the Propeller mapping first when enabled, then `mappings:` in
// order); with `only` non-empty, for that mapping only. Empty when no
// mapping matches. Errors: a mapping that cannot be built (config errors).
StatusOr<std::vector<Explanation>> ExplainMessage(const BridgeConfig& config,
                                                  std::string_view topic,
                                                  std::string_view payload,
                                                  double receive_time,
                                                  std::string_view only = {});

// `propmon-bridge check --config.file F --topic T [--payload P]`: prints the
// explanation of one message (payload from stdin without --payload).
// Exit status: 0 when a mapping produced series, 1 when no mapping matched
// or every matching mapping rejected the message, 2 on usage or config
// errors.
int CheckMain(const std::vector<std::string>& args);

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_CHECK_H_
