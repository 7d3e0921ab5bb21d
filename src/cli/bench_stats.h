// Latency statistics for `quiver bench`: exact percentiles over every sample.
//
// Percentiles use the nearest-rank definition on the sorted samples: the p-th
// percentile of n samples is the smallest sample with at least p% of the samples at
// or below it (sorted[ceil(p/100 * n) - 1]). No histogram buckets and no
// interpolation, so a reported p99 is a latency some request really had.
//
// Thread-safety: plain values and free functions; a LatencySummary is immutable.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quiver::cli {

// Summary of request latencies, in nanoseconds. All zero when there are no samples.
struct LatencySummary {
  int64_t count = 0;
  int64_t min_ns = 0;
  int64_t max_ns = 0;
  double mean_ns = 0;
  int64_t p50_ns = 0;
  int64_t p90_ns = 0;
  int64_t p99_ns = 0;
};

// The nearest-rank percentile of `sorted` (ascending); `percent` in (0, 100].
// Precondition: `sorted` is not empty and is sorted.
int64_t nearest_rank_percentile(const std::vector<int64_t>& sorted, double percent);

// Sorts `samples` in place and summarises them.
LatencySummary summarize_latencies(std::vector<int64_t>& samples);

// What one load level (one concurrency, or one request rate) measured.
struct LevelResult {
  int concurrency = 0;        // connections used
  double target_rate = 0;     // requests/s asked for; 0: closed loop
  int64_t ok = 0;             // requests answered 2xx
  int64_t errors = 0;         // everything else
  std::map<std::string, int64_t> error_breakdown;  // "HTTP 429", "timeout", ... -> count
  double elapsed_s = 0;       // length of the measured window
  int64_t batch = 1;          // rows per request
  LatencySummary latency;     // over the successful requests

  double throughput() const { return elapsed_s > 0 ? static_cast<double>(ok) / elapsed_s : 0; }
  double rows_per_second() const { return throughput() * static_cast<double>(batch); }
};

}  // namespace quiver::cli
