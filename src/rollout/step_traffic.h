// The traffic a rollout state implies, written into the deployment spec the rollout
// lives in: the controller stores each step as a revision of that spec, so history,
// rollback and every replica see exactly what the rollout did.
//
// A step that sets weight or shadow replaces both (what it leaves out is 0); a step
// with only a pause keeps the traffic of the step before it.
//
// Thread-safety: pure functions.
#pragma once

#include "core/deployment_spec.h"

namespace quiver::rollout {

struct StepTraffic {
  double weight = 0;  // percent of live traffic on the candidate
  double shadow = 0;  // percent of routed traffic mirrored to the candidate
};

StepTraffic traffic_at(const RolloutSpec& rollout, int step);

// `spec` with its traffic and shadow set for the candidate at `t`: baseline and
// candidate share live traffic, other listed versions get none.
DeploymentSpec with_traffic(DeploymentSpec spec, StepTraffic t);
// All live traffic on the candidate, no mirror (promoted), or on the baseline (aborted).
DeploymentSpec promoted_spec(DeploymentSpec spec);
DeploymentSpec aborted_spec(DeploymentSpec spec);

}  // namespace quiver::rollout
