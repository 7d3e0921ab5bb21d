// Clocks are injected so control loops (reconcile, health, rollout) can be stepped in
// tests without sleeping.
//
// Two clocks, two uses. now() (steady) measures every duration: deadlines, windows,
// ticks, pauses, rates, timeouts. wall_now() only stamps records for people and judges
// expiry (a key's expires_at), where the calendar is the point. The wall clock jumps
// (NTP steps, an operator's `date -s`, a VM resumed); a duration taken from it could
// expire a request early or stall a loop for hours.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace quiver {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::nanoseconds(ns_.load() + wall_jump_ns_.load())));
  }
  // Time passes: both clocks move.
  void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }
  // The wall clock is set (forward or back) while no time passes: only wall_now() moves.
  void jump_wall(std::chrono::nanoseconds d) { wall_jump_ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{1'700'000'000'000'000'000};
  std::atomic<int64_t> wall_jump_ns_{0};
};

// "2026-11-21T04:22:27.123Z"
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace quiver
