// Multi-armed bandit shares for routing traffic between versions by user feedback.
//
// Why: an A/B test spends half its traffic on the worse arm until it ends; a bandit
// shifts traffic towards the arm that earns the most reward while it learns. Arms are
// version numbers; rewards are feedback in [0, 1] (a click is 1 or 0, a rating may be
// fractional). A reward r counts as r successes and 1-r failures.
//
// Non-stationarity: with discount d < 1, every reward first multiplies ALL arms'
// accumulated successes and failures by d (discounted Thompson sampling), so evidence
// fades with a half-life of ln 2 / -ln d rewards (d = 0.995: about 140), and an arm
// that turns better is noticed even after the bandit has settled on another.
//
// Guards: until every arm has warmup_per_arm rewards (undiscounted count) the shares
// are equal, so no arm is judged on a handful of samples; afterwards every arm keeps
// at least min_share, so the bandit never stops seeing an arm that might recover.
//
// Determinism: shares() draws only from the generator it is given; no clocks.
// Thread-safety: BanditState is a value type with no internal locking; callers
// serialise writes (the rollout controller owns one per model).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace quiver::rollout {

struct BanditConfig {
  enum class Policy {
    kThompson,       // share = posterior probability of being the best arm
    kEpsilonGreedy,  // 1-epsilon to the best mean, epsilon spread over all arms
    kUcb1,           // everything to the arm with the highest upper confidence bound
  };
  Policy policy = Policy::kThompson;
  double discount = 1.0;         // in (0, 1]; 1 = no forgetting
  uint64_t warmup_per_arm = 50;  // rewards each arm needs before shares move
  double min_share = 0.02;       // floor per arm; min_share * arms <= 1
  double epsilon = 0.1;          // kEpsilonGreedy only, in [0, 1]
  int thompson_draws = 1000;     // Monte Carlo draws estimating P(best), 1..1e6
};

std::string_view policy_name(BanditConfig::Policy p);  // "thompson" | "epsilon_greedy" | "ucb1"
// Accepts the names above; InvalidArgument naming the allowed values otherwise.
Result<BanditConfig::Policy> parse_policy(std::string_view name);

// InvalidArgument naming the field when the config is unusable for `arms` arms.
Status validate(const BanditConfig& config, size_t arms);

// Per-arm statistics. successes + failures is the discounted number of rewards;
// `count` is the undiscounted number, used for warmup.
struct ArmStats {
  double successes = 0;
  double failures = 0;
  uint64_t count = 0;

  double weight() const { return successes + failures; }
  double mean() const;  // successes / weight; 0.5 before any reward
};

class BanditState {
 public:
  BanditState() = default;
  explicit BanditState(const std::vector<int64_t>& arms);

  // Makes the arm set exactly `arms`: kept arms keep their statistics, new ones start
  // empty, others are dropped (a deployment change added or removed a version).
  void set_arms(const std::vector<int64_t>& arms);
  std::vector<int64_t> arms() const;
  const std::map<int64_t, ArmStats>& stats() const { return arms_; }

  // Records one reward in [0, 1] for `arm`, after multiplying every arm's successes
  // and failures by `discount` (in (0, 1]). NotFound for an unknown arm,
  // InvalidArgument for a reward or discount out of range; nothing changes then.
  Status add_reward(int64_t arm, double reward, double discount = 1.0);

  // Traffic share per arm, summing to 1, each at least config.min_share. Draws from
  // `rng` (Thompson only). InvalidArgument for a bad config or no arms.
  Result<std::map<int64_t, double>> shares(const BanditConfig& config, std::mt19937_64& rng) const;

  // {"arms": [{"arm": 1, "successes": s, "failures": f, "count": n}, ...]}, so the
  // state survives a restart; from_json() rejects anything else with InvalidArgument.
  nlohmann::json to_json() const;
  static Result<BanditState> from_json(const nlohmann::json& j);

 private:
  std::map<int64_t, ArmStats> arms_;
};

// Raises every share to at least `min_share` and scales the others down in proportion
// (repeatedly, until no share is below the floor). `shares` must sum to about 1 and
// min_share * size <= 1. Exposed for the routing layer and tests.
std::map<int64_t, double> apply_min_share(std::map<int64_t, double> shares, double min_share);

}  // namespace quiver::rollout
