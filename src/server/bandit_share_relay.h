// Replicas: the bandit's shares are the leader's to compute (from every replica's
// rewards) and every replica's to apply. The leader's publish goes through here: it is
// applied locally and carried in the leader's heartbeat; the other replicas apply what
// the leader's latest heartbeat carries, and answer bandit status with the leader's.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/deployment_spec.h"
#include "lifecycle/manager.h"
#include "rollout/bandit_controller.h"

namespace quiver::server {

class BanditShareRelay {
 public:
  explicit BanditShareRelay(lifecycle::LifecycleManager& manager) : manager_(manager) {}

  // The bandit controller's publish callback (on the leader, or on one server).
  void publish(const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic);
  // Leader: {"<model>": {"revision", "traffic": [[version, weight], ...], "status": {...}}}.
  nlohmann::json shares_json(rollout::BanditController& bandits) const;
  // Another replica: applies the leader's shares that changed since last time.
  void apply_leader(const nlohmann::json& leader_shares);
  // Another replica: the leader's bandit status for `model`, when it sent one.
  std::optional<nlohmann::json> leader_status(const std::string& model) const;

 private:
  struct Shares {
    int64_t revision = 0;
    std::vector<TrafficWeight> traffic;
  };
  lifecycle::LifecycleManager& manager_;
  mutable std::mutex mu_;
  std::map<std::string, Shares> published_;       // this replica's own (as leader)
  std::map<std::string, nlohmann::json> leader_;  // the leader's, as last applied
};

}  // namespace quiver::server
