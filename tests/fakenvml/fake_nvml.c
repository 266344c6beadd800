/* A fake libnvidia-ml for tests: implements exactly the NVML calls
 * exporter/collectors/gpu.cc uses, with behaviour chosen by environment
 * variables read on every call:
 *   FAKE_NVML_GPUS        number of GPUs (default 2, at most 8)
 *   FAKE_NVML_FAIL        comma-separated NVML function names that return
 *                         NVML_ERROR_UNKNOWN (999)
 *   FAKE_NVML_UNSUPPORTED comma-separated names returning
 *                         NVML_ERROR_NOT_SUPPORTED (3)
 *   FAKE_NVML_INIT        "no_driver": nvmlInit_v2 returns
 *                         NVML_ERROR_DRIVER_NOT_LOADED (9)
 *   FAKE_NVML_PROCESSES   compute processes "gpu:pid:bytes,..." ("-" as
 *                         bytes: NVML_VALUE_NOT_AVAILABLE)
 *   FAKE_NVML_GRAPHICS    graphics processes, same format
 * Device i reports: name "Fake GPU i", UUID
 * "GPU-fake-0000-0000-0000-00000000000i", minor number 10+i, utilization
 * gpu 10+10i % / memory 5+i %, memory total 80 GiB, used (1+i) GiB, free the
 * rest, temperature 40+i C, power 150000+1000i mW, SM clock 1500+10i MHz,
 * PCIe TX 1000+i KB/s, RX 2000+i KB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
  unsigned int gpu, memory;
} nvmlUtilization_t;
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;

enum {
  kSuccess = 0,
  kUninitialized = 1,
  kInvalidArgument = 2,
  kNotSupported = 3,
  kInsufficientSize = 7,
  kDriverNotLoaded = 9,
  kUnknown = 999,
};

struct nvmlDevice_st {
  unsigned int index;
};
static struct nvmlDevice_st g_devices[8];
static int g_initialized = 0;

static int Listed(const char* env, const char* fn) {
  const char* list = getenv(env);
  size_t n = strlen(fn);
  while (list != NULL && *list != '\0') {
    const char* end = strchr(list, ',');
    size_t len = end ? (size_t)(end - list) : strlen(list);
    if (len == n && strncmp(list, fn, n) == 0) return 1;
    if (end == NULL) break;
    list = end + 1;
  }
  return 0;
}

/* Returns the forced result for `fn`, or kSuccess. */
static nvmlReturn_t Forced(const char* fn) {
  if (Listed("FAKE_NVML_FAIL", fn)) return kUnknown;
  if (Listed("FAKE_NVML_UNSUPPORTED", fn)) return kNotSupported;
  return kSuccess;
}

static unsigned int GpuCount(void) {
  const char* s = getenv("FAKE_NVML_GPUS");
  long n = s ? strtol(s, NULL, 10) : 2;
  if (n < 0) n = 0;
  if (n > 8) n = 8;
  return (unsigned int)n;
}

static int ValidDevice(nvmlDevice_t d) {
  return g_initialized && d != NULL && d >= &g_devices[0] &&
         d < &g_devices[8] && d->index < GpuCount();
}

#define CHECK(fn, dev)                              \
  do {                                              \
    if (!g_initialized) return kUninitialized;      \
    if (!ValidDevice(dev)) return kInvalidArgument; \
    nvmlReturn_t forced_ = Forced(fn);              \
    if (forced_ != kSuccess) return forced_;        \
  } while (0)

EXPORT nvmlReturn_t nvmlInit_v2(void) {
  const char* init = getenv("FAKE_NVML_INIT");
  if (init && strcmp(init, "no_driver") == 0) return kDriverNotLoaded;
  nvmlReturn_t r = Forced("nvmlInit_v2");
  if (r != kSuccess) return r;
  for (unsigned int i = 0; i < 8; ++i) g_devices[i].index = i;
  g_initialized = 1;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlShutdown(void) {
  if (!g_initialized) return kUninitialized;
  g_initialized = 0;
  return kSuccess;
}

EXPORT const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kNotSupported:
      return "Not Supported";
    case kInsufficientSize:
      return "Insufficient Size";
    case kDriverNotLoaded:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (!g_initialized) return kUninitialized;
  if (count == NULL) return kInvalidArgument;
  nvmlReturn_t r = Forced("nvmlDeviceGetCount_v2");
  if (r != kSuccess) return r;
  *count = GpuCount();
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index,
                                                  nvmlDevice_t* device) {
  if (!g_initialized) return kUninitialized;
  if (device == NULL || index >= GpuCount()) return kInvalidArgument;
  char fn[64];
  snprintf(fn, sizeof(fn), "nvmlDeviceGetHandleByIndex_v2:%u", index);
  nvmlReturn_t r = Forced(fn);
  if (r == kSuccess) r = Forced("nvmlDeviceGetHandleByIndex_v2");
  if (r != kSuccess) return r;
  *device = &g_devices[index];
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char* name,
                                      unsigned int length) {
  CHECK("nvmlDeviceGetName", d);
  if (name == NULL) return kInvalidArgument;
  int n = snprintf(name, length, "Fake GPU %u", d->index);
  return n < 0 || (unsigned int)n >= length ? kInsufficientSize : kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char* uuid,
                                      unsigned int length) {
  CHECK("nvmlDeviceGetUUID", d);
  if (uuid == NULL) return kInvalidArgument;
  int n =
      snprintf(uuid, length, "GPU-fake-0000-0000-0000-00000000000%u", d->index);
  return n < 0 || (unsigned int)n >= length ? kInsufficientSize : kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d,
                                             unsigned int* minor) {
  CHECK("nvmlDeviceGetMinorNumber", d);
  if (minor == NULL) return kInvalidArgument;
  *minor = 10 + d->index;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d,
                                                  nvmlUtilization_t* u) {
  CHECK("nvmlDeviceGetUtilizationRates", d);
  if (u == NULL) return kInvalidArgument;
  u->gpu = 10 + 10 * d->index;
  u->memory = 5 + d->index;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t* m) {
  CHECK("nvmlDeviceGetMemoryInfo", d);
  if (m == NULL) return kInvalidArgument;
  const unsigned long long gib = 1024ULL * 1024 * 1024;
  m->total = 80 * gib;
  m->used = (1 + d->index) * gib;
  m->free = m->total - m->used;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor,
                                             unsigned int* temp) {
  CHECK("nvmlDeviceGetTemperature", d);
  if (temp == NULL || sensor != 0) return kInvalidArgument;
  *temp = 40 + d->index;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d,
                                            unsigned int* power) {
  CHECK("nvmlDeviceGetPowerUsage", d);
  if (power == NULL) return kInvalidArgument;
  *power = 150000 + 1000 * d->index;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type,
                                           unsigned int* clock) {
  CHECK("nvmlDeviceGetClockInfo", d);
  if (clock == NULL || type != 1 /* NVML_CLOCK_SM */) return kInvalidArgument;
  *clock = 1500 + 10 * d->index;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter,
                                                unsigned int* value) {
  CHECK("nvmlDeviceGetPcieThroughput", d);
  if (value == NULL || counter < 0 || counter > 1) return kInvalidArgument;
  *value = (counter == 0 ? 1000 : 2000) + d->index;
  return kSuccess;
}

/* Fills `infos` from "gpu:pid:bytes,..." entries for device `index`. */
static nvmlReturn_t Processes(const char* env, unsigned int index,
                              unsigned int* count, nvmlProcessInfo_t* infos) {
  if (count == NULL) return kInvalidArgument;
  nvmlProcessInfo_t found[64];
  unsigned int n = 0;
  const char* s = getenv(env);
  while (s != NULL && *s != '\0' && n < 64) {
    unsigned int gpu = 0, pid = 0;
    char bytes[32] = {0};
    if (sscanf(s, "%u:%u:%31[^,]", &gpu, &pid, bytes) == 3 && gpu == index) {
      found[n].pid = pid;
      found[n].usedGpuMemory =
          strcmp(bytes, "-") == 0 ? ~0ULL : strtoull(bytes, NULL, 10);
      found[n].gpuInstanceId = ~0U;
      found[n].computeInstanceId = ~0U;
      ++n;
    }
    s = strchr(s, ',');
    if (s != NULL) ++s;
  }
  if (*count < n) {
    *count = n;
    return kInsufficientSize;
  }
  if (n > 0) {
    if (infos == NULL) return kInvalidArgument;
    memcpy(infos, found, n * sizeof(found[0]));
  }
  *count = n;
  return kSuccess;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(
    nvmlDevice_t d, unsigned int* count, nvmlProcessInfo_t* infos) {
  CHECK("nvmlDeviceGetComputeRunningProcesses_v3", d);
  return Processes("FAKE_NVML_PROCESSES", d->index, count, infos);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(
    nvmlDevice_t d, unsigned int* count, nvmlProcessInfo_t* infos) {
  CHECK("nvmlDeviceGetGraphicsRunningProcesses_v3", d);
  return Processes("FAKE_NVML_GRAPHICS", d->index, count, infos);
}
