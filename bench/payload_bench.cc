// Payload codec benchmarks. Run from the repository root:
//   build-codec/bench/payload_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// The task_metrics payload is tests/fixtures/payload/task_metrics.json (what
// our exporter publishes, 617 bytes) and the released Rust proplet's form.
// The nlohmann rows are baselines for the approaches we did not take.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/payload.h"

namespace propmon::payload {
namespace {

const std::string kTaskMetrics =
    R"({"task_id":"550e8400-e29b-41d4-a716-446655440001","proplet_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","metrics":{"cpu_percent":23.5,"memory_bytes":52428800,"memory_percent":1.2,"disk_read_bytes":1048576,"disk_write_bytes":524288,"network_rx_bytes":2048,"network_tx_bytes":4096,"uptime_seconds":45,"thread_count":2,"file_descriptor_count":8},"aggregated":{"avg_cpu_usage":38.2,"max_cpu_usage":65.0,"avg_memory_usage":62914560,"max_memory_usage":71303168,"total_disk_read":2097152,"total_disk_write":1048576,"total_network_rx":12288,"total_network_tx":24576,"sample_count":24},"timestamp":"2025-01-15T10:35:22.123456Z"})";

const std::string kRustTaskMetrics =
    R"({"task_id":"550e8400-e29b-41d4-a716-446655440001","proplet_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","metrics":{"cpu_percent":12.5,"memory_bytes":42991616000,"memory_percent":0.0,"disk_read_bytes":0,"disk_write_bytes":4096,"uptime_seconds":31,"thread_count":9,"file_descriptor_count":14},"aggregated":null,"timestamp":{"secs_since_epoch":1736937322,"nanos_since_epoch":123456789}})";

const std::string kPropletMetrics =
    R"({"proplet_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","namespace":"default","timestamp":"2025-01-15T10:35:22.500000Z","cpu_metrics":{"user_seconds":12.34,"system_seconds":3.0,"percent":17.25},"memory_metrics":{"rss_bytes":41943040,"container_usage_bytes":268435456,"container_limit_bytes":1073741824}})";

const std::string kTopic =
    "m/0ef2c1f4-36c3-4dd1-b2e0-7d0a3c4d5e6f/c/"
    "8d3b1a2c-4f5e-4a6b-9c7d-1e2f3a4b5c6d/control/proplet/task_metrics";

DecodeOptions Opts() {
  DecodeOptions o;
  o.receive_time = 1736937330.0;
  return o;
}

void BM_DecodeTaskMetrics(benchmark::State& state) {
  DecodeOptions o = Opts();
  for (auto _ : state) {
    Result<Decoded> r = Decode(MessageKind::kTaskMetrics, kTaskMetrics, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * kTaskMetrics.size());
}
BENCHMARK(BM_DecodeTaskMetrics);

void BM_DecodeTaskMetricsRustSystemTime(benchmark::State& state) {
  DecodeOptions o = Opts();
  for (auto _ : state) {
    Result<Decoded> r = Decode(MessageKind::kTaskMetrics, kRustTaskMetrics, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * kRustTaskMetrics.size());
}
BENCHMARK(BM_DecodeTaskMetricsRustSystemTime);

// What the bridge calls: topic parse + decode + domain/channel copies.
void BM_DecodeMessageWithTopic(benchmark::State& state) {
  DecodeOptions o = Opts();
  for (auto _ : state) {
    Result<Decoded> r = DecodeMessage(kTopic, kTaskMetrics, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * kTaskMetrics.size());
}
BENCHMARK(BM_DecodeMessageWithTopic);

void BM_DecodePropletMetrics(benchmark::State& state) {
  DecodeOptions o = Opts();
  for (auto _ : state) {
    Result<Decoded> r =
        Decode(MessageKind::kPropletMetrics, kPropletMetrics, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * kPropletMetrics.size());
}
BENCHMARK(BM_DecodePropletMetrics);

void BM_IsValidJson(benchmark::State& state) {
  for (auto _ : state) {
    bool ok = IsValidJson(kTaskMetrics);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(state.iterations() * kTaskMetrics.size());
}
BENCHMARK(BM_IsValidJson);

void BM_ParseTopic(benchmark::State& state) {
  for (auto _ : state) {
    Result<Topic> t = ParseTopic(kTopic);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseTopic);

// Baseline: nlohmann DOM parse, then read the same fields.
void BM_NlohmannDomTaskMetrics(benchmark::State& state) {
  for (auto _ : state) {
    nlohmann::json j = nlohmann::json::parse(kTaskMetrics, nullptr, false);
    TaskMetrics m;
    m.task_id = j["task_id"].get<std::string>();
    m.proplet_id = j["proplet_id"].get<std::string>();
    const auto& mm = j["metrics"];
    m.metrics.cpu_percent = mm["cpu_percent"].get<double>();
    m.metrics.memory_bytes = mm["memory_bytes"].get<double>();
    m.metrics.memory_percent = mm["memory_percent"].get<double>();
    m.metrics.disk_read_bytes = mm["disk_read_bytes"].get<double>();
    m.metrics.disk_write_bytes = mm["disk_write_bytes"].get<double>();
    m.metrics.network_rx_bytes = mm["network_rx_bytes"].get<double>();
    m.metrics.network_tx_bytes = mm["network_tx_bytes"].get<double>();
    m.metrics.uptime_seconds = mm["uptime_seconds"].get<double>();
    m.metrics.thread_count = mm["thread_count"].get<double>();
    m.metrics.file_descriptor_count = mm["file_descriptor_count"].get<double>();
    const auto& a = j["aggregated"];
    AggregatedMetrics ag;
    ag.avg_cpu_usage = a["avg_cpu_usage"].get<double>();
    ag.max_cpu_usage = a["max_cpu_usage"].get<double>();
    ag.avg_memory_usage = a["avg_memory_usage"].get<double>();
    ag.max_memory_usage = a["max_memory_usage"].get<double>();
    ag.total_disk_read = a["total_disk_read"].get<double>();
    ag.total_disk_write = a["total_disk_write"].get<double>();
    ag.total_network_rx = a["total_network_rx"].get<double>();
    ag.total_network_tx = a["total_network_tx"].get<double>();
    ag.sample_count = a["sample_count"].get<double>();
    m.aggregated = ag;
    m.timestamp = ParseRfc3339(j["timestamp"].get<std::string>()).value_or(0);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(state.iterations() * kTaskMetrics.size());
}
BENCHMARK(BM_NlohmannDomTaskMetrics);

// Baseline: nlohmann's SAX parser with a handler that does nothing (a lower
// bound for any decoder built on it).
struct NullSax : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }
};

void BM_NlohmannSaxNoop(benchmark::State& state) {
  NullSax sax;
  for (auto _ : state) {
    bool ok = nlohmann::json::sax_parse(kTaskMetrics, &sax);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(state.iterations() * kTaskMetrics.size());
}
BENCHMARK(BM_NlohmannSaxNoop);

TaskMetrics SampleTaskMetrics() {
  Result<Decoded> r = Decode(MessageKind::kTaskMetrics, kTaskMetrics, Opts());
  return *r->As<TaskMetrics>();
}

// The exporter's path: encode into a reused buffer.
void BM_EncodeTaskMetricsReusedBuffer(benchmark::State& state) {
  TaskMetrics m = SampleTaskMetrics();
  std::string out;
  for (auto _ : state) {
    out.clear();
    AppendJson(m, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeTaskMetricsReusedBuffer);

void BM_EncodeTaskMetrics(benchmark::State& state) {
  TaskMetrics m = SampleTaskMetrics();
  for (auto _ : state) {
    std::string s = Encode(m);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_EncodeTaskMetrics);

void BM_EncodeTaskMetricsNlohmann(benchmark::State& state) {
  TaskMetrics m = SampleTaskMetrics();
  for (auto _ : state) {
    nlohmann::json j;
    j["task_id"] = m.task_id;
    j["proplet_id"] = m.proplet_id;
    auto& mm = j["metrics"];
    mm["cpu_percent"] = *m.metrics.cpu_percent;
    mm["memory_bytes"] = static_cast<uint64_t>(*m.metrics.memory_bytes);
    mm["memory_percent"] = *m.metrics.memory_percent;
    mm["disk_read_bytes"] = static_cast<uint64_t>(*m.metrics.disk_read_bytes);
    mm["disk_write_bytes"] = static_cast<uint64_t>(*m.metrics.disk_write_bytes);
    mm["network_rx_bytes"] = static_cast<uint64_t>(*m.metrics.network_rx_bytes);
    mm["network_tx_bytes"] = static_cast<uint64_t>(*m.metrics.network_tx_bytes);
    mm["uptime_seconds"] = static_cast<uint64_t>(*m.metrics.uptime_seconds);
    mm["thread_count"] = static_cast<uint64_t>(*m.metrics.thread_count);
    mm["file_descriptor_count"] =
        static_cast<uint64_t>(*m.metrics.file_descriptor_count);
    j["aggregated"] = nullptr;
    j["timestamp"] = FormatRfc3339(m.timestamp);
    std::string s = j.dump();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_EncodeTaskMetricsNlohmann);

void BM_FormatRfc3339(benchmark::State& state) {
  double t = 1736937322.123456;
  for (auto _ : state) {
    std::string s = FormatRfc3339(t);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_FormatRfc3339);

void BM_ParseRfc3339(benchmark::State& state) {
  for (auto _ : state) {
    auto t = ParseRfc3339("2025-01-15T10:35:22.123456Z");
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseRfc3339);

}  // namespace
}  // namespace propmon::payload

BENCHMARK_MAIN();
