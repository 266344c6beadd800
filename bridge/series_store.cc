#include "bridge/series_store.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace propmon::bridge {

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kCounter:
      return "counter";
    case MetricType::kUntyped:
      return "untyped";
  }
  return "untyped";
}

SeriesStore::SeriesStore(const Options& options, const Clock* clock)
    : options_(options), clock_(clock) {}

StatusOr<FamilyId> SeriesStore::RegisterFamily(std::string_view name,
                                               std::string_view help,
                                               MetricType type) {
  if (!IsValidMetricName(name)) {
    return InvalidArgument("invalid metric name \"" + std::string(name) + "\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = family_index_.find(std::string(name));
  if (it != family_index_.end()) {
    if (families_[it->second].type != type) {
      return InvalidArgument("metric \"" + std::string(name) +
                             "\" is already registered as a " +
                             MetricTypeName(families_[it->second].type));
    }
    return it->second;
  }
  Family f;
  f.name = std::string(name);
  f.type = type;
  f.header = "# HELP " + f.name + " ";
  AppendHelpText(&f.header, help);
  f.header += "\n# TYPE " + f.name + " " + MetricTypeName(type) + "\n";
  auto id = static_cast<FamilyId>(families_.size());
  families_.push_back(std::move(f));
  family_index_.emplace(std::string(name), id);
  return id;
}

MappingId SeriesStore::RegisterMapping(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < mappings_.size(); ++i) {
    if (mappings_[i] == name) return static_cast<MappingId>(i);
  }
  mappings_.emplace_back(name);
  mapping_series_.push_back(0);
  return static_cast<MappingId>(mappings_.size() - 1);
}

std::string SeriesStore::FamilyName(FamilyId family) const {
  std::lock_guard<std::mutex> lock(mu_);
  return family < families_.size() ? families_[family].name : std::string();
}

std::optional<FamilyId> SeriesStore::FindFamily(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = family_index_.find(std::string(name));
  if (it == family_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<MetricType> SeriesStore::FamilyType(FamilyId family) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (family >= families_.size()) return std::nullopt;
  return families_[family].type;
}

SeriesStore::Writer SeriesStore::Write() {
  return Writer(this, clock_->Monotonic());
}

SeriesStore::Writer::Writer(SeriesStore* store, double now)
    : lock_(store->mu_), store_(store), now_(now) {}

double SeriesStore::Deadline(double now, double ttl) const {
  if (!(ttl > 0) || std::isinf(ttl)) {
    return std::numeric_limits<double>::infinity();
  }
  return now + ttl;
}

SeriesStore::Slot* SeriesStore::Resolve(SeriesRef ref) {
  if (ref.slot >= slots_.size()) return nullptr;
  Slot& s = slots_[ref.slot];
  if (s.family == kFree || s.generation != ref.generation) return nullptr;
  return &s;
}

const SeriesStore::Slot* SeriesStore::Resolve(SeriesRef ref) const {
  if (ref.slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[ref.slot];
  if (s.family == kFree || s.generation != ref.generation) return nullptr;
  return &s;
}

std::uint32_t SeriesStore::FindSeries(std::uint32_t family,
                                      std::uint32_t label_set) const {
  return series_index_.Find(
      SeriesHash(family, label_set), [&](std::uint32_t slot) {
        const Slot& s = slots_[slot];
        return s.family == family && s.label_set == label_set;
      });
}

std::uint32_t SeriesStore::FindLabelSet(std::uint64_t hash) const {
  return label_index_.Find(hash, [&](std::uint32_t id) {
    return label_sets_[id].view() == scratch_;
  });
}

// Interns the label set rendered in scratch_.
std::uint32_t SeriesStore::InternLabels(std::span<const Label> labels,
                                        bool* ok) {
  *ok = true;
  for (const Label& l : labels) {
    if (!IsValidLabelName(l.name)) {
      *ok = false;
      return 0;
    }
  }
  scratch_.clear();
  AppendLabels(&scratch_, labels);
  std::uint64_t hash = TextHash(scratch_);
  std::uint32_t found = FindLabelSet(hash);
  if (found != IdTable::kNone) return found;
  std::uint32_t id;
  if (!free_label_sets_.empty()) {
    id = free_label_sets_.back();
    free_label_sets_.pop_back();
  } else {
    id = static_cast<std::uint32_t>(label_sets_.size());
    label_sets_.emplace_back();
  }
  LabelSet& ls = label_sets_[id];
  ls.size = static_cast<std::uint32_t>(scratch_.size());
  ls.text.reset(ls.size > 0 ? new char[ls.size] : nullptr);
  if (ls.size > 0) scratch_.copy(ls.text.get(), ls.size);
  ls.refs = 0;
  label_index_.Insert(hash, id, [&](std::uint32_t v) {
    return TextHash(label_sets_[v].view());
  });
  return id;
}

void SeriesStore::ReleaseLabelSet(std::uint32_t id) {
  LabelSet& ls = label_sets_[id];
  if (--ls.refs > 0) return;
  label_index_.Erase(TextHash(ls.view()), id);
  ls.text.reset();
  ls.size = 0;
  free_label_sets_.push_back(id);
}

void SeriesStore::RemoveSlot(std::uint32_t index) {
  Slot& s = slots_[index];
  Family& f = families_[s.family];
  // Swap-remove from the family's list.
  std::uint32_t last = f.slots.back();
  f.slots[s.pos] = last;
  slots_[last].pos = s.pos;
  f.slots.pop_back();
  series_index_.Erase(SeriesHash(s.family, s.label_set), index);
  ReleaseLabelSet(s.label_set);
  --mapping_series_[s.mapping];
  s.family = kFree;
  ++s.generation;
  free_slots_.push_back(index);
  --live_;
}

SetOutcome SeriesStore::Writer::Set(FamilyId family,
                                    std::span<const Label> labels, double value,
                                    double ttl, MappingId mapping,
                                    SeriesRef* ref, std::int64_t timestamp_ms) {
  SeriesStore& st = *store_;
  if (ref != nullptr) *ref = SeriesRef();
  if (family >= st.families_.size() || mapping >= st.mappings_.size()) {
    return SetOutcome::kInvalid;
  }
  bool ok = false;
  // Look the label set up without creating it first, so that a refused
  // series leaves nothing behind.
  for (const Label& l : labels) {
    if (!IsValidLabelName(l.name)) return SetOutcome::kInvalid;
  }
  st.scratch_.clear();
  AppendLabels(&st.scratch_, labels);
  std::uint32_t ls = st.FindLabelSet(TextHash(st.scratch_));
  if (ls != IdTable::kNone) {
    std::uint32_t slot = st.FindSeries(family, ls);
    if (slot != IdTable::kNone) {
      Slot& s = st.slots_[slot];
      s.value = value;
      s.deadline = st.Deadline(now_, ttl);
      s.timestamp_ms = timestamp_ms;
      if (ref != nullptr) *ref = SeriesRef{slot, s.generation};
      return SetOutcome::kUpdated;
    }
  }
  if (st.live_ >= st.options_.series_limit) {
    ++st.refused_total_;
    return SetOutcome::kRefused;
  }
  std::uint32_t label_set = st.InternLabels(labels, &ok);
  if (!ok) return SetOutcome::kInvalid;
  std::uint32_t index;
  if (!st.free_slots_.empty()) {
    index = st.free_slots_.back();
    st.free_slots_.pop_back();
  } else {
    index = st.slots_.Add();
  }
  Slot& s = st.slots_[index];
  Family& f = st.families_[family];
  s.value = value;
  s.deadline = st.Deadline(now_, ttl);
  s.timestamp_ms = timestamp_ms;
  s.family = family;
  s.label_set = label_set;
  s.mapping = mapping;
  s.pos = static_cast<std::uint32_t>(f.slots.size());
  f.slots.push_back(index);
  ++st.label_sets_[label_set].refs;
  st.series_index_.Insert(
      SeriesHash(family, label_set), index, [&](std::uint32_t v) {
        return SeriesHash(st.slots_[v].family, st.slots_[v].label_set);
      });
  ++st.mapping_series_[mapping];
  ++st.live_;
  if (ref != nullptr) *ref = SeriesRef{index, s.generation};
  return SetOutcome::kCreated;
}

bool SeriesStore::Writer::Update(SeriesRef ref, double value, double ttl) {
  Slot* s = store_->Resolve(ref);
  if (s == nullptr) return false;
  s->value = value;
  s->deadline = store_->Deadline(now_, ttl);
  return true;
}

bool SeriesStore::Writer::Add(SeriesRef ref, double delta, double ttl) {
  Slot* s = store_->Resolve(ref);
  if (s == nullptr) return false;
  s->value += delta;
  s->deadline = store_->Deadline(now_, ttl);
  return true;
}

bool SeriesStore::Writer::SetValue(SeriesRef ref, double value) {
  Slot* s = store_->Resolve(ref);
  if (s == nullptr) return false;
  s->value = value;
  return true;
}

bool SeriesStore::Writer::Touch(SeriesRef ref, double ttl) {
  Slot* s = store_->Resolve(ref);
  if (s == nullptr) return false;
  s->deadline = store_->Deadline(now_, ttl);
  return true;
}

std::optional<double> SeriesStore::Writer::Get(SeriesRef ref) const {
  const Slot* s = store_->Resolve(ref);
  if (s == nullptr) return std::nullopt;
  return s->value;
}

bool SeriesStore::Writer::Remove(SeriesRef ref) {
  if (store_->Resolve(ref) == nullptr) return false;
  store_->RemoveSlot(ref.slot);
  return true;
}

SeriesRef SeriesStore::Writer::Find(FamilyId family,
                                    std::span<const Label> labels) {
  SeriesStore& st = *store_;
  st.scratch_.clear();
  AppendLabels(&st.scratch_, labels);
  std::uint32_t ls = st.FindLabelSet(TextHash(st.scratch_));
  if (ls == IdTable::kNone) return SeriesRef();
  std::uint32_t slot = st.FindSeries(family, ls);
  if (slot == IdTable::kNone) return SeriesRef();
  return SeriesRef{slot, st.slots_[slot].generation};
}

std::size_t SeriesStore::ExpireNow() {
  double now = clock_->Monotonic();
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t removed = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.family != kFree && s.deadline <= now) {
      RemoveSlot(i);
      ++removed;
    }
  }
  expired_total_ += removed;
  return removed;
}

void SeriesStore::Render(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  // Sized once, then written through a pointer: a scrape of 300k series is
  // a few memcpy per series, without per-append capacity checks.
  constexpr std::size_t kMaxValue = 32;      // "-1.2345678901234567e-308" & co.
  constexpr std::size_t kMaxTimestamp = 21;  // " -9223372036854775807"
  std::size_t bound = 0;
  for (const Family& f : families_) {
    if (f.slots.empty()) continue;
    bound += f.header.size();
    for (std::uint32_t index : f.slots) {
      bound += f.name.size() + label_sets_[slots_[index].label_set].size +
               kMaxValue + kMaxTimestamp + 2;
    }
  }
  std::size_t start = out->size();
  out->resize(start + bound);
  char* p = out->data() + start;
  for (const Family& f : families_) {
    if (f.slots.empty()) continue;
    std::memcpy(p, f.header.data(), f.header.size());
    p += f.header.size();
    for (std::uint32_t index : f.slots) {
      const Slot& s = slots_[index];
      std::memcpy(p, f.name.data(), f.name.size());
      p += f.name.size();
      const LabelSet& ls = label_sets_[s.label_set];
      if (ls.size > 0) std::memcpy(p, ls.text.get(), ls.size);
      p += ls.size;
      *p++ = ' ';
      p = AppendValueTo(p, s.value);
      if (s.timestamp_ms != kNoTimestamp) {
        *p++ = ' ';
        p = std::to_chars(p, p + 20, s.timestamp_ms).ptr;
      }
      *p++ = '\n';
    }
  }
  out->resize(static_cast<std::size_t>(p - out->data()));
}

StoreStats SeriesStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats st;
  st.series = live_;
  st.series_limit = options_.series_limit;
  st.label_sets = label_index_.size();
  st.expired_total = expired_total_;
  st.refused_total = refused_total_;
  for (size_t i = 0; i < mappings_.size(); ++i) {
    st.mapping_series.emplace_back(mappings_[i], mapping_series_[i]);
  }
  return st;
}

std::size_t SeriesStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

}  // namespace propmon::bridge
