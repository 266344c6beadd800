// SeriesStore: the bridge's generic series cache. A series is a metric
// family (name, help, type) plus a label set, holding one value and an
// expiry deadline. The mappings (the built-in Propeller mapping and the
// configurable ones of bridge/mapping_spec.h) write series here; /metrics
// renders them straight from the store in the text exposition format.
//
// Model:
// - Families are registered once by name; a name keeps its type.
// - Label sets are interned: series that share labels (the ~17 series of one
//   task) share one pre-escaped `{k="v",...}` text, which is also what the
//   renderer copies, so a scrape costs one memcpy per series plus a number.
// - Each series belongs to a mapping (a small id with a name) so that the
//   bridge can report series per mapping.
// - Each write sets a time to live; ExpireNow() removes series whose
//   deadline passed. A ttl <= 0 (or infinite) means "never expires".
// - A series limit refuses NEW series beyond it (SetOutcome::kRefused);
//   existing series keep updating.
// - SeriesRef is a cheap handle (slot index + generation) that callers cache
//   to update a series without hashing its labels; it goes stale when the
//   series is removed or expires, and the update methods then return false
//   so the caller falls back to Set().
//
// Thread-safety: thread-safe. Writes go through a Writer, which holds the
// store's lock for a batch of updates (one message); Render(), Stats() and
// ExpireNow() take the same lock. Label values are arbitrary bytes (escaped
// when interned); label names and metric names are validated.
#ifndef PROPMON_BRIDGE_SERIES_STORE_H_
#define PROPMON_BRIDGE_SERIES_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bridge/id_table.h"
#include "bridge/text_format.h"
#include "common/clock.h"
#include "common/status.h"

namespace propmon::bridge {

enum class MetricType { kGauge, kCounter, kUntyped };
// "gauge", "counter", "untyped".
const char* MetricTypeName(MetricType type);

using FamilyId = std::uint32_t;
using MappingId = std::uint16_t;

// A handle to one series. Default-constructed: refers to nothing.
struct SeriesRef {
  static constexpr std::uint32_t kNone =
      std::numeric_limits<std::uint32_t>::max();
  std::uint32_t slot = kNone;
  std::uint32_t generation = 0;
  bool empty() const { return slot == kNone; }
};

enum class SetOutcome {
  kUpdated,  // the series existed
  kCreated,  // a new series
  kRefused,  // new series refused: the series limit is reached
  kInvalid,  // bad family id, or a label name that is not valid
};

struct StoreStats {
  std::size_t series = 0;
  std::size_t series_limit = 0;
  std::size_t label_sets = 0;
  std::uint64_t expired_total = 0;  // removed by ExpireNow()
  std::uint64_t refused_total = 0;  // Set() calls refused by the limit
  // (mapping name, series) in registration order.
  std::vector<std::pair<std::string, std::size_t>> mapping_series;
};

class SeriesStore {
 public:
  static constexpr std::int64_t kNoTimestamp =
      std::numeric_limits<std::int64_t>::min();
  struct Options {
    std::size_t series_limit = 200000;
  };

  // `clock` must outlive the store (Monotonic() drives expiry).
  SeriesStore(const Options& options, const Clock* clock);
  SeriesStore(const SeriesStore&) = delete;
  SeriesStore& operator=(const SeriesStore&) = delete;

  // Registers a family, or returns the id of the one already registered
  // under `name` (its help text is kept). Errors: InvalidArgument for an
  // invalid name, or a name registered with another type.
  StatusOr<FamilyId> RegisterFamily(std::string_view name,
                                    std::string_view help, MetricType type);
  // Returns the id for a mapping name (the same id for the same name).
  MappingId RegisterMapping(std::string_view name);
  // The name of a registered family ("" for an unknown id).
  std::string FamilyName(FamilyId family) const;
  // The id of the family registered under `name`, if any.
  std::optional<FamilyId> FindFamily(std::string_view name) const;
  // The type of a registered family.
  std::optional<MetricType> FamilyType(FamilyId family) const;

  // Exclusive access for a batch of writes; holds the store's lock until
  // destroyed. "Now" is read once, when the writer is created.
  class Writer {
   public:
    Writer(Writer&&) = default;
    // Sets the value of the series (family, labels), creating it (owned by
    // `mapping`) when it does not exist and the limit allows. The series then
    // expires `ttl` seconds from now unless written again. Stores a handle
    // in *ref (when not null) on kUpdated/kCreated, clears it otherwise.
    // `timestamp_ms` (milliseconds since the epoch) is rendered after the
    // value; kNoTimestamp renders none.
    SetOutcome Set(FamilyId family, std::span<const Label> labels, double value,
                   double ttl, MappingId mapping, SeriesRef* ref = nullptr,
                   std::int64_t timestamp_ms = kNoTimestamp);
    // Fast paths through a handle; false when the handle is stale.
    bool Update(SeriesRef ref, double value, double ttl);
    bool Add(SeriesRef ref, double delta, double ttl);  // value += delta
    bool SetValue(SeriesRef ref, double value);         // keeps the deadline
    bool Touch(SeriesRef ref, double ttl);              // only the deadline
    std::optional<double> Get(SeriesRef ref) const;
    // Removes the series; false when the handle is stale.
    bool Remove(SeriesRef ref);
    // Returns a handle to an existing series, or an empty one.
    SeriesRef Find(FamilyId family, std::span<const Label> labels);
    double now() const { return now_; }

   private:
    friend class SeriesStore;
    Writer(SeriesStore* store, double now);
    std::unique_lock<std::mutex> lock_;
    SeriesStore* store_;
    double now_;
  };
  Writer Write();

  // Removes every series whose deadline has passed; returns how many.
  std::size_t ExpireNow();
  // Appends all series in the text exposition format: families in
  // registration order, each with its HELP and TYPE lines, empty families
  // left out.
  void Render(std::string* out) const;
  StoreStats Stats() const;
  std::size_t size() const;
  std::size_t limit() const { return options_.series_limit; }

 private:
  static constexpr std::uint32_t kFree =
      std::numeric_limits<std::uint32_t>::max();
  struct Slot {
    double value = 0;
    double deadline = 0;
    std::int64_t timestamp_ms = kNoTimestamp;
    std::uint32_t family = kFree;  // kFree: unused slot
    std::uint32_t label_set = 0;
    std::uint32_t generation = 0;
    std::uint32_t pos = 0;  // index in Family::slots
    MappingId mapping = 0;
  };
  struct Family {
    std::string name;
    std::string header;  // "# HELP ...\n# TYPE ...\n"
    MetricType type = MetricType::kGauge;
    std::vector<std::uint32_t> slots;
  };
  struct LabelSet {
    // `{k="v",...}` escaped, or empty for no labels; exactly sized.
    std::unique_ptr<char[]> text;
    std::uint32_t size = 0;
    std::uint32_t refs = 0;
    std::string_view view() const { return {text.get(), size}; }
  };

  Slot* Resolve(SeriesRef ref);
  const Slot* Resolve(SeriesRef ref) const;
  double Deadline(double now, double ttl) const;
  void RemoveSlot(std::uint32_t index);
  std::uint32_t InternLabels(std::span<const Label> labels, bool* ok);
  void ReleaseLabelSet(std::uint32_t id);
  static std::uint64_t SeriesHash(std::uint32_t family,
                                  std::uint32_t label_set) {
    // splitmix64 finalizer over (family, label set).
    std::uint64_t z = (static_cast<std::uint64_t>(family) << 32) | label_set;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static std::uint64_t TextHash(std::string_view text) {
    return std::hash<std::string_view>{}(text);
  }
  // The slot of series (family, label_set), or IdTable::kNone.
  std::uint32_t FindSeries(std::uint32_t family, std::uint32_t label_set) const;
  // The id of the label set whose text is scratch_, or IdTable::kNone.
  std::uint32_t FindLabelSet(std::uint64_t hash) const;

  const Options options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::deque<Family> families_;
  std::unordered_map<std::string, FamilyId> family_index_;
  std::vector<std::string> mappings_;
  std::vector<std::size_t> mapping_series_;
  // Slots in fixed chunks: indexing is a shift and a mask, growth costs no
  // 2x reserve, and slots never move.
  class SlotArray {
   public:
    static constexpr std::uint32_t kShift = 12;
    static constexpr std::uint32_t kChunk = 1u << kShift;
    Slot& operator[](std::uint32_t i) {
      return chunks_[i >> kShift][i & (kChunk - 1)];
    }
    const Slot& operator[](std::uint32_t i) const {
      return chunks_[i >> kShift][i & (kChunk - 1)];
    }
    std::uint32_t size() const { return size_; }
    std::uint32_t Add() {
      if (size_ == chunks_.size() * kChunk) {
        chunks_.push_back(std::make_unique<Slot[]>(kChunk));
      }
      return size_++;
    }

   private:
    std::vector<std::unique_ptr<Slot[]>> chunks_;
    std::uint32_t size_ = 0;
  };
  SlotArray slots_;
  std::vector<std::uint32_t> free_slots_;
  std::deque<LabelSet> label_sets_;  // deque: element addresses are stable
  std::vector<std::uint32_t> free_label_sets_;
  IdTable label_index_;   // label set ids by text
  IdTable series_index_;  // slots by (family, label set)
  std::string scratch_;
  std::size_t live_ = 0;
  std::uint64_t expired_total_ = 0;
  std::uint64_t refused_total_ = 0;
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_SERIES_STORE_H_
