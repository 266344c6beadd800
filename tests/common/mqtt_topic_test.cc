// Topic names, filters, $share prefixes and matching (common/mqtt_topic.h).
#include "common/mqtt_topic.h"

#include <gtest/gtest.h>

#include <string>

namespace propmon {
namespace {

TEST(MqttTopicTest, ValidatesTopicNames) {
  EXPECT_TRUE(ValidateMqttTopicName("m/d/c/c/control/proplet/alive").ok());
  EXPECT_TRUE(ValidateMqttTopicName("/").ok());
  EXPECT_FALSE(ValidateMqttTopicName("").ok());
  EXPECT_FALSE(ValidateMqttTopicName("a/+/b").ok());
  EXPECT_FALSE(ValidateMqttTopicName("a/#").ok());
  EXPECT_FALSE(ValidateMqttTopicName(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateMqttTopicName(std::string(65536, 'a')).ok());
}

TEST(MqttTopicTest, ValidatesFilters) {
  for (const char* good :
       {"#", "+", "a/+/b", "a/#", "m/+/c/+/control/proplet/#", "/+", "+/+",
        "$share/g/m/+/c/+/control/proplet/#", "$share/bridges/#", "$SYS/#"}) {
    EXPECT_TRUE(ValidateMqttTopicFilter(good).ok()) << good;
  }
  for (const char* bad :
       {"", "a/#/b", "a#", "a/b#", "a+/b", "a/+b", "$share/", "$share/g",
        "$share//a", "$share/g+/a", "$share/g/", "$share/g/a/#/b"}) {
    EXPECT_FALSE(ValidateMqttTopicFilter(bad).ok()) << bad;
  }
}

TEST(MqttTopicTest, StripsSharePrefix) {
  EXPECT_EQ(StripMqttSharePrefix("$share/g/m/+/c/+/control/proplet/#"),
            "m/+/c/+/control/proplet/#");
  EXPECT_EQ(StripMqttSharePrefix("m/+/x"), "m/+/x");
  EXPECT_EQ(StripMqttSharePrefix("$share/g"), "$share/g");
}

TEST(MqttTopicTest, MatchesLikeTheSpec) {
  struct Case {
    const char* filter;
    const char* topic;
    bool want;
  };
  const Case cases[] = {
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a", true},
      {"a/#", "a/b", true},
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      {"+", "a", true},
      {"+", "a/b", false},
      {"+", "", true},
      {"+/+", "/a", true},
      {"/+", "/a", true},
      {"/+", "a", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a//c", true},
      {"a/+/c", "a/b/d", false},
      {"a/+/c", "a/b/c/d", false},
      {"a/+", "a", false},
      {"a/+/#", "a/b", true},
      {"a/b", "a/b", true},
      {"a/b", "a/b/", false},
      {"a/b/", "a/b/", true},
      {"a/b", "a/bc", false},
      {"m/+/c/+/control/proplet/#", "m/dom/c/chan/control/proplet/task_metrics",
       true},
      {"m/+/c/+/control/proplet/#", "m/dom/c/chan/metrics/proplet", false},
      {"m/+/c/+/metrics/proplet", "m/dom/c/chan/metrics/proplet", true},
      {"#", "$SYS/broker/uptime", false},
      {"+/broker/uptime", "$SYS/broker/uptime", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MqttTopicMatches(c.filter, c.topic), c.want)
        << c.filter << " vs " << c.topic;
  }
}

}  // namespace
}  // namespace propmon
