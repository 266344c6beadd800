// The exporter's REST API (docs/api.md):
//   POST   /api/v1/tasks                 register a task (seed task JSON + pid)
//   GET    /api/v1/tasks                 every task, running and ended
//   GET    /api/v1/tasks/{id}            one task
//   DELETE /api/v1/tasks/{id}            stop monitoring (process untouched)
//   GET    /api/v1/tasks/{id}/metrics    retained history, Propeller's
//                                        manager page format
//   GET    /api/v1/system                system information
// Every error is JSON {"error": "..."} naming the bad field. Task ids in
// paths are percent-decoded; an id may hold '/', and a path ending in
// "/metrics" is always the history of the id before it.
//
// Writes (POST, DELETE) are refused with 403 unless the client is on a
// loopback address, the web config authenticated it (basic auth or a
// verified client certificate), or TaskApiOptions::enable_write_api is set;
// then a POST whose Content-Type is not application/json gets 415 (a
// browser's cross-site form post cannot send that type without a CORS
// preflight, which this server never grants); then the body is read.
//
// Handlers run on the HTTP server's threads; they are thread-safe and never
// throw (TaskMonitor is thread-safe; CollectSystemInfo never throws).
#ifndef PROPMON_EXPORTER_API_H_
#define PROPMON_EXPORTER_API_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "common/payload.h"
#include "common/status.h"
#include "exporter/history.h"
#include "exporter/profile.h"
#include "exporter/sysinfo.h"
#include "exporter/task_monitor.h"

namespace propmon::exporter {

struct TaskApiOptions {
  // The profile of a registered task that names none; unset = `daemon` for
  // daemon tasks, `standard` otherwise.
  std::optional<MonitoringProfile> default_profile;
  // Accept writes from every client (--web.enable-write-api,
  // web.enable_write_api). Off: only from loopback clients and clients the
  // web config authenticated. The cap on running tasks is
  // TaskMonitor::Options::max_tasks (one cap for every task source).
  bool enable_write_api = false;
};

// Requests the task API refused before looking at their body, by reason:
// propmon_exporter_api_requests_refused_total{reason}. Registrations the
// TaskMonitor refuses (max_tasks, start time) are counted there instead
// (propmon_exporter_tasks_refused_total). Thread-safe.
class ApiRefusals : public prometheus::Collectable {
 public:
  enum class Reason {
    kForbidden,             // 403: a write from a client not allowed to.
    kUnsupportedMediaType,  // 415: a POST body that is not JSON.
  };
  void Count(Reason r) { counts_[static_cast<int>(r)].fetch_add(1); }
  long count(Reason r) const { return counts_[static_cast<int>(r)].load(); }
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::atomic<long> counts_[2] = {};
};

// Registers the /api/v1/tasks routes on `server` (before it starts).
// `monitor` must outlive the server. Returns the API's refusal counters
// (for /metrics); they live as long as the server's handlers or the
// returned pointer.
std::shared_ptr<const ApiRefusals> RegisterTaskApi(HttpServer* server,
                                                   TaskMonitor* monitor,
                                                   TaskApiOptions options = {});

// True when a Content-Type header value's media type is application/json
// (case-insensitive; parameters such as "; charset=utf-8" allowed).
bool IsJsonMediaType(std::string_view content_type);

// Registers GET /api/v1/system.
void RegisterSystemApi(HttpServer* server, SysInfoOptions options);

// Parses a registration body: {"id", "name" or "functionName", "daemon",
// "monitoring_profile" or "monitoringProfile" (object or preset name), "env",
// "pid", "include_children", "start_time_ticks"}; other keys of Propeller's
// task JSON (imageURL, params, ...) are ignored. InvalidArgument whose
// message starts with the bad field ("pid: required",
// "monitoringProfile.interval: ..."). The id is not checked as a label value
// here (the API refuses a bad one with its reason, TaskMonitor::AddTask
// refuses it for every source).
StatusOr<TaskSpec> ParseTaskRegistration(std::string_view body,
                                         const TaskApiOptions& options);

// The task as GET /api/v1/tasks/{id} returns it (JSON text); its
// `last_sample` is the task_metrics message of BuildTaskMetrics.
std::string TaskToJson(const TaskInfo& info, const std::string& proplet_id);

// The body of GET /api/v1/tasks/{id}/metrics for a page of history, in the
// Propeller manager's form (common/manager_json.h: byte-compatible with the
// manager and the bridge). Every item carries the aggregates over the
// retained history up to it when the profile keeps history; otherwise it
// has no `aggregated`. `samples` is the retained history from its oldest
// sample up to at least offset + limit.
std::string HistoryPageJson(const std::string& task_id,
                            const std::string& proplet_id,
                            const std::vector<TaskSample>& samples,
                            size_t offset, size_t limit, size_t total,
                            bool keeps_history);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_API_H_
