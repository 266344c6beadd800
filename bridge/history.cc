#include "bridge/history.h"

#include <algorithm>

namespace propmon::bridge {

HistoryStore::HistoryStore(const Options& options) : options_(options) {}

std::size_t HistoryStore::ItemCost(const std::string& json) {
  // The text and the deque slot (seq + string header).
  return json.capacity() + sizeof(Item);
}

// Each order_ entry is charged too: entries of items that per-id eviction
// removed stay in order_ until they reach its front, and must count against
// the cap so that order_ cannot grow without bound.
constexpr std::size_t kOrderCost = sizeof(void*) + sizeof(std::uint64_t);

std::size_t HistoryStore::EntryCost(const Entry& e) {
  // The entry, its map node and the id text (roughly).
  return sizeof(Entry) + 64 + e.id.capacity();
}

void HistoryStore::PopFront(Entry* e) {
  bytes_ -= ItemCost(e->items.front().data);
  e->items.pop_front();
}

void HistoryStore::MaybeErase(Entry* e) {
  if (!e->items.empty() || e->global_refs > 0) return;
  bytes_ -= EntryCost(*e);
  ++erase_epoch_;
  entries_.erase(std::string_view(e->id));
}

void HistoryStore::Append(std::string_view id, double time, std::string data,
                          Hint* hint) {
  if (options_.per_id_limit == 0 || id.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  Entry* e = nullptr;
  if (hint != nullptr && hint->entry != nullptr &&
      hint->epoch == erase_epoch_) {
    auto* cached = static_cast<Entry*>(const_cast<void*>(hint->entry));
    if (cached->id == id) e = cached;
  }
  if (e == nullptr) {
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      auto owned = std::make_unique<Entry>();
      owned->id = std::string(id);
      e = owned.get();
      bytes_ += EntryCost(*e);
      entries_.emplace(std::string_view(e->id), std::move(owned));
    } else {
      e = it->second.get();
    }
  }
  // An erase (below or later) bumps erase_epoch_ and so invalidates this.
  if (hint != nullptr) {
    hint->entry = e;
    hint->epoch = erase_epoch_;
  }
  while (e->items.size() >= options_.per_id_limit) PopFront(e);
  std::uint64_t seq = next_seq_++;
  bytes_ += ItemCost(data);
  e->items.push_back(Item{seq, time, std::move(data)});
  order_.emplace_back(e, seq);
  bytes_ += kOrderCost;
  ++e->global_refs;
  EnforceMemoryLimit();
  // Drop order_ entries whose items are gone already (per-id evictions), so
  // order_ does not grow without bound.
  while (!order_.empty()) {
    auto [front, front_seq] = order_.front();
    if (!front->items.empty() && front->items.front().seq <= front_seq) break;
    order_.pop_front();
    bytes_ -= kOrderCost;
    --front->global_refs;
    MaybeErase(front);
  }
}

void HistoryStore::EnforceMemoryLimit() {
  while (bytes_ > options_.memory_limit_bytes && !order_.empty()) {
    auto [e, seq] = order_.front();
    order_.pop_front();
    bytes_ -= kOrderCost;
    --e->global_refs;
    if (!e->items.empty() && e->items.front().seq == seq) {
      PopFront(e);
      ++evicted_;
    }
    MaybeErase(e);
  }
}

HistoryStore::Page HistoryStore::Get(std::string_view id, std::uint64_t offset,
                                     std::uint64_t limit) const {
  Page page;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return page;
  const auto& items = it->second->items;
  page.total = items.size();
  if (offset >= items.size()) return page;
  std::uint64_t end = std::min<std::uint64_t>(
      items.size(), limit > items.size() ? items.size() : offset + limit);
  for (std::uint64_t i = offset; i < end; ++i) {
    page.items.push_back(PageItem{items[i].time, items[i].data});
  }
  return page;
}

std::size_t HistoryStore::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::size_t HistoryStore::ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::uint64_t HistoryStore::evicted_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evicted_;
}

}  // namespace propmon::bridge
