// The GPU collector against the fake libnvidia-ml built from
// tests/fakenvml/fake_nvml.c (behaviour set through FAKE_NVML_* variables;
// see that file for what each fake GPU reports).
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <stdlib.h>

#include <sstream>
#include <string>
#include <vector>

#include "exporter/collectors/gpu.h"
#include "exporter/collectors/host_collectors.h"
#include "tests/testutil/testutil.h"

#ifndef PROPMON_FAKE_NVML_PATH
#error "PROPMON_FAKE_NVML_PATH must name the fake libnvidia-ml (tests.cmake)"
#endif

namespace propmon::exporter {
namespace {

using testutil::FindSample;
using testutil::FindSamples;
using testutil::Sample;

constexpr const char* kFakeEnv[] = {
    "FAKE_NVML_GPUS", "FAKE_NVML_FAIL",      "FAKE_NVML_UNSUPPORTED",
    "FAKE_NVML_INIT", "FAKE_NVML_PROCESSES", "FAKE_NVML_GRAPHICS"};

class GpuCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kFakeEnv) unsetenv(v);
  }
  void TearDown() override {
    for (const char* v : kFakeEnv) unsetenv(v);
  }

  static GpuCollector::Options FakeOptions() {
    GpuCollector::Options o;
    o.library = PROPMON_FAKE_NVML_PATH;
    o.hostname = "gpuhost";
    return o;
  }

  static std::vector<Sample> Collect(GpuCollector& c, Status* status) {
    std::vector<prometheus::MetricFamily> fams;
    *status = c.Collect(&fams);
    std::ostringstream os;
    prometheus::TextSerializer().Serialize(os, fams);
    return testutil::ParseProm(os.str());
  }

  static std::vector<Sample> MustCollect(GpuCollector& c) {
    Status s;
    auto samples = Collect(c, &s);
    EXPECT_TRUE(s.ok()) << s.message();
    return samples;
  }
};

constexpr const char* kAllSeries[] = {"DCGM_FI_DEV_GPU_UTIL",
                                      "DCGM_FI_DEV_MEM_COPY_UTIL",
                                      "DCGM_FI_DEV_FB_USED",
                                      "DCGM_FI_DEV_FB_FREE",
                                      "DCGM_FI_DEV_FB_TOTAL",
                                      "DCGM_FI_DEV_GPU_TEMP",
                                      "DCGM_FI_DEV_POWER_USAGE",
                                      "DCGM_FI_DEV_SM_CLOCK",
                                      "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
                                      "DCGM_FI_DEV_PCIE_RX_THROUGHPUT"};

TEST_F(GpuCollectorTest, LibraryAbsentMeansNoDataAndSuccess) {
  GpuCollector::Options o = FakeOptions();
  o.library = "/nonexistent/libnvidia-ml.so.1";
  GpuCollector c(o);
  EXPECT_TRUE(MustCollect(c).empty());
  EXPECT_FALSE(c.available());
  EXPECT_TRUE(c.ProcessMemory().empty());
  EXPECT_TRUE(c.RefreshProcessMemory().ok());
  // No NVML: no figure (task GPU memory absent, not 0).
  EXPECT_FALSE(c.KnownProcessMemory().has_value());

  // Through HostCollectors: success 1, no DCGM series.
  HostCollectorOptions ho;
  ho.gpu = o;
  auto h = MakeHostCollectors(ho, {"gpu"}, {});
  ASSERT_TRUE(h.ok());
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, (*h)->Collect());
  auto s = testutil::ParseProm(os.str());
  EXPECT_EQ(FindSample(s, "propmon_exporter_collector_success",
                       {{"collector", "gpu"}}),
            1.0);
  EXPECT_TRUE(FindSamples(s, "DCGM_FI_DEV_GPU_UTIL").empty());
}

TEST_F(GpuCollectorTest, LibraryFromEnvironmentVariable) {
  setenv(kNvmlLibraryEnv, PROPMON_FAKE_NVML_PATH, 1);
  GpuCollector::Options o;
  o.hostname = "h";
  GpuCollector c(o);
  unsetenv(kNvmlLibraryEnv);
  EXPECT_EQ(FindSamples(MustCollect(c), "DCGM_FI_DEV_GPU_TEMP").size(), 2u);
  EXPECT_TRUE(c.available());
}

TEST_F(GpuCollectorTest, TwoGpusWithDcgmNamesLabelsAndUnits) {
  setenv("FAKE_NVML_GPUS", "2", 1);
  GpuCollector c(FakeOptions());
  auto s = MustCollect(c);
  EXPECT_TRUE(c.available());
  for (const char* name : kAllSeries) {
    EXPECT_EQ(FindSamples(s, name).size(), 2u) << name;
  }
  for (int i = 0; i < 2; ++i) {
    const std::map<std::string, std::string> gpu = {
        {"gpu", std::to_string(i)},
        {"UUID", "GPU-fake-0000-0000-0000-00000000000" + std::to_string(i)},
        {"device", "nvidia" + std::to_string(10 + i)},
        {"modelName", "Fake GPU " + std::to_string(i)},
        {"Hostname", "gpuhost"}};
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_GPU_UTIL", gpu), 10.0 + 10 * i);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_MEM_COPY_UTIL", gpu), 5.0 + i);
    // NVML bytes -> dcgm MiB.
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_FB_TOTAL", gpu), 80.0 * 1024);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_FB_USED", gpu), (1.0 + i) * 1024);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_FB_FREE", gpu), (79.0 - i) * 1024);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_GPU_TEMP", gpu), 40.0 + i);
    // NVML milliwatts -> watts.
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_POWER_USAGE", gpu), 150.0 + i);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_SM_CLOCK", gpu), 1500.0 + 10 * i);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", gpu), 1000.0 + i);
    EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", gpu), 2000.0 + i);
  }
}

TEST_F(GpuCollectorTest, OneFailingCallLeavesOnlyThatSeriesAbsent) {
  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetPowerUsage", 1);
  setenv("FAKE_NVML_UNSUPPORTED", "nvmlDeviceGetPcieThroughput", 1);
  GpuCollector c(FakeOptions());
  auto s = MustCollect(c);
  EXPECT_TRUE(FindSamples(s, "DCGM_FI_DEV_POWER_USAGE").empty());
  EXPECT_TRUE(FindSamples(s, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT").empty());
  EXPECT_TRUE(FindSamples(s, "DCGM_FI_DEV_PCIE_RX_THROUGHPUT").empty());
  for (const char* name : {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED",
                           "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_SM_CLOCK"}) {
    EXPECT_EQ(FindSamples(s, name).size(), 2u) << name;
  }
  // Recovery: the same collector reports the series once the call works.
  unsetenv("FAKE_NVML_FAIL");
  s = MustCollect(c);
  EXPECT_EQ(FindSamples(s, "DCGM_FI_DEV_POWER_USAGE").size(), 2u);
}

TEST_F(GpuCollectorTest, FailingLabelCallsLeaveEmptyLabelsNotMissingSeries) {
  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetUUID,nvmlDeviceGetMinorNumber", 1);
  GpuCollector c(FakeOptions());
  auto s = MustCollect(c);
  EXPECT_EQ(FindSample(s, "DCGM_FI_DEV_GPU_TEMP",
                       {{"gpu", "1"}, {"UUID", ""}, {"device", ""}}),
            41.0);
}

TEST_F(GpuCollectorTest, OneGpuThatCannotBeOpenedIsSkipped) {
  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetHandleByIndex_v2:1", 1);
  GpuCollector c(FakeOptions());
  auto s = MustCollect(c);
  auto temps = FindSamples(s, "DCGM_FI_DEV_GPU_TEMP");
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(temps[0].labels.at("gpu"), "0");
}

TEST_F(GpuCollectorTest, EnumerationFailureFailsTheCollector) {
  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetCount_v2", 1);
  GpuCollector c(FakeOptions());
  Status st;
  auto s = Collect(c, &st);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nvmlDeviceGetCount"), std::string::npos);

  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetHandleByIndex_v2", 1);
  s = Collect(c, &st);
  EXPECT_FALSE(st.ok());  // No GPU of two could be opened.
}

TEST_F(GpuCollectorTest, InitFailureIsRetriedNoDriverIsAbsent) {
  setenv("FAKE_NVML_FAIL", "nvmlInit_v2", 1);
  GpuCollector c(FakeOptions());
  Status st;
  Collect(c, &st);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(c.available());
  unsetenv("FAKE_NVML_FAIL");
  EXPECT_EQ(FindSamples(MustCollect(c), "DCGM_FI_DEV_GPU_UTIL").size(), 2u);

  setenv("FAKE_NVML_INIT", "no_driver", 1);
  GpuCollector no_driver(FakeOptions());
  EXPECT_TRUE(MustCollect(no_driver).empty());
  EXPECT_FALSE(no_driver.available());
}

TEST_F(GpuCollectorTest, ZeroGpus) {
  setenv("FAKE_NVML_GPUS", "0", 1);
  GpuCollector c(FakeOptions());
  EXPECT_TRUE(MustCollect(c).empty());
  EXPECT_TRUE(c.available());
}

TEST_F(GpuCollectorTest, ProcessMemorySumsOverGpusWithoutDoubleCounting) {
  // pid 100 on both GPUs; pid 200 with compute and graphics contexts on GPU
  // 0 (listed twice by NVML: counted once); pid 300 without a figure.
  setenv("FAKE_NVML_PROCESSES", "0:100:1000,1:100:500,0:200:7000,1:300:-", 1);
  setenv("FAKE_NVML_GRAPHICS", "0:200:7000,1:400:64", 1);
  GpuCollector c(FakeOptions());
  EXPECT_TRUE(c.ProcessMemory().empty());  // Nothing before the first pass.
  EXPECT_FALSE(c.KnownProcessMemory().has_value());
  MustCollect(c);
  std::map<pid_t, uint64_t> want = {{100, 1500}, {200, 7000}, {400, 64}};
  EXPECT_EQ(c.ProcessMemory(), want);
  EXPECT_EQ(c.KnownProcessMemory(), want);

  // Between scrapes a caller can refresh just the process table.
  setenv("FAKE_NVML_PROCESSES", "1:100:2048", 1);
  unsetenv("FAKE_NVML_GRAPHICS");
  ASSERT_TRUE(c.RefreshProcessMemory().ok());
  EXPECT_EQ(c.ProcessMemory(), (std::map<pid_t, uint64_t>{{100, 2048}}));
}

TEST_F(GpuCollectorTest, LongProcessListGrowsTheBuffer) {
  std::string list;
  for (int pid = 1000; pid < 1040; ++pid) {  // More than the first guess (32).
    list += (list.empty() ? "" : ",") + std::string("0:") +
            std::to_string(pid) + ":" + std::to_string(pid);
  }
  setenv("FAKE_NVML_PROCESSES", list.c_str(), 1);
  GpuCollector c(FakeOptions());
  MustCollect(c);
  auto procs = c.ProcessMemory();
  ASSERT_EQ(procs.size(), 40u);
  EXPECT_EQ(procs[1039], 1039u);
}

TEST_F(GpuCollectorTest, FailingProcessListKeepsDeviceSeries) {
  setenv("FAKE_NVML_PROCESSES", "0:100:1000", 1);
  setenv("FAKE_NVML_FAIL", "nvmlDeviceGetComputeRunningProcesses_v3", 1);
  GpuCollector c(FakeOptions());
  auto s = MustCollect(c);
  EXPECT_EQ(FindSamples(s, "DCGM_FI_DEV_GPU_UTIL").size(), 2u);
  EXPECT_TRUE(c.ProcessMemory().empty());
  // A failed process list is no figure, after a scrape and after a refresh.
  EXPECT_FALSE(c.KnownProcessMemory().has_value());
  EXPECT_FALSE(c.RefreshProcessMemory().ok());
  EXPECT_FALSE(c.KnownProcessMemory().has_value());
  // Once it works again, the figure is back.
  unsetenv("FAKE_NVML_FAIL");
  ASSERT_TRUE(c.RefreshProcessMemory().ok());
  EXPECT_EQ(c.KnownProcessMemory(), (std::map<pid_t, uint64_t>{{100, 1000}}));
}

}  // namespace
}  // namespace propmon::exporter
