// propmon-bridge benchmarks (Google Benchmark; never run as tests).
//
//   build-*/bench/bridge_bench --benchmark_counters_tabular=true
//
// - BM_DecodeAndApply: CPU per task_metrics message on the worker (decode,
//   translate, store, REST history), rotating over 1000 tasks.
// - BM_PipelineSaturation: the same through the real queue and worker
//   thread, the benchmark thread playing the MQTT thread (Enqueue): process
//   CPU per message and messages per second at saturation.
// - BM_SeriesMemory: heap bytes per series, realistic (whole tasks through
//   the Propeller mapping: label sets shared by a task's 17 series) and
//   worst case (every series its own label set); RSS growth alongside.
// - BM_DeviceMapping: CPU per message through a configurable mapping
//   (DeviceMapping::Apply): a DHT22-style object with three fields from 1000
//   devices (mqtt2prometheus' shape), and a fan-out over an 8-element array
//   with a label per element.
// - BM_TopicRegex: one topic search with groups, RE2 (common/regex.h, what
//   the bridge uses) against std::regex (what it used before), for the
//   DHT22 regex and mqtt2prometheus' default device regex, on a 24-byte
//   topic and a 1000-byte one.
// - BM_Render / BM_RenderGzip / BM_Scrape: /metrics at 10k, 100k, 300k
//   series: rendering, rendering + gzip (what Prometheus asks for), and a
//   full HTTP scrape over loopback.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "bridge/device_mapping.h"
#include "bridge/mapping_spec.h"
#include "bridge/series_store.h"
#include "common/clock.h"
#include "common/gzip.h"
#include "common/payload.h"
#include "common/regex.h"

namespace propmon::bridge {
namespace {

const char kTopic[] = "m/dom-1/c/chan-1/control/proplet/task_metrics";

std::string TaskPayload(int task, int proplet) {
  return R"({"task_id":"550e8400-e29b-41d4-a716-)" +
         std::to_string(100000000000 + task) +
         R"(","proplet_id":"7c9e6679-7425-40de-944b-)" +
         std::to_string(100000000000 + proplet) +
         R"(","metrics":{"cpu_percent":23.5,"memory_bytes":52428800,"memory_percent":1.2,"disk_read_bytes":1048576,"disk_write_bytes":524288,"network_rx_bytes":2048,"network_tx_bytes":4096,"uptime_seconds":45,"thread_count":2,"file_descriptor_count":8},"aggregated":{"avg_cpu_usage":38.2,"max_cpu_usage":65.0,"avg_memory_usage":62914560,"max_memory_usage":71303168,"total_disk_read":2097152,"total_disk_write":1048576,"total_network_rx":12288,"total_network_tx":24576,"sample_count":24},"timestamp":"2025-01-15T10:35:22.123456Z"})";
}

std::vector<std::string> Payloads(int tasks, int tasks_per_proplet) {
  std::vector<std::string> out;
  out.reserve(tasks);
  for (int i = 0; i < tasks; ++i) {
    out.push_back(TaskPayload(i, i / tasks_per_proplet));
  }
  return out;
}

BridgeConfig BenchConfig() {
  BridgeConfig c;
  c.listen_address = "127.0.0.1:0";
  c.series_limit = 10000000;
  c.queue_size = 1000000;
  return c;
}

void BM_DecodeAndApply(benchmark::State& state) {
  FakeClock clock;
  SeriesStore store(SeriesStore::Options{10000000}, &clock);
  HistoryStore task_history(HistoryStore::Options{});
  HistoryStore proplet_history(HistoryStore::Options{});
  StreamHub hub(StreamHub::Options{});
  PropellerMapping mapping(PropellerOptions{}, &store, &task_history,
                           &proplet_history, &hub, &clock);
  auto payloads = Payloads(1000, 50);
  payload::DecodeOptions opt;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& p = payloads[i++ % payloads.size()];
    opt.receive_time = clock.Now();
    auto d = payload::DecodeMessage(kTopic, p, opt);
    if (!d.ok()) {
      state.SkipWithError("decode failed");
      break;
    }
    // The copy stands for the one Bridge::Enqueue makes on the MQTT thread;
    // the mapping moves it into the REST history.
    std::string kept = p;
    benchmark::DoNotOptimize(
        mapping.Apply(*d, kTopic, clock.Now(), clock.Monotonic(), &kept));
    clock.Advance(0.001);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["series"] = static_cast<double>(store.size());
}
BENCHMARK(BM_DecodeAndApply);

void BM_DeviceMapping(benchmark::State& state) {
  const bool fanout = state.range(0) == 1;
  FakeClock clock;
  SeriesStore store(SeriesStore::Options{1000000}, &clock);
  MappingSpec spec;
  spec.name = "bench";
  spec.topics = {"devices/+/sensor"};
  spec.topic_regex = *Regex::Compile("devices/(?P<deviceid>[^/]+)/");
  spec.topic_labels = {{"sensor", "deviceid"}};
  spec.topic_labels_default = false;
  spec.topic_label = "topic";
  spec.receive_timestamps = true;
  auto metric = [](const char* name, const char* path) {
    MetricSpec m;
    m.name = name;
    m.value = *ParseValuePath(path);
    return m;
  };
  if (fanout) {
    MetricSpec m = metric("slot_temp_celsius", "slots[*].t");
    m.json_labels = {{"pos", *ParseValuePath("slots[*].pos")}};
    spec.metrics = {m};
  } else {
    spec.metrics = {metric("temperature", "temperature"),
                    metric("humidity", "humidity"),
                    metric("heat_index", "computed.heat_index")};
  }
  auto mapping = std::move(DeviceMapping::Create(spec, &store)).value();
  std::vector<std::string> topics;
  for (int i = 0; i < 1000; ++i) {
    topics.push_back("devices/dev-" + std::to_string(i) + "/sensor");
  }
  std::string payload;
  if (fanout) {
    payload = "{\"slots\":[";
    for (int i = 0; i < 8; ++i) {
      payload += (i ? "," : "") + std::string("{\"pos\":\"p") +
                 std::to_string(i) + "\",\"t\":" + std::to_string(20 + i) +
                 ".5}";
    }
    payload += "]}";
  } else {
    payload =
        R"({"temperature":23.20,"humidity":51.60,"computed":{"heat_index":22.92}})";
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = mapping->Apply(topics[i++ % topics.size()], payload, 1.7e9);
    benchmark::DoNotOptimize(r);
  }
  state.counters["series"] = static_cast<double>(store.size());
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(fanout ? "fan-out 8 elements" : "dht22 3 fields");
}
BENCHMARK(BM_DeviceMapping)->Arg(0)->Arg(1);

void BM_TopicRegex(benchmark::State& state) {
  const bool re2 = state.range(0) == 1;
  const bool dht22 = state.range(1) == 0;
  const bool long_topic = state.range(2) == 1;
  // The same patterns; std::regex has no named groups, so plain ones.
  const char* named =
      dht22 ? "^devices/(?P<deviceid>[^/]+)/dht22$" : "(.*/)?(?P<deviceid>.*)";
  const char* plain = dht22 ? "^devices/([^/]+)/dht22$" : "(.*/)?(.*)";
  std::string topic = "devices/livingroom/dht22";
  if (long_topic) {
    topic = "devices/" + std::string(986, 'r') + "/dht22";  // 1000 bytes
  }
  const Regex ours = *Regex::Compile(named);
  const std::regex theirs(plain, std::regex::ECMAScript);
  std::vector<std::pair<std::string, std::string>> groups;
  std::smatch m;
  for (auto _ : state) {
    bool ok;
    if (re2) {
      ok = ours.Search(topic, &groups);
    } else {
      ok = std::regex_search(topic, m, theirs);
      if (ok) groups.assign(1, {"deviceid", m[dht22 ? 1 : 2].str()});
    }
    if (!ok) state.SkipWithError("no match");
    benchmark::DoNotOptimize(groups);
  }
  state.SetLabel(std::string(re2 ? "re2" : "std::regex") + ", " +
                 (dht22 ? "dht22" : "mqtt2prometheus default") + ", " +
                 std::to_string(topic.size()) + " B");
}
BENCHMARK(BM_TopicRegex)->ArgsProduct({{0, 1}, {0, 1}, {0, 1}});

void BM_PipelineSaturation(benchmark::State& state) {
  Bridge bridge(BenchConfig());
  if (!bridge.Start(false).ok()) {
    state.SkipWithError("start failed");
    return;
  }
  auto payloads = Payloads(1000, 50);
  const int kBatch = 20000;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      bridge.Enqueue(kTopic,
                     payloads[static_cast<size_t>(i) % payloads.size()]);
    }
    bridge.WaitIdle(std::chrono::seconds(60));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["dropped"] = static_cast<double>(bridge.dropped_total());
  bridge.Stop();
}
BENCHMARK(BM_PipelineSaturation)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

long RssBytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

// Arg 0: realistic (whole tasks through the mapping, history off);
// arg 1: worst case (one label set per series, store only).
void BM_SeriesMemory(benchmark::State& state) {
  const int kSeries = 300000;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);
    size_t heap0 = mallinfo2().uordblks;
    long rss0 = RssBytes();
    state.ResumeTiming();
    FakeClock clock;
    auto store =
        std::make_unique<SeriesStore>(SeriesStore::Options{10000000}, &clock);
    std::unique_ptr<PropellerMapping> mapping;
    if (state.range(0) == 0) {
      mapping = std::make_unique<PropellerMapping>(
          PropellerOptions{}, store.get(), nullptr, nullptr, nullptr, &clock);
      payload::DecodeOptions opt;
      for (int i = 0; store->size() < static_cast<size_t>(kSeries); ++i) {
        std::string p = TaskPayload(i, i / 50);
        auto d = payload::DecodeMessage(kTopic, p, opt);
        mapping->Apply(*d, kTopic, clock.Now(), clock.Monotonic());
      }
    } else {
      auto fam = store->RegisterFamily("proplet_task_memory_bytes", "x",
                                       MetricType::kGauge);
      MappingId m = store->RegisterMapping("bench");
      auto w = store->Write();
      for (int i = 0; i < kSeries; ++i) {
        std::string task =
            "550e8400-e29b-41d4-a716-" + std::to_string(100000000000 + i);
        const Label l[] = {
            {"domain", "dom-1"},
            {"channel", "chan-1"},
            {"proplet_id", "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
            {"task_id", task}};
        w.Set(*fam, l, i, 60, m);
      }
    }
    state.PauseTiming();
    double series = static_cast<double>(store->size());
    state.counters["series"] = series;
    state.counters["heap_bytes_per_series"] =
        static_cast<double>(mallinfo2().uordblks - heap0) / series;
    state.counters["rss_bytes_per_series"] =
        static_cast<double>(RssBytes() - rss0) / series;
    mapping.reset();
    store.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SeriesMemory)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// Bridges holding about N series, built once per N.
Bridge* BridgeWithSeries(int n) {
  static std::map<int, std::unique_ptr<Bridge>> bridges;
  auto& b = bridges[n];
  if (!b) {
    BridgeConfig c = BenchConfig();
    c.history_per_id = 0;
    b = std::make_unique<Bridge>(c);
    if (!b->Start(false).ok()) return nullptr;
    // 17 series per task plus 3 per proplet (50 tasks each): add tasks in
    // steps of 10 until the store holds n series.
    for (int i = 0; b->store().size() < static_cast<size_t>(n); ++i) {
      for (int k = 0; k < 10; ++k) {
        b->Enqueue(kTopic, TaskPayload(i * 10 + k, (i * 10 + k) / 50));
      }
      b->WaitIdle(std::chrono::seconds(60));
    }
  }
  return b.get();
}

void BM_Render(benchmark::State& state) {
  Bridge* b = BridgeWithSeries(static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = b->RenderMetrics();
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["series"] = static_cast<double>(b->store().size());
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render)->Arg(10000)->Arg(100000)->Arg(300000)->Unit(
    benchmark::kMillisecond);

void BM_RenderGzip(benchmark::State& state) {
  Bridge* b = BridgeWithSeries(static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string z = GzipCompress(b->RenderMetrics());
    bytes = z.size();
    benchmark::DoNotOptimize(z.data());
  }
  state.counters["gzip_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderGzip)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(300000)
    ->Unit(benchmark::kMillisecond);

// The compression alone, on the rendered body of 10k/100k/300k series:
// libdeflate (what /metrics uses) against zlib, both at level 1.
template <std::string (*Compress)(std::string_view, int)>
void BM_Gzip(benchmark::State& state) {
  Bridge* b = BridgeWithSeries(static_cast<int>(state.range(0)));
  const std::string body = b->RenderMetrics();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string z = Compress(body, 1);
    bytes = z.size();
    benchmark::DoNotOptimize(z.data());
  }
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.counters["gzip_bytes"] = static_cast<double>(bytes);
}
BENCHMARK_TEMPLATE(BM_Gzip, GzipCompress)
    ->Name("BM_GzipLibdeflate")
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(300000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Gzip, GzipCompressZlib)
    ->Name("BM_GzipZlib")
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(300000)
    ->Unit(benchmark::kMillisecond);

// One GET over loopback; returns the bytes received (headers + body).
size_t HttpGetBytes(int port, const std::string& path, bool gzip) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return 0;
  }
  std::string req = "GET " + path +
                    " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                    (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  size_t total = 0;
  char buf[1 << 16];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
    total += static_cast<size_t>(n);
  close(fd);
  return total;
}

// Arg 0: series; arg 1: 1 = Accept-Encoding: gzip (as Prometheus sends).
void BM_Scrape(benchmark::State& state) {
  Bridge* b = BridgeWithSeries(static_cast<int>(state.range(0)));
  bool gzip = state.range(1) != 0;
  size_t bytes = 0;
  for (auto _ : state) bytes = HttpGetBytes(b->port(), "/metrics", gzip);
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)
    ->Args({10000, 1})
    ->Args({100000, 1})
    ->Args({300000, 0})
    ->Args({300000, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace propmon::bridge

BENCHMARK_MAIN();
