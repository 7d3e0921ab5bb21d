// How `quiver bench` shows its results: a table per run for people, or one JSON
// object for scripts (--json).
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/bench_stats.h"

namespace quiver::cli {

// What was measured, printed above the table and kept in the JSON.
struct BenchRunInfo {
  std::string server;    // URL
  std::string model;
  std::string version;   // "" when routed
  std::string protocol;  // "http"
  bool binary = false;
  int64_t batch = 1;
  double duration_s = 0;     // 0: bounded by max_requests alone
  double warmup_s = 0;
  int64_t max_requests = 0;  // 0: bounded by duration only
};

// One level as JSON: {"concurrency", "rate"?, "requests", "ok", "errors",
// "error_breakdown": {kind: count}, "elapsed_s", "throughput_infer_per_s",
// "throughput_rows_per_s", "latency_ms": {"p50", "p90", "p99", "mean", "min", "max"}}.
nlohmann::ordered_json level_to_json(const LevelResult& level);

// {"server", "model", "version", "protocol", "binary", "batch", "duration_s",
//  "warmup_s", "max_requests", "levels": [level_to_json...]}.
nlohmann::ordered_json bench_to_json(const BenchRunInfo& info, const std::vector<LevelResult>& levels);

// A header line, a table with one row per level (concurrency or rate, infer/s,
// rows/s when batch > 1, p50/p90/p99 in ms, errors) and one line per level that had
// errors, with the count of each kind.
std::string render_bench_text(const BenchRunInfo& info, const std::vector<LevelResult>& levels);

}  // namespace quiver::cli
