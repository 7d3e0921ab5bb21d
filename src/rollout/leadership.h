// Who may run the control loops that write (rollouts, the objective). A server alone
// always may. Replicas that share a registry may only while they hold the leader
// lease (cluster/leader_lease.h), and their writes then carry its fence, so a leader
// that lost its lease while paused can write nothing when it resumes.
#pragma once

#include <functional>
#include <optional>

#include "registry/registry.h"

namespace quiver::rollout {

struct Leadership {
  bool leads = true;
  std::optional<registry::Fence> fence;  // set on a replica's term
};

// Asked once per control-loop pass; empty: always leads, no fence.
using LeadershipProbe = std::function<Leadership()>;

inline Leadership ask(const LeadershipProbe& probe) { return probe ? probe() : Leadership{}; }

}  // namespace quiver::rollout
