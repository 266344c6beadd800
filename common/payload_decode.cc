// The Propeller codec's decoder (common/payload.h, "Decoding"): one pass
// over the payload through the JSON reader (common/json_reader.h), every
// field checked, every problem named.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/json_reader.h"
#include "common/payload.h"
#include "common/rfc3339.h"

namespace propmon::payload {

using namespace json_internal;  // NOLINT: the reader is this file's tool

namespace {

// A numeric field of one JSON object: its key, its slot in the struct, and
// whether the key is a legacy alias.
struct NumField {
  std::string_view key;
  const char* name;  // the same text, NUL-terminated, for FieldProblem
  int slot;
  bool legacy;
};

#define PROPMON_FIELD(k, slot) \
  NumField { k, k, slot, false }
#define PROPMON_LEGACY(k, slot) \
  NumField { k, k, slot, true }

constexpr NumField kProcessFields[] = {
    PROPMON_FIELD("cpu_percent", 0),
    PROPMON_FIELD("memory_bytes", 1),
    PROPMON_FIELD("memory_percent", 2),
    PROPMON_FIELD("disk_read_bytes", 3),
    PROPMON_FIELD("disk_write_bytes", 4),
    PROPMON_FIELD("network_rx_bytes", 5),
    PROPMON_FIELD("network_tx_bytes", 6),
    PROPMON_FIELD("uptime_seconds", 7),
    PROPMON_FIELD("thread_count", 8),
    PROPMON_FIELD("file_descriptor_count", 9),
    PROPMON_LEGACY("cpu_usage_percent", 0),
    PROPMON_LEGACY("memory_usage_bytes", 1),
    PROPMON_LEGACY("memory_usage_percent", 2),
};

constexpr NumField kAggregatedFields[] = {
    PROPMON_FIELD("avg_cpu_usage", 0),    PROPMON_FIELD("max_cpu_usage", 1),
    PROPMON_FIELD("avg_memory_usage", 2), PROPMON_FIELD("max_memory_usage", 3),
    PROPMON_FIELD("total_disk_read", 4),  PROPMON_FIELD("total_disk_write", 5),
    PROPMON_FIELD("total_network_rx", 6), PROPMON_FIELD("total_network_tx", 7),
    PROPMON_FIELD("sample_count", 8),
};

constexpr NumField kCpuFields[] = {
    PROPMON_FIELD("user_seconds", 0),
    PROPMON_FIELD("system_seconds", 1),
    PROPMON_FIELD("percent", 2),
};

constexpr NumField kMemoryFields[] = {
    PROPMON_FIELD("rss_bytes", 0),
    PROPMON_FIELD("heap_alloc_bytes", 1),
    PROPMON_FIELD("heap_sys_bytes", 2),
    PROPMON_FIELD("heap_inuse_bytes", 3),
    PROPMON_FIELD("container_usage_bytes", 4),
    PROPMON_FIELD("container_limit_bytes", 5),
    PROPMON_FIELD("heap_free_bytes", 6),
    PROPMON_FIELD("heap_max_alloc_bytes", 7),
};

#undef PROPMON_FIELD
#undef PROPMON_LEGACY

// Compares n bytes with overlapping word loads (both ranges hold n bytes).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  auto eq8 = [](const char* x, const char* y) {
    uint64_t u, v;
    std::memcpy(&u, x, 8);
    std::memcpy(&v, y, 8);
    return u == v;
  };
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (!eq8(a + i, b + i)) return false;
    }
    return eq8(a + n - 8, b + n - 8);
  }
  if (n >= 4) {
    uint32_t u0, v0, u1, v1;
    std::memcpy(&u0, a, 4);
    std::memcpy(&v0, b, 4);
    std::memcpy(&u1, a + n - 4, 4);
    std::memcpy(&v1, b + n - 4, 4);
    return u0 == v0 && u1 == v1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool KeyIs(const NumField& f, std::string_view key) {
  return f.key.size() == key.size() &&
         SameBytes(f.key.data(), key.data(), key.size());
}

// Finds `key` in `fields`, trying first the entry after the last match
// (senders write the fields in a fixed order).
template <size_t N>
inline const NumField* FindField(const NumField (&fields)[N],
                                 std::string_view key, size_t* hint) {
  if (*hint < N && KeyIs(fields[*hint], key)) return &fields[(*hint)++];
  for (size_t i = 0; i < N; ++i) {
    if (KeyIs(fields[i], key)) {
      *hint = i + 1;
      return &fields[i];
    }
  }
  return nullptr;
}

// Tracks which slots of one struct were seen, to find duplicates (a key
// twice, or a key and its legacy alias).
struct SeenMask {
  uint32_t seen = 0;
  uint32_t poisoned = 0;
};

// The result of reading one timestamp value.
struct TsRead {
  TimestampSource source = TimestampSource::kMissing;
  double value = 0;
  bool seen = false;
};

bool Usable(const TsRead& t) {
  return t.source == TimestampSource::kRfc3339 ||
         t.source == TimestampSource::kSystemTime;
}

class Decoder {
 public:
  Decoder(std::string_view payload, const DecodeOptions& options, Decoded* d)
      : r_(payload, kMaxDepth), options_(options), d_(d) {}

  // Decodes into *d; returns the error if the payload is unusable.
  std::optional<Error> Run(MessageKind kind) {
    d_->kind = kind;
    char c = r_.Peek();
    if (c == '\0' && r_.AtEnd()) {
      return Error{Reason::kInvalidJson, "empty payload"};
    }
    if (c != '{') {
      if (r_.SkipValue(0) && r_.AtEnd()) {
        return Error{Reason::kNotObject, "payload is not a JSON object"};
      }
      return SyntaxError();
    }
    switch (kind) {
      case MessageKind::kTaskMetrics:
      case MessageKind::kLegacyTaskMetrics:
        TaskBody();
        break;
      case MessageKind::kPropletMetrics:
        PropletBody();
        break;
      case MessageKind::kAlive:
        AliveBody();
        break;
      case MessageKind::kCreate:
        CreateBody();
        break;
      case MessageKind::kResults:
        ResultsBody();
        break;
    }
    if (!r_.failed() && !r_.AtEnd()) r_.Fail("trailing characters");
    if (r_.failed()) return SyntaxError();
    if (semantic_) return std::move(*semantic_);
    if (missing_ != nullptr) {
      return Error{Reason::kMissingField,
                   std::string("missing field ") + missing_};
    }
    return std::nullopt;
  }

 private:
  Error SyntaxError() {
    return Error{Reason::kInvalidJson, std::string("invalid JSON at byte ") +
                                           std::to_string(r_.fail_offset()) +
                                           ": " + r_.fail_what()};
  }

  void SetSemantic(Reason reason, std::string detail) {
    if (!semantic_) semantic_ = Error{reason, std::move(detail)};
  }

  void AddProblem(const char* object, const char* field, Problem problem) {
    d_->problems.push_back(FieldProblem{object, field, problem});
  }

  // Skips the value at the reader (depth: that of the enclosing object).
  void Skip(int depth) { r_.SkipValue(depth); }

  // Reads a number for `slot`, or records why not.
  __attribute__((always_inline)) void ReadNumber(
      int depth, const char* object, const NumField& f,
      std::optional<double>* const* slots, SeenMask* mask) {
    uint32_t bit = 1u << f.slot;
    std::optional<double>* slot = slots[f.slot];
    if (f.legacy) d_->legacy_names = true;
    if (mask->seen & bit) {
      Skip(depth);
      if (!(mask->poisoned & bit)) {
        mask->poisoned |= bit;
        slot->reset();
        AddProblem(object, f.name, Problem::kDuplicate);
      }
      return;
    }
    mask->seen |= bit;
    char c = r_.Peek();
    if (c == '-' || IsDigit(c)) {
      double v;
      bool oor;
      if (!r_.Number(&v, &oor)) return;
      if (oor) {
        AddProblem(object, f.name, Problem::kOutOfRange);
      } else if (v < 0) {
        AddProblem(object, f.name, Problem::kNegative);
      } else {
        *slot = v;
      }
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) return;  // null: absent
      return;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(object, f.name, Problem::kWrongType);
  }

  // Reads the members of a numeric object at the reader. `object` names it
  // in problems; `other(key, depth)` handles non-numeric keys and returns
  // false for unknown ones (skipped).
  template <size_t N, typename Other>
  void NumberObject(int depth, const char* object, const NumField (&fields)[N],
                    std::optional<double>* const* slots, SeenMask* mask,
                    Other&& other) {
    size_t hint = 0;
    r_.Object(depth, [&](std::string_view key) {
      if (const NumField* f = FindField(fields, key, &hint)) {
        ReadNumber(depth, object, *f, slots, mask);
      } else if (!other(key, depth)) {
        Skip(depth);
      }
    });
  }

  // Reads a value that must be an object (or null: absent) into `read`,
  // else records a wrong-type problem. `depth`: that of the enclosing
  // object.
  template <typename F>
  bool ObjectOrNull(int depth, const char* parent, const char* key, F&& read) {
    char c = r_.Peek();
    if (c == '{') {
      read(depth + 1);
      return true;
    }
    if (c == 'n') {
      int w = -1;
      r_.Literal(&w);  // "null" or a syntax error
      return false;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(parent, key, Problem::kWrongType);
    return false;
  }

  // Reads a required (or optional) id. Problems with it reject the payload.
  void ReadId(int depth, const char* name, std::string* out, bool* seen,
              bool null_is_absent = false) {
    if (*seen) {
      Skip(depth);
      SetSemantic(Reason::kInvalidJson, std::string("duplicate key ") + name);
      return;
    }
    *seen = true;
    char c = r_.Peek();
    if (c != '"') {
      if (c == 'n' && null_is_absent) {
        int w;
        if (r_.Literal(&w) && w == -1) {
          *seen = false;
          return;
        }
      }
      Skip(depth);
      SetSemantic(Reason::kWrongType, std::string(name) + " is not a string");
      return;
    }
    std::string_view v;
    bool bad = false;
    if (!r_.String(&v, r_.value_scratch(), &bad)) return;
    std::optional<label::Reason> defect =
        bad ? label::Reason::kInvalidUtf8 : label::CheckValidUtf8(v);
    if (defect) {
      if (!semantic_) {
        semantic_ = Error{Reason::kLabelInvalid,
                          std::string(name) + " " + label::ReasonText(*defect)};
        semantic_->label = defect;
      }
      return;
    }
    out->assign(v.data(), v.size());
  }

  // Reads an optional string. `label`: a label value; when not empty and
  // not a good one (invalid UTF-8 included), it is repaired (label::Repair)
  // and listed in Decoded::repaired; otherwise invalid UTF-8 is a syntax
  // error like anywhere else in the payload.
  void ReadString(int depth, const char* object, const char* name,
                  std::string* out, bool* seen, bool label) {
    if (*seen) {
      Skip(depth);
      AddProblem(object, name, Problem::kDuplicate);
      out->clear();
      return;
    }
    *seen = true;
    char c = r_.Peek();
    if (c == '"') {
      std::string_view v;
      bool bad = false;
      if (!r_.String(&v, r_.value_scratch(), &bad)) return;
      if (bad && !label) {
        r_.Fail("invalid UTF-8 in string");
        return;
      }
      out->assign(v.data(), v.size());
      if (label && !v.empty()) {
        std::optional<label::Reason> defect =
            bad ? label::Reason::kInvalidUtf8 : label::CheckValidUtf8(v);
        if (defect) {
          label::Repair(out);
          d_->repaired.push_back(LabelRepair{name, *defect});
        }
      }
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) return;
      AddProblem(object, name, Problem::kWrongType);
      return;
    }
    Skip(depth);
    if (!r_.failed()) AddProblem(object, name, Problem::kWrongType);
  }

  // Reads a timestamp in any of SPEC §1's forms.
  void ReadTimestamp(int depth, const char* object, TsRead* t) {
    if (t->seen) {
      Skip(depth);
      if (t->source != TimestampSource::kInvalid) {
        AddProblem(object, "timestamp", Problem::kDuplicate);
      }
      t->source = TimestampSource::kInvalid;
      return;
    }
    t->seen = true;
    char c = r_.Peek();
    if (c == '"') {
      std::string_view v;
      bool bad = false;
      if (!r_.String(&v, r_.value_scratch(), &bad)) return;
      if (bad) {
        r_.Fail("invalid UTF-8 in string");
        return;
      }
      if (auto ts = ParseRfc3339(v)) {
        t->source = TimestampSource::kRfc3339;
        t->value = *ts;
      } else {
        t->source = TimestampSource::kInvalid;
        AddProblem(object, "timestamp", Problem::kInvalid);
      }
      return;
    }
    if (c == '{') {
      std::optional<double> secs, nanos;
      bool ok = true;
      r_.Object(depth + 1, [&](std::string_view key) {
        std::optional<double>* slot = nullptr;
        if (key == "secs_since_epoch") {
          slot = &secs;
        } else if (key == "nanos_since_epoch") {
          slot = &nanos;
        } else {
          Skip(depth + 1);
          return;
        }
        char n = r_.Peek();
        if (slot->has_value() || !(n == '-' || IsDigit(n))) {
          ok = false;
          Skip(depth + 1);
          return;
        }
        double v;
        bool oor;
        if (!r_.Number(&v, &oor)) return;
        if (oor || v < 0 || v != std::floor(v)) ok = false;
        *slot = v;
      });
      if (r_.failed()) return;
      if (!ok || !secs || *secs > 253402300799.0 || (nanos && *nanos >= 1e9)) {
        t->source = TimestampSource::kInvalid;
        AddProblem(object, "timestamp", Problem::kInvalid);
        return;
      }
      t->source = TimestampSource::kSystemTime;
      t->value = *secs + (nanos ? *nanos / 1e9 : 0.0);
      return;
    }
    if (c == '-' || IsDigit(c)) {
      double v;
      bool oor;
      if (!r_.Number(&v, &oor)) return;
      t->source = TimestampSource::kDeviceTime;
      return;
    }
    if (c == 'n') {
      int w;
      if (r_.Literal(&w) && w == -1) {
        t->source = TimestampSource::kMissing;
        return;
      }
    } else {
      Skip(depth);
    }
    if (r_.failed()) return;
    t->source = TimestampSource::kInvalid;
    AddProblem(object, "timestamp", Problem::kWrongType);
  }

  // Picks the top-level timestamp if usable, else the nested one, else the
  // receive time (with the most telling source).
  double ResolveTimestamp(const TsRead& top, const TsRead& nested) {
    const TsRead* pick;
    if (Usable(top)) {
      pick = &top;
    } else if (Usable(nested)) {
      pick = &nested;
    } else if (top.source != TimestampSource::kMissing) {
      pick = &top;
    } else {
      pick = &nested;
    }
    d_->timestamp_source = pick->source;
    d_->timestamp_in_metrics =
        pick == &nested && nested.source != TimestampSource::kMissing;
    return Usable(*pick) ? pick->value : options_.receive_time;
  }

  void TaskBody() {
    TaskMetrics& m = d_->message.emplace<TaskMetrics>();
    std::optional<double>* pslots[] = {
        &m.metrics.cpu_percent,      &m.metrics.memory_bytes,
        &m.metrics.memory_percent,   &m.metrics.disk_read_bytes,
        &m.metrics.disk_write_bytes, &m.metrics.network_rx_bytes,
        &m.metrics.network_tx_bytes, &m.metrics.uptime_seconds,
        &m.metrics.thread_count,     &m.metrics.file_descriptor_count};
    SeenMask pmask, amask;
    TsRead top, nested;
    bool seen_task = false, seen_proplet = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "task_id") {
        ReadId(1, "task_id", &m.task_id, &seen_task);
      } else if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_proplet);
      } else if (key == "metrics") {
        ObjectOrNull(1, "", "metrics", [&](int depth) {
          NumberObject(depth, "metrics", kProcessFields, pslots, &pmask,
                       [&](std::string_view k, int dd) {
                         if (k != "timestamp") return false;
                         ReadTimestamp(dd, "metrics", &nested);
                         return true;
                       });
        });
      } else if (key == "aggregated") {
        ObjectOrNull(1, "", "aggregated", [&](int depth) {
          AggregatedMetrics& a =
              m.aggregated ? *m.aggregated : m.aggregated.emplace();
          std::optional<double>* aslots[] = {
              &a.avg_cpu_usage,    &a.max_cpu_usage,    &a.avg_memory_usage,
              &a.max_memory_usage, &a.total_disk_read,  &a.total_disk_write,
              &a.total_network_rx, &a.total_network_tx, &a.sample_count};
          NumberObject(depth, "aggregated", kAggregatedFields, aslots, &amask,
                       [](std::string_view, int) { return false; });
        });
      } else if (key == "timestamp") {
        ReadTimestamp(1, "", &top);
      } else {
        Skip(1);
      }
    });
    if (!seen_task) {
      missing_ = "task_id";
    } else if (!seen_proplet) {
      missing_ = "proplet_id";
    }
    m.timestamp = ResolveTimestamp(top, nested);
  }

  void PropletBody() {
    PropletMetrics& m = d_->message.emplace<PropletMetrics>();
    std::optional<double>* cslots[] = {&m.cpu.user_seconds,
                                       &m.cpu.system_seconds, &m.cpu.percent};
    std::optional<double>* mslots[] = {&m.memory.rss_bytes,
                                       &m.memory.heap_alloc_bytes,
                                       &m.memory.heap_sys_bytes,
                                       &m.memory.heap_inuse_bytes,
                                       &m.memory.container_usage_bytes,
                                       &m.memory.container_limit_bytes,
                                       &m.memory.heap_free_bytes,
                                       &m.memory.heap_max_alloc_bytes};
    SeenMask cmask, mmask;
    TsRead top, nested;
    bool seen_id = false, seen_ns = false, seen_version = false;
    auto none = [](std::string_view, int) { return false; };
    // cpu/memory objects, at the top level (flat) or inside `metrics`.
    auto cpu_or_memory = [&](std::string_view key, int depth, bool in_metrics) {
      if (key == "cpu_metrics" || key == "cpu") {
        const char* obj =
            key == "cpu" ? (in_metrics ? "metrics.cpu" : "cpu")
                         : (in_metrics ? "metrics.cpu_metrics" : "cpu_metrics");
        ObjectOrNull(depth, in_metrics ? "metrics" : "",
                     key == "cpu" ? "cpu" : "cpu_metrics", [&](int dd) {
                       NumberObject(dd, obj, kCpuFields, cslots, &cmask, none);
                     });
        return true;
      }
      if (key == "memory_metrics" || key == "memory") {
        const char* obj =
            key == "memory"
                ? (in_metrics ? "metrics.memory" : "memory")
                : (in_metrics ? "metrics.memory_metrics" : "memory_metrics");
        ObjectOrNull(
            depth, in_metrics ? "metrics" : "",
            key == "memory" ? "memory" : "memory_metrics", [&](int dd) {
              NumberObject(dd, obj, kMemoryFields, mslots, &mmask, none);
            });
        return true;
      }
      return false;
    };
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else if (key == "timestamp") {
        ReadTimestamp(1, "", &top);
      } else if (key == "metrics") {
        bool is_obj = ObjectOrNull(1, "", "metrics", [&](int depth) {
          r_.Object(depth, [&](std::string_view k) {
            if (k == "timestamp") {
              ReadTimestamp(depth, "metrics", &nested);
            } else if (k == "version") {
              std::string v;
              ReadString(depth, "metrics", "version", &v, &seen_version, false);
              if (!v.empty()) m.version = std::move(v);
            } else if (!cpu_or_memory(k, depth, true)) {
              Skip(depth);
            }
          });
        });
        if (is_obj) d_->nested_layout = true;
      } else if (!cpu_or_memory(key, 1, false)) {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
    m.timestamp = ResolveTimestamp(top, nested);
  }

  void AliveBody() {
    Alive& m = d_->message.emplace<Alive>();
    m.status.clear();
    bool seen_id = false, seen_status = false, seen_ns = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "status") {
        ReadString(1, "", "status", &m.status, &seen_status, false);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
  }

  void CreateBody() {
    Create& m = d_->message.emplace<Create>();
    bool seen_id = false, seen_ns = false, seen_meta = false;
    std::vector<std::string> poisoned;
    r_.Object(1, [&](std::string_view key) {
      if (key == "proplet_id") {
        ReadId(1, "proplet_id", &m.proplet_id, &seen_id);
      } else if (key == "namespace") {
        ReadString(1, "", "namespace", &m.namespace_name, &seen_ns, true);
      } else if (key == "metadata") {
        if (seen_meta) {
          // A second metadata object merges; its repeated keys are
          // duplicates like any other.
        }
        seen_meta = true;
        ObjectOrNull(1, "", "metadata",
                     [&](int depth) { MetadataObject(depth, &m, &poisoned); });
      } else {
        Skip(1);
      }
    });
    if (!seen_id) missing_ = "proplet_id";
  }

  void MetadataObject(int depth, Create* m,
                      std::vector<std::string>* poisoned) {
    r_.Object(depth, [&](std::string_view key_view) {
      std::string key(key_view);  // the next string read reuses the scratch
      MetadataValue value;
      char c = r_.Peek();
      bool keep = true;
      if (c == '"') {
        std::string_view v;
        bool bad = false;
        if (!r_.String(&v, r_.value_scratch(), &bad)) return;
        if (bad) {
          r_.Fail("invalid UTF-8 in string");
          return;
        }
        value = std::string(v);
      } else if (c == '-' || IsDigit(c)) {
        double v;
        bool oor;
        if (!r_.Number(&v, &oor)) return;
        if (oor) {
          AddProblem("", "metadata", Problem::kOutOfRange);
          keep = false;
        } else {
          value = v;
        }
      } else if (c == 't' || c == 'f' || c == 'n') {
        int w;
        if (!r_.Literal(&w)) return;
        if (w == -1) {
          value = nullptr;
        } else {
          value = (w == 1);
        }
      } else {
        const char* start = r_.pos();
        if (!r_.SkipValue(depth)) return;
        value = RawJson{std::string(start, r_.pos() - start)};
      }
      for (const std::string& p : *poisoned) {
        if (p == key) return;
      }
      for (auto it = m->metadata.begin(); it != m->metadata.end(); ++it) {
        if (it->first == key) {
          m->metadata.erase(it);
          poisoned->push_back(key);
          AddProblem("", "metadata", Problem::kDuplicate);
          return;
        }
      }
      if (keep) m->metadata.emplace_back(std::move(key), std::move(value));
    });
  }

  void ResultsBody() {
    Results& m = d_->message.emplace<Results>();
    bool seen_task = false, seen_proplet = false, seen_results = false,
         seen_error = false;
    r_.Object(1, [&](std::string_view key) {
      if (key == "task_id") {
        ReadId(1, "task_id", &m.task_id, &seen_task);
      } else if (key == "proplet_id") {
        std::string id;
        ReadId(1, "proplet_id", &id, &seen_proplet, /*null_is_absent=*/true);
        if (seen_proplet && !semantic_) m.proplet_id = std::move(id);
      } else if (key == "results") {
        const char* start = r_.pos();
        if (!r_.SkipValue(1)) return;
        if (seen_results) {
          AddProblem("", "results", Problem::kDuplicate);
          m.results.clear();
          return;
        }
        seen_results = true;
        m.results.assign(start, r_.pos() - start);
      } else if (key == "error") {
        if (seen_error) {
          Skip(1);
          AddProblem("", "error", Problem::kDuplicate);
          return;
        }
        seen_error = true;
        char c = r_.Peek();
        if (c == '"') {
          std::string_view v;
          bool bad = false;
          if (!r_.String(&v, r_.value_scratch(), &bad)) return;
          if (bad) {
            r_.Fail("invalid UTF-8 in string");
            return;
          }
          m.error = std::string(v);
        } else if (c == 'n') {
          int w;
          if (!r_.Literal(&w)) return;
          if (w != -1) {
            m.error = w == 1 ? "true" : "false";
            AddProblem("", "error", Problem::kWrongType);
          }
        } else {
          // Any other value still says the task failed: keep its JSON text.
          const char* start = r_.pos();
          if (!r_.SkipValue(1)) return;
          m.error = std::string(start, r_.pos() - start);
          AddProblem("", "error", Problem::kWrongType);
        }
      } else {
        Skip(1);
      }
    });
    if (!seen_task) missing_ = "task_id";
  }

  Reader r_;
  const DecodeOptions& options_;
  Decoded* d_;
  std::optional<Error> semantic_;
  const char* missing_ = nullptr;
};

}  // namespace

Result<Decoded> Decode(MessageKind kind, std::string_view payload,
                       const DecodeOptions& options) {
  if (payload.size() > options.max_bytes) {
    return Error{Reason::kTooLarge, "payload of " +
                                        std::to_string(payload.size()) +
                                        " bytes exceeds the limit of " +
                                        std::to_string(options.max_bytes)};
  }
  Result<Decoded> result{Decoded{}};
  Decoder decoder(payload, options, &result.value());
  if (std::optional<Error> error = decoder.Run(kind)) {
    result = std::move(*error);
  }
  return result;
}

Result<Decoded> DecodeMessage(std::string_view topic, std::string_view payload,
                              const DecodeOptions& options) {
  Result<Topic> t = ParseTopic(topic);
  if (!t.ok()) return t.error();
  Result<Decoded> d = Decode(t->kind, payload, options);
  if (d.ok()) {
    d->domain.assign(t->domain);
    d->channel.assign(t->channel);
  }
  return d;
}

}  // namespace propmon::payload
