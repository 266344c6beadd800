// The `gpu` collector: NVIDIA GPUs through the NVIDIA Management Library,
// loaded at run time with dlopen("libnvidia-ml.so.1") so the binary has no
// build-time GPU dependency. Series use dcgm-exporter's names, units and
// labels {gpu, UUID, device, modelName, Hostname} so NVIDIA's dashboards
// work: DCGM_FI_DEV_GPU_UTIL and DCGM_FI_DEV_MEM_COPY_UTIL (%),
// DCGM_FI_DEV_FB_USED/FREE/TOTAL (MiB), DCGM_FI_DEV_GPU_TEMP (°C),
// DCGM_FI_DEV_POWER_USAGE (W), DCGM_FI_DEV_SM_CLOCK (MHz),
// DCGM_FI_DEV_PCIE_TX/RX_THROUGHPUT (KB/s over NVML's 20 ms sample).
//
// States: no library (or NVML says no driver is loaded) -> no samples and
// success (a GPU-less host is not an error); a readable GPU whose one query
// fails or is unsupported -> that series is absent, the rest are present;
// NVML init or device enumeration failing -> the collector fails (success 0)
// and init is retried on the next scrape.
#ifndef PROPMON_EXPORTER_COLLECTORS_GPU_H_
#define PROPMON_EXPORTER_COLLECTORS_GPU_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/collectors/collector.h"

namespace propmon::exporter {

// The environment variable that overrides the library path (tests point it
// at the fake libnvidia-ml built under tests/fakenvml).
inline constexpr char kNvmlLibraryEnv[] = "PROPMON_NVML_LIBRARY";
inline constexpr char kDefaultNvmlLibrary[] = "libnvidia-ml.so.1";

struct NvmlApi;  // Resolved function pointers (gpu.cc).

class GpuCollector : public Collector {
 public:
  struct Options {
    // Library to dlopen. Empty: $PROPMON_NVML_LIBRARY if set, else
    // libnvidia-ml.so.1 (found through the dynamic loader's search path).
    std::string library;
    // The Hostname label. Empty: gethostname(), unless `privacy`.
    std::string hostname;
    // The Hostname label is "" (the label stays, so the label set never
    // changes) and gethostname() is not called.
    bool privacy = false;
  };

  GpuCollector();
  explicit GpuCollector(Options options);
  // Calls nvmlShutdown() if NVML was initialized. The library stays mapped
  // (NVML is not designed to be unloaded).
  ~GpuCollector() override;
  GpuCollector(const GpuCollector&) = delete;
  GpuCollector& operator=(const GpuCollector&) = delete;

  std::string_view Name() const override { return "gpu"; }
  // Thread-safe (one NVML pass at a time); loads NVML on first use.
  Status Collect(std::vector<prometheus::MetricFamily>* out) override;

  // Returns GPU memory in bytes used per process (compute and graphics
  // contexts, summed over GPUs), as of the last Collect() or
  // RefreshProcessMemory(). A process NVML lists without a figure
  // (NVML_VALUE_NOT_AVAILABLE) is left out. Empty without NVML.
  // Thread-safe and cheap (does not call NVML).
  std::map<pid_t, uint64_t> ProcessMemory() const;
  // The same, or nullopt while no complete figure is known: NVML absent or
  // broken, no pass yet, or the last pass failed on some GPU (a partial sum
  // would be a wrong number). What the task series use: without a figure,
  // proplet_task_gpu_memory_bytes is absent, never 0.
  std::optional<std::map<pid_t, uint64_t>> KnownProcessMemory() const;

  // Queries NVML for per-process memory now (for callers that publish
  // between scrapes) and updates the ProcessMemory() cache. OK with no
  // effect when NVML is absent. Thread-safe.
  Status RefreshProcessMemory();

  // True once the library was loaded and initialized. Thread-safe.
  bool available() const;

 private:
  enum class State { kUnloaded, kAbsent, kBroken, kLoaded, kReady };
  // Requires mu_. Loads/initializes NVML as needed; OK means "go on if
  // state_ == kReady".
  Status EnsureReady();
  // Requires mu_ and kReady. Sums per-process memory over all devices.
  Status QueryProcessMemory(std::map<pid_t, uint64_t>* out);

  Options options_;
  mutable std::mutex mu_;  // Guards everything below but cache_.
  State state_ = State::kUnloaded;
  std::string broken_reason_;
  void* handle_ = nullptr;
  std::unique_ptr<NvmlApi> api_;

  mutable std::mutex cache_mu_;
  std::map<pid_t, uint64_t> cache_;
  bool cache_known_ = false;  // GUARDED_BY(cache_mu_)
};

}  // namespace propmon::exporter

#endif  // PROPMON_EXPORTER_COLLECTORS_GPU_H_
