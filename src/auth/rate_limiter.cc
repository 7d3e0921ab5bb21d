#include "auth/rate_limiter.h"

#include <algorithm>

namespace quiver::auth {

RateLimiter::RateLimiter(RateLimit limit, const Clock& clock)
    : per_second_(std::max(0.0, limit.per_second)),
      burst_(limit.burst > 0 ? limit.burst : std::max(1.0, limit.per_second)),
      clock_(clock) {}

bool RateLimiter::try_acquire(std::string_view key) {
  if (!enabled()) return true;
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(std::string(key));
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = burst_;
  } else if (now > b.last) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
  }
  b.last = std::max(b.last, now);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::forget(std::string_view key) {
  std::lock_guard lock(mu_);
  buckets_.erase(std::string(key));
}

}  // namespace quiver::auth
