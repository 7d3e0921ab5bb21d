#include "serving/servable_stats.h"

#include <algorithm>
#include <limits>

#include <chrono>
#include <cmath>
#include <vector>

#include "metrics/metrics_registry.h"

namespace quiver::serving {
namespace {

// Bucket i holds latencies in [10µs * 1.25^(i-1), 10µs * 1.25^i); bucket 0 below 10µs.
constexpr double kBase = 10e-6;
constexpr double kGrowth = 1.25;

int bucket_of(double seconds) {
  if (seconds < kBase) return 0;
  const int i = 1 + static_cast<int>(std::log(seconds / kBase) / std::log(kGrowth));
  return i < 63 ? i : 63;
}

double bucket_upper(int i) { return kBase * std::pow(kGrowth, i); }

// Powers of two from 1 to 1024: batch sizes are configured in such steps.
std::vector<double> batch_size_buckets() {
  std::vector<double> b;
  for (double v = 1; v <= 1024; v *= 2) b.push_back(v);
  return b;
}

int64_t steady_second() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ServableStats::ServableStats(metrics::MetricsRegistry* metrics, const std::string& model, int64_t version)
    : metrics_(metrics), model_(model), version_(version) {
  if (!metrics) return;
  const metrics::Labels labels = {{"model", model}, {"version", std::to_string(version)}};
  for (int k = 0; k < kRouteKinds; ++k) {
    metrics::Labels route_labels = labels;
    route_labels.emplace_back("route", std::string(route_kind_name(static_cast<RouteKind>(k))));
    m_routes_[k] = &metrics->counter("quiver_routed_requests_total",
                                     "Inference requests by model, version and route kind", route_labels);
  }
  m_requests_ = &metrics->counter("quiver_inference_requests_total",
                                  "Inference requests answered by a model version", labels);
  m_errors_ = &metrics->counter("quiver_inference_errors_total",
                                "Inference requests that failed inside a model version", labels);
  m_latency_ = &metrics->histogram("quiver_inference_latency_seconds",
                                   "Time from queueing to result, per model version", labels);
  m_queue_ = &metrics->histogram("quiver_queue_seconds", "Time a request waited in the version's queue", labels);
  m_compute_ = &metrics->histogram("quiver_compute_seconds", "Time the backend spent on a request", labels);
  m_batch_rows_ = &metrics->histogram("quiver_batch_size", "Rows per backend call (summed over batched requests)",
                                      labels, batch_size_buckets());
  m_batch_requests_ = &metrics->histogram("quiver_batch_requests", "Requests merged into one backend call", labels,
                                          batch_size_buckets());
  m_rejected_ = &metrics->counter("quiver_rejected_requests_total",
                                  "Requests refused because the version's queue was full", labels);
  m_expired_ = &metrics->counter("quiver_expired_requests_total",
                                 "Requests dropped unrun because their deadline passed in the queue", labels);
}

void ServableStats::record_worker_restart(const std::string& reason) {
  worker_restarts_.fetch_add(1, std::memory_order_relaxed);
  // Rare, so the series is looked up (and created) here rather than up front: only
  // versions that run in worker processes get one.
  if (metrics_) {
    metrics_
        ->counter("quiver_worker_restarts_total",
                  "Worker processes (isolation: process) restarted, by why: timeout, crash or error",
                  {{"model", model_}, {"version", std::to_string(version_)}, {"reason", reason}})
        .inc();
  }
}

void ServableStats::record_route(RouteKind kind) {
  if (auto* c = m_routes_[static_cast<int>(kind)]) c->inc();
}

void ServableStats::count_this_second() {
  const int64_t now = steady_second();
  const auto slot = static_cast<size_t>(now % kSeconds);
  int64_t stamp = second_stamp_[slot].load(std::memory_order_relaxed);
  if (stamp != now && second_stamp_[slot].compare_exchange_strong(stamp, now)) second_count_[slot].store(0);
  second_count_[slot].fetch_add(1, std::memory_order_relaxed);
}

double ServableStats::recent_rps() const {
  const int64_t now = steady_second();
  uint64_t total = 0;
  for (int i = 0; i < kSeconds; ++i) {
    const int64_t stamp = second_stamp_[i].load(std::memory_order_relaxed);
    if (stamp < now && stamp >= now - 10) total += second_count_[i].load(std::memory_order_relaxed);
  }
  return static_cast<double>(total) / 10.0;
}

void ServableStats::record_success(double queue_seconds, double compute_seconds, double total_seconds) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  count_this_second();
  latency_buckets_[bucket_of(total_seconds)].fetch_add(1, std::memory_order_relaxed);
  compute_ns_.fetch_add(static_cast<uint64_t>(std::max(0.0, compute_seconds) * 1e9), std::memory_order_relaxed);
  if (m_requests_) {
    m_requests_->inc();
    m_latency_->observe(total_seconds);
    m_queue_->observe(queue_seconds);
    m_compute_->observe(compute_seconds);
  }
}

std::vector<uint64_t> ServableStats::latency_bucket_counts() const {
  std::vector<uint64_t> out(kBuckets);
  for (int i = 0; i < kBuckets; ++i) out[i] = latency_buckets_[i].load(std::memory_order_relaxed);
  return out;
}

const std::vector<double>& ServableStats::latency_bucket_bounds() {
  static const std::vector<double> bounds = [] {
    std::vector<double> b(kBuckets);
    for (int i = 0; i < kBuckets; ++i) b[i] = bucket_upper(i);
    b.back() = std::numeric_limits<double>::infinity();  // the last bucket holds everything larger
    return b;
  }();
  return bounds;
}

void ServableStats::record_batch(int64_t rows, size_t requests) {
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (m_batch_rows_) {
    m_batch_rows_->observe(static_cast<double>(rows));
    m_batch_requests_->observe(static_cast<double>(requests));
  }
}

void ServableStats::record_rejected() {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  if (m_rejected_) m_rejected_->inc();
}

void ServableStats::record_expired() {
  expired_.fetch_add(1, std::memory_order_relaxed);
  if (m_expired_) m_expired_->inc();
}

void ServableStats::record_error() {
  requests_.fetch_add(1, std::memory_order_relaxed);
  count_this_second();
  errors_.fetch_add(1, std::memory_order_relaxed);
  if (m_requests_) {
    m_requests_->inc();
    m_errors_->inc();
  }
}

double ServableStats::latency_quantile(double q) const {
  uint64_t total = 0;
  std::array<uint64_t, kBuckets> snap{};
  for (int i = 0; i < kBuckets; ++i) total += snap[i] = latency_buckets_[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const auto target = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += snap[i];
    if (seen >= target) return bucket_upper(i);
  }
  return bucket_upper(kBuckets - 1);
}

}  // namespace quiver::serving
