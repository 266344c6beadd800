// HistoryStore: a bounded history of items per id (task or proplet), for
// the manager-compatible REST API. An item is opaque bytes plus a time (the
// bridge keeps each payload as received, with its receive time, and renders
// the manager's JSON only when the API is asked: the hot path only moves a
// string). Each id keeps its newest `per_id_limit` items; all ids together stay
// under `memory_limit_bytes` (items, ids and bookkeeping are charged), evicting
// the globally oldest items first. Evictions by the global cap are counted.
//
// Thread-safety: thread-safe.
#ifndef PROPMON_BRIDGE_HISTORY_H_
#define PROPMON_BRIDGE_HISTORY_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace propmon::bridge {

class HistoryStore {
 public:
  struct Options {
    std::size_t per_id_limit = 1000;
    std::size_t memory_limit_bytes = 256u << 20;
  };
  explicit HistoryStore(const Options& options);

  // Lets a caller that appends to the same id again and again skip the
  // lookup: Append() fills it, and uses it next time when it still refers
  // to `id`. Default-constructed: empty. Opaque.
  struct Hint {
    const void* entry = nullptr;
    std::uint64_t epoch = 0;
  };

  // Appends an item to the history of `id`.
  void Append(std::string_view id, double time, std::string data,
              Hint* hint = nullptr);

  struct PageItem {
    double time = 0;
    std::string data;
  };
  struct Page {
    std::uint64_t total = 0;      // items held for the id
    std::vector<PageItem> items;  // [offset, offset+limit), oldest first
  };
  // Returns the page; an unknown id gives total 0 and no items.
  Page Get(std::string_view id, std::uint64_t offset,
           std::uint64_t limit) const;

  std::size_t bytes() const;
  std::size_t ids() const;
  std::uint64_t evicted_total() const;  // by the global memory cap

 private:
  struct Item {
    std::uint64_t seq;
    double time;
    std::string data;
  };
  struct Entry {
    std::string id;
    std::deque<Item> items;
    std::size_t global_refs = 0;  // entries in order_ pointing here
  };
  static std::size_t ItemCost(const std::string& json);
  static std::size_t EntryCost(const Entry& e);
  void PopFront(Entry* e);
  void MaybeErase(Entry* e);
  void EnforceMemoryLimit();

  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string_view, std::unique_ptr<Entry>> entries_;
  // Insertion order over all ids: (entry, seq of the item).
  std::deque<std::pair<Entry*, std::uint64_t>> order_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t erase_epoch_ = 1;  // bumped whenever an entry is erased
  std::size_t bytes_ = 0;
  std::uint64_t evicted_ = 0;
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_HISTORY_H_
