// A token bucket per key: each key may make `per_second` requests a second on
// average and `burst` at once. Time comes from the injected clock's steady now(), so
// tests step it without sleeping and a wall-clock jump changes nothing.
//
// Thread-safety: try_acquire() may be called from any thread (one mutex; the work
// under it is a few arithmetic operations).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace quiver::auth {

struct RateLimit {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // 0: max(1, per_second)
};

class RateLimiter {
 public:
  // `clock` must outlive the limiter.
  RateLimiter(RateLimit limit, const Clock& clock);

  bool enabled() const { return per_second_ > 0; }
  double per_second() const { return per_second_; }
  double burst() const { return burst_; }

  // Takes one token from `key`'s bucket; false when it is empty (answer 429).
  bool try_acquire(std::string_view key);
  // Forgets a key (e.g. revoked), so the table does not grow without bound.
  void forget(std::string_view key);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };

  const double per_second_;
  const double burst_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace quiver::auth
