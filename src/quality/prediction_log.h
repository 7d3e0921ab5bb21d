// PredictionLog: what recent requests predicted, keyed by (model, request id), so
// feedback that arrives later (a label, a reward) joins the version that answered.
//
// Bounded by count and by age: the oldest entry leaves first when the log is full,
// and entries older than max_age leave on the next record() or lookup. Every eviction
// is counted (quiver_prediction_log_evictions_total). The ids of evicted entries are
// remembered, as 64-bit hashes in a bounded ring, so feedback for them reads
// "expired" rather than "unknown" (a hash collision could mislabel one unknown id as
// expired, with odds of about n / 2^64).
//
// A request id recorded again replaces the entry (the newest prediction wins).
//
// record() is on the request path (only for requests that carry an id): one mutex,
// held for a hash-map insert and O(1) amortised evictions; it builds no JSON and
// allocates only the entry.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "quality/prediction.h"

namespace quiver::metrics {
class Counter;
class Gauge;
class MetricsRegistry;
}  // namespace quiver::metrics

namespace quiver::quality {

struct PredictionLogOptions {
  size_t max_entries = 1'000'000;
  std::chrono::seconds max_age{3600};
  // How many evicted ids are remembered to tell "expired" from "unknown"; 0: as many
  // as max_entries.
  size_t remembered_evictions = 0;
};

struct LoggedPrediction {
  int64_t version = 0;
  Prediction prediction;
  std::chrono::steady_clock::time_point at;
  uint64_t seq = 0;  // identifies this recording of the id (see claim())
};

enum class LookupResult { kFound, kUnknown, kExpired };

class PredictionLog {
 public:
  // `metrics` may be null (no metrics exported).
  PredictionLog(const Clock& clock, PredictionLogOptions options, metrics::MetricsRegistry* metrics);
  PredictionLog(const PredictionLog&) = delete;
  PredictionLog& operator=(const PredictionLog&) = delete;

  void record(std::string_view model, std::string_view id, int64_t version, Prediction prediction);

  // The entry for (model, id): kFound fills `out` (a copy), kExpired when the id was
  // evicted (by count or age), kUnknown when it was never seen (or forgotten).
  LookupResult lookup(std::string_view model, std::string_view id, LoggedPrediction* out);

  // Feedback may bring a truth and a reward for an id, each counted once: marks the
  // ones asked for as received for the recording `seq` and says which were new. When
  // the entry has gone (evicted) or was recorded again since, nothing is marked and
  // both asked-for parts read as new, since the caller already holds the prediction.
  struct Claimed {
    bool truth = false;
    bool reward = false;
  };
  Claimed claim(std::string_view model, std::string_view id, uint64_t seq, bool truth, bool reward);

  size_t size() const;
  uint64_t evictions() const;

 private:
  struct Entry {
    LoggedPrediction logged;
    bool truth_seen = false;
    bool reward_seen = false;
  };
  using Map = std::unordered_map<std::string, Entry>;
  struct Order {  // one per recording, oldest first
    const std::string* key;  // into the map's node; valid while the entry exists
    uint64_t seq;
    std::chrono::steady_clock::time_point at;
  };

  static std::string key_of(std::string_view model, std::string_view id);
  static uint64_t hash_of(std::string_view key);
  // Drops entries past max_age, then the oldest beyond max_entries. mu_ held.
  void evict_locked(std::chrono::steady_clock::time_point now);
  void pop_front_locked();  // evicts (or skips a stale) front recording
  void remember_locked(uint64_t hash);
  void publish_size_locked();

  const Clock& clock_;
  PredictionLogOptions options_;
  metrics::Counter* m_evictions_ = nullptr;
  metrics::Gauge* m_entries_ = nullptr;

  mutable std::mutex mu_;
  Map entries_;
  std::deque<Order> order_;
  uint64_t next_seq_ = 1;
  uint64_t evictions_ = 0;
  // Evicted ids: a ring of hashes (oldest overwritten) and their multiplicities.
  std::vector<uint64_t> evicted_ring_;
  size_t evicted_next_ = 0;
  std::unordered_map<uint64_t, uint32_t> evicted_;
};

}  // namespace quiver::quality
