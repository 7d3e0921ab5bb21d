// Counter, Gauge and Histogram: the three Prometheus metric kinds Quiver exports.
//
// Updating a metric is lock-free (atomics only), so the request path can record
// latency and counts without contending with a scrape of /metrics. Objects are
// created and owned by MetricsRegistry (metrics_registry.h), which hands out stable
// references; they are neither copyable nor movable.
//
// Thread-safety: every method may be called from any number of threads at once.
// A read racing with writes sees some recent value; a histogram's buckets, sum and
// count are each exact but are not read as one atomic snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace quiver::metrics {

// A monotonically increasing count (requests, errors).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (queue depth, loaded versions, traffic weight).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void inc() { add(1.0); }
  void dec() { add(-1.0); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A consistent-enough copy of a histogram for analysis (rollout checks, tests).
struct HistogramSnapshot {
  std::vector<double> bounds;      // finite upper bounds, ascending
  std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is +Inf == count
  double sum = 0.0;
  uint64_t count = 0;
};

// Distribution of observed values over fixed buckets (latency, batch size).
class Histogram {
 public:
  // `bounds` are the finite upper bounds (inclusive, as Prometheus' `le`); they are
  // sorted and de-duplicated here, and non-finite values are dropped (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Lock-free: one bucket increment (binary search for the bucket) and one atomic add
  // to the sum. NaN is counted in the +Inf bucket and poisons the sum, as Prometheus'
  // own clients do.
  void observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Total observations: the sum of all buckets, so it always equals the +Inf bucket.
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  HistogramSnapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  // bounds_.size() + 1 non-cumulative counts; the last one is the +Inf overflow bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0.0};
};

// Estimates the q-quantile (0 <= q <= 1) by linear interpolation inside the bucket
// that holds it, like PromQL's histogram_quantile(). Returns NaN when the histogram
// is empty; returns the highest finite bound when the quantile lies in +Inf.
double estimate_quantile(const HistogramSnapshot& snapshot, double q);

// Seconds from 50µs to 10s in 1-2.5-5 steps: fits request latency from a tiny
// model on CPU to a large one that queues.
std::vector<double> default_latency_buckets();

}  // namespace quiver::metrics
