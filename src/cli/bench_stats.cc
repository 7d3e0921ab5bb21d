#include "cli/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace quiver::cli {

int64_t nearest_rank_percentile(const std::vector<int64_t>& sorted, double percent) {
  const auto n = static_cast<double>(sorted.size());
  // The rank is computed in double; the small epsilon keeps 0.99 * 100 from
  // landing one rank too high through rounding.
  auto rank = static_cast<int64_t>(std::ceil(percent / 100.0 * n - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(sorted.size()));
  return sorted[static_cast<size_t>(rank - 1)];
}

LatencySummary summarize_latencies(std::vector<int64_t>& samples) {
  LatencySummary out;
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  out.count = static_cast<int64_t>(samples.size());
  out.min_ns = samples.front();
  out.max_ns = samples.back();
  // Summed in long double so that millions of samples keep the mean exact.
  const long double total = std::accumulate(samples.begin(), samples.end(), 0.0L);
  out.mean_ns = static_cast<double>(total / static_cast<long double>(samples.size()));
  out.p50_ns = nearest_rank_percentile(samples, 50);
  out.p90_ns = nearest_rank_percentile(samples, 90);
  out.p99_ns = nearest_rank_percentile(samples, 99);
  return out;
}

}  // namespace quiver::cli
