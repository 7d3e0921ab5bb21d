#include "quality/prediction_log.h"

#include <algorithm>
#include <functional>

#include "metrics/metrics_registry.h"

namespace quiver::quality {

PredictionLog::PredictionLog(const Clock& clock, PredictionLogOptions options, metrics::MetricsRegistry* metrics)
    : clock_(clock), options_(options) {
  options_.max_entries = std::max<size_t>(options_.max_entries, 1);
  if (options_.remembered_evictions == 0) options_.remembered_evictions = options_.max_entries;
  if (metrics) {
    m_evictions_ = &metrics->counter("quiver_prediction_log_evictions_total",
                                     "Logged predictions dropped by the prediction log's count or age limit");
    m_entries_ = &metrics->gauge("quiver_prediction_log_entries",
                                 "Predictions held for joining feedback by request id");
  }
}

// Model names cannot contain '/', so "model/id" names one pair only.
std::string PredictionLog::key_of(std::string_view model, std::string_view id) {
  std::string key;
  key.reserve(model.size() + 1 + id.size());
  key.append(model).push_back('/');
  key.append(id);
  return key;
}

uint64_t PredictionLog::hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

void PredictionLog::record(std::string_view model, std::string_view id, int64_t version, Prediction prediction) {
  std::string key = key_of(model, id);
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  const uint64_t seq = next_seq_++;
  auto [it, inserted] = entries_.try_emplace(std::move(key));
  Entry& e = it->second;
  e.logged.version = version;
  e.logged.prediction = std::move(prediction);
  e.logged.at = now;
  e.logged.seq = seq;
  e.truth_seen = false;
  e.reward_seen = false;
  order_.push_back({&it->first, seq, now});
  // Re-recorded ids leave stale records behind; drop them before they outnumber the
  // live ones (amortised O(1) per record).
  if (!inserted && order_.size() > 2 * entries_.size() + 64) {
    std::deque<Order> live;
    for (const Order& o : order_)
      if (entries_.find(*o.key)->second.logged.seq == o.seq) live.push_back(o);
    order_.swap(live);
  }
  evict_locked(now);
  publish_size_locked();
}

void PredictionLog::evict_locked(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && now - order_.front().at >= options_.max_age) pop_front_locked();
  while (entries_.size() > options_.max_entries && !order_.empty()) pop_front_locked();
}

void PredictionLog::pop_front_locked() {
  const Order o = order_.front();
  order_.pop_front();
  // The entry outlives every recording of it that is still queued: it is erased only
  // when its newest recording, the last of them, is popped.
  auto it = entries_.find(*o.key);
  if (it == entries_.end() || it->second.logged.seq != o.seq) return;  // a stale recording
  remember_locked(hash_of(it->first));
  entries_.erase(it);
  ++evictions_;
  if (m_evictions_) m_evictions_->inc();
}

void PredictionLog::remember_locked(uint64_t hash) {
  if (evicted_ring_.size() < options_.remembered_evictions) {
    evicted_ring_.push_back(hash);
  } else {
    uint64_t& slot = evicted_ring_[evicted_next_];
    if (auto it = evicted_.find(slot); it != evicted_.end() && --it->second == 0) evicted_.erase(it);
    slot = hash;
    evicted_next_ = (evicted_next_ + 1) % evicted_ring_.size();
  }
  ++evicted_[hash];
}

void PredictionLog::publish_size_locked() {
  if (m_entries_) m_entries_->set(static_cast<double>(entries_.size()));
}

LookupResult PredictionLog::lookup(std::string_view model, std::string_view id, LoggedPrediction* out) {
  const std::string key = key_of(model, id);
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  const size_t before = entries_.size();
  evict_locked(now);
  if (entries_.size() != before) publish_size_locked();
  if (auto it = entries_.find(key); it != entries_.end()) {
    if (out) *out = it->second.logged;
    return LookupResult::kFound;
  }
  return evicted_.count(hash_of(key)) ? LookupResult::kExpired : LookupResult::kUnknown;
}

PredictionLog::Claimed PredictionLog::claim(std::string_view model, std::string_view id, uint64_t seq, bool truth,
                                            bool reward) {
  const std::string key = key_of(model, id);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.logged.seq != seq) return {truth, reward};
  Claimed c;
  Entry& e = it->second;
  if (truth && !e.truth_seen) c.truth = e.truth_seen = true;
  if (reward && !e.reward_seen) c.reward = e.reward_seen = true;
  return c;
}

size_t PredictionLog::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

uint64_t PredictionLog::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

}  // namespace quiver::quality
