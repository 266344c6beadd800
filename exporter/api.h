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
// Handlers run on the HTTP server's threads; they are thread-safe and never
// throw (TaskMonitor is thread-safe; CollectSystemInfo never throws).
#ifndef PROPMON_EXPORTER_API_H_
#define PROPMON_EXPORTER_API_H_

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

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
};

// Registers the /api/v1/tasks routes on `server` (before it starts).
// `monitor` must outlive the server.
void RegisterTaskApi(HttpServer* server, TaskMonitor* monitor,
                     TaskApiOptions options = {});

// Registers GET /api/v1/system.
void RegisterSystemApi(HttpServer* server, SysInfoOptions options);

// Parses a registration body: {"id", "name" or "functionName", "daemon",
// "monitoring_profile" or "monitoringProfile" (object or preset name), "env",
// "pid", "include_children"}; other keys of Propeller's task JSON
// (imageURL, params, ...) are ignored. InvalidArgument whose message starts
// with the bad field ("pid: required", "monitoringProfile.interval: ...").
StatusOr<TaskSpec> ParseTaskRegistration(std::string_view body,
                                         const TaskApiOptions& options);

// A sample as Propeller's task_metrics message: percents = ratio * 100,
// absent figures stay absent.
payload::TaskMetrics ToTaskMetrics(const std::string& task_id,
                                   const std::string& proplet_id,
                                   const TaskSample& sample,
                                   const std::optional<Aggregates>& aggregates);

// The task as GET /api/v1/tasks/{id} returns it.
nlohmann::json TaskToJson(const TaskInfo& info, const std::string& proplet_id);

// The body of GET /api/v1/tasks/{id}/metrics for a page of history (every
// item carries the aggregates over the retained history up to it, when the
// profile keeps history). `samples` is the retained history from its oldest
// sample up to at least offset + limit.
std::string HistoryPageJson(const std::string& task_id,
                            const std::string& proplet_id,
                            const std::vector<TaskSample>& samples,
                            size_t offset, size_t limit, size_t total,
                            bool keeps_history);

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_API_H_
