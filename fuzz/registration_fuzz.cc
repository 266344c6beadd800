// libFuzzer target: the exporter's task registration (POST /api/v1/tasks,
// exporter/api.h ParseTaskRegistration) and monitoring profiles
// (exporter/profile.h ProfileFromJson). The body is network input: any
// client the write API accepts sends it, up to the server's 64 KiB.
//
// Input: one flag byte, then the body.
//   bit 0: TaskApiOptions::default_profile is set (the `minimal` preset)
//   bit 1: the body is also read as a profile on its own (ProfileFromJson of
//          the parsed JSON, as a config's or registration's profile value)
// Checks, beyond "no crash, no sanitizer report, no uncaught exception":
// - a registration that parses has the body's id and pid (positive) and a
//   profile that validates; its profile written back as JSON
//   (ProfileToJson) parses to the same profile;
// - without a profile in the body, the task gets the default one;
// - every error message is non-empty, names a field ("FIELD: ...") and makes
//   a valid JSON error body (the API echoes it to the client);
// - ProfileFromJson never accepts a profile ValidateProfile refuses.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/http_server.h"
#include "common/payload.h"
#include "exporter/api.h"
#include "exporter/profile.h"

namespace {

using namespace propmon::exporter;  // NOLINT

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "registration_fuzz: %s\n", what);
  std::abort();
}

void CheckError(const propmon::Status& s) {
  const std::string& m = s.message();
  Check(!m.empty(), "empty error message");
  Check(m.find(": ") != std::string::npos, "error message names no field");
  propmon::HttpResponse r = propmon::HttpResponse::JsonError(400, m);
  Check(propmon::payload::IsValidJson(r.body), "error body is not valid JSON");
}

void CheckProfile(const MonitoringProfile& p) {
  Check(ValidateProfile(p).ok(), "an accepted profile does not validate");
  auto back = ProfileFromJson(ProfileToJson(p));
  Check(back.ok(), "ProfileToJson output does not parse");
  MonitoringProfile want = p;
  want.name = "custom";  // An object is always a custom profile.
  Check(*back == want, "profile JSON round trip changed it");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  TaskApiOptions options;
  if (flags & 1) options.default_profile = *PresetProfile("minimal");
  auto spec = ParseTaskRegistration(body, options);
  if (spec.ok()) {
    // (Whether the id is a valid label value is the API's and
    // TaskMonitor::AddTask's business, not the parser's.)
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    Check(j.is_object() && j["id"].is_string() && j["id"] == spec->id,
          "the id is not the body's");
    Check(spec->pid > 0 && j["pid"] == spec->pid, "the pid is not the body's");
    Check(spec->source == "api", "source");
    CheckProfile(spec->profile);
    const bool named = body.find("onitoring_profile") != std::string::npos ||
                       body.find("onitoringProfile") != std::string::npos ||
                       body.find('\\') != std::string::npos;
    if (!named) {
      MonitoringProfile want = options.default_profile
                                   ? *options.default_profile
                                   : DefaultProfile(spec->daemon);
      Check(spec->profile == want, "not the default profile");
    }
  } else {
    CheckError(spec.status());
  }

  if (flags & 2) {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_discarded()) {
      auto p = ProfileFromJson(j);
      if (p.ok()) {
        CheckProfile(*p);
      } else {
        CheckError(p.status());
      }
    }
  }
  return 0;
}
