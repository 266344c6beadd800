// Payload codec: malformed payloads (each with its precise reason), bad
// fields that must not lose the good ones, and the JSON validator checked
// against nlohmann's on mutated input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/payload.h"
#include "tests/testutil/testutil.h"

namespace propmon::payload {
namespace {

using K = MessageKind;
using R = Reason;

constexpr double kReceiveTime = 1800000000.0;

DecodeOptions Opts() {
  DecodeOptions o;
  o.receive_time = kReceiveTime;
  return o;
}

std::string Nested(int levels, char open, char close) {
  return std::string(levels, open) + std::string(levels, close);
}

std::string DeepObjects(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(levels, '}');
  return s;
}

const std::string kIds = R"("task_id":"t1","proplet_id":"p1")";

// A valid task_metrics payload with `extra` spliced in after the ids.
std::string Task(const std::string& extra) {
  return "{" + kIds + (extra.empty() ? "" : "," + extra) + "}";
}

struct Malformed {
  std::string name;
  K kind;
  std::string payload;
  R want;
};

void PrintTo(const Malformed& c, std::ostream* os) { *os << c.name; }

std::vector<Malformed> MalformedCases() {
  std::string big = Task("\"pad\":\"" + std::string(70000, 'x') + "\"");
  return {
      // --- invalid_json --------------------------------------------------
      {"Empty", K::kTaskMetrics, "", R::kInvalidJson},
      {"WhitespaceOnly", K::kTaskMetrics, " \n\t\r ", R::kInvalidJson},
      {"TruncatedInNumber", K::kTaskMetrics,
       "{" + kIds + ",\"metrics\":{\"cpu_percent\":1", R::kInvalidJson},
      {"TruncatedInString", K::kTaskMetrics, "{\"task_id\":\"t1",
       R::kInvalidJson},
      {"TruncatedAfterKey", K::kTaskMetrics, "{\"task_id\"", R::kInvalidJson},
      {"TruncatedAfterComma", K::kTaskMetrics, "{" + kIds + ",",
       R::kInvalidJson},
      {"TruncatedEscape", K::kAlive, "{\"proplet_id\":\"p\\", R::kInvalidJson},
      {"MissingColon", K::kTaskMetrics, "{\"task_id\" \"t1\"}",
       R::kInvalidJson},
      {"TrailingCommaInObject", K::kTaskMetrics, "{" + kIds + ",}",
       R::kInvalidJson},
      {"TrailingCommaInArray", K::kTaskMetrics, Task("\"x\":[1,2,]"),
       R::kInvalidJson},
      {"SingleQuotes", K::kTaskMetrics, "{'task_id':'t1','proplet_id':'p1'}",
       R::kInvalidJson},
      {"UnquotedKey", K::kTaskMetrics, "{task_id:\"t1\"}", R::kInvalidJson},
      {"NaNText", K::kTaskMetrics, Task("\"metrics\":{\"cpu_percent\":NaN}"),
       R::kInvalidJson},
      {"InfinityText", K::kTaskMetrics,
       Task("\"metrics\":{\"cpu_percent\":Infinity}"), R::kInvalidJson},
      {"MinusInfinityText", K::kTaskMetrics,
       Task("\"metrics\":{\"cpu_percent\":-Infinity}"), R::kInvalidJson},
      {"LeadingPlus", K::kTaskMetrics, Task("\"metrics\":{\"cpu_percent\":+1}"),
       R::kInvalidJson},
      {"LeadingZero", K::kTaskMetrics, Task("\"metrics\":{\"cpu_percent\":01}"),
       R::kInvalidJson},
      {"HexNumber", K::kTaskMetrics, Task("\"metrics\":{\"cpu_percent\":0x10}"),
       R::kInvalidJson},
      {"BareDecimalPoint", K::kTaskMetrics,
       Task("\"metrics\":{\"cpu_percent\":1.}"), R::kInvalidJson},
      {"LoneMinus", K::kTaskMetrics, Task("\"metrics\":{\"cpu_percent\":-}"),
       R::kInvalidJson},
      {"ExponentWithoutDigits", K::kTaskMetrics,
       Task("\"metrics\":{\"cpu_percent\":1e}"), R::kInvalidJson},
      {"TrailingGarbage", K::kTaskMetrics, Task("") + " x", R::kInvalidJson},
      {"TwoObjects", K::kTaskMetrics, Task("") + Task(""), R::kInvalidJson},
      {"Comment", K::kTaskMetrics, "{/* c */" + kIds + "}", R::kInvalidJson},
      {"RawControlCharInString", K::kTaskMetrics,
       "{\"task_id\":\"t\x01\",\"proplet_id\":\"p\"}", R::kInvalidJson},
      {"RawNewlineInString", K::kAlive, "{\"proplet_id\":\"a\nb\"}",
       R::kInvalidJson},
      {"InvalidEscape", K::kTaskMetrics, Task("\"x\":\"\\q\""),
       R::kInvalidJson},
      {"BadUnicodeEscape", K::kTaskMetrics, Task("\"x\":\"\\u12G4\""),
       R::kInvalidJson},
      {"DeepArrays10000", K::kTaskMetrics,
       Task("\"x\":" + Nested(10000, '[', ']')), R::kInvalidJson},
      {"DeepObjects10000", K::kTaskMetrics, Task("\"x\":" + DeepObjects(10000)),
       R::kInvalidJson},
      {"DeepUnclosedTopLevel10000", K::kTaskMetrics, std::string(10000, '['),
       R::kInvalidJson},
      {"DeepInsideMetadata", K::kCreate,
       "{\"proplet_id\":\"p\",\"metadata\":{\"x\":" + Nested(5000, '[', ']') +
           "}}",
       R::kInvalidJson},
      {"DeepInsideResults", K::kResults,
       "{\"task_id\":\"t\",\"results\":" + DeepObjects(3000) + "}",
       R::kInvalidJson},
      {"BinaryBytes", K::kTaskMetrics, std::string("\x00\x01\x02\xff\xfe", 5),
       R::kInvalidJson},
      {"NulAfterObject", K::kTaskMetrics, Task("") + std::string(1, '\0'),
       R::kInvalidJson},
      {"InvalidUtf8InKey", K::kTaskMetrics, Task("\"x\xff\":1"),
       R::kInvalidJson},
      {"InvalidUtf8InUnknownValue", K::kTaskMetrics, Task("\"x\":\"\xc3\x28\""),
       R::kInvalidJson},
      {"LoneSurrogateInUnknownValue", K::kTaskMetrics,
       Task("\"x\":\"\\ud800\""), R::kInvalidJson},
      {"InvalidUtf8InStatus", K::kAlive,
       "{\"proplet_id\":\"p\",\"status\":\"\xe2\x82\"}", R::kInvalidJson},
      {"InvalidUtf8InError", K::kResults,
       "{\"task_id\":\"t\",\"error\":\"\xff\"}", R::kInvalidJson},
      {"DuplicateTaskId", K::kTaskMetrics,
       R"({"task_id":"a","task_id":"b","proplet_id":"p"})", R::kInvalidJson},
      {"DuplicatePropletIdAlive", K::kAlive,
       R"({"proplet_id":"a","status":"alive","proplet_id":"b"})",
       R::kInvalidJson},
      {"ByteOrderMark", K::kTaskMetrics, "\xEF\xBB\xBF" + Task(""),
       R::kInvalidJson},
      {"LiteralTypo", K::kTaskMetrics, Task("\"x\":tru"), R::kInvalidJson},
      {"NullTypo", K::kTaskMetrics, Task("\"aggregated\":nul"),
       R::kInvalidJson},
      {"MismatchedBrackets", K::kTaskMetrics, Task("\"x\":[}"),
       R::kInvalidJson},
      {"LoneClosingBrace", K::kTaskMetrics, "}", R::kInvalidJson},
      {"TruncatedArrayNotObject", K::kTaskMetrics, "[1,2", R::kInvalidJson},
      {"SyntaxErrorAfterBadId", K::kTaskMetrics,
       "{\"task_id\":5,\"proplet_id\":\"p\",", R::kInvalidJson},
      // --- not_object ----------------------------------------------------
      {"EmptyArray", K::kTaskMetrics, "[]", R::kNotObject},
      {"ArrayOfMessages", K::kTaskMetrics, "[" + Task("") + "]", R::kNotObject},
      {"String", K::kAlive, "\"alive\"", R::kNotObject},
      {"Number", K::kPropletMetrics, "42", R::kNotObject},
      {"Null", K::kCreate, "null", R::kNotObject},
      {"True", K::kResults, " true ", R::kNotObject},
      // --- missing_field -------------------------------------------------
      {"EmptyObject", K::kTaskMetrics, "{}", R::kMissingField},
      {"NoPropletId", K::kTaskMetrics, R"({"task_id":"t"})", R::kMissingField},
      {"NoTaskId", K::kTaskMetrics, R"({"proplet_id":"p","metrics":{}})",
       R::kMissingField},
      {"TaskIdOnlyNested", K::kLegacyTaskMetrics,
       R"({"metrics":{"task_id":"t"},"proplet_id":"p"})", R::kMissingField},
      {"PropletMetricsNoId", K::kPropletMetrics,
       R"({"namespace":"n","cpu_metrics":{"percent":1}})", R::kMissingField},
      {"AliveNoId", K::kAlive, R"({"status":"alive","namespace":"n"})",
       R::kMissingField},
      {"CreateNoId", K::kCreate, R"({"namespace":"n","metadata":{}})",
       R::kMissingField},
      {"ResultsNoTaskId", K::kResults,
       R"({"proplet_id":"p","results":"x","error":null})", R::kMissingField},
      // --- wrong_type ----------------------------------------------------
      {"TaskIdNumber", K::kTaskMetrics, R"({"task_id":42,"proplet_id":"p"})",
       R::kWrongType},
      {"TaskIdNull", K::kTaskMetrics, R"({"task_id":null,"proplet_id":"p"})",
       R::kWrongType},
      {"TaskIdObject", K::kTaskMetrics,
       R"({"task_id":{"id":"t"},"proplet_id":"p"})", R::kWrongType},
      {"TaskIdArray", K::kTaskMetrics, R"({"task_id":["t"],"proplet_id":"p"})",
       R::kWrongType},
      {"TaskIdBool", K::kTaskMetrics, R"({"task_id":true,"proplet_id":"p"})",
       R::kWrongType},
      {"TaskIdHugeNumber", K::kResults, R"({"task_id":1e999})", R::kWrongType},
      {"PropletIdNumber", K::kTaskMetrics, R"({"task_id":"t","proplet_id":7})",
       R::kWrongType},
      {"PropletIdArrayAlive", K::kAlive, R"({"proplet_id":["p"]})",
       R::kWrongType},
      {"PropletIdObjectPropletMetrics", K::kPropletMetrics,
       R"({"proplet_id":{},"namespace":"n"})", R::kWrongType},
      {"PropletIdNumberCreate", K::kCreate, R"({"proplet_id":1,"metadata":{}})",
       R::kWrongType},
      {"OptionalPropletIdNumberResults", K::kResults,
       R"({"task_id":"t","proplet_id":5})", R::kWrongType},
      // --- label_invalid -------------------------------------------------
      {"EmptyTaskId", K::kTaskMetrics, R"({"task_id":"","proplet_id":"p"})",
       R::kLabelInvalid},
      {"LongTaskId", K::kTaskMetrics,
       "{\"task_id\":\"" + std::string(257, 'a') + "\",\"proplet_id\":\"p\"}",
       R::kLabelInvalid},
      {"InvalidUtf8TaskId", K::kTaskMetrics,
       "{\"task_id\":\"t\xc3\x28\",\"proplet_id\":\"p\"}", R::kLabelInvalid},
      {"OverlongUtf8TaskId", K::kTaskMetrics,
       "{\"task_id\":\"\xc0\xaf\",\"proplet_id\":\"p\"}", R::kLabelInvalid},
      {"TruncatedUtf8PropletId", K::kAlive, "{\"proplet_id\":\"p\xe2\x82\"}",
       R::kLabelInvalid},
      {"EscapedNulTaskId", K::kTaskMetrics,
       R"({"task_id":"t\u0000","proplet_id":"p"})", R::kLabelInvalid},
      {"EscapedNewlineTaskId", K::kResults, R"({"task_id":"a\nb"})",
       R::kLabelInvalid},
      {"RawDelPropletId", K::kAlive, "{\"proplet_id\":\"p\x7f\"}",
       R::kLabelInvalid},
      {"C1ControlPropletId", K::kCreate, R"({"proplet_id":"p\u0085"})",
       R::kLabelInvalid},
      {"LoneSurrogateTaskId", K::kTaskMetrics,
       R"({"task_id":"\udc00","proplet_id":"p"})", R::kLabelInvalid},
      {"EmptyPropletIdAlive", K::kAlive, R"({"proplet_id":""})",
       R::kLabelInvalid},
      {"LongPropletIdCreate", K::kCreate,
       "{\"proplet_id\":\"" + std::string(300, 'p') + "\"}", R::kLabelInvalid},
      {"EscapesMakeItTooLong", K::kPropletMetrics,
       "{\"proplet_id\":\"" + std::string(255, 'p') + "\\u00e9\"}",
       R::kLabelInvalid},
      // --- too_large (checked before parsing) ----------------------------
      {"OverDefaultLimit", K::kTaskMetrics, big, R::kTooLarge},
      {"GarbageOverLimitIsNotParsed", K::kTaskMetrics,
       std::string(64 * 1024 + 1, '['), R::kTooLarge},
  };
}

class PayloadMalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(PayloadMalformedTest, RejectedWithItsReason) {
  const Malformed& c = GetParam();
  Result<Decoded> r = Decode(c.kind, c.payload, Opts());
  ASSERT_FALSE(r.ok()) << c.name;
  EXPECT_EQ(ReasonName(r.error().reason), std::string(ReasonName(c.want)))
      << r.error().detail;
  EXPECT_FALSE(r.error().detail.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, PayloadMalformedTest,
                         ::testing::ValuesIn(MalformedCases()),
                         [](const ::testing::TestParamInfo<Malformed>& info) {
                           return info.param.name;
                         });

TEST(PayloadMalformedCountTest, AtLeastFiftyCasesCoveringEveryPayloadReason) {
  std::vector<Malformed> cases = MalformedCases();
  EXPECT_GE(cases.size(), 50u);
  std::set<R> seen;
  for (const Malformed& c : cases) seen.insert(c.want);
  for (R r : kAllReasons) {
    if (r == R::kUnknownTopic) continue;  // a topic, not a payload
    EXPECT_TRUE(seen.count(r)) << ReasonName(r);
  }
}

TEST(PayloadLimitTest, SizeLimitIsTheCallersAndInclusive) {
  std::string p = R"({"proplet_id":"p"})";
  DecodeOptions o = Opts();
  o.max_bytes = p.size();
  EXPECT_TRUE(Decode(K::kAlive, p, o).ok());
  o.max_bytes = p.size() - 1;
  Result<Decoded> r = Decode(K::kAlive, p, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, R::kTooLarge);
}

TEST(PayloadLimitTest, NestingUpToTheLimitIsAccepted) {
  // Top-level object is depth 1; "x" holds kMaxDepth - 1 more levels.
  std::string ok = Task("\"x\":" + Nested(kMaxDepth - 1, '[', ']'));
  EXPECT_TRUE(Decode(K::kTaskMetrics, ok, Opts()).ok());
  EXPECT_TRUE(IsValidJson(Nested(kMaxDepth, '[', ']')));
  EXPECT_FALSE(IsValidJson(Nested(kMaxDepth + 1, '[', ']')));
  std::string deep = Task("\"x\":" + Nested(kMaxDepth, '[', ']'));
  Result<Decoded> r = Decode(K::kTaskMetrics, deep, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, R::kInvalidJson);
}

TEST(JsonDepthTest, CountsBracketsOutsideStrings) {
  EXPECT_EQ(JsonDepth(""), 0);
  EXPECT_EQ(JsonDepth("42"), 0);
  EXPECT_EQ(JsonDepth(R"({"a":[1,{"b":[]}]})"), 4);
  EXPECT_EQ(JsonDepth(R"([[],[[]],[]])"), 3);
  // Brackets in strings, and escaped quotes, do not count.
  EXPECT_EQ(JsonDepth(R"({"[[[{":"]]]\"[[["})"), 1);
  EXPECT_EQ(JsonDepth(R"(["\\",[]])"), 2);
  // Not a validator: a hostile prefix counts as deep as it goes.
  EXPECT_EQ(JsonDepth(std::string(65536, '[')), 65536);
  // Closers before openers lower the count below the start (as in the two
  // copies this replaced): "]]][" never gets deeper than the start.
  EXPECT_EQ(JsonDepth("]]]["), 0);
}

TEST(PayloadTopicErrorTest, UnknownTopics) {
  const char* topics[] = {"",
                          "m/d/c/c/control/proplet/unknown",
                          "m/d/c/c/control/proplet/task_metrics/extra",
                          "m/d/c/c/control/proplet/",
                          "x/d/c/c/control/proplet/alive",
                          "m//c/c/control/proplet/alive",
                          "m/d/c//control/proplet/alive",
                          "m/d/x/c/control/proplet/alive",
                          "m/d/c/c",
                          "/m/d/c/c/control/proplet/alive",
                          "m/d/c/c/metrics/proplet/x"};
  for (const char* t : topics) {
    Result<Decoded> r = DecodeMessage(t, R"({"proplet_id":"p"})", Opts());
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.error().reason, R::kUnknownTopic) << t;
  }
}

TEST(PayloadTopicErrorTest, InvalidDomainOrChannelIsLabelInvalid) {
  std::pair<std::string, label::Reason> topics[] = {
      {"m/d\x01/c/c/control/proplet/alive", label::Reason::kControlChar},
      {"m/d/c/c\xff/control/proplet/alive", label::Reason::kInvalidUtf8},
      {"m/" + std::string(300, 'd') + "/c/c/control/proplet/alive",
       label::Reason::kTooLong},
  };
  for (const auto& [t, why] : topics) {
    Result<Topic> r = ParseTopic(t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, R::kLabelInvalid);
    EXPECT_EQ(r.error().label, why) << t;
    EXPECT_TRUE(r.error().in_topic) << t;
    Result<Decoded> d = DecodeMessage(t, R"({"proplet_id":"p"})", Opts());
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().label, why) << t;
    EXPECT_TRUE(d.error().in_topic) << t;
  }
}

// A refused id says why (common/label.h), for
// propmon_bridge_label_values_total.
TEST(PayloadLabelTest, RefusedIdsCarryTheLabelReason) {
  std::pair<std::string, label::Reason> cases[] = {
      {R"({"task_id":"","proplet_id":"p"})", label::Reason::kEmpty},
      {"{\"task_id\":\"t\xff\",\"proplet_id\":\"p\"}",
       label::Reason::kInvalidUtf8},
      {R"({"task_id":"\udc00","proplet_id":"p"})", label::Reason::kInvalidUtf8},
      {R"({"task_id":"a\u0001","proplet_id":"p"})",
       label::Reason::kControlChar},
      {R"({"task_id":"t","proplet_id":")" + std::string(60 * 1024, 'p') + "\"}",
       label::Reason::kTooLong},
  };
  for (const auto& [body, why] : cases) {
    Result<Decoded> r = Decode(K::kTaskMetrics, body, Opts());
    ASSERT_FALSE(r.ok()) << body.substr(0, 60);
    EXPECT_EQ(r.error().reason, R::kLabelInvalid);
    EXPECT_EQ(r.error().label, why) << body.substr(0, 60);
    EXPECT_FALSE(r.error().in_topic);
  }
  // Other errors carry none.
  Result<Decoded> r = Decode(K::kTaskMetrics, R"({"task_id":"t"})", Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().label, std::nullopt);
}

// ---------------------------------------------------------------------------
// One bad field never loses the good ones.
// ---------------------------------------------------------------------------

const TaskMetrics& MustTask(const Result<Decoded>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
  static const TaskMetrics kEmpty;
  if (!r.ok() || r->As<TaskMetrics>() == nullptr) return kEmpty;
  return *r->As<TaskMetrics>();
}

std::vector<std::string> Paths(const Decoded& d) {
  std::vector<std::string> out;
  for (const FieldProblem& p : d.problems) {
    out.push_back(p.Path() + ":" + ProblemName(p.problem));
  }
  return out;
}

using ::testing::ElementsAre;

TEST(PayloadFieldProblemTest, WrongTypedMetricDropsOnlyThatField) {
  auto r = Decode(K::kTaskMetrics,
                  Task(R"("metrics":{"cpu_percent":"abc","memory_bytes":1024,)"
                       R"("thread_count":[1],"disk_read_bytes":{"a":1},)"
                       R"("file_descriptor_count":true,"uptime_seconds":9})"),
                  Opts());
  const TaskMetrics& m = MustTask(r);
  EXPECT_EQ(m.task_id, "t1");
  EXPECT_FALSE(m.metrics.cpu_percent.has_value());
  EXPECT_EQ(m.metrics.memory_bytes, 1024);
  EXPECT_EQ(m.metrics.uptime_seconds, 9);
  EXPECT_FALSE(m.metrics.thread_count.has_value());
  EXPECT_THAT(Paths(*r),
              ElementsAre("metrics.cpu_percent:wrong_type",
                          "metrics.thread_count:wrong_type",
                          "metrics.disk_read_bytes:wrong_type",
                          "metrics.file_descriptor_count:wrong_type"));
}

TEST(PayloadFieldProblemTest, NegativeAndOutOfRangeNumbers) {
  auto r =
      Decode(K::kTaskMetrics,
             Task(R"("metrics":{"disk_read_bytes":-5,"memory_bytes":1e999,)"
                  R"("network_tx_bytes":-1e999,"cpu_percent":12.5},)"
                  R"("aggregated":{"total_disk_write":-0.5,"sample_count":3})"),
             Opts());
  const TaskMetrics& m = MustTask(r);
  EXPECT_FALSE(m.metrics.disk_read_bytes.has_value());
  EXPECT_FALSE(m.metrics.memory_bytes.has_value());
  EXPECT_FALSE(m.metrics.network_tx_bytes.has_value());
  EXPECT_EQ(m.metrics.cpu_percent, 12.5);
  ASSERT_TRUE(m.aggregated.has_value());
  EXPECT_FALSE(m.aggregated->total_disk_write.has_value());
  EXPECT_EQ(m.aggregated->sample_count, 3);
  EXPECT_THAT(Paths(*r), ElementsAre("metrics.disk_read_bytes:negative",
                                     "metrics.memory_bytes:out_of_range",
                                     "metrics.network_tx_bytes:out_of_range",
                                     "aggregated.total_disk_write:negative"));
}

TEST(PayloadFieldProblemTest, HugeButFiniteNumbersAreKept) {
  auto r = Decode(
      K::kTaskMetrics,
      Task(R"("metrics":{"disk_read_bytes":)" + std::string(300, '9') + "}"),
      Opts());
  const TaskMetrics& m = MustTask(r);
  ASSERT_TRUE(m.metrics.disk_read_bytes.has_value());
  EXPECT_GT(*m.metrics.disk_read_bytes, 1e299);
  EXPECT_TRUE(r->problems.empty());
}

TEST(PayloadFieldProblemTest, DuplicateMetricAndAliasAreBothDropped) {
  auto r = Decode(K::kTaskMetrics,
                  Task(R"("metrics":{"cpu_percent":1,"cpu_percent":2,)"
                       R"("memory_bytes":5,"memory_usage_bytes":6,)"
                       R"("thread_count":3})"),
                  Opts());
  const TaskMetrics& m = MustTask(r);
  EXPECT_FALSE(m.metrics.cpu_percent.has_value());
  EXPECT_FALSE(m.metrics.memory_bytes.has_value());
  EXPECT_EQ(m.metrics.thread_count, 3);
  EXPECT_TRUE(r->legacy_names);
  EXPECT_THAT(Paths(*r), ElementsAre("metrics.cpu_percent:duplicate",
                                     "metrics.memory_usage_bytes:duplicate"));
}

TEST(PayloadFieldProblemTest, WrongTypedContainers) {
  auto r = Decode(K::kTaskMetrics, Task(R"("metrics":"oops","aggregated":5)"),
                  Opts());
  const TaskMetrics& m = MustTask(r);
  EXPECT_EQ(m.proplet_id, "p1");
  EXPECT_FALSE(m.aggregated.has_value());
  EXPECT_THAT(Paths(*r),
              ElementsAre("metrics:wrong_type", "aggregated:wrong_type"));
  // null containers are simply absent.
  auto r2 = Decode(K::kTaskMetrics, Task(R"("metrics":null,"aggregated":null)"),
                   Opts());
  MustTask(r2);
  EXPECT_TRUE(r2->problems.empty());
}

TEST(PayloadFieldProblemTest, BadTimestampsFallBackToReceiveTime) {
  struct {
    std::string ts;
    TimestampSource source;
    const char* problem;  // nullptr: none
  } cases[] = {
      {R"("yesterday")", TimestampSource::kInvalid, "timestamp:invalid"},
      {R"(true)", TimestampSource::kInvalid, "timestamp:wrong_type"},
      {R"([1])", TimestampSource::kInvalid, "timestamp:wrong_type"},
      {R"({"secs_since_epoch":-1,"nanos_since_epoch":0})",
       TimestampSource::kInvalid, "timestamp:invalid"},
      {R"({"secs_since_epoch":1,"nanos_since_epoch":1000000000})",
       TimestampSource::kInvalid, "timestamp:invalid"},
      {R"({"nanos_since_epoch":5})", TimestampSource::kInvalid,
       "timestamp:invalid"},
      {R"({"secs_since_epoch":"1"})", TimestampSource::kInvalid,
       "timestamp:invalid"},
      {R"({"secs_since_epoch":1.5})", TimestampSource::kInvalid,
       "timestamp:invalid"},
      {R"(null)", TimestampSource::kMissing, nullptr},
      {R"(-5)", TimestampSource::kDeviceTime, nullptr},
      {R"(12.5)", TimestampSource::kDeviceTime, nullptr},
  };
  for (const auto& c : cases) {
    auto r = Decode(K::kTaskMetrics,
                    Task(R"("metrics":{"cpu_percent":4},"timestamp":)" + c.ts),
                    Opts());
    const TaskMetrics& m = MustTask(r);
    EXPECT_EQ(m.timestamp, kReceiveTime) << c.ts;
    EXPECT_EQ(m.metrics.cpu_percent, 4) << c.ts;
    EXPECT_EQ(r->timestamp_source, c.source) << c.ts;
    if (c.problem == nullptr) {
      EXPECT_TRUE(r->problems.empty()) << c.ts;
    } else {
      EXPECT_THAT(Paths(*r), ElementsAre(c.problem)) << c.ts;
    }
  }
}

TEST(PayloadFieldProblemTest, TopLevelTimestampWinsOverNestedOne) {
  auto r = Decode(K::kTaskMetrics,
                  Task(R"("metrics":{"timestamp":"2025-01-15T10:35:22Z"},)"
                       R"("timestamp":"2025-01-15T10:35:23Z")"),
                  Opts());
  EXPECT_EQ(MustTask(r).timestamp, 1736937323);
  EXPECT_FALSE(r->timestamp_in_metrics);
  // An unusable top-level one falls back to the nested one.
  auto r2 = Decode(K::kTaskMetrics,
                   Task(R"("metrics":{"timestamp":"2025-01-15T10:35:22Z"},)"
                        R"("timestamp":12345)"),
                   Opts());
  EXPECT_EQ(MustTask(r2).timestamp, 1736937322);
  EXPECT_TRUE(r2->timestamp_in_metrics);
  EXPECT_EQ(r2->timestamp_source, TimestampSource::kRfc3339);
}

TEST(PayloadFieldProblemTest, NamespaceProblemsKeepTheProplet) {
  auto r =
      Decode(K::kPropletMetrics,
             R"({"proplet_id":"p","namespace":5,"cpu_metrics":{"percent":9}})",
             Opts());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->As<PropletMetrics>()->cpu.percent, 9);
  EXPECT_EQ(r->As<PropletMetrics>()->namespace_name, "");
  EXPECT_THAT(Paths(*r), ElementsAre("namespace:wrong_type"));

  // A namespace is descriptive: repaired (common/label.h), not dropped.
  auto r2 =
      Decode(K::kAlive, R"({"proplet_id":"p","namespace":"a\u0001"})", Opts());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->As<Alive>()->namespace_name, "a\xEF\xBF\xBD");
  EXPECT_THAT(Paths(*r2), ElementsAre());
  EXPECT_THAT(r2->repaired, ElementsAre(LabelRepair{
                                "namespace", label::Reason::kControlChar}));
  // Invalid UTF-8, raw or as a lone surrogate escape, and a long one.
  auto r3 = Decode(K::kCreate,
                   "{\"proplet_id\":\"p\",\"namespace\":\"n\xff\\n\"}", Opts());
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->As<Create>()->namespace_name, "n\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(r3->repaired.at(0).reason, label::Reason::kInvalidUtf8);
  auto r4 = Decode(K::kPropletMetrics,
                   R"({"proplet_id":"p","namespace":"\udc00x"})", Opts());
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4->As<PropletMetrics>()->namespace_name, "\xEF\xBF\xBDx");
  EXPECT_EQ(r4->repaired.at(0).reason, label::Reason::kInvalidUtf8);
  auto r5 = Decode(
      K::kAlive,
      R"({"proplet_id":"p","namespace":")" + std::string(1000, 'n') + "\"}",
      Opts());
  ASSERT_TRUE(r5.ok());
  EXPECT_EQ(r5->As<Alive>()->namespace_name, std::string(256, 'n'));
  EXPECT_EQ(r5->repaired.at(0).reason, label::Reason::kTooLong);
  // A good or empty one is not listed.
  auto r6 = Decode(K::kAlive, R"({"proplet_id":"p","namespace":""})", Opts());
  ASSERT_TRUE(r6.ok());
  EXPECT_TRUE(r6->repaired.empty());
}

TEST(PayloadFieldProblemTest, PropletMetricsBadFields) {
  auto r = Decode(
      K::kPropletMetrics,
      R"({"proplet_id":"p","metrics":{"version":3,"cpu":{"percent":"x",)"
      R"("user_seconds":2},"memory":[]},"cpu_metrics":{"system_seconds":-1}})",
      Opts());
  ASSERT_TRUE(r.ok()) << r.error().detail;
  const PropletMetrics& m = *r->As<PropletMetrics>();
  EXPECT_EQ(m.cpu.user_seconds, 2);
  EXPECT_FALSE(m.cpu.percent.has_value());
  EXPECT_FALSE(m.version.has_value());
  EXPECT_THAT(Paths(*r), ElementsAre("metrics.version:wrong_type",
                                     "metrics.cpu.percent:wrong_type",
                                     "metrics.memory:wrong_type",
                                     "cpu_metrics.system_seconds:negative"));
}

TEST(PayloadFieldProblemTest, ResultsErrorOfAnotherTypeStillMeansFailure) {
  auto r =
      Decode(K::kResults,
             R"({"task_id":"t","error":{"code":3},"results":null})", Opts());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->As<Results>()->error, "{\"code\":3}");
  EXPECT_EQ(r->As<Results>()->results, "null");
  EXPECT_THAT(Paths(*r), ElementsAre("error:wrong_type"));
  // proplet_id null is absent, not wrong.
  auto r2 = Decode(K::kResults, R"({"task_id":"t","proplet_id":null})", Opts());
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->As<Results>()->proplet_id.has_value());
}

TEST(PayloadFieldProblemTest, DuplicateMetadataKeysAreDropped) {
  auto r = Decode(K::kCreate,
                  R"({"proplet_id":"p","metadata":{"os":"linux","ip":"1",)"
                  R"("os":"zephyr","cpu_arch":"arm","x":1e999}})",
                  Opts());
  ASSERT_TRUE(r.ok());
  const Create& c = *r->As<Create>();
  EXPECT_EQ(c.Find("os"), nullptr);
  EXPECT_EQ(c.FindText("ip"), "1");
  EXPECT_EQ(c.FindText("cpu_arch"), "arm");
  EXPECT_EQ(c.Find("x"), nullptr);
  EXPECT_THAT(Paths(*r),
              ElementsAre("metadata:duplicate", "metadata:out_of_range"));
}

// ---------------------------------------------------------------------------
// The validator agrees with nlohmann's on valid, invalid and mutated input.
// ---------------------------------------------------------------------------

// nlohmann's verdict, adjusted for where it knowingly departs from RFC 8259:
// it skips a leading byte order mark (RFC 8259 lets a parser reject it, and
// we do), treats a NUL byte as the end of input (a raw NUL is never valid
// JSON), and rejects numbers beyond double range (valid JSON; we report the
// field as out_of_range instead).
bool NlohmannAccepts(std::string s) {
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) return false;
  if (s.find('\0') != std::string::npos) return false;
  for (int tries = 0; tries < 50; ++tries) {
    try {
      nlohmann::json parsed = nlohmann::json::parse(s);
      (void)parsed;
      return true;
    } catch (const nlohmann::json::parse_error&) {
      return false;
    } catch (const nlohmann::json::out_of_range& e) {
      // "number overflow parsing '1e999'": retry with that number as 0.
      std::string what = e.what();
      size_t a = what.find('\''), b = what.rfind('\'');
      if (a == std::string::npos || b <= a + 1) return false;
      std::string token = what.substr(a + 1, b - a - 1);
      size_t at = s.find(token);
      if (at == std::string::npos) return false;
      s.replace(at, token.size(), "0");
    }
  }
  return false;
}

TEST(PayloadJsonValidatorTest, AgreesWithNlohmannOnMutations) {
  std::vector<std::string> seeds = {
      Task(R"("metrics":{"cpu_percent":23.5,"memory_bytes":52428800},)"
           R"("aggregated":null,"timestamp":"2025-01-15T10:35:22.123456Z")"),
      R"({"a":[1,-2.5e+3,true,false,null,"\u00e9\ud83d\ude00\n"],"b":{}})",
      "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"n\":-0.0e-0}",
      R"([[],[[]],{"x":{"y":[0,1E2,0.5]}}])",
  };
  for (const Malformed& c : MalformedCases()) {
    if (c.payload.size() < 2000) seeds.push_back(c.payload);
  }
  const char kAlphabet[] = "{}[]\",:\\0123456789.eE+-tfnul \n\xc3\xa9\xff";
  std::mt19937 rng(12345);  // deterministic
  int checked = 0;
  for (const std::string& seed : seeds) {
    EXPECT_EQ(IsValidJson(seed), NlohmannAccepts(seed)) << seed;
    for (int i = 0; i < 300; ++i) {
      std::string s = seed;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
        char ch = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
        switch (rng() % 4) {
          case 0:
            s.insert(pos, 1, ch);
            break;
          case 1:
            if (pos < s.size()) s[pos] = ch;
            break;
          case 2:
            if (pos < s.size()) s.erase(pos, 1);
            break;
          default:
            s.resize(pos);  // truncate
        }
      }
      ASSERT_EQ(IsValidJson(s), NlohmannAccepts(s)) << "input: " << s;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10000);
}

// Decoding never throws or crashes on mutated payloads, and whenever it
// succeeds the input was valid JSON.
TEST(PayloadJsonValidatorTest, DecodeOnMutationsIsConsistent) {
  std::string seed = Task(
      R"("metrics":{"cpu_percent":23.5,"memory_bytes":52428800},)"
      R"("aggregated":{"sample_count":3},"timestamp":{"secs_since_epoch":1})");
  std::mt19937 rng(777);
  for (int i = 0; i < 5000; ++i) {
    std::string s = seed;
    size_t pos = rng() % s.size();
    s[pos] = static_cast<char>(rng() % 256);
    for (K kind : kAllMessageKinds) {
      Result<Decoded> r = Decode(kind, s, Opts());
      if (r.ok()) {
        ASSERT_TRUE(NlohmannAccepts(s)) << s;
      } else if (r.error().reason != R::kInvalidJson) {
        ASSERT_TRUE(NlohmannAccepts(s) || r.error().reason == R::kLabelInvalid)
            << ReasonName(r.error().reason) << " " << s;
      }
    }
  }
}

}  // namespace
}  // namespace propmon::payload
