// Per-version request statistics: Prometheus series plus the counters that the
// deployment status reads (observed traffic share, error counts, latency quantiles).
//
// Thread-safety: every method may be called from any thread; recording is lock-free.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/route_kind.h"

namespace quiver::metrics {
class MetricsRegistry;
class Counter;
class Histogram;
}  // namespace quiver::metrics

namespace quiver::serving {

class ServableStats {
 public:
  // `metrics` may be null (tests); then only the local counters are kept.
  ServableStats(metrics::MetricsRegistry* metrics, const std::string& model, int64_t version);

  void record_success(double queue_seconds, double compute_seconds, double total_seconds);
  void record_error();
  // One backend call that ran `requests` requests with `rows` summed rows.
  void record_batch(int64_t rows, size_t requests);
  // Refused because the queue was full (429); not an error of the version.
  void record_rejected();
  // Dropped unrun because its deadline passed in the queue (504). Counted apart from
  // errors: it says the version is overloaded, not that it is broken.
  void record_expired();
  // A worker process of this version died and is restarting (isolation: process):
  // quiver_worker_restarts_total{model, version, reason}, reason "timeout", "crash"
  // or "error".
  void record_worker_restart(const std::string& reason);
  // Counted by the router for the observed traffic share.
  void record_routed() { routed_.fetch_add(1, std::memory_order_relaxed); }
  // quiver_routed_requests_total{model, version, route}: the counters are created
  // with the stats, so the request path only increments.
  void record_route(RouteKind kind);

  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  uint64_t routed() const { return routed_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t worker_restarts() const { return worker_restarts_.load(std::memory_order_relaxed); }
  // Requests per second over the last ten whole seconds.
  double recent_rps() const;
  // Approximate latency quantile in seconds from the histogram (0 when empty).
  double latency_quantile(double q) const;
  // The latency histogram of successful requests (cumulative counts), for controllers
  // that difference it over a window; bounds are upper bucket edges in seconds.
  std::vector<uint64_t> latency_bucket_counts() const;
  static const std::vector<double>& latency_bucket_bounds();
  // Seconds spent in the model (compute), summed over successful requests.
  double compute_seconds() const { return static_cast<double>(compute_ns_.load(std::memory_order_relaxed)) * 1e-9; }

 private:
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> routed_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> compute_ns_{0};
  std::atomic<uint64_t> worker_restarts_{0};
  metrics::MetricsRegistry* metrics_ = nullptr;
  std::string model_;
  int64_t version_ = 0;
  static constexpr int kRouteKinds = static_cast<int>(RouteKind::kShadow) + 1;
  std::array<metrics::Counter*, kRouteKinds> m_routes_{};
  metrics::Counter* m_requests_ = nullptr;
  metrics::Counter* m_errors_ = nullptr;
  metrics::Histogram* m_latency_ = nullptr;
  metrics::Histogram* m_queue_ = nullptr;
  metrics::Histogram* m_compute_ = nullptr;
  metrics::Histogram* m_batch_rows_ = nullptr;
  metrics::Histogram* m_batch_requests_ = nullptr;
  metrics::Counter* m_rejected_ = nullptr;
  metrics::Counter* m_expired_ = nullptr;
  // Local log-spaced latency buckets (10 µs .. ~100 s) so status can report
  // quantiles without reading the Prometheus registry.
  void count_this_second();
  // A ring of per-second request counts, stamped with the second they belong to.
  // Races at a second's boundary may misplace a request; the rate is for display.
  static constexpr int kSeconds = 16;
  std::array<std::atomic<int64_t>, kSeconds> second_stamp_{};
  std::array<std::atomic<uint64_t>, kSeconds> second_count_{};
  static constexpr int kBuckets = 64;
  std::array<std::atomic<uint64_t>, kBuckets> latency_buckets_{};
};

}  // namespace quiver::serving
