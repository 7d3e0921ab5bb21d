// StatsHistory: the last few minutes of every deployed version's traffic, for the web
// console's live charts (GET /v1/deployments/{m}/stats).
//
// A control loop: every step() reads the versions' cumulative counters through an
// injected reader (the server reads the counters its servables already keep, so the
// request path does no extra work), differences them against the previous reading,
// and appends one frame per model to a bounded ring: request rate, error rate,
// p50/p99 latency and the observed traffic share of each version over that interval.
// Frames older than the retention (15 minutes by default) are dropped, so memory is
// bounded by retention / interval frames per model.
//
// A counter that goes down (a version unloaded and loaded again starts from zero) is
// read as a restart: the new value is the interval's count.
//
// Thread-safety: step() is called by one thread (the sampling loop); frames() and
// models() may be called from any thread at the same time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace quiver::metrics {

// One version's counters as read at one instant, cumulative since the version loaded.
struct VersionCounterReading {
  int64_t version = 0;
  uint64_t requests = 0;  // answered, errors included
  uint64_t errors = 0;
  uint64_t routed = 0;    // times the router chose this version (the observed share)
  // Per-bucket counts of successful requests' latency (not cumulative across
  // buckets), in the order of the history's latency bounds.
  std::vector<uint64_t> latency_buckets;
};

struct ModelCounterReading {
  std::string model;
  std::vector<VersionCounterReading> versions;
};

// Reads every deployed model's counters. Called from the sampling thread.
using CounterReader = std::function<std::vector<ModelCounterReading>()>;

// One version over one interval. A quantity with nothing to measure it on (no
// request in the interval) is NaN; the JSON view writes it as null.
struct StatsPoint {
  int64_t version = 0;
  uint64_t requests = 0;  // in the interval
  uint64_t errors = 0;
  double rate = 0.0;        // requests per second
  double error_rate = 0.0;  // errors / requests
  double p50_ms = 0.0;
  double p99_ms = 0.0;
  double share = 0.0;  // this version's part of the model's routed requests
};

struct StatsFrame {
  std::chrono::system_clock::time_point at;  // end of the interval (wall clock, for people)
  double seconds = 0.0;                      // length of the interval
  std::vector<StatsPoint> versions;
};

struct StatsHistoryOptions {
  std::chrono::milliseconds interval{2000};  // between samples
  std::chrono::seconds retention{15 * 60};   // how far back frames are kept
};

class StatsHistory {
 public:
  // `latency_bounds` are the upper edges, in seconds, of the readings' latency
  // buckets (the last may be +infinity).
  StatsHistory(const Clock& clock, CounterReader reader, std::vector<double> latency_bounds,
               StatsHistoryOptions options = {});
  StatsHistory(const StatsHistory&) = delete;
  StatsHistory& operator=(const StatsHistory&) = delete;

  // Takes one sample; returns the delay until the next one.
  std::chrono::milliseconds step();

  // The model's frames of the last `window`, oldest first (empty for an unknown model).
  std::vector<StatsFrame> frames(const std::string& model, std::chrono::milliseconds window) const;
  // Models with at least one frame.
  std::vector<std::string> models() const;
  // The model's last counter readings, cumulative since each version loaded (the
  // console's latency histograms); empty for an unknown model.
  std::vector<VersionCounterReading> latest(const std::string& model) const;
  const std::vector<double>& latency_bounds() const { return bounds_; }

  const StatsHistoryOptions& options() const { return options_; }

  // The q-quantile (0..1) in seconds of per-bucket counts over `bounds`, linear inside
  // the bucket that holds it; NaN when the counts are all zero. Exposed for tests.
  static double quantile(const std::vector<uint64_t>& counts, const std::vector<double>& bounds, double q);

 private:
  struct Stamped {
    std::chrono::steady_clock::time_point taken;
    StatsFrame frame;
  };
  struct ModelState {
    std::map<int64_t, VersionCounterReading> last;  // previous reading per version
    std::chrono::steady_clock::time_point last_at{};
    std::deque<Stamped> frames;
  };

  StatsFrame difference(ModelState& state, const ModelCounterReading& now, double seconds) const;
  void prune(std::chrono::steady_clock::time_point now);

  const Clock& clock_;
  CounterReader reader_;
  std::vector<double> bounds_;
  StatsHistoryOptions options_;
  size_t max_frames_;
  mutable std::mutex mu_;
  std::map<std::string, ModelState> models_;  // guarded by mu_
};

}  // namespace quiver::metrics
