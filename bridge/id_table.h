// IdTable: an open-addressing hash index of 32-bit ids (linear probing,
// tombstones). The caller keeps the keys elsewhere and supplies the hash and
// the equality test per call, so the index costs about 6 bytes per entry
// instead of a node per entry (std::unordered_map: ~40-60 bytes).
//
// Thread-compatible.
#ifndef PROPMON_BRIDGE_ID_TABLE_H_
#define PROPMON_BRIDGE_ID_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace propmon::bridge {

class IdTable {
 public:
  static constexpr std::uint32_t kNone =
      std::numeric_limits<std::uint32_t>::max();

  // Returns the id whose key equals (eq(id) true) in the chain of `hash`,
  // or kNone.
  template <typename Eq>
  std::uint32_t Find(std::uint64_t hash, Eq eq) const {
    if (slots_.empty()) return kNone;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      std::uint32_t v = slots_[i];
      if (v == kEmpty) return kNone;
      if (v != kDeleted && eq(v)) return v;
    }
  }

  // Inserts `id` (not present yet). `hash_of(id)` must return the hash of
  // any stored id (used when the table grows).
  template <typename HashOf>
  void Insert(std::uint64_t hash, std::uint32_t id, HashOf hash_of) {
    if ((used_ + 1) * 10 > slots_.size() * 7) Rehash(hash_of);
    std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    while (slots_[i] != kEmpty && slots_[i] != kDeleted) i = (i + 1) & mask;
    if (slots_[i] == kEmpty) ++used_;
    slots_[i] = id;
    ++live_;
  }

  // Removes `id`, found in the chain of `hash`. Returns false if absent.
  bool Erase(std::uint64_t hash, std::uint32_t id) {
    if (slots_.empty()) return false;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      std::uint32_t v = slots_[i];
      if (v == kEmpty) return false;
      if (v == id) {
        slots_[i] = kDeleted;
        --live_;
        return true;
      }
    }
  }

  std::size_t size() const { return live_; }
  std::size_t capacity() const { return slots_.size(); }

 private:
  static constexpr std::uint32_t kEmpty = kNone;
  static constexpr std::uint32_t kDeleted = kNone - 1;

  // Grows (or, when mostly tombstones, rebuilds at the same size).
  template <typename HashOf>
  void Rehash(HashOf hash_of) {
    std::size_t cap = slots_.empty() ? 16 : slots_.size();
    while ((live_ + 1) * 2 > cap) cap *= 2;
    std::vector<std::uint32_t> old(cap, kEmpty);
    old.swap(slots_);
    used_ = 0;
    std::size_t mask = slots_.size() - 1;
    for (std::uint32_t v : old) {
      if (v == kEmpty || v == kDeleted) continue;
      std::size_t i = hash_of(v) & mask;
      while (slots_[i] != kEmpty) i = (i + 1) & mask;
      slots_[i] = v;
      ++used_;
    }
  }

  std::vector<std::uint32_t> slots_;
  std::size_t used_ = 0;  // live + tombstones
  std::size_t live_ = 0;
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_ID_TABLE_H_
