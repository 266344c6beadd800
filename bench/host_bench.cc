// Host scrape cost on this machine: HostCollectors::Collect() (every
// collector, GPU included: without NVML it is a no-op), the same plus text
// rendering, and each collector on its own.
#include <benchmark/benchmark.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "common/log.h"
#include "exporter/collectors/host_collectors.h"

namespace propmon::exporter {
namespace {

std::unique_ptr<HostCollectors> Make(std::vector<std::string> enabled) {
  SetLogLevel(LogLevel::kError);
  auto h = MakeHostCollectors(HostCollectorOptions{}, enabled, {});
  if (!h.ok()) std::abort();
  return std::move(*h);
}

void BM_HostScrape(benchmark::State& state) {
  auto h = Make({});
  size_t series = 0;
  for (auto _ : state) {
    auto fams = h->Collect();
    series = 0;
    for (const auto& f : fams) series += f.metric.size();
    benchmark::DoNotOptimize(fams);
  }
  state.counters["series"] = static_cast<double>(series);
}
BENCHMARK(BM_HostScrape)->Unit(benchmark::kMicrosecond);

void BM_HostScrapeAndRender(benchmark::State& state) {
  auto h = Make({});
  size_t bytes = 0;
  for (auto _ : state) {
    std::ostringstream os;
    prometheus::TextSerializer().Serialize(os, h->Collect());
    bytes = os.str().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_HostScrapeAndRender)->Unit(benchmark::kMicrosecond);

void BM_OneCollector(benchmark::State& state) {
  const std::string name = HostCollectorNames()[state.range(0)];
  state.SetLabel(name);
  auto h = Make({name});
  for (auto _ : state) benchmark::DoNotOptimize(h->Collect());
}
BENCHMARK(BM_OneCollector)
    ->DenseRange(0, 11)  // Every name but gpu (index 12).
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace propmon::exporter

BENCHMARK_MAIN();
