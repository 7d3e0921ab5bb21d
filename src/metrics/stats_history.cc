#include "metrics/stats_history.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace quiver::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A counter that went down belongs to a new servable: count from zero.
uint64_t delta(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

}  // namespace

StatsHistory::StatsHistory(const Clock& clock, CounterReader reader, std::vector<double> latency_bounds,
                           StatsHistoryOptions options)
    : clock_(clock), reader_(std::move(reader)), bounds_(std::move(latency_bounds)), options_(options) {
  if (options_.interval.count() <= 0) options_.interval = std::chrono::milliseconds(1000);
  const auto per = std::chrono::duration_cast<std::chrono::milliseconds>(options_.retention).count() /
                   options_.interval.count();
  // A little slack: a slow step must not push the oldest wanted frame out.
  max_frames_ = static_cast<size_t>(std::max<int64_t>(1, per)) + 4;
}

double StatsHistory::quantile(const std::vector<uint64_t>& counts, const std::vector<double>& bounds, double q) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return kNaN;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t below = 0;
  const size_t n = std::min(counts.size(), bounds.size());
  for (size_t i = 0; i < n; ++i) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(below + counts[i]) >= rank) {
      const double lower = i == 0 ? 0.0 : bounds[i - 1];
      const double upper = bounds[i];
      if (!std::isfinite(upper)) return lower;  // beyond the last edge: the best we know
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
      return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
    }
    below += counts[i];
  }
  return n > 0 && std::isfinite(bounds[n - 1]) ? bounds[n - 1] : (n > 1 ? bounds[n - 2] : kNaN);
}

StatsFrame StatsHistory::difference(ModelState& state, const ModelCounterReading& now, double seconds) const {
  StatsFrame frame;
  frame.at = clock_.wall_now();
  frame.seconds = seconds;
  uint64_t routed_total = 0;
  std::vector<uint64_t> routed;  // per point of the frame
  for (const VersionCounterReading& v : now.versions) {
    const auto prev = state.last.find(v.version);
    const VersionCounterReading zero{};
    const VersionCounterReading& before = prev != state.last.end() ? prev->second : zero;
    // A version new since the last sample counts from its first reading on, so a
    // long-loaded version joining the deployment does not show a burst.
    if (prev == state.last.end()) continue;
    StatsPoint p;
    p.version = v.version;
    p.requests = delta(v.requests, before.requests);
    p.errors = std::min(p.requests, delta(v.errors, before.errors));
    routed.push_back(delta(v.routed, before.routed));
    routed_total += routed.back();
    p.rate = seconds > 0 ? static_cast<double>(p.requests) / seconds : 0.0;
    p.error_rate = p.requests > 0 ? static_cast<double>(p.errors) / static_cast<double>(p.requests) : kNaN;
    std::vector<uint64_t> buckets(v.latency_buckets.size(), 0);
    const bool restarted = v.requests < before.requests;
    for (size_t b = 0; b < buckets.size(); ++b) {
      const uint64_t old = !restarted && b < before.latency_buckets.size() ? before.latency_buckets[b] : 0;
      buckets[b] = delta(v.latency_buckets[b], old);
    }
    p.p50_ms = quantile(buckets, bounds_, 0.50) * 1e3;
    p.p99_ms = quantile(buckets, bounds_, 0.99) * 1e3;
    frame.versions.push_back(p);
  }
  for (size_t i = 0; i < frame.versions.size(); ++i)
    frame.versions[i].share =
        routed_total > 0 ? static_cast<double>(routed[i]) / static_cast<double>(routed_total) : kNaN;
  state.last.clear();
  for (const VersionCounterReading& v : now.versions) state.last[v.version] = v;
  return frame;
}

std::chrono::milliseconds StatsHistory::step() {
  std::vector<ModelCounterReading> readings = reader_ ? reader_() : std::vector<ModelCounterReading>{};
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  std::set<std::string> seen;
  for (const ModelCounterReading& reading : readings) {
    seen.insert(reading.model);
    ModelState& state = models_[reading.model];
    const bool first = state.last_at == std::chrono::steady_clock::time_point{};
    const double seconds = std::chrono::duration<double>(now - state.last_at).count();
    if (first || seconds <= 0) {
      // The first reading is only the baseline of the next interval.
      state.last.clear();
      for (const VersionCounterReading& v : reading.versions) state.last[v.version] = v;
    } else {
      state.frames.push_back({now, difference(state, reading, seconds)});
    }
    state.last_at = now;
  }
  // A model no longer deployed starts afresh if it comes back; its frames age out.
  for (auto& [name, state] : models_) {
    if (seen.count(name)) continue;
    state.last.clear();
    state.last_at = {};
  }
  prune(now);
  return options_.interval;
}

void StatsHistory::prune(std::chrono::steady_clock::time_point now) {
  for (auto it = models_.begin(); it != models_.end();) {
    auto& frames = it->second.frames;
    while (!frames.empty() && (now - frames.front().taken >= options_.retention || frames.size() > max_frames_))
      frames.pop_front();
    if (frames.empty() && it->second.last_at == std::chrono::steady_clock::time_point{})
      it = models_.erase(it);
    else
      ++it;
  }
}

std::vector<StatsFrame> StatsHistory::frames(const std::string& model, std::chrono::milliseconds window) const {
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  std::vector<StatsFrame> out;
  const auto it = models_.find(model);
  if (it == models_.end()) return out;
  for (const Stamped& s : it->second.frames)
    if (now - s.taken < window) out.push_back(s.frame);
  return out;
}

std::vector<VersionCounterReading> StatsHistory::latest(const std::string& model) const {
  std::lock_guard lock(mu_);
  std::vector<VersionCounterReading> out;
  const auto it = models_.find(model);
  if (it == models_.end()) return out;
  for (const auto& [version, reading] : it->second.last) out.push_back(reading);
  return out;
}

std::vector<std::string> StatsHistory::models() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, state] : models_)
    if (!state.frames.empty()) out.push_back(name);
  return out;
}

}  // namespace quiver::metrics
