// Autoscaler: how many instances each autoscaled version should run, from its queue
// depth, between the minimum and maximum its deployment allows
// (`instances: {min: 1, max: 4}`).
//
// The rule, per version and step:
//   - up:   when the work in flight (queued + running) exceeds what the current
//           instances absorb (target_per_instance each), go straight to the count
//           that absorbs it, capped at max, at most once per up_cooldown;
//   - down: one instance at a time, only after the work has stayed at or below
//           low_water of what one fewer instance absorbs for a whole down_delay,
//           and never sooner than down_delay after the last change.
// The gap between the two thresholds and the delays keep it from flapping: a burst
// scales up at once, a lull must last before capacity goes away.
//
// step() is deterministic over its inputs and the injected time; the lifecycle
// manager calls it each reconcile pass and applies the answers.
//
// Thread-safety: none; one caller (the reconcile thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace quiver::lifecycle {

struct AutoscalerConfig {
  double target_per_instance = 2.0;  // requests in flight one instance absorbs
  double low_water = 0.5;            // share of one-fewer's capacity below which it shrinks
  std::chrono::milliseconds up_cooldown{1000};
  std::chrono::milliseconds down_delay{30'000};
};

struct ScaleInput {
  int current = 1;
  int min = 1;
  int max = 1;
  int64_t in_flight = 0;  // queued + running requests
};

class Autoscaler {
 public:
  using Key = std::tuple<std::string, int64_t>;  // model, version
  explicit Autoscaler(AutoscalerConfig config = {}) : config_(config) {}

  // The instance count `key` should run now (== input.current: no change).
  int step(const Key& key, const ScaleInput& input, std::chrono::steady_clock::time_point now);
  // Drops what is remembered of a version that is no longer deployed.
  void forget(const Key& key) { state_.erase(key); }

 private:
  struct State {
    std::chrono::steady_clock::time_point last_change{};
    bool changed_once = false;
    std::chrono::steady_clock::time_point low_since{};
    bool low = false;
  };
  AutoscalerConfig config_;
  std::map<Key, State> state_;
};

}  // namespace quiver::lifecycle
