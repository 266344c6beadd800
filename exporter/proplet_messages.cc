#include "exporter/proplet_messages.h"

#include <string.h>
#include <sys/wait.h>

#include <cmath>
#include <utility>

namespace propmon::exporter {
namespace {

std::optional<double> AsDouble(const std::optional<uint64_t>& v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}
std::optional<double> AsDouble(const std::optional<int64_t>& v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}
std::optional<double> Percent(const std::optional<double>& ratio) {
  if (!ratio) return std::nullopt;
  return RatioToPercent(*ratio);
}
// A field the Rust proplet sends as an integer (u64), rounded as the encoder
// rounds it, so that the message holds what the wire carries and every path
// (MQTT, the API, the manager-form history page) shows the same number.
std::optional<double> Whole(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return v;
  return std::floor(*v + 0.5);
}

}  // namespace

double RatioToPercent(double ratio) {
  if (!std::isfinite(ratio)) return ratio;
  return std::round(ratio * 100.0 * 1e6) / 1e6;
}

payload::TaskMetrics BuildTaskMetrics(
    const std::string& proplet_id, const std::string& task_id,
    const TaskSample& sample, const std::optional<Aggregates>& aggregates) {
  payload::TaskMetrics m;
  m.task_id = task_id;
  m.proplet_id = proplet_id;
  m.timestamp = sample.timestamp;
  payload::ProcessMetrics& p = m.metrics;
  p.cpu_percent = Percent(sample.cpu_usage_ratio);
  p.memory_bytes = AsDouble(sample.memory_bytes);
  p.memory_percent = Percent(sample.memory_usage_ratio);
  p.disk_read_bytes = AsDouble(sample.disk_read_bytes);
  p.disk_write_bytes = AsDouble(sample.disk_write_bytes);
  p.network_rx_bytes = AsDouble(sample.network_rx_bytes);
  p.network_tx_bytes = AsDouble(sample.network_tx_bytes);
  p.uptime_seconds = Whole(sample.uptime_seconds);
  p.thread_count = AsDouble(sample.threads);
  p.file_descriptor_count = AsDouble(sample.open_fds);
  if (aggregates) {
    const Aggregates& a = *aggregates;
    payload::AggregatedMetrics g;
    g.avg_cpu_usage = Percent(a.avg_cpu_usage_ratio);
    g.max_cpu_usage = Percent(a.max_cpu_usage_ratio);
    g.avg_memory_usage = Whole(a.avg_memory_bytes);
    g.max_memory_usage = a.max_memory_bytes;
    g.total_disk_read = a.total_disk_read_bytes;
    g.total_disk_write = a.total_disk_write_bytes;
    g.total_network_rx = a.total_network_rx_bytes;
    g.total_network_tx = a.total_network_tx_bytes;
    g.sample_count = static_cast<double>(a.sample_count);
    m.aggregated = g;
  }
  return m;
}

payload::TaskMetrics BuildTaskMetrics(const std::string& proplet_id,
                                      const TaskInfo& task,
                                      const TaskSample& sample) {
  return BuildTaskMetrics(
      proplet_id, task.spec.id, sample,
      task.spec.profile.KeepsHistory() ? task.aggregates : std::nullopt);
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    std::string out = "killed by signal " + std::to_string(sig);
    if (const char* d = sigdescr_np(sig)) out += std::string(" (") + d + ")";
    if (WCOREDUMP(wait_status)) out += ", core dumped";
    return out;
  }
  return "ended with wait status " + std::to_string(wait_status);
}

std::optional<std::string> WaitStatusError(int wait_status) {
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
    return std::nullopt;
  }
  return DescribeWaitStatus(wait_status);
}

payload::Results BuildResults(const std::string& proplet_id,
                              const std::string& task_id, int wait_status) {
  payload::Results r;
  r.task_id = task_id;
  r.proplet_id = proplet_id;
  r.results = payload::QuoteJson("");
  r.error = WaitStatusError(wait_status);
  return r;
}

payload::PropletMetrics BuildPropletMetrics(
    const std::string& proplet_id, const std::string& namespace_name,
    double timestamp, const SelfStats& self,
    std::optional<double> host_cpu_ratio) {
  payload::PropletMetrics m;
  m.proplet_id = proplet_id;
  m.namespace_name = namespace_name;
  m.timestamp = timestamp;
  m.cpu.user_seconds = self.user_seconds;
  m.cpu.system_seconds = self.system_seconds;
  m.cpu.percent = Percent(host_cpu_ratio);
  m.memory.rss_bytes = AsDouble(self.rss_bytes);
  m.memory.container_usage_bytes = AsDouble(self.container_usage_bytes);
  m.memory.container_limit_bytes = AsDouble(self.container_limit_bytes);
  return m;
}

payload::Create BuildCreate(const std::string& proplet_id,
                            const std::string& namespace_name,
                            const std::string& proplet_version,
                            const NodeFacts& facts) {
  payload::Create c;
  c.proplet_id = proplet_id;
  c.namespace_name = namespace_name;
  auto add = [&](const char* key, payload::MetadataValue v) {
    c.metadata.emplace_back(key, std::move(v));
  };
  if (!facts.os.empty()) add("os", facts.os);
  if (!facts.cpu_arch.empty()) add("cpu_arch", facts.cpu_arch);
  if (facts.total_memory_bytes) {
    add("total_memory_bytes", static_cast<double>(*facts.total_memory_bytes));
  }
  if (!proplet_version.empty()) add("proplet_version", proplet_version);
  if (!facts.hostname.empty()) add("hostname", facts.hostname);
  if (!facts.ip.empty()) add("ip", facts.ip);
  return c;
}

payload::Alive BuildAlive(const std::string& proplet_id,
                          const std::string& namespace_name) {
  return payload::Alive{proplet_id, "alive", namespace_name};
}

}  // namespace propmon::exporter
