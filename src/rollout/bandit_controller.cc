#include "rollout/bandit_controller.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <set>

#include "metrics/metrics_registry.h"
#include "registry/deployment_spec_json.h"

namespace quiver::rollout {

BanditConfig bandit_config(const BanditSpec& spec) {
  BanditConfig c;
  // The spec parser admits only known policy names.
  auto policy = parse_policy(spec.policy);
  c.policy = policy.is_ok() ? *policy : BanditConfig::Policy::kThompson;
  c.discount = spec.discount;
  c.warmup_per_arm = spec.warmup_per_arm;
  c.min_share = spec.min_share;
  c.epsilon = spec.epsilon;
  return c;
}

BanditController::BanditController(registry::Registry& registry, const SignalSource& signals, const Clock& clock,
                                   metrics::MetricsRegistry* metrics, Publish publish, uint64_t seed)
    : registry_(registry), signals_(signals), clock_(clock), metrics_(metrics), publish_(std::move(publish)),
      rng_(seed) {}

BanditController::~BanditController() { stop(); }

int64_t BanditController::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count();
}

void BanditController::step() {
  std::lock_guard lock(mu_);
  if (!ask(leadership_).leads) {
    // A standby learns nothing itself: the leader's shares arrive with its heartbeat.
    tracked_.clear();
    return;
  }
  auto live = registry_.live_deployments();
  if (!live.is_ok()) return;
  std::set<std::string> active;
  for (const auto& rev : *live) {
    auto spec = registry::parse_deployment_spec(rev.spec_json);
    if (!spec.is_ok() || !spec->bandit) continue;
    active.insert(rev.model);
    Tracked& t = tracked_[rev.model];
    std::vector<int64_t> arms;
    for (const auto& a : spec->bandit->arms) arms.push_back(a.version);
    if (t.spec != *spec->bandit) {
      t.spec = *spec->bandit;
      t.state.set_arms(arms);  // kept arms keep what they learned
      t.next_tick_ms = 0;
    }
    tick(rev.model, rev.revision, t);
  }
  for (auto it = tracked_.begin(); it != tracked_.end();)
    it = active.count(it->first) ? std::next(it) : tracked_.erase(it);
}

void BanditController::tick(const std::string& model, int64_t revision, Tracked& t) {
  const int64_t now = now_ms();
  if (now < t.next_tick_ms) return;
  t.next_tick_ms = now + t.spec.tick_ms;
  const BanditConfig config = bandit_config(t.spec);

  // New rewards since the last tick, per arm; fed one at a time, arms interleaved, so
  // discounting treats the arms alike.
  std::map<int64_t, std::pair<uint64_t, double>> fresh;  // arm -> (count, mean)
  for (const auto& arm : t.state.arms()) {
    const VersionCounters c = signals_.read(model, arm, 0);
    Mark& m = t.marks[arm];
    if (c.reward_n < m.reward_n) m = Mark{};  // counters restarted
    const uint64_t n = c.reward_n - m.reward_n;
    if (n > 0) fresh[arm] = {n, std::clamp((c.reward_sum - m.reward_sum) / static_cast<double>(n), 0.0, 1.0)};
    m = Mark{c.reward_n, c.reward_sum};
  }
  for (bool any = true; any;) {
    any = false;
    for (auto& [arm, left] : fresh)
      if (left.first > 0) {
        (void)t.state.add_reward(arm, left.second, config.discount);
        --left.first;
        any = true;
      }
  }

  auto shares = t.state.shares(config, rng_);
  if (!shares.is_ok()) {
    spdlog::warn("model '{}': bandit: {}", model, shares.status().message());
    return;
  }
  t.shares = *shares;
  std::vector<TrafficWeight> traffic;
  for (const auto& [arm, share] : t.shares) {
    // Parts per million; every arm keeps at least one part so min_share 0 still routes.
    const auto weight = static_cast<uint32_t>(std::max<long>(1, std::lround(share * 1e6)));
    traffic.push_back(TrafficWeight{VersionRef{std::to_string(arm), arm}, weight});
    if (metrics_)
      metrics_->gauge("quiver_bandit_share", "Traffic share the bandit gives each version",
                      {{"model", model}, {"version", std::to_string(arm)}})
          .set(share);
  }
  if (publish_) publish_(model, revision, std::move(traffic));
}

Result<nlohmann::json> BanditController::status(const std::string& model) {
  std::lock_guard lock(mu_);
  auto it = tracked_.find(model);
  if (it == tracked_.end() && leader_status_) {
    if (auto remote = leader_status_(model)) return *remote;
  }
  if (it == tracked_.end()) return not_found("the deployment of model '" + model + "' has no bandit");
  const Tracked& t = it->second;
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& [arm, stats] : t.state.stats()) {
    auto share = t.shares.find(arm);
    arms.push_back({{"version", arm},
                    {"share", share == t.shares.end() ? 0.0 : share->second},
                    {"rewards", stats.count},
                    {"mean_reward", stats.mean()}});
  }
  return nlohmann::json{{"model", model}, {"policy", t.spec.policy}, {"discount", t.spec.discount}, {"arms", arms}};
}

void BanditController::start() { loop_.start(); }

void BanditController::stop() { loop_.stop(); }

}  // namespace quiver::rollout
