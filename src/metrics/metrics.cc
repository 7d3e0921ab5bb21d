#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>

namespace quiver::metrics {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::erase_if(bounds_, [](double b) { return !std::isfinite(b); });
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  // First bound >= value: buckets are "less than or equal". NaN compares false with
  // everything, so lower_bound walks to the end, which is the +Inf bucket.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  const size_t index = std::isnan(value) ? bounds_.size() : static_cast<size_t>(it - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) total += buckets_[i].load(std::memory_order_relaxed);
  return total;
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum();
  return s;
}

double estimate_quantile(const HistogramSnapshot& s, double q) {
  if (s.count == 0 || s.cumulative.empty() || std::isnan(q)) return std::nan("");
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(s.count);
  size_t i = 0;
  while (i < s.cumulative.size() && static_cast<double>(s.cumulative[i]) < rank) ++i;
  if (i >= s.bounds.size()) return s.bounds.empty() ? std::nan("") : s.bounds.back();
  const double upper = s.bounds[i];
  // The first bucket's lower edge is 0 when its bound is positive (latencies, sizes).
  const double lower = i == 0 ? std::min(0.0, upper) : s.bounds[i - 1];
  const double below = i == 0 ? 0.0 : static_cast<double>(s.cumulative[i - 1]);
  const double in_bucket = static_cast<double>(s.cumulative[i]) - below;
  if (in_bucket <= 0) return upper;
  return lower + (upper - lower) * (rank - below) / in_bucket;
}

std::vector<double> default_latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

}  // namespace quiver::metrics
