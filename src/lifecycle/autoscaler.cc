#include "lifecycle/autoscaler.h"

#include <algorithm>
#include <cmath>

namespace quiver::lifecycle {

int Autoscaler::step(const Key& key, const ScaleInput& in, std::chrono::steady_clock::time_point now) {
  State& s = state_[key];
  const int lo = std::max(1, in.min);
  const int hi = std::max(lo, in.max);
  // Outside the bounds (the spec changed, or a cold start): back inside at once.
  if (in.current < lo || in.current > hi) {
    s.last_change = now;
    s.changed_once = true;
    s.low = false;
    return std::clamp(in.current, lo, hi);
  }
  const double load = static_cast<double>(std::max<int64_t>(in.in_flight, 0));
  const auto since_change = now - s.last_change;

  if (load > in.current * config_.target_per_instance) {
    s.low = false;
    if (in.current >= hi || (s.changed_once && since_change < config_.up_cooldown)) return in.current;
    const int wanted = static_cast<int>(std::ceil(load / config_.target_per_instance));
    s.last_change = now;
    s.changed_once = true;
    return std::min(wanted, hi);
  }

  const bool low_now = in.current > lo && load <= (in.current - 1) * config_.target_per_instance * config_.low_water;
  if (!low_now) {
    s.low = false;
    return in.current;
  }
  if (!s.low) {
    s.low = true;
    s.low_since = now;
  }
  if (now - s.low_since < config_.down_delay) return in.current;
  if (s.changed_once && since_change < config_.down_delay) return in.current;
  s.last_change = now;
  s.changed_once = true;
  s.low_since = now;  // the next step down needs a whole new lull
  return in.current - 1;
}

}  // namespace quiver::lifecycle
