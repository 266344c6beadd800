// The MQTT client's publish buffer without a broker: order, requeue into
// place, both bounds, and that every message that leaves other than by
// PopFront() is counted, by topic.
#include "common/publish_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace propmon {
namespace {

std::vector<std::string> Payloads(PublishBuffer* b) {
  std::vector<std::string> out;
  while (!b->empty()) out.push_back(b->PopFront().payload);
  return out;
}

TEST(PublishBufferTest, KeepsOrderAndCountsBytes) {
  PublishBuffer b(10, 1000);
  EXPECT_EQ(b.Push("t/a", "1", 1, false), 0u);
  EXPECT_EQ(b.Push("t/bb", "22", 0, true), 0u);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.bytes(), 4u + 6u);
  PendingMessage first = b.PopFront();
  EXPECT_EQ(first.topic, "t/a");
  EXPECT_EQ(first.qos, 1);
  EXPECT_FALSE(first.retain);
  EXPECT_EQ(b.bytes(), 6u);
  PendingMessage second = b.PopFront();
  EXPECT_TRUE(second.retain);
  EXPECT_LT(first.seq, second.seq);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
  EXPECT_EQ(b.dropped_total(), 0u);
}

TEST(PublishBufferTest, RequeuedMessagesGoBackIntoTheirPlace) {
  PublishBuffer b(10, 1000);
  for (const char* p : {"1", "2", "3", "4"}) b.Push("t", p, 1, false);
  PendingMessage one = b.PopFront();
  PendingMessage two = b.PopFront();
  // Back in any order: by sequence, before the rest.
  EXPECT_EQ(b.Requeue(std::move(two)), 0u);
  EXPECT_EQ(b.Requeue(std::move(one)), 0u);
  b.Push("t", "5", 1, false);
  EXPECT_EQ(Payloads(&b), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST(PublishBufferTest, MessageBoundDropsTheOldestAndCountsByTopic) {
  PublishBuffer b(3, 1 << 20);
  b.Push("a", "1", 1, false);
  b.Push("b", "2", 1, false);
  b.Push("a", "3", 1, false);
  EXPECT_EQ(b.Push("c", "4", 1, false), 1u);  // "1" goes
  EXPECT_EQ(b.Push("c", "5", 1, false), 1u);  // "2" goes
  EXPECT_EQ(b.dropped_total(), 2u);
  EXPECT_EQ(b.dropped_by_topic().at("a"), 1u);
  EXPECT_EQ(b.dropped_by_topic().at("b"), 1u);
  // A requeued message older than everything held is the one dropped.
  PendingMessage three = b.PopFront();
  b.Push("d", "6", 1, false);
  EXPECT_EQ(b.Requeue(std::move(three)), 1u);
  EXPECT_EQ(b.dropped_by_topic().at("a"), 2u);
  EXPECT_EQ(Payloads(&b), (std::vector<std::string>{"4", "5", "6"}));
}

TEST(PublishBufferTest, ByteBoundDropsTheOldestEvenTheNewOne) {
  PublishBuffer b(100, 10);                   // bytes = topic + payload
  b.Push("t", "1234", 1, false);              // 5
  b.Push("t", "5678", 1, false);              // 10
  EXPECT_EQ(b.Push("t", "9", 1, false), 1u);  // 12 > 10: the first goes
  EXPECT_EQ(b.bytes(), 7u);
  // One message over the bound on its own: it goes too, and everything
  // before it.
  EXPECT_EQ(b.Push("t", std::string(20, 'x'), 1, false), 3u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
  EXPECT_EQ(b.dropped_total(), 4u);
  EXPECT_EQ(b.dropped_by_topic().at("t"), 4u);
}

TEST(PublishBufferTest, DropAllAndHandedOutDropsAreCounted) {
  PublishBuffer b(10, 1000);
  b.Push("x", "1", 1, false);
  b.Push("y", "2", 1, false);
  PendingMessage out = b.PopFront();
  b.CountDropped(out.topic);  // handed out, never acknowledged
  EXPECT_EQ(b.DropAll(), 1u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
  EXPECT_EQ(b.dropped_total(), 2u);
  EXPECT_EQ(b.dropped_by_topic().at("x"), 1u);
  EXPECT_EQ(b.dropped_by_topic().at("y"), 1u);
}

TEST(PublishBufferTest, TopicsPastTheLimitCountAsOther) {
  PublishBuffer b(0, 1000);  // every message is dropped at once
  for (size_t i = 0; i < PublishBuffer::kMaxDropTopics + 5; ++i) {
    EXPECT_EQ(b.Push("t/" + std::to_string(i), "p", 1, false), 1u);
  }
  EXPECT_EQ(b.dropped_total(), PublishBuffer::kMaxDropTopics + 5);
  EXPECT_EQ(b.dropped_by_topic().size(), PublishBuffer::kMaxDropTopics + 1);
  EXPECT_EQ(b.dropped_by_topic().at("other"), 5u);
}

}  // namespace
}  // namespace propmon
