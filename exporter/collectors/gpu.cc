#include "exporter/collectors/gpu.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/log.h"
#include "common/metrics.h"

namespace propmon::exporter {

// The slice of nvml.h this collector uses, declared here so that building
// needs no NVIDIA headers. Layouts follow NVML's stable C ABI.
namespace nvml {
using Return = int;  // nvmlReturn_t
using Device = struct DeviceSt*;
constexpr Return kSuccess = 0;
constexpr Return kErrorNotSupported = 3;
constexpr Return kErrorInsufficientSize = 7;
constexpr Return kErrorDriverNotLoaded = 9;
constexpr Return kErrorLibraryNotFound = 12;
constexpr int kTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr int kClockSm = 1;         // NVML_CLOCK_SM
constexpr int kPcieUtilTxBytes = 0;
constexpr int kPcieUtilRxBytes = 1;
constexpr unsigned long long kValueNotAvailable = ~0ULL;
constexpr unsigned int kStringBuffer = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

struct Memory {  // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct Utilization {  // nvmlUtilization_t
  unsigned int gpu;
  unsigned int memory;
};
// nvmlProcessInfo_v1_t is {pid, usedGpuMemory} (16 bytes); the _v2/_v3
// functions fill {pid, usedGpuMemory, gpuInstanceId, computeInstanceId}
// (24 bytes). Both keep pid at offset 0 and usedGpuMemory at offset 8.
constexpr size_t kProcessInfoV1Size = 16;
constexpr size_t kProcessInfoV2Size = 24;
constexpr size_t kPidOffset = 0;
constexpr size_t kUsedMemoryOffset = 8;
}  // namespace nvml

struct NvmlApi {
  using VoidFn = nvml::Return (*)();
  using ErrorStringFn = const char* (*)(nvml::Return);
  using CountFn = nvml::Return (*)(unsigned int*);
  using HandleFn = nvml::Return (*)(unsigned int, nvml::Device*);
  using StringFn = nvml::Return (*)(nvml::Device, char*, unsigned int);
  using UintFn = nvml::Return (*)(nvml::Device, unsigned int*);
  using UintArgFn = nvml::Return (*)(nvml::Device, int, unsigned int*);
  using UtilFn = nvml::Return (*)(nvml::Device, nvml::Utilization*);
  using MemFn = nvml::Return (*)(nvml::Device, nvml::Memory*);
  using ProcsFn = nvml::Return (*)(nvml::Device, unsigned int*, void*);

  VoidFn init = nullptr;
  VoidFn shutdown = nullptr;
  ErrorStringFn error_string = nullptr;
  CountFn device_count = nullptr;
  HandleFn handle_by_index = nullptr;
  StringFn name = nullptr;
  StringFn uuid = nullptr;
  UintFn minor_number = nullptr;
  UtilFn utilization = nullptr;
  MemFn memory = nullptr;
  UintArgFn temperature = nullptr;
  UintFn power_usage = nullptr;
  UintArgFn clock_info = nullptr;
  UintArgFn pcie_throughput = nullptr;
  ProcsFn compute_procs = nullptr;
  size_t compute_stride = 0;
  ProcsFn graphics_procs = nullptr;
  size_t graphics_stride = 0;

  std::string Error(nvml::Return r) const {
    const char* s = error_string ? error_string(r) : nullptr;
    return s ? std::string(s) : "NVML error " + std::to_string(r);
  }
};

namespace {

template <typename Fn>
Fn Sym(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

// Resolves the first symbol of `names` the library has.
template <typename Fn>
Fn SymAny(void* handle, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (Fn f = Sym<Fn>(handle, n)) return f;
  }
  return nullptr;
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// One GPU's readings; a figure NVML could not give is absent.
struct GpuReading {
  unsigned int index = 0;
  std::string uuid;
  std::string name;
  std::string device;  // "nvidia<minor>"
  std::optional<double> util, mem_copy_util, fb_used_mib, fb_free_mib,
      fb_total_mib, temp_c, power_w, sm_clock_mhz, pcie_tx_kbs, pcie_rx_kbs;
};

// Lists one kind of process on `dev` into *per_pid (max per pid: a process
// with both a compute and a graphics context is listed in both).
Status ListProcesses(const NvmlApi& api, NvmlApi::ProcsFn fn, size_t stride,
                     nvml::Device dev, std::map<pid_t, uint64_t>* per_pid) {
  if (fn == nullptr) return Status::Ok();
  std::vector<unsigned char> buf;
  unsigned int cap = 32;
  for (int attempt = 0; attempt < 4; ++attempt) {
    buf.assign(static_cast<size_t>(cap) * stride, 0);
    unsigned int n = cap;
    nvml::Return r = fn(dev, &n, buf.data());
    if (r == nvml::kErrorInsufficientSize) {
      cap = std::max(cap * 2, n + 16);  // Processes may start meanwhile.
      continue;
    }
    if (r != nvml::kSuccess) return Unavailable(api.Error(r));
    n = std::min(n, cap);
    for (unsigned int i = 0; i < n; ++i) {
      unsigned int pid = 0;
      unsigned long long used = 0;
      std::memcpy(&pid, buf.data() + i * stride + nvml::kPidOffset,
                  sizeof(pid));
      std::memcpy(&used, buf.data() + i * stride + nvml::kUsedMemoryOffset,
                  sizeof(used));
      if (used == nvml::kValueNotAvailable) continue;
      uint64_t& slot = (*per_pid)[static_cast<pid_t>(pid)];
      slot = std::max<uint64_t>(slot, used);
    }
    return Status::Ok();
  }
  return Unavailable("process list kept growing");
}

}  // namespace

GpuCollector::GpuCollector() : GpuCollector(Options{}) {}

GpuCollector::GpuCollector(Options options) : options_(std::move(options)) {
  if (options_.library.empty()) {
    const char* env = std::getenv(kNvmlLibraryEnv);
    options_.library = env && *env ? env : kDefaultNvmlLibrary;
  }
  if (options_.privacy) {
    options_.hostname.clear();
  } else if (options_.hostname.empty()) {
    options_.hostname = Hostname();
  }
}

GpuCollector::~GpuCollector() {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kReady && api_ && api_->shutdown) api_->shutdown();
  // No dlclose: NVML keeps threads and handlers; unloading it is unsafe.
}

bool GpuCollector::available() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_ == State::kReady;
}

Status GpuCollector::EnsureReady() {
  if (state_ == State::kAbsent || state_ == State::kReady) return Status::Ok();
  if (state_ == State::kBroken) return Unavailable(broken_reason_);
  if (state_ == State::kUnloaded) {
    handle_ = dlopen(options_.library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* err = dlerror();
      PM_LOG(kInfo) << "gpu: NVML not available (" << (err ? err : "dlopen")
                    << "); no GPU metrics";
      state_ = State::kAbsent;
      return Status::Ok();
    }
    auto api = std::make_unique<NvmlApi>();
    api->init = SymAny<NvmlApi::VoidFn>(handle_, {"nvmlInit_v2", "nvmlInit"});
    api->shutdown = Sym<NvmlApi::VoidFn>(handle_, "nvmlShutdown");
    api->error_string = Sym<NvmlApi::ErrorStringFn>(handle_, "nvmlErrorString");
    api->device_count = SymAny<NvmlApi::CountFn>(
        handle_, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
    api->handle_by_index = SymAny<NvmlApi::HandleFn>(
        handle_,
        {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
    if (!api->init || !api->shutdown || !api->device_count ||
        !api->handle_by_index) {
      broken_reason_ = options_.library +
                       " lacks nvmlInit/nvmlShutdown/nvmlDeviceGetCount/"
                       "nvmlDeviceGetHandleByIndex";
      state_ = State::kBroken;
      return Unavailable(broken_reason_);
    }
    api->name = Sym<NvmlApi::StringFn>(handle_, "nvmlDeviceGetName");
    api->uuid = Sym<NvmlApi::StringFn>(handle_, "nvmlDeviceGetUUID");
    api->minor_number =
        Sym<NvmlApi::UintFn>(handle_, "nvmlDeviceGetMinorNumber");
    api->utilization =
        Sym<NvmlApi::UtilFn>(handle_, "nvmlDeviceGetUtilizationRates");
    api->memory = Sym<NvmlApi::MemFn>(handle_, "nvmlDeviceGetMemoryInfo");
    api->temperature =
        Sym<NvmlApi::UintArgFn>(handle_, "nvmlDeviceGetTemperature");
    api->power_usage = Sym<NvmlApi::UintFn>(handle_, "nvmlDeviceGetPowerUsage");
    api->clock_info =
        Sym<NvmlApi::UintArgFn>(handle_, "nvmlDeviceGetClockInfo");
    api->pcie_throughput =
        Sym<NvmlApi::UintArgFn>(handle_, "nvmlDeviceGetPcieThroughput");
    struct Versioned {
      const char* name;
      size_t stride;
    };
    auto pick = [this](std::initializer_list<Versioned> vs, size_t* stride) {
      for (const auto& v : vs) {
        if (auto f = Sym<NvmlApi::ProcsFn>(handle_, v.name)) {
          *stride = v.stride;
          return f;
        }
      }
      return NvmlApi::ProcsFn{nullptr};
    };
    api->compute_procs = pick(
        {{"nvmlDeviceGetComputeRunningProcesses_v3", nvml::kProcessInfoV2Size},
         {"nvmlDeviceGetComputeRunningProcesses_v2", nvml::kProcessInfoV2Size},
         {"nvmlDeviceGetComputeRunningProcesses", nvml::kProcessInfoV1Size}},
        &api->compute_stride);
    api->graphics_procs = pick(
        {{"nvmlDeviceGetGraphicsRunningProcesses_v3", nvml::kProcessInfoV2Size},
         {"nvmlDeviceGetGraphicsRunningProcesses_v2", nvml::kProcessInfoV2Size},
         {"nvmlDeviceGetGraphicsRunningProcesses", nvml::kProcessInfoV1Size}},
        &api->graphics_stride);
    api_ = std::move(api);
    state_ = State::kLoaded;
  }
  // kLoaded: initialize (again, after a failure).
  nvml::Return r = api_->init();
  if (r == nvml::kErrorDriverNotLoaded || r == nvml::kErrorLibraryNotFound) {
    PM_LOG(kInfo) << "gpu: NVML found but no NVIDIA driver (" << api_->Error(r)
                  << "); no GPU metrics";
    state_ = State::kAbsent;
    return Status::Ok();
  }
  if (r != nvml::kSuccess) {
    return Unavailable("nvmlInit: " + api_->Error(r));
  }
  state_ = State::kReady;
  return Status::Ok();
}

Status GpuCollector::QueryProcessMemory(std::map<pid_t, uint64_t>* out) {
  unsigned int count = 0;
  nvml::Return r = api_->device_count(&count);
  if (r != nvml::kSuccess) {
    return Unavailable("nvmlDeviceGetCount: " + api_->Error(r));
  }
  Status first_error;
  for (unsigned int i = 0; i < count; ++i) {
    nvml::Device dev = nullptr;
    if (api_->handle_by_index(i, &dev) != nvml::kSuccess) continue;
    std::map<pid_t, uint64_t> per_gpu;
    Status s = ListProcesses(*api_, api_->compute_procs, api_->compute_stride,
                             dev, &per_gpu);
    if (s.ok()) {
      s = ListProcesses(*api_, api_->graphics_procs, api_->graphics_stride, dev,
                        &per_gpu);
    }
    if (!s.ok() && first_error.ok()) first_error = s;
    for (const auto& [pid, bytes] : per_gpu) (*out)[pid] += bytes;
  }
  return first_error;
}

Status GpuCollector::RefreshProcessMemory() {
  std::lock_guard<std::mutex> l(mu_);
  Status s = EnsureReady();
  if (!s.ok() || state_ != State::kReady) return s;
  std::map<pid_t, uint64_t> procs;
  s = QueryProcessMemory(&procs);
  std::lock_guard<std::mutex> c(cache_mu_);
  cache_ = std::move(procs);
  cache_known_ = s.ok();
  return s;
}

std::map<pid_t, uint64_t> GpuCollector::ProcessMemory() const {
  std::lock_guard<std::mutex> c(cache_mu_);
  return cache_;
}

std::optional<std::map<pid_t, uint64_t>> GpuCollector::KnownProcessMemory()
    const {
  std::lock_guard<std::mutex> c(cache_mu_);
  if (!cache_known_) return std::nullopt;
  return cache_;
}

Status GpuCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  std::lock_guard<std::mutex> l(mu_);
  Status s = EnsureReady();
  if (!s.ok()) return s;
  if (state_ != State::kReady) return Status::Ok();  // No NVML: no data.
  const NvmlApi& api = *api_;

  unsigned int count = 0;
  nvml::Return r = api.device_count(&count);
  if (r != nvml::kSuccess) {
    std::lock_guard<std::mutex> c(cache_mu_);
    cache_known_ = false;
    return Unavailable("nvmlDeviceGetCount: " + api.Error(r));
  }

  // A failing query leaves its series absent; anything but "not supported"
  // is worth a (rate-limited) warning.
  std::string first_failure;
  auto ok = [&](nvml::Return rc, const char* what) {
    if (rc == nvml::kSuccess) return true;
    if (rc != nvml::kErrorNotSupported && first_failure.empty()) {
      first_failure = std::string(what) + ": " + api.Error(rc);
    }
    return false;
  };

  std::vector<GpuReading> gpus;
  std::map<pid_t, uint64_t> procs;
  unsigned int lost = 0;
  bool procs_complete = true;
  for (unsigned int i = 0; i < count; ++i) {
    nvml::Device dev = nullptr;
    if (!ok(api.handle_by_index(i, &dev), "nvmlDeviceGetHandleByIndex")) {
      ++lost;
      continue;
    }
    GpuReading g;
    g.index = i;
    char buf[nvml::kStringBuffer] = {};
    if (api.uuid && ok(api.uuid(dev, buf, sizeof(buf)), "nvmlDeviceGetUUID")) {
      g.uuid.assign(buf, strnlen(buf, sizeof(buf)));
    }
    std::memset(buf, 0, sizeof(buf));
    if (api.name && ok(api.name(dev, buf, sizeof(buf)), "nvmlDeviceGetName")) {
      g.name.assign(buf, strnlen(buf, sizeof(buf)));
    }
    unsigned int v = 0;
    if (api.minor_number &&
        ok(api.minor_number(dev, &v), "nvmlDeviceGetMinorNumber")) {
      g.device = "nvidia" + std::to_string(v);
    }
    nvml::Utilization u{};
    if (api.utilization &&
        ok(api.utilization(dev, &u), "nvmlDeviceGetUtilizationRates")) {
      g.util = u.gpu;
      g.mem_copy_util = u.memory;
    }
    nvml::Memory m{};
    if (api.memory && ok(api.memory(dev, &m), "nvmlDeviceGetMemoryInfo")) {
      constexpr double kMiB = 1024.0 * 1024.0;
      g.fb_used_mib = static_cast<double>(m.used) / kMiB;
      g.fb_free_mib = static_cast<double>(m.free) / kMiB;
      g.fb_total_mib = static_cast<double>(m.total) / kMiB;
    }
    if (api.temperature && ok(api.temperature(dev, nvml::kTemperatureGpu, &v),
                              "nvmlDeviceGetTemperature")) {
      g.temp_c = v;
    }
    if (api.power_usage &&
        ok(api.power_usage(dev, &v), "nvmlDeviceGetPowerUsage")) {
      g.power_w = v / 1000.0;  // NVML reports milliwatts.
    }
    if (api.clock_info &&
        ok(api.clock_info(dev, nvml::kClockSm, &v), "nvmlDeviceGetClockInfo")) {
      g.sm_clock_mhz = v;
    }
    if (api.pcie_throughput &&
        ok(api.pcie_throughput(dev, nvml::kPcieUtilTxBytes, &v),
           "nvmlDeviceGetPcieThroughput")) {
      g.pcie_tx_kbs = v;
    }
    if (api.pcie_throughput &&
        ok(api.pcie_throughput(dev, nvml::kPcieUtilRxBytes, &v),
           "nvmlDeviceGetPcieThroughput")) {
      g.pcie_rx_kbs = v;
    }
    std::map<pid_t, uint64_t> per_gpu;
    Status ps = ListProcesses(api, api.compute_procs, api.compute_stride, dev,
                              &per_gpu);
    if (ps.ok()) {
      ps = ListProcesses(api, api.graphics_procs, api.graphics_stride, dev,
                         &per_gpu);
    }
    if (!ps.ok()) procs_complete = false;
    if (!ps.ok() && first_failure.empty()) {
      first_failure = "running processes: " + ps.message();
    }
    for (const auto& [pid, bytes] : per_gpu) procs[pid] += bytes;
    gpus.push_back(std::move(g));
  }
  if (!first_failure.empty()) {
    PM_LOG_EVERY_30S(kWarn) << "gpu: " << first_failure;
  }
  {
    std::lock_guard<std::mutex> c(cache_mu_);
    cache_ = std::move(procs);
    // Every GPU listed its processes: the per-process figures are whole.
    cache_known_ = procs_complete && lost == 0;
  }
  if (count > 0 && gpus.empty()) {
    return Unavailable("gpu: none of " + std::to_string(count) +
                       " GPUs could be opened: " + first_failure);
  }
  if (lost > 0) {
    PM_LOG_EVERY_30S(kWarn)
        << "gpu: " << lost << " of " << count << " GPUs could not be opened";
  }

  using prometheus::MetricType;
  struct Series {
    const char* name;
    const char* help;
    std::optional<double> GpuReading::*field;
  };
  static const Series kSeries[] = {
      {"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", &GpuReading::util},
      {"DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).",
       &GpuReading::mem_copy_util},
      {"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).",
       &GpuReading::fb_used_mib},
      {"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
       &GpuReading::fb_free_mib},
      {"DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB).",
       &GpuReading::fb_total_mib},
      {"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", &GpuReading::temp_c},
      {"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", &GpuReading::power_w},
      {"DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).",
       &GpuReading::sm_clock_mhz},
      {"DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
       "PCIe TX throughput (in KB/s, NVML 20 ms sample).",
       &GpuReading::pcie_tx_kbs},
      {"DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
       "PCIe RX throughput (in KB/s, NVML 20 ms sample).",
       &GpuReading::pcie_rx_kbs},
  };
  for (const Series& series : kSeries) {
    FamilyBuilder b(series.name, series.help, MetricType::Gauge);
    for (const GpuReading& g : gpus) {
      const std::optional<double>& val = g.*series.field;
      if (!val) continue;
      b.Add({{"gpu", std::to_string(g.index)},
             {"UUID", g.uuid},
             {"device", g.device},
             {"modelName", g.name},
             {"Hostname", options_.hostname}},
            *val);
    }
    b.MoveTo(out);
  }
  return Status::Ok();
}

}  // namespace propmon::exporter
