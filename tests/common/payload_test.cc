// Payload codec: golden encodings, every SPEC §1 variant, round trips,
// topics and timestamps. Malformed input is in payload_malformed_test.cc.
#include "common/payload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>

#include "tests/testutil/testutil.h"

namespace propmon::payload {
namespace {

constexpr double kReceiveTime = 1800000000.25;
const char kPropletId[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const char kTaskId[] = "550e8400-e29b-41d4-a716-446655440001";

std::string FixturePath(const std::string& rel) {
  const char* env = std::getenv("PROPMON_FIXTURES");
  std::string base =
      env != nullptr ? env : testutil::SourceDir() + "/tests/fixtures";
  return base + "/payload/" + rel;
}

std::string ReadFixture(const std::string& rel) {
  std::string s = testutil::ReadFileOrEmpty(FixturePath(rel));
  EXPECT_FALSE(s.empty()) << "missing fixture " << FixturePath(rel);
  return s;
}

DecodeOptions Opts() {
  DecodeOptions o;
  o.receive_time = kReceiveTime;
  return o;
}

Decoded MustDecode(MessageKind kind, const std::string& payload) {
  Result<Decoded> r = Decode(kind, payload, Opts());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail) << "\n" << payload;
  if (!r.ok()) return Decoded{};
  return std::move(r).value();
}

// ---------------------------------------------------------------------------
// Golden files: fixed inputs encode to the files byte for byte.
// ---------------------------------------------------------------------------

TaskMetrics GoldenTaskMetrics() {
  TaskMetrics m;
  m.task_id = kTaskId;
  m.proplet_id = kPropletId;
  m.metrics.cpu_percent = 23.5;
  m.metrics.memory_bytes = 52428800;
  m.metrics.memory_percent = 1.2;
  m.metrics.disk_read_bytes = 1048576;
  m.metrics.disk_write_bytes = 524288;
  m.metrics.network_rx_bytes = 2048;
  m.metrics.network_tx_bytes = 4096;
  m.metrics.uptime_seconds = 45;
  m.metrics.thread_count = 2;
  m.metrics.file_descriptor_count = 8;
  AggregatedMetrics a;
  a.avg_cpu_usage = 38.2;
  a.max_cpu_usage = 65.0;
  a.avg_memory_usage = 62914560;
  a.max_memory_usage = 71303168;
  a.total_disk_read = 2097152;
  a.total_disk_write = 1048576;
  a.total_network_rx = 12288;
  a.total_network_tx = 24576;
  a.sample_count = 24;
  m.aggregated = a;
  m.timestamp = 1736937322.123456;  // 2025-01-15T10:35:22.123456Z
  return m;
}

TEST(PayloadGoldenTest, TaskMetrics) {
  EXPECT_EQ(Encode(GoldenTaskMetrics()), ReadFixture("task_metrics.json"));
}

TEST(PayloadGoldenTest, TaskMetricsWithoutHistoryOrNetwork) {
  TaskMetrics m;
  m.task_id = kTaskId;
  m.proplet_id = kPropletId;
  m.metrics.cpu_percent = 0.75;
  m.metrics.memory_bytes = 3145728;
  m.metrics.memory_percent = 0.019;
  m.metrics.disk_read_bytes = 0;
  m.metrics.disk_write_bytes = 0;
  m.metrics.uptime_seconds = 3600;
  m.metrics.thread_count = 1;
  m.metrics.file_descriptor_count = 4;
  m.timestamp = 1736937322.000001;
  EXPECT_EQ(Encode(m), ReadFixture("task_metrics_no_history.json"));
}

TEST(PayloadGoldenTest, PropletMetrics) {
  PropletMetrics m;
  m.proplet_id = kPropletId;
  m.namespace_name = "default";
  m.timestamp = 1736937322.5;
  m.cpu.user_seconds = 12.34;
  m.cpu.system_seconds = 3.0;
  m.cpu.percent = 17.25;
  m.memory.rss_bytes = 41943040;
  m.memory.container_usage_bytes = 268435456;
  m.memory.container_limit_bytes = 1073741824;
  EXPECT_EQ(Encode(m), ReadFixture("proplet_metrics.json"));
}

TEST(PayloadGoldenTest, Alive) {
  Alive m;
  m.proplet_id = kPropletId;
  m.namespace_name = "default";
  EXPECT_EQ(Encode(m), ReadFixture("alive.json"));
}

TEST(PayloadGoldenTest, Create) {
  Create m;
  m.proplet_id = kPropletId;
  m.namespace_name = "default";
  m.metadata = {{"os", std::string("linux")},
                {"cpu_arch", std::string("x86_64")},
                {"total_memory_bytes", 16777216000.0},
                {"proplet_version", std::string("propmon-exporter 0.1.0")},
                {"wasm_runtime", std::string("native")},
                {"environment", std::string("production")},
                {"hostname", std::string("worker-1")},
                {"ip", std::string("10.0.0.5")}};
  EXPECT_EQ(Encode(m), ReadFixture("create.json"));
}

TEST(PayloadGoldenTest, Results) {
  Results m;
  m.task_id = kTaskId;
  m.proplet_id = kPropletId;
  m.results = QuoteJson("hello from task");
  EXPECT_EQ(Encode(m), ReadFixture("results.json"));
}

TEST(PayloadGoldenTest, ResultsFailed) {
  Results m;
  m.task_id = kTaskId;
  m.proplet_id = kPropletId;
  m.results = QuoteJson("");
  m.error = "exited with status 3";
  EXPECT_EQ(Encode(m), ReadFixture("results_failed.json"));
}

TEST(PayloadGoldenTest, GoldenFilesDecodeToTheirInputs) {
  Decoded d =
      MustDecode(MessageKind::kTaskMetrics, ReadFixture("task_metrics.json"));
  ASSERT_NE(d.As<TaskMetrics>(), nullptr);
  TaskMetrics want = GoldenTaskMetrics();
  TaskMetrics got = *d.As<TaskMetrics>();
  EXPECT_NEAR(got.timestamp, want.timestamp, 1e-6);
  got.timestamp = want.timestamp;
  EXPECT_EQ(got, want);
  EXPECT_EQ(d.timestamp_source, TimestampSource::kRfc3339);
  EXPECT_TRUE(d.problems.empty());
}

// ---------------------------------------------------------------------------
// Encoder details.
// ---------------------------------------------------------------------------

TEST(PayloadEncodeTest, AbsentFiguresAreLeftOutNeverZero) {
  TaskMetrics m;
  m.task_id = "t";
  m.proplet_id = "p";
  m.metrics.cpu_percent = 5;
  m.metrics.memory_bytes = std::nan("");  // not measurable
  m.metrics.disk_read_bytes = -1;         // invalid for an integer
  m.metrics.thread_count = 1.0 / 0.0;     // not finite
  m.timestamp = 0;
  EXPECT_EQ(Encode(m),
            "{\"task_id\":\"t\",\"proplet_id\":\"p\",\"metrics\":{\"cpu_"
            "percent\":5.0},\"aggregated\":null,\"timestamp\":\"1970-01-01T00:"
            "00:00.000000Z\"}");
}

TEST(PayloadEncodeTest, IntegerFieldsAreRounded) {
  TaskMetrics m;
  m.task_id = "t";
  m.proplet_id = "p";
  m.metrics.memory_bytes = 1023.6;
  m.aggregated.emplace();
  m.aggregated->avg_memory_usage = 10.4;
  m.timestamp = 1;
  std::string s = Encode(m);
  EXPECT_NE(s.find("\"memory_bytes\":1024}"), std::string::npos) << s;
  EXPECT_NE(s.find("\"avg_memory_usage\":10}"), std::string::npos) << s;
}

TEST(PayloadEncodeTest, EscapesStringsAndRepairsInvalidUtf8) {
  Alive m;
  m.proplet_id = "a\"b\\c\nd\x01\xC3\xA9\xFF";
  m.namespace_name = "ns";
  std::string s = Encode(m);
  EXPECT_EQ(s,
            "{\"proplet_id\":\"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\xEF\xBF\xBD\","
            "\"status\":\"alive\",\"namespace\":\"ns\"}");
  EXPECT_TRUE(IsValidJson(s));
}

TEST(PayloadEncodeTest, ResultsTextThatIsNotJsonIsQuoted) {
  Results m;
  m.task_id = "t";
  m.results = "not json";
  EXPECT_EQ(Encode(m),
            "{\"task_id\":\"t\",\"results\":\"not json\",\"error\":null}");
  m.results = " [1, 2] ";
  EXPECT_EQ(Encode(m), "{\"task_id\":\"t\",\"results\":[1, 2],\"error\":null}");
  m.results.clear();
  EXPECT_EQ(Encode(m), "{\"task_id\":\"t\",\"results\":null,\"error\":null}");
}

TEST(PayloadEncodeTest, AppendJsonAppends) {
  std::string out = "x";
  Alive m;
  m.proplet_id = "p";
  AppendJson(m, &out);
  EXPECT_EQ(out, "x" + Encode(m));
}

// ---------------------------------------------------------------------------
// Variants (tests/fixtures/payload/variants): each decodes to known values.
// ---------------------------------------------------------------------------

struct VariantCase {
  const char* file;
  MessageKind kind;
  std::function<void(const Decoded&)> check;
};

void PrintTo(const VariantCase& c, std::ostream* os) { *os << c.file; }

void ExpectTask(const Decoded& d, const char* task, const char* proplet) {
  ASSERT_NE(d.As<TaskMetrics>(), nullptr);
  EXPECT_EQ(d.As<TaskMetrics>()->task_id, task);
  EXPECT_EQ(d.As<TaskMetrics>()->proplet_id, proplet);
}

const VariantCase kVariants[] = {
    {"task_metrics_rust_systemtime.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-rust-1", "p-rust-1");
       const TaskMetrics& m = *d.As<TaskMetrics>();
       EXPECT_EQ(d.timestamp_source, TimestampSource::kSystemTime);
       EXPECT_NEAR(m.timestamp, 1736937322.123456789, 1e-6);
       EXPECT_EQ(m.metrics.cpu_percent, 12.5);
       EXPECT_EQ(m.metrics.memory_bytes, 42991616000.0);
       EXPECT_EQ(m.metrics.memory_percent, 0.0);
       EXPECT_EQ(m.metrics.disk_write_bytes, 4096);
       EXPECT_EQ(m.metrics.file_descriptor_count, 14);
       EXPECT_FALSE(m.metrics.network_rx_bytes.has_value());
       ASSERT_TRUE(m.aggregated.has_value());
       EXPECT_EQ(m.aggregated->sample_count, 4);
       EXPECT_EQ(m.aggregated->total_disk_write, 8192);
       EXPECT_FALSE(m.aggregated->total_network_rx.has_value());
       EXPECT_FALSE(d.legacy_names);
     }},
    {"task_metrics_rfc3339_no_fraction.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-2", "p-2");
       EXPECT_EQ(d.timestamp_source, TimestampSource::kRfc3339);
       EXPECT_EQ(d.As<TaskMetrics>()->timestamp, 1736937322.0);
       EXPECT_FALSE(d.As<TaskMetrics>()->aggregated.has_value());
       EXPECT_EQ(d.As<TaskMetrics>()->metrics.disk_read_bytes, 10);
     }},
    {"task_metrics_rfc3339_offset.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-3", "p-3");
       EXPECT_EQ(d.timestamp_source, TimestampSource::kRfc3339);
       EXPECT_EQ(d.As<TaskMetrics>()->timestamp, 1736937322.25);
       EXPECT_EQ(d.As<TaskMetrics>()->metrics.cpu_percent, 2.0);
       EXPECT_FALSE(d.As<TaskMetrics>()->metrics.memory_bytes.has_value());
     }},
    {"task_metrics_embedded_uptime.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-emb", "p-emb");
       EXPECT_EQ(d.timestamp_source, TimestampSource::kDeviceTime);
       EXPECT_EQ(d.As<TaskMetrics>()->timestamp, kReceiveTime);
       EXPECT_EQ(d.As<TaskMetrics>()->metrics.cpu_percent, 7.0);
       EXPECT_EQ(d.As<TaskMetrics>()->metrics.uptime_seconds, 834.0);
       EXPECT_FALSE(d.As<TaskMetrics>()->aggregated.has_value());
       EXPECT_TRUE(d.problems.empty());
     }},
    {"task_metrics_legacy_go.json", MessageKind::kLegacyTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, kTaskId, kPropletId);
       const TaskMetrics& m = *d.As<TaskMetrics>();
       EXPECT_TRUE(d.legacy_names);
       EXPECT_TRUE(d.timestamp_in_metrics);
       EXPECT_EQ(d.timestamp_source, TimestampSource::kRfc3339);
       EXPECT_NEAR(m.timestamp, 1736937322.123456, 1e-6);
       // Same values as the golden file, under the legacy names.
       TaskMetrics want = GoldenTaskMetrics();
       EXPECT_EQ(m.metrics, want.metrics);
       EXPECT_EQ(m.aggregated, want.aggregated);
       EXPECT_TRUE(d.problems.empty());
     }},
    {"task_metrics_missing_timestamp.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-4", "p-4");
       const TaskMetrics& m = *d.As<TaskMetrics>();
       EXPECT_EQ(d.timestamp_source, TimestampSource::kMissing);
       EXPECT_EQ(m.timestamp, kReceiveTime);
       EXPECT_EQ(m.metrics.cpu_percent, 3.25);
       EXPECT_FALSE(m.metrics.memory_bytes.has_value());  // null
       EXPECT_FALSE(m.metrics.network_rx_bytes.has_value());
       EXPECT_EQ(m.metrics.thread_count, 4);
       EXPECT_FALSE(m.aggregated.has_value());
       EXPECT_TRUE(d.problems.empty());
     }},
    {"task_metrics_ints_and_floats.json", MessageKind::kTaskMetrics,
     [](const Decoded& d) {
       ExpectTask(d, "t-5", "p-5");
       const TaskMetrics& m = *d.As<TaskMetrics>();
       EXPECT_EQ(m.metrics.cpu_percent, 23.0);
       EXPECT_EQ(m.metrics.memory_bytes, 52428800.0);
       EXPECT_EQ(m.metrics.memory_percent, 1.0);
       EXPECT_EQ(m.metrics.disk_read_bytes, 1048576.0);
       EXPECT_EQ(m.metrics.disk_write_bytes, 0.0);
       EXPECT_EQ(m.metrics.uptime_seconds, 45.0);
       EXPECT_EQ(m.metrics.thread_count, 2.0);
       ASSERT_TRUE(m.aggregated.has_value());
       EXPECT_EQ(m.aggregated->avg_memory_usage, 62914560.0);
       EXPECT_EQ(m.aggregated->sample_count, 24.0);
       EXPECT_TRUE(d.problems.empty());
     }},
    {"proplet_metrics_flat.json", MessageKind::kPropletMetrics,
     [](const Decoded& d) {
       const PropletMetrics* m = d.As<PropletMetrics>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->proplet_id, "p-flat");
       EXPECT_EQ(m->namespace_name, "ns1");
       EXPECT_FALSE(d.nested_layout);
       EXPECT_EQ(d.timestamp_source, TimestampSource::kRfc3339);
       EXPECT_EQ(m->timestamp, 1736937322.5);
       EXPECT_EQ(m->cpu.user_seconds, 12.34);
       EXPECT_EQ(m->cpu.system_seconds, 3.5);
       EXPECT_EQ(m->cpu.percent, 17.25);
       EXPECT_EQ(m->memory.rss_bytes, 41943040);
       EXPECT_EQ(m->memory.heap_inuse_bytes, 2097152);
       EXPECT_FALSE(m->memory.container_usage_bytes.has_value());
       EXPECT_FALSE(m->version.has_value());
     }},
    {"proplet_metrics_flat_container.json", MessageKind::kPropletMetrics,
     [](const Decoded& d) {
       const PropletMetrics* m = d.As<PropletMetrics>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(d.timestamp_source, TimestampSource::kSystemTime);
       EXPECT_EQ(m->timestamp, 1736937322.5);
       EXPECT_EQ(m->cpu.percent, 50);
       EXPECT_EQ(m->memory.container_usage_bytes, 268435456);
       EXPECT_EQ(m->memory.container_limit_bytes, 1073741824);
       EXPECT_EQ(m->memory.heap_alloc_bytes, 0);
     }},
    {"proplet_metrics_nested.json", MessageKind::kPropletMetrics,
     [](const Decoded& d) {
       const PropletMetrics* m = d.As<PropletMetrics>();
       ASSERT_NE(m, nullptr);
       EXPECT_TRUE(d.nested_layout);
       EXPECT_TRUE(d.timestamp_in_metrics);
       EXPECT_EQ(m->proplet_id, "p-nested");
       EXPECT_EQ(m->namespace_name, "ns3");
       EXPECT_EQ(m->version, "v0.3.0");
       EXPECT_NEAR(m->timestamp, 1736937322.123456, 1e-6);
       EXPECT_EQ(m->cpu.user_seconds, 5.5);
       EXPECT_EQ(m->cpu.system_seconds, 1.25);
       EXPECT_EQ(m->cpu.percent, 12.5);
       EXPECT_EQ(m->memory.rss_bytes, 2048000);
       EXPECT_EQ(m->memory.heap_sys_bytes, 1024000);
     }},
    {"proplet_metrics_embedded.json", MessageKind::kPropletMetrics,
     [](const Decoded& d) {
       const PropletMetrics* m = d.As<PropletMetrics>();
       ASSERT_NE(m, nullptr);
       EXPECT_TRUE(d.nested_layout);
       EXPECT_EQ(d.timestamp_source, TimestampSource::kDeviceTime);
       EXPECT_EQ(m->timestamp, kReceiveTime);
       EXPECT_EQ(m->cpu.percent, 3);
       EXPECT_FALSE(m->cpu.user_seconds.has_value());
       EXPECT_FALSE(m->memory.rss_bytes.has_value());
       EXPECT_EQ(m->memory.heap_free_bytes, 200000);
       EXPECT_EQ(m->memory.heap_max_alloc_bytes, 150000);
     }},
    {"alive.json", MessageKind::kAlive,
     [](const Decoded& d) {
       const Alive* m = d.As<Alive>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->proplet_id, "p-alive");
       EXPECT_EQ(m->status, "alive");
       EXPECT_EQ(m->namespace_name, "ns1");
       EXPECT_EQ(d.timestamp_source, TimestampSource::kMissing);
     }},
    {"alive_extra_keys.json", MessageKind::kAlive,
     [](const Decoded& d) {
       const Alive* m = d.As<Alive>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->proplet_id, "p-alive-2");
       EXPECT_EQ(m->namespace_name, "");
       EXPECT_TRUE(d.problems.empty());
     }},
    {"create_rust.json", MessageKind::kCreate,
     [](const Decoded& d) {
       const Create* m = d.As<Create>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->proplet_id, "p-create");
       ASSERT_EQ(m->metadata.size(), 11u);
       EXPECT_EQ(m->metadata[0].first, "description");  // payload order
       EXPECT_EQ(m->FindText("os"), "linux");
       EXPECT_EQ(m->FindText("cpu_arch"), "aarch64");
       EXPECT_EQ(m->FindText("total_memory_bytes"), "8589934592");
       EXPECT_EQ(m->FindText("hostname"), "box-7");
       EXPECT_EQ(m->FindText("ip"), "192.168.1.20");
       EXPECT_EQ(m->FindText("wasm_runtime"), "wasmtime");
       ASSERT_NE(m->Find("tags"), nullptr);
       EXPECT_EQ(std::get<RawJson>(*m->Find("tags")).text, "[\"gpu\",\"eu\"]");
       EXPECT_EQ(m->FindText("tags"), std::nullopt);
     }},
    {"create_embedded.json", MessageKind::kCreate,
     [](const Decoded& d) {
       const Create* m = d.As<Create>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->FindText("os"), "zephyr");
       EXPECT_EQ(m->FindText("secure_boot"), "true");  // unknown key kept
       EXPECT_EQ(m->FindText("cores"), "2");
       ASSERT_NE(m->Find("flash"), nullptr);
       EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(*m->Find("flash")));
       EXPECT_EQ(m->FindText("hostname"), std::nullopt);
     }},
    {"results_success.json", MessageKind::kResults,
     [](const Decoded& d) {
       const Results* m = d.As<Results>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->task_id, "t-ok");
       EXPECT_EQ(m->proplet_id, "p-1");
       EXPECT_EQ(m->results, "\"42\"");
       EXPECT_FALSE(m->error.has_value());
     }},
    {"results_failed.json", MessageKind::kResults,
     [](const Decoded& d) {
       const Results* m = d.As<Results>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->error, "wasm trap: unreachable");
       EXPECT_EQ(m->results, "\"\"");
     }},
    {"results_no_proplet_id.json", MessageKind::kResults,
     [](const Decoded& d) {
       const Results* m = d.As<Results>();
       ASSERT_NE(m, nullptr);
       EXPECT_EQ(m->task_id, "t-go");
       EXPECT_FALSE(m->proplet_id.has_value());
       EXPECT_EQ(m->results, "[1,2,{\"sum\":3}]");
       EXPECT_FALSE(m->error.has_value());
     }},
};

class PayloadVariantTest : public ::testing::TestWithParam<VariantCase> {};

TEST_P(PayloadVariantTest, DecodesToExpectedValues) {
  const VariantCase& c = GetParam();
  std::string payload = ReadFixture(std::string("variants/") + c.file);
  Decoded d = MustDecode(c.kind, payload);
  EXPECT_EQ(d.kind, c.kind);
  c.check(d);
}

TEST_P(PayloadVariantTest, DecodesThroughItsTopic) {
  const VariantCase& c = GetParam();
  std::string payload = ReadFixture(std::string("variants/") + c.file);
  std::string topic = MakeTopic("dom-1", "chan-1", c.kind);
  Result<Decoded> d = DecodeMessage(topic, payload, Opts());
  ASSERT_TRUE(d.ok()) << d.error().detail;
  EXPECT_EQ(d->kind, c.kind);
  EXPECT_EQ(d->domain, "dom-1");
  EXPECT_EQ(d->channel, "chan-1");
}

// Re-encoding a decoded variant yields a payload that decodes to the same
// message (what the bridge's REST API serves back).
TEST_P(PayloadVariantTest, ReencodesToTheSameMessage) {
  const VariantCase& c = GetParam();
  Decoded d =
      MustDecode(c.kind, ReadFixture(std::string("variants/") + c.file));
  std::string again =
      std::visit([](const auto& m) { return Encode(m); }, d.message);
  Decoded d2 = MustDecode(c.kind, again);
  if (const auto* m = d.As<TaskMetrics>()) {
    TaskMetrics a = *m, b = *d2.As<TaskMetrics>();
    EXPECT_NEAR(a.timestamp, b.timestamp, 1e-6);
    a.timestamp = b.timestamp = 0;
    EXPECT_EQ(a, b) << again;
  } else if (const auto* p = d.As<PropletMetrics>()) {
    PropletMetrics a = *p, b = *d2.As<PropletMetrics>();
    EXPECT_NEAR(a.timestamp, b.timestamp, 1e-6);
    a.timestamp = b.timestamp = 0;
    a.version.reset();  // the older layout's version is not encoded
    EXPECT_EQ(a, b) << again;
  } else {
    EXPECT_EQ(d.message, d2.message) << again;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, PayloadVariantTest,
                         ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<VariantCase>& info) {
                           std::string n = info.param.file;
                           n = n.substr(0, n.find('.'));
                           return n;
                         });

// ---------------------------------------------------------------------------
// Round trips for every message kind.
// ---------------------------------------------------------------------------

TEST(PayloadRoundTripTest, TaskMetrics) {
  TaskMetrics m = GoldenTaskMetrics();
  m.timestamp = 1736937322.5;
  Decoded d = MustDecode(MessageKind::kTaskMetrics, Encode(m));
  EXPECT_EQ(*d.As<TaskMetrics>(), m);
  EXPECT_TRUE(d.problems.empty());

  // Sparse: no aggregated, most figures absent.
  TaskMetrics sparse;
  sparse.task_id = "t-\xC3\xA9\"quoted\"";
  sparse.proplet_id = "p";
  sparse.metrics.uptime_seconds = 7;
  sparse.timestamp = 1700000000.000001;
  Decoded d2 = MustDecode(MessageKind::kLegacyTaskMetrics, Encode(sparse));
  TaskMetrics got = *d2.As<TaskMetrics>();
  EXPECT_NEAR(got.timestamp, sparse.timestamp, 1e-6);
  got.timestamp = sparse.timestamp;
  EXPECT_EQ(got, sparse);
}

TEST(PayloadRoundTripTest, PropletMetrics) {
  PropletMetrics m;
  m.proplet_id = kPropletId;
  m.namespace_name = "ns";
  m.timestamp = 1736937322.25;
  m.cpu.user_seconds = 1.5;
  m.cpu.system_seconds = 0.5;
  m.cpu.percent = 99.5;
  m.memory.rss_bytes = 1;
  m.memory.heap_alloc_bytes = 2;
  m.memory.heap_sys_bytes = 3;
  m.memory.heap_inuse_bytes = 4;
  m.memory.container_usage_bytes = 5;
  m.memory.container_limit_bytes = 6;
  m.memory.heap_free_bytes = 7;
  m.memory.heap_max_alloc_bytes = 8;
  Decoded d = MustDecode(MessageKind::kPropletMetrics, Encode(m));
  EXPECT_EQ(*d.As<PropletMetrics>(), m);
  EXPECT_FALSE(d.nested_layout);
}

TEST(PayloadRoundTripTest, Alive) {
  Alive m;
  m.proplet_id = "p\xE2\x82\xAC";
  m.namespace_name = "tenant/1";
  Decoded d = MustDecode(MessageKind::kAlive, Encode(m));
  EXPECT_EQ(*d.As<Alive>(), m);
}

TEST(PayloadRoundTripTest, Create) {
  Create m;
  m.proplet_id = "p";
  m.namespace_name = "";
  m.metadata = {{"os", std::string("linux")},
                {"total_memory_bytes", 8589934592.0},
                {"load", 0.5},
                {"secure", false},
                {"none", nullptr},
                {"tags", RawJson{"[\"a\",{\"b\":1}]"}},
                {"unicode \xE2\x9C\x93", std::string("line\nbreak")}};
  Decoded d = MustDecode(MessageKind::kCreate, Encode(m));
  EXPECT_EQ(*d.As<Create>(), m);
}

TEST(PayloadRoundTripTest, Results) {
  Results ok;
  ok.task_id = "t";
  ok.proplet_id = "p";
  ok.results = QuoteJson("out\tput");
  Decoded d = MustDecode(MessageKind::kResults, Encode(ok));
  EXPECT_EQ(*d.As<Results>(), ok);

  Results failed;
  failed.task_id = "t2";
  failed.results = "{\"x\":[1,2]}";
  failed.error = "killed by signal 9";
  Decoded d2 = MustDecode(MessageKind::kResults, Encode(failed));
  EXPECT_EQ(*d2.As<Results>(), failed);
}

// ---------------------------------------------------------------------------
// Topics.
// ---------------------------------------------------------------------------

TEST(PayloadTopicTest, ParsesEveryKind) {
  for (MessageKind kind : kAllMessageKinds) {
    std::string t = MakeTopic("d0m", "ch4n", kind);
    Result<Topic> r = ParseTopic(t);
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_EQ(r->domain, "d0m");
    EXPECT_EQ(r->channel, "ch4n");
    EXPECT_EQ(r->kind, kind);
  }
  EXPECT_EQ(MakeTopic("a", "b", MessageKind::kTaskMetrics),
            "m/a/c/b/control/proplet/task_metrics");
  EXPECT_EQ(MakeTopic("a", "b", MessageKind::kLegacyTaskMetrics),
            "m/a/c/b/metrics/proplet");
}

TEST(PayloadTopicTest, KindAndReasonNamesAreDistinct) {
  std::set<std::string> kinds, reasons;
  for (MessageKind k : kAllMessageKinds) kinds.insert(KindName(k));
  for (Reason r : kAllReasons) reasons.insert(ReasonName(r));
  EXPECT_EQ(kinds.size(), kAllMessageKinds.size());
  EXPECT_EQ(reasons.size(), kAllReasons.size());
  EXPECT_TRUE(reasons.count("invalid_json"));
  EXPECT_TRUE(reasons.count("unknown_topic"));
}

TEST(PayloadTopicTest, LabelValidity) {
  EXPECT_TRUE(IsValidLabel("a"));
  EXPECT_TRUE(IsValidLabel("caf\xC3\xA9"));
  EXPECT_TRUE(IsValidLabel(std::string(256, 'x')));
  EXPECT_FALSE(IsValidLabel(std::string(257, 'x')));
  EXPECT_FALSE(IsValidLabel(""));
  EXPECT_FALSE(IsValidLabel("a\tb"));
  EXPECT_FALSE(IsValidLabel("a\x7F"));
  EXPECT_FALSE(IsValidLabel("a\xC2\x85"));         // NEL, a C1 control
  EXPECT_TRUE(IsValidLabel("a\xC2\xA0"));          // NBSP is fine
  EXPECT_FALSE(IsValidLabel("a\xC3"));             // truncated sequence
  EXPECT_FALSE(IsValidLabel("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidLabel("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidLabel("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidLabel(std::string("a\0b", 3)));
}

// ---------------------------------------------------------------------------
// Timestamps.
// ---------------------------------------------------------------------------

TEST(PayloadTimeTest, FormatRfc3339) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(1736937322.123456), "2025-01-15T10:35:22.123456Z");
  EXPECT_EQ(FormatRfc3339(1736937322.9999996), "2025-01-15T10:35:23.000000Z");
  EXPECT_EQ(FormatRfc3339(951782400), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(-0.5), "1969-12-31T23:59:59.500000Z");
  EXPECT_EQ(FormatRfc3339(253402300799.0), "9999-12-31T23:59:59.000000Z");
  EXPECT_EQ(FormatRfc3339(253402300800.0), "");
  EXPECT_EQ(FormatRfc3339(std::nan("")), "");
  EXPECT_EQ(FormatRfc3339(1.0 / 0.0), "");
}

TEST(PayloadTimeTest, ParseRfc3339Accepts) {
  struct {
    const char* text;
    double want;
  } cases[] = {
      {"2025-01-15T10:35:22Z", 1736937322},
      {"2025-01-15T10:35:22.123456Z", 1736937322.123456},
      {"2025-01-15t10:35:22.5z", 1736937322.5},
      {"2025-01-15 10:35:22Z", 1736937322},
      {"2025-01-15T12:35:22+02:00", 1736937322},
      {"2025-01-15T05:05:22.25-05:30", 1736937322.25},
      {"2025-01-15T10:35:22.123456789123Z", 1736937322.123456789},
      {"2000-02-29T00:00:00Z", 951782400},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2016-12-31T23:59:60Z", 1483228800},  // leap second
  };
  for (const auto& c : cases) {
    std::optional<double> got = ParseRfc3339(c.text);
    ASSERT_TRUE(got.has_value()) << c.text;
    EXPECT_NEAR(*got, c.want, 1e-6) << c.text;
  }
}

TEST(PayloadTimeTest, ParseRfc3339Rejects) {
  const char* bad[] = {"",
                       "2025-01-15",
                       "2025-01-15T10:35:22",  // no zone
                       "2025-01-15T10:35Z",
                       "2025-1-15T10:35:22Z",
                       "2025-13-15T10:35:22Z",
                       "2025-00-15T10:35:22Z",
                       "2025-02-29T10:35:22Z",  // not a leap year
                       "2025-04-31T10:35:22Z",
                       "2025-01-15T24:00:00Z",
                       "2025-01-15T10:60:00Z",
                       "2025-01-15T10:35:61Z",
                       "2025-01-15T10:35:22.Z",
                       "2025-01-15T10:35:22+0200",
                       "2025-01-15T10:35:22+24:00",
                       "2025-01-15T10:35:22Zjunk",
                       "2025-01-15X10:35:22Z",
                       "yesterday",
                       "1736937322"};
  for (const char* b : bad) {
    EXPECT_FALSE(ParseRfc3339(b).has_value()) << b;
  }
}

TEST(PayloadTimeTest, FormatThenParseIsExactToTheMicrosecond) {
  for (double t = 0; t < 4e9; t += 123456789.012345) {
    std::optional<double> back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(back.has_value());
    EXPECT_NEAR(*back, t, 1e-6) << FormatRfc3339(t);
  }
}

}  // namespace
}  // namespace propmon::payload
