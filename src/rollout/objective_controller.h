// ObjectiveController: for deployments whose `objective:` says `auto: promote_best`,
// scores the listed versions (objective.h) every interval and, when the best version
// within the budget is not the one taking most traffic, starts a rollout to it. The
// rollout then decides on evidence like any other: the objective only proposes.
//
// It never starts a rollout while one is running, never re-proposes a candidate whose
// last rollout was aborted, and needs the best score to beat the serving version's by
// a margin, so noise in the facts does not make it flap.
//
// step() is one deterministic pass with the injected clock; start() runs it on a
// thread. Thread-safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "registry/registry.h"
#include "rollout/objective.h"
#include "core/periodic_loop.h"
#include "rollout/leadership.h"

namespace quiver::rollout {

class ObjectiveController {
 public:
  // The measured facts of `versions` of `model` (the server reads stats, feedback and
  // evaluations).
  using FactsProvider = std::function<std::vector<VersionFacts>(const std::string& model,
                                                                const std::vector<int64_t>& versions)>;
  static constexpr double kMargin = 0.05;  // the best must beat the serving version by this much

  ObjectiveController(registry::Registry& registry, FactsProvider facts, const Clock& clock,
                      std::function<void()> on_revision, std::chrono::milliseconds interval);
  ~ObjectiveController();

  void step();
  void start();
  // Replicas: only the lease holder scores and starts rollouts. Set before start().
  void set_leadership(LeadershipProbe probe) { leadership_ = std::move(probe); }
  void stop();

 private:
  void consider(const registry::Revision& rev);

  registry::Registry& registry_;
  FactsProvider facts_;
  const Clock& clock_;
  std::function<void()> on_revision_;
  LeadershipProbe leadership_;
  std::optional<registry::Fence> fence_;  // this pass's, from the lease; mu_
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_look_;
  PeriodicLoop loop_{[this] {
    step();
    return std::chrono::milliseconds(250);
  }};
};

}  // namespace quiver::rollout
