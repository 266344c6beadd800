#include "common/manager_json.h"

#include <gtest/gtest.h>

#include <string>

namespace propmon {
namespace {

std::string F64(double v) {
  std::string s;
  AppendGoFloat64(&s, v);
  return s;
}
std::string F32(double v) {
  std::string s;
  AppendGoFloat32(&s, v);
  return s;
}
std::string Str(std::string_view v) {
  std::string s;
  AppendGoJsonString(&s, v);
  return s;
}

// Expected values are what Go's encoding/json prints for the same numbers.
TEST(ManagerJsonTest, FormatsFloatsLikeGo) {
  EXPECT_EQ(F64(65.0), "65");
  EXPECT_EQ(F64(0), "0");
  EXPECT_EQ(F64(23.5), "23.5");
  EXPECT_EQ(F64(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(F64(1e20), "100000000000000000000");
  EXPECT_EQ(F64(1e21), "1e+21");
  EXPECT_EQ(F64(1e-7), "1e-7");
  EXPECT_EQ(F64(1.5e-10), "1.5e-10");
  EXPECT_EQ(F64(0.000001), "0.000001");
  EXPECT_EQ(F64(-2.5), "-2.5");
  EXPECT_EQ(F32(1.2), "1.2");
  EXPECT_EQ(F32(0.1), "0.1");
  EXPECT_EQ(F32(1.25), "1.25");
  EXPECT_EQ(F32(16777217.0), "16777216");
}

TEST(ManagerJsonTest, EscapesStringsLikeGo) {
  EXPECT_EQ(Str("plain"), "\"plain\"");
  EXPECT_EQ(Str("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Str("<&>"), "\"\\u003c\\u0026\\u003e\"");
  EXPECT_EQ(Str("\n\t\x01"), "\"\\n\\t\\u0001\"");
  EXPECT_EQ(Str("h\xc3\xa9"), "\"h\xc3\xa9\"");
  EXPECT_EQ(Str("\xe2\x80\xa8"), "\"\\u2028\"");
  EXPECT_EQ(Str("a\xff"
                "b"),
            "\"a\\ufffdb\"");
}

TEST(ManagerJsonTest, FormatsTimestampsLikeGoRfc3339Nano) {
  EXPECT_EQ(GoRfc3339Nano(1736937322.123456), "2025-01-15T10:35:22.123456Z");
  EXPECT_EQ(GoRfc3339Nano(1736937332.5), "2025-01-15T10:35:32.5Z");
  EXPECT_EQ(GoRfc3339Nano(1736937342), "2025-01-15T10:35:42Z");
  EXPECT_EQ(GoRfc3339Nano(0), "1970-01-01T00:00:00Z");
}

TEST(ManagerJsonTest, TaskItemFollowsManagerStruct) {
  payload::TaskMetrics m;
  m.task_id = "t";
  m.proplet_id = "p";
  m.metrics.cpu_percent = 50;
  m.metrics.memory_bytes = 1024;
  m.metrics.file_descriptor_count = 0;  // omitempty in the manager
  m.timestamp = 1736937342;
  std::string out;
  AppendManagerItem(m, &out);
  // Absent figures are left out (the manager would print 0s).
  EXPECT_EQ(out,
            "{\"task_id\":\"t\",\"proplet_id\":\"p\",\"metrics\":{\"cpu_"
            "percent\":50,\"memory_bytes\":1024},\"timestamp\":\"2025-01-15T10:"
            "35:42Z\"}");
  m.aggregated = payload::AggregatedMetrics{};
  m.aggregated->sample_count = 3;
  out.clear();
  AppendManagerItem(m, &out);
  EXPECT_NE(out.find(",\"aggregated\":{\"sample_count\":3},\"timestamp\""),
            std::string::npos)
      << out;
}

TEST(ManagerJsonTest, PageEndsWithNewlineLikeGoEncoder) {
  EXPECT_EQ(ManagerPage(0, 100, 0, {}),
            "{\"offset\":0,\"limit\":100,\"total\":0,\"metrics\":[]}\n");
  EXPECT_EQ(ManagerPage(1, 2, 3, {"{}", "{\"a\":1}"}),
            "{\"offset\":1,\"limit\":2,\"total\":3,\"metrics\":[{},{\"a\":1}]}"
            "\n");
}

}  // namespace
}  // namespace propmon
