#include "lifecycle/health.h"

#include <cstdio>

namespace quiver::lifecycle {

HealthEvent HealthState::eject(std::string reason, TimePoint now) {
  if (ejected_) return HealthEvent::kNone;
  ejected_ = true;
  reason_ = std::move(reason);
  ejected_at_ = now;
  return HealthEvent::kEjected;
}

HealthEvent HealthState::on_probe(bool ok, const std::string& error, const HealthConfig& cfg, TimePoint now) {
  next_probe_ = now + std::chrono::milliseconds(cfg.probe_interval_ms);
  if (!ok) {
    ++consecutive_failures_;
    if (consecutive_failures_ >= cfg.failure_threshold)
      return eject(std::to_string(consecutive_failures_) + " consecutive health probes failed: " + error, now);
    return HealthEvent::kNone;
  }
  consecutive_failures_ = 0;
  if (!ejected_) return HealthEvent::kNone;
  // After an error-rate ejection a passing probe proves little on its own: wait out
  // one window so a flapping version is not re-admitted at once.
  if (by_error_rate_ && now - ejected_at_ < std::chrono::milliseconds(cfg.window_ms)) return HealthEvent::kNone;
  ejected_ = false;
  by_error_rate_ = false;
  reason_.clear();
  return HealthEvent::kReadmitted;
}

HealthEvent HealthState::on_traffic(uint64_t requests, uint64_t errors, const HealthConfig& cfg, TimePoint now) {
  if (!window_started_ || requests < window_requests_ || errors < window_errors_) {
    window_started_ = true;
    window_start_ = now;
    window_requests_ = requests;
    window_errors_ = errors;
    return HealthEvent::kNone;
  }
  const uint64_t n = requests - window_requests_;
  const uint64_t e = errors - window_errors_;
  // Judge as soon as enough requests arrived, so a spike ejects quickly; roll the
  // window when it is over.
  HealthEvent event = HealthEvent::kNone;
  if (n >= static_cast<uint64_t>(cfg.min_requests)) {
    const double rate = static_cast<double>(e) / static_cast<double>(n);
    if (rate >= cfg.max_error_rate && !ejected_) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "error rate %.0f%% over the last %llu requests (limit %.0f%%)", rate * 100,
                    static_cast<unsigned long long>(n), cfg.max_error_rate * 100);
      event = eject(buf, now);
      by_error_rate_ = true;
    }
  }
  if (event != HealthEvent::kNone || now - window_start_ >= std::chrono::milliseconds(cfg.window_ms)) {
    window_start_ = now;
    window_requests_ = requests;
    window_errors_ = errors;
  }
  return event;
}

}  // namespace quiver::lifecycle
