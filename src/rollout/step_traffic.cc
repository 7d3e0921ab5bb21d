#include "rollout/step_traffic.h"

#include <cmath>

namespace quiver::rollout {

StepTraffic traffic_at(const RolloutSpec& rollout, int step) {
  StepTraffic t;
  for (int i = 0; i <= step && i < static_cast<int>(rollout.steps.size()); ++i) {
    const RolloutStep& s = rollout.steps[static_cast<size_t>(i)];
    if (!s.weight && !s.shadow) continue;
    t.weight = s.weight.value_or(0);
    t.shadow = s.shadow.value_or(0);
  }
  return t;
}

DeploymentSpec with_traffic(DeploymentSpec spec, StepTraffic t) {
  const RolloutSpec& r = *spec.rollout;
  // Weights are integers: parts per ten thousand keep fractional percents (0.5 %).
  const auto candidate = static_cast<uint32_t>(std::lround(t.weight * 100));
  spec.traffic = {TrafficWeight{r.baseline, 10000 - candidate}, TrafficWeight{r.candidate, candidate}};
  spec.shadow.clear();
  if (t.shadow > 0 && candidate < 10000) spec.shadow.push_back(ShadowTarget{r.candidate, t.shadow});
  return spec;
}

DeploymentSpec promoted_spec(DeploymentSpec spec) { return with_traffic(std::move(spec), {100, 0}); }

DeploymentSpec aborted_spec(DeploymentSpec spec) { return with_traffic(std::move(spec), {0, 0}); }

}  // namespace quiver::rollout
