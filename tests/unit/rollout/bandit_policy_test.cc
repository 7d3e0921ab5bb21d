#include "rollout/bandit_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

namespace quiver::rollout {
namespace {

constexpr int kRequestsPerTick = 100;

BanditConfig config_for(BanditConfig::Policy policy, double discount = 1.0) {
  BanditConfig c;
  c.policy = policy;
  c.discount = discount;
  return c;
}

// A simulated deployment: each tick routes 100 requests by the current shares, every
// request gets a Bernoulli reward at its arm's rate, and the shares are recomputed.
class Simulation {
 public:
  Simulation(BanditConfig config, std::map<int64_t, double> rates, uint64_t seed)
      : config_(config), rates_(std::move(rates)), rng_(seed), policy_rng_(seed + 1) {
    std::vector<int64_t> arms;
    for (const auto& [arm, rate] : rates_) arms.push_back(arm);
    state_ = BanditState(arms);
  }

  // Runs one tick; returns the requests each arm received.
  std::map<int64_t, uint64_t> tick() {
    auto shares = state_.shares(config_, policy_rng_);
    EXPECT_TRUE(shares.is_ok()) << shares.status().to_string();
    if (!shares.is_ok()) return {};
    double sum = 0;
    std::vector<int64_t> arms;
    std::vector<double> weights;
    for (const auto& [arm, share] : *shares) {
      EXPECT_GE(share, config_.min_share - 1e-12) << "arm " << arm;
      sum += share;
      arms.push_back(arm);
      weights.push_back(share);
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    std::discrete_distribution<size_t> route(weights.begin(), weights.end());
    std::map<int64_t, uint64_t> routed;
    for (int i = 0; i < kRequestsPerTick; ++i) {
      const int64_t arm = arms[route(rng_)];
      ++routed[arm];
      const double reward = std::bernoulli_distribution(rates_[arm])(rng_) ? 1.0 : 0.0;
      EXPECT_TRUE(state_.add_reward(arm, reward, config_.discount).is_ok());
    }
    return routed;
  }

  // Runs `ticks` ticks; returns the requests each arm received in total.
  std::map<int64_t, uint64_t> run(int ticks) {
    std::map<int64_t, uint64_t> total;
    for (int t = 0; t < ticks; ++t) {
      for (const auto& [arm, n] : tick()) total[arm] += n;
    }
    return total;
  }

  void set_rates(std::map<int64_t, double> rates) { rates_ = std::move(rates); }
  const BanditState& state() const { return state_; }

 private:
  BanditConfig config_;
  std::map<int64_t, double> rates_;
  std::mt19937_64 rng_;
  std::mt19937_64 policy_rng_;
  BanditState state_;
};

double share_of(const std::map<int64_t, uint64_t>& routed, int64_t arm) {
  uint64_t total = 0;
  for (const auto& [a, n] : routed) total += n;
  auto it = routed.find(arm);
  return total == 0 || it == routed.end() ? 0 : static_cast<double>(it->second) / static_cast<double>(total);
}

const std::map<int64_t, double> kRates = {{1, 0.50}, {2, 0.55}, {3, 0.60}};

TEST(BanditPolicyTest, ThompsonConvergesOnTheBestArm) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    Simulation sim(config_for(BanditConfig::Policy::kThompson), kRates, seed);
    sim.run(250);                                // 25,000 rewards
    const auto last = sim.run(50);               // the last 5,000 requests
    EXPECT_GE(share_of(last, 3), 0.80) << "seed " << seed;
    EXPECT_GE(share_of(last, 1), 0.01) << "min_share keeps the worst arm in view";
  }
}

// Discounting trades exploitation for memory: with a 0.05 gap between arms a single
// run's shares wander (d = 0.995 remembers about 200 rewards), so this averages over
// runs. d = 0.998 forgets pre-swap evidence to 2% within 2,000 rewards.
TEST(BanditPolicyTest, DiscountedThompsonFollowsASwap) {
  constexpr int kRuns = 10;
  double before = 0, after = 0;
  for (uint64_t seed = 1; seed <= kRuns; ++seed) {
    Simulation sim(config_for(BanditConfig::Policy::kThompson, 0.998), kRates, seed);
    sim.run(130);
    before += share_of(sim.run(20), 3) / kRuns;
    sim.set_rates({{1, 0.60}, {2, 0.55}, {3, 0.50}});  // arm 1 is now the best
    sim.run(15);
    // Rewards 1,500 to 2,000 after the swap: the new best arm takes the majority.
    after += share_of(sim.run(5), 1) / kRuns;
  }
  EXPECT_GT(before, 0.6);
  EXPECT_GT(after, 0.6);
}

TEST(BanditPolicyTest, WithoutDiscountASwapIsFollowedSlowly) {
  Simulation sim(config_for(BanditConfig::Policy::kThompson, 1.0), kRates, 4);
  sim.run(100);
  sim.set_rates({{1, 0.60}, {2, 0.55}, {3, 0.50}});
  sim.run(15);
  EXPECT_LT(share_of(sim.run(5), 1), 0.5) << "the discount is what makes the bandit adapt";
}

TEST(BanditPolicyTest, WarmupGivesEqualShares) {
  BanditState state({1, 2, 3});
  BanditConfig c;
  c.warmup_per_arm = 2;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(state.add_reward(1, 1).is_ok());
    ASSERT_TRUE(state.add_reward(2, 0).is_ok());
  }
  ASSERT_TRUE(state.add_reward(3, 0).is_ok());
  auto s = state.shares(c, rng);
  ASSERT_TRUE(s.is_ok());
  for (const auto& [arm, share] : *s) EXPECT_DOUBLE_EQ(share, 1.0 / 3) << arm;
  ASSERT_TRUE(state.add_reward(3, 0).is_ok());
  s = state.shares(c, rng);
  ASSERT_TRUE(s.is_ok());
  EXPECT_GT((*s)[1], 0.9);
}

TEST(BanditPolicyTest, EpsilonGreedySplitsEpsilonEvenly) {
  BanditState state({1, 2, 3, 4});
  BanditConfig c = config_for(BanditConfig::Policy::kEpsilonGreedy);
  c.warmup_per_arm = 1;
  c.epsilon = 0.2;
  c.min_share = 0;
  for (int64_t arm : {1, 2, 3, 4}) ASSERT_TRUE(state.add_reward(arm, arm == 2 ? 0.9 : 0.3).is_ok());
  std::mt19937_64 rng(1);
  auto s = state.shares(c, rng);
  ASSERT_TRUE(s.is_ok());
  EXPECT_DOUBLE_EQ((*s)[2], 0.8 + 0.05);
  EXPECT_DOUBLE_EQ((*s)[1], 0.05);
  EXPECT_DOUBLE_EQ((*s)[4], 0.05);
}

TEST(BanditPolicyTest, EpsilonGreedySimulationFavoursTheBestArm) {
  Simulation sim(config_for(BanditConfig::Policy::kEpsilonGreedy), kRates, 5);
  sim.run(200);
  EXPECT_GE(share_of(sim.run(50), 3), 0.8);
}

TEST(BanditPolicyTest, Ucb1GivesAllButTheFloorToTheHighestBound) {
  BanditState state({1, 2});
  BanditConfig c = config_for(BanditConfig::Policy::kUcb1);
  c.warmup_per_arm = 1;
  c.min_share = 0.1;
  // Arm 1: 10 rewards, mean 0.5; arm 2: 100 rewards, mean 0.6. N = 110.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(state.add_reward(1, i % 2).is_ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(state.add_reward(2, i % 5 < 3 ? 1 : 0).is_ok());
  std::mt19937_64 rng(1);
  auto s = state.shares(c, rng);
  ASSERT_TRUE(s.is_ok());
  // 0.5 + sqrt(2 ln 110 / 10) = 1.47 beats 0.6 + sqrt(2 ln 110 / 100) = 0.91.
  EXPECT_DOUBLE_EQ((*s)[1], 0.9);
  EXPECT_DOUBLE_EQ((*s)[2], 0.1);
}

TEST(BanditPolicyTest, Ucb1SimulationFavoursAClearlyBestArm) {
  Simulation sim(config_for(BanditConfig::Policy::kUcb1), {{1, 0.2}, {2, 0.5}, {3, 0.8}}, 6);
  sim.run(150);
  EXPECT_GE(share_of(sim.run(50), 3), 0.7);
}

TEST(BanditPolicyTest, MinShareFloorsAndRescales) {
  auto s = apply_min_share({{1, 0.97}, {2, 0.02}, {3, 0.01}}, 0.02);
  EXPECT_NEAR(s[1], 0.96, 1e-12);
  EXPECT_NEAR(s[2], 0.02, 1e-12);
  EXPECT_NEAR(s[3], 0.02, 1e-12);
  s = apply_min_share({{1, 1.0}, {2, 0.0}, {3, 0.0}, {4, 0.0}}, 0.25);
  for (const auto& [arm, share] : s) EXPECT_NEAR(share, 0.25, 1e-12) << arm;
  s = apply_min_share({{1, 0.6}, {2, 0.3}, {3, 0.1}}, 0.05);  // already above the floor
  EXPECT_NEAR(s[1], 0.6, 1e-12);
  EXPECT_NEAR(s[3], 0.1, 1e-12);
  s = apply_min_share({{1, 0.5}, {2, 0.5}, {3, 0.0}}, 0.1);
  EXPECT_NEAR(s[1], 0.45, 1e-12);
  EXPECT_NEAR(s[2], 0.45, 1e-12);
  EXPECT_NEAR(s[3], 0.1, 1e-12);
}

TEST(BanditPolicyTest, RejectsBadInput) {
  BanditState state({1, 2});
  std::mt19937_64 rng(1);
  BanditConfig c;
  c.min_share = 0.6;
  EXPECT_EQ(state.shares(c, rng).status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(state.shares(c, rng).status().message().find("min_share"), std::string::npos);
  c = BanditConfig{};
  c.discount = 0;
  EXPECT_EQ(state.shares(c, rng).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BanditState().shares(BanditConfig{}, rng).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(state.add_reward(7, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(state.add_reward(1, 1.5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(state.add_reward(1, 1, 1.5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(state.stats().at(1).count, 0u);
}

TEST(BanditPolicyTest, DiscountAppliesToEveryArm) {
  BanditState state({1, 2});
  ASSERT_TRUE(state.add_reward(1, 1, 0.5).is_ok());
  ASSERT_TRUE(state.add_reward(2, 0.25, 0.5).is_ok());
  EXPECT_DOUBLE_EQ(state.stats().at(1).successes, 0.5);
  EXPECT_DOUBLE_EQ(state.stats().at(2).successes, 0.25);
  EXPECT_DOUBLE_EQ(state.stats().at(2).failures, 0.75);
  EXPECT_EQ(state.stats().at(1).count, 1u);
}

TEST(BanditPolicyTest, SetArmsKeepsKnownArms) {
  BanditState state({1, 2});
  ASSERT_TRUE(state.add_reward(2, 1).is_ok());
  state.set_arms({2, 3});
  EXPECT_EQ(state.arms(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(state.stats().at(2).count, 1u);
  EXPECT_EQ(state.stats().at(3).count, 0u);
}

TEST(BanditPolicyTest, StateRoundTripsThroughJson) {
  Simulation sim(config_for(BanditConfig::Policy::kThompson, 0.99), kRates, 9);
  sim.run(10);
  const nlohmann::json j = nlohmann::json::parse(sim.state().to_json().dump());
  auto restored = BanditState::from_json(j);
  ASSERT_TRUE(restored.is_ok()) << restored.status().to_string();
  for (const auto& [arm, st] : sim.state().stats()) {
    const ArmStats& r = restored->stats().at(arm);
    EXPECT_DOUBLE_EQ(r.successes, st.successes);
    EXPECT_DOUBLE_EQ(r.failures, st.failures);
    EXPECT_EQ(r.count, st.count);
  }
  // Same state, same seed: same shares.
  std::mt19937_64 a(5), b(5);
  auto sa = sim.state().shares(BanditConfig{}, a);
  auto sb = restored->shares(BanditConfig{}, b);
  ASSERT_TRUE(sa.is_ok() && sb.is_ok());
  EXPECT_EQ(*sa, *sb);
}

TEST(BanditPolicyTest, FromJsonNamesTheBadField) {
  auto bad = [](const char* text) { return BanditState::from_json(nlohmann::json::parse(text)).status(); };
  EXPECT_EQ(bad("[]").code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad(R"({"arms": [{"arm": "x"}]})").message().find("arms[0].arm"), std::string::npos);
  EXPECT_NE(bad(R"({"arms": [{"arm": 1, "successes": -1, "failures": 0, "count": 0}]})").message().find(
                "arms[0].successes"),
            std::string::npos);
  EXPECT_NE(bad(R"({"arms": [{"arm": 1, "successes": 1, "failures": 0, "count": -2}]})").message().find(
                "arms[0].count"),
            std::string::npos);
  EXPECT_NE(bad(R"({"arms": [{"arm": 1, "successes": 1, "failures": 0, "count": 1},
                             {"arm": 1, "successes": 1, "failures": 0, "count": 1}]})")
                .message()
                .find("twice"),
            std::string::npos);
}

TEST(BanditPolicyTest, PolicyNames) {
  for (auto p : {BanditConfig::Policy::kThompson, BanditConfig::Policy::kEpsilonGreedy,
                 BanditConfig::Policy::kUcb1}) {
    auto parsed = parse_policy(policy_name(p));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(parse_policy("greedy").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::rollout
