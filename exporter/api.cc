#include "exporter/api.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/label.h"
#include "common/manager_json.h"
#include "common/metrics.h"
#include "exporter/proplet_messages.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 1000;
constexpr char kTasksPath[] = "/api/v1/tasks";
constexpr char kTaskPrefix[] = "/api/v1/tasks/";

// A non-negative decimal integer; nullopt otherwise.
std::optional<size_t> ParseCount(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Rfc3339(double t) { return payload::FormatRfc3339(t); }

HttpResponse JsonResponse(int status, const json& j) {
  return HttpResponse::Json(
      status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

HttpResponse MethodNotAllowed(const char* allow) {
  HttpResponse r = HttpResponse::JsonError(405, "method not allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

class TaskApi {
 public:
  TaskApi(TaskMonitor* monitor, TaskApiOptions options)
      : monitor_(monitor),
        options_(std::move(options)),
        refusals_(std::make_shared<ApiRefusals>()) {}

  std::shared_ptr<const ApiRefusals> refusals() const { return refusals_; }

  HttpResponse Create(const HttpRequest& req) {
    if (auto refused = RefuseWrite(req)) return *refused;
    std::string type = req.Header("Content-Type");
    if (!IsJsonMediaType(type)) {
      refusals_->Count(ApiRefusals::Reason::kUnsupportedMediaType);
      return HttpResponse::JsonError(
          415, "Content-Type: must be application/json, got \"" + type + "\"");
    }
    auto spec = ParseTaskRegistration(req.body, options_);
    if (!spec.ok()) {
      return HttpResponse::JsonError(400, spec.status().message());
    }
    // Label hygiene (docs/api.md): a bad id is refused here, with the field
    // and the reason; a bad name is repaired by AddTask. Both are counted.
    if (auto bad =
            monitor_->labels().Refuse(TaskMonitor::kLabelApi, spec->id)) {
      json j = {
          {"error", std::string("id: must be 1 to 256 bytes of UTF-8 without "
                                "control characters; this one ") +
                        label::ReasonText(*bad)},
          {"field", "id"},
          {"reason", label::ReasonName(*bad)}};
      return JsonResponse(400, j);
    }
    std::string id = spec->id;
    Status s = monitor_->AddTask(std::move(*spec));
    if (!s.ok()) {
      int code = s.code() == StatusCode::kAlreadyExists       ? 409
                 : s.code() == StatusCode::kInvalidArgument   ? 400
                 : s.code() == StatusCode::kResourceExhausted ? 429
                                                              : 500;
      return HttpResponse::JsonError(code, s.message());
    }
    auto info = monitor_->GetTask(id);
    if (!info) {
      return HttpResponse::JsonError(
          500, "task \"" + id + "\" vanished after registration");
    }
    HttpResponse r = HttpResponse::Json(201, TaskToJson(*info, PropletId()));
    r.headers.emplace_back("Location", std::string(kTaskPrefix) + id);
    return r;
  }

  HttpResponse List(const HttpRequest&) {
    std::string out = "{\"tasks\":[";
    size_t n = 0;
    for (const TaskInfo& t : monitor_->ListTasks()) {
      if (n++) out += ',';
      out += TaskToJson(t, PropletId());
    }
    out += "],\"total\":" + std::to_string(n) + "}";
    return HttpResponse::Json(200, std::move(out));
  }

  HttpResponse Item(const HttpRequest& req) {
    // The server hands us the path percent-decoded: an id may hold '/', and
    // "/metrics" at the end always means the history.
    std::string_view rest =
        std::string_view(req.path).substr(sizeof(kTaskPrefix) - 1);
    static constexpr std::string_view kMetrics = "/metrics";
    bool metrics = rest.size() > kMetrics.size() &&
                   rest.substr(rest.size() - kMetrics.size()) == kMetrics;
    if (metrics) rest.remove_suffix(kMetrics.size());
    if (rest.empty()) return HttpResponse::JsonError(404, "not found");
    std::string id(rest);
    bool get = req.method == "GET" || req.method == "HEAD";
    if (metrics) {
      if (!get) return MethodNotAllowed("GET, HEAD");
      return Metrics(req, id);
    }
    if (get) {
      auto info = monitor_->GetTask(id);
      if (!info) return NotFound(id);
      return HttpResponse::Json(200, TaskToJson(*info, PropletId()));
    }
    if (req.method == "DELETE") {
      if (auto refused = RefuseWrite(req)) return *refused;
      auto info = monitor_->GetTask(id);
      Status s = monitor_->RemoveTask(id);
      if (!s.ok()) return NotFound(id);
      std::string out = json{{"deleted", id}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
      if (info) {
        out.pop_back();  // the closing brace
        out += ",\"task\":" + TaskToJson(*info, PropletId()) + "}";
      }
      return HttpResponse::Json(200, std::move(out));
    }
    return MethodNotAllowed("GET, HEAD, DELETE");
  }

 private:
  const std::string& PropletId() const {
    return monitor_->options().proplet_id;
  }

  // A 403 for a write from a client that may not write; nullopt otherwise.
  std::optional<HttpResponse> RefuseWrite(const HttpRequest& req) {
    if (options_.enable_write_api || req.Authenticated() ||
        req.FromLoopback()) {
      return std::nullopt;
    }
    refusals_->Count(ApiRefusals::Reason::kForbidden);
    return HttpResponse::JsonError(
        403,
        "forbidden: the write API accepts only loopback clients and clients "
        "the web config authenticates (--web.config.file); "
        "--web.enable-write-api or web.enable_write_api opens it to all");
  }

  static HttpResponse NotFound(const std::string& id) {
    return HttpResponse::JsonError(404, "task \"" + id + "\" not found");
  }

  HttpResponse Metrics(const HttpRequest& req, const std::string& id) {
    size_t offset = 0, limit = kDefaultLimit;
    if (auto v = req.QueryParam("offset")) {
      auto n = ParseCount(*v);
      if (!n) {
        return HttpResponse::JsonError(
            400, "offset: must be a non-negative integer, got \"" + *v + "\"");
      }
      offset = *n;
    }
    if (auto v = req.QueryParam("limit")) {
      auto n = ParseCount(*v);
      if (!n) {
        return HttpResponse::JsonError(
            400, "limit: must be a non-negative integer, got \"" + *v + "\"");
      }
      limit = std::min(*n, kMaxLimit);
    }
    size_t upto = offset > std::numeric_limits<size_t>::max() - limit
                      ? std::numeric_limits<size_t>::max()
                      : offset + limit;
    auto page = monitor_->History(id, 0, upto);
    if (!page.ok()) return NotFound(id);
    auto info = monitor_->GetTask(id);
    bool keeps = info && info->spec.profile.KeepsHistory();
    return HttpResponse::Json(
        200, HistoryPageJson(id, PropletId(), page->samples, offset, limit,
                             page->total, keeps));
  }

  TaskMonitor* monitor_;
  TaskApiOptions options_;
  std::shared_ptr<ApiRefusals> refusals_;
};

}  // namespace

std::vector<prometheus::MetricFamily> ApiRefusals::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  FamilyBuilder b("propmon_exporter_api_requests_refused_total",
                  "Task API write requests refused before their body was "
                  "read, by reason.",
                  prometheus::MetricType::Counter);
  b.Add({{"reason", "forbidden"}},
        static_cast<double>(count(Reason::kForbidden)));
  b.Add({{"reason", "unsupported_media_type"}},
        static_cast<double>(count(Reason::kUnsupportedMediaType)));
  b.MoveTo(&out);
  return out;
}

bool IsJsonMediaType(std::string_view v) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  static constexpr std::string_view kJson = "application/json";
  if (v.size() != kJson.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

StatusOr<TaskSpec> ParseTaskRegistration(std::string_view body,
                                         const TaskApiOptions& options) {
  if (body.empty()) return InvalidArgument("body: empty; want a JSON object");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    size_t at = what.find("parse error");
    return InvalidArgument("body: invalid JSON: " +
                           (at == std::string::npos ? what : what.substr(at)));
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("body: invalid JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("body: must be a JSON object");
  TaskSpec spec;
  spec.source = "api";

  auto id = j.find("id");
  if (id == j.end() || id->is_null()) return InvalidArgument("id: required");
  if (!id->is_string()) return InvalidArgument("id: must be a string");
  // Not checked as a label value here: the API refuses a bad id with the
  // reason and counts it (TaskApi::Create).
  spec.id = id->get<std::string>();

  for (const char* key : {"name", "functionName"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      return InvalidArgument(std::string(key) + ": must be a string");
    }
    if (spec.name.empty()) spec.name = it->get<std::string>();
  }

  if (auto it = j.find("daemon"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument("daemon: must be true or false");
    }
    spec.daemon = it->get<bool>();
  }
  if (auto it = j.find("include_children"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument("include_children: must be true or false");
    }
    spec.include_children = it->get<bool>();
  }

  auto snake = j.find("monitoring_profile");
  auto camel = j.find("monitoringProfile");
  bool has_snake = snake != j.end() && !snake->is_null();
  bool has_camel = camel != j.end() && !camel->is_null();
  if (has_snake && has_camel) {
    return InvalidArgument(
        "monitoring_profile: give monitoring_profile or monitoringProfile, "
        "not both");
  }
  if (has_snake || has_camel) {
    auto p =
        ProfileFromJson(has_snake ? *snake : *camel,
                        has_snake ? "monitoring_profile" : "monitoringProfile");
    if (!p.ok()) return p.status();
    spec.profile = *p;
  } else {
    spec.profile = options.default_profile ? *options.default_profile
                                           : DefaultProfile(spec.daemon);
  }

  if (auto it = j.find("env"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      return InvalidArgument("env: must be an object of strings");
    }
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e.value().is_string()) {
        return InvalidArgument("env." + e.key() + ": must be a string");
      }
      spec.env[e.key()] = e.value().get<std::string>();
    }
  }

  auto pid = j.find("pid");
  if (pid == j.end() || pid->is_null()) return InvalidArgument("pid: required");
  int64_t pid_value = 0;
  if (pid->is_number_unsigned()) {
    pid_value = pid->get<uint64_t>() > static_cast<uint64_t>(INT_MAX)
                    ? 0
                    : static_cast<int64_t>(pid->get<uint64_t>());
  } else if (pid->is_number_integer()) {
    pid_value = pid->get<int64_t>();
  }
  if (pid_value <= 0 || pid_value > INT_MAX) {
    return InvalidArgument("pid: must be a positive integer process id");
  }
  spec.pid = static_cast<pid_t>(pid_value);

  // Proof of identity: the start time the registrant read for this pid.
  if (auto it = j.find("start_time_ticks"); it != j.end() && !it->is_null()) {
    if (!it->is_number_unsigned()) {
      return InvalidArgument(
          "start_time_ticks: must be a non-negative integer (clock ticks "
          "after boot, field 22 of /proc/PID/stat)");
    }
    spec.start_time_ticks = it->get<uint64_t>();
  }
  return spec;
}

std::string TaskToJson(const TaskInfo& info, const std::string& proplet_id) {
  const TaskSpec& s = info.spec;
  json env = json::object();
  for (const auto& [k, v] : s.env) env[k] = v;
  json j = {
      {"id", s.id},
      {"name", s.name},
      {"daemon", s.daemon},
      {"pid", s.pid},
      {"include_children", s.include_children},
      {"source", s.source},
      {"env", std::move(env)},
      {"state", TaskStateName(info.state)},
      {"profile", ProfileToJson(s.profile)},
      {"registered_at", Rfc3339(info.registered_at)},
      {"samples", info.samples},
  };
  if (s.start_time_ticks) j["start_time_ticks"] = *s.start_time_ticks;
  if (info.state == TaskState::kEnded) j["ended_at"] = Rfc3339(info.ended_at);
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  out.pop_back();  // the closing brace
  out += ",\"last_sample\":";
  if (info.last) {
    payload::AppendJson(
        BuildTaskMetrics(proplet_id, s.id, *info.last, info.aggregates), &out);
  } else {
    out += "null";
  }
  out += '}';
  return out;
}

std::string HistoryPageJson(const std::string& task_id,
                            const std::string& proplet_id,
                            const std::vector<TaskSample>& samples,
                            size_t offset, size_t limit, size_t total,
                            bool keeps_history) {
  // Each item's aggregates are those of the retained history up to it: the
  // samples replayed through a TaskHistory, the one implementation of them.
  TaskHistory prefix(keeps_history ? samples.size() : 0);
  std::vector<std::string> items;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i >= offset && i - offset >= limit) break;
    prefix.Add(samples[i]);
    if (i < offset) continue;
    std::string item;
    AppendManagerItem(
        BuildTaskMetrics(proplet_id, task_id, samples[i],
                         keeps_history
                             ? std::optional<Aggregates>(prefix.Aggregate())
                             : std::nullopt),
        &item);
    items.push_back(std::move(item));
  }
  return ManagerPage(offset, limit, total, items);
}

std::shared_ptr<const ApiRefusals> RegisterTaskApi(HttpServer* server,
                                                   TaskMonitor* monitor,
                                                   TaskApiOptions options) {
  auto api = std::make_shared<TaskApi>(monitor, std::move(options));
  server->Handle("POST", kTasksPath,
                 [api](const HttpRequest& r) { return api->Create(r); });
  server->Handle("GET", kTasksPath,
                 [api](const HttpRequest& r) { return api->List(r); });
  server->HandlePrefix("", kTaskPrefix,
                       [api](const HttpRequest& r) { return api->Item(r); });
  return api->refusals();
}

void RegisterSystemApi(HttpServer* server, SysInfoOptions options) {
  server->Handle("GET", "/api/v1/system",
                 [options = std::move(options)](const HttpRequest&) {
                   return JsonResponse(200, CollectSystemInfo(options));
                 });
}

}  // namespace propmon::exporter
