// BanditController: for every deployment with a `bandit:` section, turns the feedback
// rewards of each arm into traffic shares (bandit_policy.h) every tick and hands them
// to the lifecycle manager, which publishes them as a new route snapshot. The request
// path keeps today's weighted pick: no lock and no arithmetic beyond it.
//
// step() is one deterministic pass with the injected clock; start() runs it on a
// thread of its own. Shares are not revisions: they move every tick, and the spec's
// bandit section (a revision) is what a person changes.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/deployment_spec.h"
#include "registry/registry.h"
#include "rollout/bandit_policy.h"
#include "core/periodic_loop.h"
#include "rollout/leadership.h"
#include "rollout/signals.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::rollout {

class BanditController {
 public:
  // Publishes shares as traffic weights for the model while it serves `revision`.
  using Publish = std::function<void(const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic)>;

  BanditController(registry::Registry& registry, const SignalSource& signals, const Clock& clock,
                   metrics::MetricsRegistry* metrics, Publish publish, uint64_t seed);
  ~BanditController();

  void step();
  // {"policy", "arms": [{"version", "share", "rewards", "mean_reward"}]}; NotFound
  // when the model's deployment has no bandit.
  Result<nlohmann::json> status(const std::string& model);

  void start();
  void stop();
  // Replicas: only the lease holder turns rewards (every replica's, through a pooled
  // SignalSource) into shares; the others apply the leader's shares and answer
  // status() with the leader's, from `leader_status`. Set both before start().
  void set_leadership(LeadershipProbe probe) { leadership_ = std::move(probe); }
  void set_leader_status(std::function<std::optional<nlohmann::json>(const std::string& model)> leader_status) {
    leader_status_ = std::move(leader_status);
  }

 private:
  struct Mark {
    uint64_t reward_n = 0;
    double reward_sum = 0;
  };
  struct Tracked {
    BanditSpec spec;
    BanditState state;
    std::map<int64_t, Mark> marks;  // reward counters already taken in, per arm
    std::map<int64_t, double> shares;
    int64_t next_tick_ms = 0;
  };

  void tick(const std::string& model, int64_t revision, Tracked& t);
  int64_t now_ms() const;

  registry::Registry& registry_;
  const SignalSource& signals_;
  const Clock& clock_;
  metrics::MetricsRegistry* metrics_;
  Publish publish_;
  LeadershipProbe leadership_;
  std::function<std::optional<nlohmann::json>(const std::string& model)> leader_status_;

  std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, Tracked> tracked_;
  PeriodicLoop loop_{[this] {
    step();
    return std::chrono::milliseconds(100);
  }};
};

// The bandit section as the policy's config.
BanditConfig bandit_config(const BanditSpec& spec);

}  // namespace quiver::rollout
