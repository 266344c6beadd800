#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "bridge/history.h"
#include "bridge/message_queue.h"

namespace propmon::bridge {
namespace {

QueuedMessage Msg(const std::string& topic) {
  QueuedMessage m;
  m.topic = topic;
  m.payload = "{}";
  return m;
}

TEST(MessageQueueTest, DropsAndCountsWhenFull) {
  MessageQueue q(3);
  for (int i = 0; i < 5; ++i) q.TryPush(Msg("t" + std::to_string(i)));
  EXPECT_EQ(q.depth(), 3u);
  EXPECT_EQ(q.pushed_total(), 3u);
  EXPECT_EQ(q.dropped_total(), 2u);
  std::vector<QueuedMessage> batch;
  ASSERT_TRUE(q.PopBatch(&batch, 2, std::chrono::milliseconds(10)));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].topic, "t0");
  EXPECT_EQ(batch[1].topic, "t1");
  EXPECT_TRUE(q.TryPush(Msg("t5")));
  ASSERT_TRUE(q.PopBatch(&batch, 10, std::chrono::milliseconds(10)));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].topic, "t2");
  EXPECT_EQ(batch[1].topic, "t5");
  EXPECT_FALSE(q.PopBatch(&batch, 10, std::chrono::milliseconds(10)));
  EXPECT_EQ(q.depth(), 0u);
}

TEST(MessageQueueTest, CloseWakesConsumerAndRefusesWithoutCountingDrops) {
  MessageQueue q(4);
  std::thread consumer([&] {
    std::vector<QueuedMessage> batch;
    EXPECT_FALSE(q.PopBatch(&batch, 4, std::chrono::seconds(30)));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Close();
  consumer.join();
  EXPECT_FALSE(q.TryPush(Msg("x")));
  EXPECT_EQ(q.dropped_total(), 0u);
}

TEST(HistoryStoreTest, KeepsNewestPerIdAndPages) {
  HistoryStore h(HistoryStore::Options{3, 1 << 20});
  for (int i = 0; i < 5; ++i)
    h.Append("a", i, "{\"i\":" + std::to_string(i) + "}");
  h.Append("b", 0, "{}");
  auto p = h.Get("a", 0, 100);
  EXPECT_EQ(p.total, 3u);
  ASSERT_EQ(p.items.size(), 3u);
  EXPECT_EQ(p.items[0].data, "{\"i\":2}");
  EXPECT_EQ(p.items[0].time, 2);
  EXPECT_EQ(p.items[2].data, "{\"i\":4}");
  p = h.Get("a", 1, 1);
  EXPECT_EQ(p.total, 3u);
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0].data, "{\"i\":3}");
  p = h.Get("a", 3, 10);
  EXPECT_EQ(p.total, 3u);
  EXPECT_TRUE(p.items.empty());
  p = h.Get("a", 0, 0);
  EXPECT_TRUE(p.items.empty());
  p = h.Get("a", 2, UINT64_MAX);
  ASSERT_EQ(p.items.size(), 1u);
  p = h.Get("unknown", 0, 10);
  EXPECT_EQ(p.total, 0u);
  EXPECT_TRUE(p.items.empty());
  EXPECT_EQ(h.evicted_total(), 0u);
}

TEST(HistoryStoreTest, GlobalCapEvictsOldestFirstAndCounts) {
  const std::string item(1000, 'x');
  HistoryStore h(HistoryStore::Options{1000, 20000});
  for (int i = 0; i < 10; ++i) h.Append("old", 0, item);
  for (int i = 0; i < 30; ++i) h.Append("new", 0, item);
  EXPECT_LE(h.bytes(), 20000u);
  EXPECT_GT(h.evicted_total(), 0u);
  // The oldest id went first, entirely, before the newer one lost anything.
  EXPECT_EQ(h.Get("old", 0, 100).total, 0u);
  auto p = h.Get("new", 0, 100);
  EXPECT_GT(p.total, 0u);
  EXPECT_EQ(p.total, 40u - h.evicted_total());
}

TEST(HistoryStoreTest, ChurnOfOneIdStaysUnderTheCap) {
  // Per-id evictions leave bookkeeping behind; it must count against the
  // cap instead of growing without bound.
  HistoryStore h(HistoryStore::Options{2, 4096});
  h.Append("idle", 0, "{}");
  for (int i = 0; i < 100000; ++i) h.Append("busy", 0, "{\"n\":1}");
  EXPECT_LE(h.bytes(), 4096u);
  EXPECT_EQ(h.Get("busy", 0, 10).total, 2u);
}

}  // namespace
}  // namespace propmon::bridge
