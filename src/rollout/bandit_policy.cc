#include "rollout/bandit_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace quiver::rollout {
namespace {

constexpr int kMaxDraws = 1000000;

std::map<int64_t, double> equal_shares(const std::map<int64_t, ArmStats>& arms) {
  std::map<int64_t, double> s;
  for (const auto& [arm, st] : arms) s[arm] = 1.0 / static_cast<double>(arms.size());
  return s;
}

// Everything to `best` (before the floor is applied).
std::map<int64_t, double> all_to(const std::map<int64_t, ArmStats>& arms, int64_t best) {
  std::map<int64_t, double> s;
  for (const auto& [arm, st] : arms) s[arm] = arm == best ? 1.0 : 0.0;
  return s;
}

std::map<int64_t, double> thompson(const std::map<int64_t, ArmStats>& arms, int draws, std::mt19937_64& rng) {
  struct Posterior {
    int64_t arm;
    std::gamma_distribution<double> a, b;  // Beta(1+S, 1+F) = Ga / (Ga + Gb)
    uint64_t wins = 0;
  };
  std::vector<Posterior> post;
  post.reserve(arms.size());
  for (const auto& [arm, st] : arms) {
    post.push_back({arm, std::gamma_distribution<double>(1 + st.successes),
                    std::gamma_distribution<double>(1 + st.failures)});
  }
  for (int d = 0; d < draws; ++d) {
    size_t best = 0;
    double best_theta = -1;
    for (size_t i = 0; i < post.size(); ++i) {
      const double x = post[i].a(rng);
      const double y = post[i].b(rng);
      const double theta = x + y > 0 ? x / (x + y) : 0.5;
      if (theta > best_theta) {
        best_theta = theta;
        best = i;
      }
    }
    ++post[best].wins;
  }
  std::map<int64_t, double> s;
  for (const auto& p : post) s[p.arm] = static_cast<double>(p.wins) / draws;
  return s;
}

std::map<int64_t, double> epsilon_greedy(const std::map<int64_t, ArmStats>& arms, double epsilon) {
  int64_t best = arms.begin()->first;
  double best_mean = -1;
  for (const auto& [arm, st] : arms) {
    if (st.mean() > best_mean) {
      best_mean = st.mean();
      best = arm;
    }
  }
  std::map<int64_t, double> s;
  const double explore = epsilon / static_cast<double>(arms.size());
  for (const auto& [arm, st] : arms) s[arm] = explore + (arm == best ? 1 - epsilon : 0.0);
  return s;
}

std::map<int64_t, double> ucb1(const std::map<int64_t, ArmStats>& arms) {
  double total = 0;
  for (const auto& [arm, st] : arms) total += st.weight();
  const double log_total = std::max(0.0, std::log(total));
  int64_t best = arms.begin()->first;
  double best_bound = -1;
  for (const auto& [arm, st] : arms) {
    // A never-rewarded arm (weight 0) is explored first.
    const double bound = st.weight() > 0 ? st.mean() + std::sqrt(2 * log_total / st.weight())
                                         : std::numeric_limits<double>::infinity();
    if (bound > best_bound) {
      best_bound = bound;
      best = arm;
    }
  }
  return all_to(arms, best);
}

}  // namespace

std::string_view policy_name(BanditConfig::Policy p) {
  switch (p) {
    case BanditConfig::Policy::kThompson: return "thompson";
    case BanditConfig::Policy::kEpsilonGreedy: return "epsilon_greedy";
    case BanditConfig::Policy::kUcb1: return "ucb1";
  }
  return "thompson";
}

Result<BanditConfig::Policy> parse_policy(std::string_view name) {
  for (auto p : {BanditConfig::Policy::kThompson, BanditConfig::Policy::kEpsilonGreedy,
                 BanditConfig::Policy::kUcb1}) {
    if (policy_name(p) == name) return p;
  }
  return invalid_argument("bandit.policy: unknown policy '" + std::string(name) +
                          "' (expected thompson, epsilon_greedy or ucb1)");
}

Status validate(const BanditConfig& c, size_t arms) {
  if (arms == 0) return invalid_argument("bandit.arms: at least one arm is needed");
  if (!(c.discount > 0 && c.discount <= 1)) return invalid_argument("bandit.discount: must be in (0, 1]");
  if (!(c.min_share >= 0 && c.min_share <= 1)) return invalid_argument("bandit.min_share: must be in [0, 1]");
  if (c.min_share * static_cast<double>(arms) > 1 + 1e-12) {
    std::ostringstream msg;
    msg << "bandit.min_share: " << c.min_share << " x " << arms << " arms exceeds 1";
    return invalid_argument(msg.str());
  }
  if (!(c.epsilon >= 0 && c.epsilon <= 1)) return invalid_argument("bandit.epsilon: must be in [0, 1]");
  if (c.thompson_draws < 1 || c.thompson_draws > kMaxDraws) {
    return invalid_argument("bandit.thompson_draws: must be in [1, 1000000]");
  }
  return Status::ok();
}

double ArmStats::mean() const { return weight() > 0 ? successes / weight() : 0.5; }

BanditState::BanditState(const std::vector<int64_t>& arms) { set_arms(arms); }

void BanditState::set_arms(const std::vector<int64_t>& arms) {
  std::map<int64_t, ArmStats> next;
  for (int64_t arm : arms) {
    auto it = arms_.find(arm);
    next[arm] = it != arms_.end() ? it->second : ArmStats{};
  }
  arms_ = std::move(next);
}

std::vector<int64_t> BanditState::arms() const {
  std::vector<int64_t> out;
  for (const auto& [arm, st] : arms_) out.push_back(arm);
  return out;
}

Status BanditState::add_reward(int64_t arm, double reward, double discount) {
  auto it = arms_.find(arm);
  if (it == arms_.end()) return not_found("bandit: arm " + std::to_string(arm) + " is not one of the arms");
  if (!(reward >= 0 && reward <= 1)) return invalid_argument("bandit: reward must be in [0, 1]");
  if (!(discount > 0 && discount <= 1)) return invalid_argument("bandit: discount must be in (0, 1]");
  if (discount < 1) {
    for (auto& [a, st] : arms_) {
      st.successes *= discount;
      st.failures *= discount;
    }
  }
  it->second.successes += reward;
  it->second.failures += 1 - reward;
  ++it->second.count;
  return Status::ok();
}

Result<std::map<int64_t, double>> BanditState::shares(const BanditConfig& config, std::mt19937_64& rng) const {
  QUIVER_RETURN_IF_ERROR(validate(config, arms_.size()));
  const bool warming = std::any_of(arms_.begin(), arms_.end(),
                                   [&](const auto& kv) { return kv.second.count < config.warmup_per_arm; });
  if (warming) return equal_shares(arms_);
  std::map<int64_t, double> s;
  switch (config.policy) {
    case BanditConfig::Policy::kThompson: s = thompson(arms_, config.thompson_draws, rng); break;
    case BanditConfig::Policy::kEpsilonGreedy: s = epsilon_greedy(arms_, config.epsilon); break;
    case BanditConfig::Policy::kUcb1: s = ucb1(arms_); break;
  }
  return apply_min_share(std::move(s), config.min_share);
}

std::map<int64_t, double> apply_min_share(std::map<int64_t, double> shares, double min_share) {
  if (shares.empty() || min_share <= 0) return shares;
  std::set<int64_t> floored;
  for (size_t round = 0; round <= shares.size(); ++round) {
    const double free_share = 1 - min_share * static_cast<double>(floored.size());
    double rest = 0;
    size_t rest_arms = 0;
    for (const auto& [arm, s] : shares) {
      if (!floored.count(arm)) {
        rest += s;
        ++rest_arms;
      }
    }
    bool changed = false;
    for (auto& [arm, s] : shares) {
      if (floored.count(arm)) {
        s = min_share;
        continue;
      }
      s = rest > 0 ? free_share * s / rest : free_share / static_cast<double>(rest_arms);
      if (s < min_share) {
        floored.insert(arm);
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (auto& [arm, s] : shares) {
    if (floored.count(arm)) s = min_share;
  }
  return shares;
}

nlohmann::json BanditState::to_json() const {
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& [arm, st] : arms_) {
    arms.push_back({{"arm", arm}, {"successes", st.successes}, {"failures", st.failures}, {"count", st.count}});
  }
  return {{"arms", std::move(arms)}};
}

Result<BanditState> BanditState::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("arms") || !j["arms"].is_array()) {
    return invalid_argument("bandit state: expected an object with an \"arms\" array");
  }
  BanditState state;
  for (size_t i = 0; i < j["arms"].size(); ++i) {
    const nlohmann::json& a = j["arms"][i];
    const std::string where = "bandit state: arms[" + std::to_string(i) + "]";
    if (!a.is_object()) return invalid_argument(where + ": expected an object");
    if (!a.contains("arm") || !a["arm"].is_number_integer()) return invalid_argument(where + ".arm: expected an integer");
    ArmStats st;
    for (const char* field : {"successes", "failures"}) {
      if (!a.contains(field) || !a[field].is_number() || !(a[field].get<double>() >= 0) ||
          !std::isfinite(a[field].get<double>())) {
        return invalid_argument(where + "." + field + ": expected a non-negative number");
      }
    }
    if (!a.contains("count") || !a["count"].is_number_unsigned()) {
      return invalid_argument(where + ".count: expected a non-negative integer");
    }
    st.successes = a["successes"].get<double>();
    st.failures = a["failures"].get<double>();
    st.count = a["count"].get<uint64_t>();
    const auto arm = a["arm"].get<int64_t>();
    if (!state.arms_.emplace(arm, st).second) {
      return invalid_argument(where + ".arm: arm " + std::to_string(arm) + " appears twice");
    }
  }
  return state;
}

}  // namespace quiver::rollout
