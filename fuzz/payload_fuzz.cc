// libFuzzer target: the Propeller payload codec (common/payload.h), which
// decodes every MQTT message on a Propeller topic.
//
// Input: one selector byte, then the payload.
//   bits 0-2: the topic (the six SPEC §1 topics, an unknown suffix, a domain
//             that is not a valid label)
//   bit 3:    a small DecodeOptions::max_bytes (exercises kTooLarge)
// Checks, beyond "no crash, no sanitizer report":
// - IsValidJson agrees with nlohmann's parser (within their documented
//   departures: a byte order mark, a NUL byte, numbers beyond double range,
//   nesting deeper than kMaxDepth);
// - a decoded message re-encodes to valid JSON that decodes again;
// - ParseRfc3339 / FormatRfc3339 round-trip.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/payload.h"

namespace {

using namespace propmon::payload;  // NOLINT

void Check(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "payload_fuzz: %s (input %zu bytes)\n", what,
               input.size());
  std::abort();
}

// nlohmann's verdict, adjusted for its documented departures from RFC 8259
// (see PayloadJsonValidatorTest.AgreesWithNlohmannOnMutations): it skips a
// leading BOM (we reject it), stops at a NUL byte (never valid JSON) and
// rejects numbers beyond double range (valid JSON). Returns -1 when the
// verdict cannot be adjusted (then nothing is compared).
int NlohmannVerdict(std::string s) {
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) return 0;
  if (s.find('\0') != std::string::npos) return 0;
  for (int tries = 0; tries < 20; ++tries) {
    try {
      nlohmann::json parsed = nlohmann::json::parse(s);
      (void)parsed;
      return 1;
    } catch (const nlohmann::json::parse_error&) {
      return 0;
    } catch (const nlohmann::json::out_of_range& e) {
      // "number overflow parsing '1e999'": retry with that number as 0.
      // The 0 is followed by a space, so that it cannot merge with what
      // follows ("1e999e1" must stay invalid, not become "0e1").
      std::string what = e.what();
      std::size_t a = what.find('\''), b = what.rfind('\'');
      if (a == std::string::npos || b <= a + 1) return -1;
      std::string token = what.substr(a + 1, b - a - 1);
      std::size_t at = s.find(token);
      if (at == std::string::npos) return -1;
      s.replace(at, token.size(), "0 ");
    }
  }
  return -1;
}

std::string EncodeAny(const Message& m) {
  return std::visit([](const auto& v) { return Encode(v); }, m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);

  static const char* const kTopics[8] = {
      "m/d/c/c/control/proplet/task_metrics",
      "m/d/c/c/metrics/proplet",
      "m/d/c/c/control/proplet/metrics",
      "m/d/c/c/control/proplet/alive",
      "m/d/c/c/control/proplet/create",
      "m/d/c/c/control/proplet/results",
      "m/d/c/c/control/proplet/unknown",
      "m/\xff/c/c/control/proplet/alive",
  };
  DecodeOptions options;
  options.receive_time = 1700000000.25;
  if (selector & 0x08) options.max_bytes = 64;

  Result<Decoded> r = DecodeMessage(kTopics[selector & 7], payload, options);
  if (r.ok()) {
    const Decoded& d = r.value();
    Check(d.domain == "d" && d.channel == "c", "domain/channel", payload);
    // Everything decoded re-encodes to valid JSON that decodes again.
    std::string again = EncodeAny(d.message);
    Check(IsValidJson(again), "re-encoded message is not valid JSON", payload);
    // (Through NlohmannVerdict: a non-scalar metadata value is kept
    // verbatim, and may hold a number beyond double range.)
    Check(NlohmannVerdict(again) != 0,
          "re-encoded message rejected by nlohmann", payload);
    DecodeOptions big;
    big.max_bytes = again.size() + 1;
    big.receive_time = options.receive_time;
    Result<Decoded> r2 = Decode(d.kind, again, big);
    Check(r2.ok(), "re-encoded message does not decode", payload);
    if (const Create* c = d.As<Create>()) {
      for (const auto& [k, v] : c->metadata) (void)c->FindText(k);
    }
    for (const FieldProblem& p : d.problems) (void)p.Path();
  } else {
    (void)ReasonName(r.error().reason);
  }

  // The validator against nlohmann's parser.
  const bool ours = IsValidJson(payload);
  const int theirs = NlohmannVerdict(std::string(payload));
  if (theirs == 1 && JsonDepth(payload) <= kMaxDepth) {
    Check(ours, "nlohmann accepts JSON that IsValidJson rejects", payload);
  } else if (theirs == 0) {
    Check(!ours, "IsValidJson accepts JSON that nlohmann rejects", payload);
  }

  // Timestamps: the raw bytes as an RFC 3339 string.
  if (payload.size() <= 64) {
    std::optional<double> t = ParseRfc3339(payload);
    if (t) {
      Check(std::isfinite(*t), "ParseRfc3339 returned a non-finite time",
            payload);
      std::string text = FormatRfc3339(*t);
      if (!text.empty()) {
        std::optional<double> back = ParseRfc3339(text);
        Check(back.has_value(), "FormatRfc3339 output does not parse", payload);
        // Microsecond formatting, plus the double's own resolution.
        Check(std::abs(*back - *t) <= 1e-6 + std::abs(*t) * 1e-15,
              "RFC 3339 round trip moved the time", payload);
      }
    }
  }
  return 0;
}
