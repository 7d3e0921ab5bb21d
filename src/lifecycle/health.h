// Health of one loaded version: consecutive probe failures and the error rate of
// user traffic decide whether it is ejected from routing, and probes decide when it
// is re-admitted. Pure logic over an injected time, so tests step it directly.
//
//   healthy ──(failure_threshold probes fail, or error rate ≥ max over a window)──► ejected
//   ejected ──(a probe succeeds; after an error-rate ejection, once a window passed)──► healthy
//
// Thread-safety: none; the lifecycle manager guards it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/deployment_spec.h"

namespace quiver::lifecycle {

enum class HealthEvent { kNone, kEjected, kReadmitted };

class HealthState {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  bool ejected() const { return ejected_; }
  const std::string& reason() const { return reason_; }
  int consecutive_failures() const { return consecutive_failures_; }

  // The first probe comes one interval after the version became ready: warmup has
  // just exercised it.
  bool probe_due(TimePoint now, const HealthConfig& cfg) {
    if (!probes_scheduled_) {
      probes_scheduled_ = true;
      next_probe_ = now + std::chrono::milliseconds(cfg.probe_interval_ms);
    }
    return now >= next_probe_;
  }
  HealthEvent on_probe(bool ok, const std::string& error, const HealthConfig& cfg, TimePoint now);
  // `requests` and `errors` are the version's running totals of user traffic.
  HealthEvent on_traffic(uint64_t requests, uint64_t errors, const HealthConfig& cfg, TimePoint now);

 private:
  HealthEvent eject(std::string reason, TimePoint now);

  bool ejected_ = false;
  bool by_error_rate_ = false;
  std::string reason_;
  int consecutive_failures_ = 0;
  TimePoint ejected_at_{};
  TimePoint next_probe_{};
  bool probes_scheduled_ = false;
  bool window_started_ = false;
  TimePoint window_start_{};
  uint64_t window_requests_ = 0;  // totals at the window's start
  uint64_t window_errors_ = 0;
};

}  // namespace quiver::lifecycle
