// RolloutController: walks every deployment's `rollout:` section through its steps,
// judging the candidate against the baseline each tick (analysis.h) and promoting,
// pausing or rolling back by itself; people steer it with the verbs below.
//
// Every transition is one registry commit: the rollout's new state, a revision with
// the traffic that state implies (step_traffic.h; unchanged for a pause), and an audit
// entry naming the evidence (metric, value, limit). The commit names the revision it was decided on, so
// a person's change made meanwhile wins and the controller looks again next tick.
// State lives in the registry, so a restart resumes each rollout at its step.
//
// step() is one deterministic pass over all rollouts with the injected clock (tests
// call it directly and never sleep); start() runs it on a thread of its own.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/deployment_spec.h"
#include "registry/registry.h"
#include "rollout/analysis.h"
#include "rollout/leadership.h"
#include "core/periodic_loop.h"
#include "rollout/rollout_state.h"
#include "rollout/signals.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::rollout {

enum class Verb { kPromote, kPromoteFull, kAbort, kPause, kResume, kRetry };

class RolloutController {
 public:
  // `on_revision` is called after the controller appended a revision (the server
  // wakes the lifecycle manager with it). `metrics` may be null.
  RolloutController(registry::Registry& registry, const SignalSource& signals, const Clock& clock,
                    metrics::MetricsRegistry* metrics, std::function<void()> on_revision);
  ~RolloutController();

  // One look at every rollout whose tick is due.
  void step();
  // A person's command. NotFound when the model has no rollout; FailedPrecondition
  // when the rollout's state does not allow it. Returns the status document.
  Result<nlohmann::json> command(const std::string& model, Verb verb, const registry::Actor& actor);
  // {"state", "step", "candidate_share", "reason", "metrics": [...], ...}; NotFound
  // when the model's deployment has no rollout.
  Result<nlohmann::json> status(const std::string& model);

  void start();
  void stop();
  // Replicas: only the lease holder steps rollouts (people's verbs work anywhere).
  // Set before start().
  void set_leadership(LeadershipProbe probe) { leadership_ = std::move(probe); }

 private:
  struct Sample {
    int64_t at_ms = 0;
    VersionCounters baseline, candidate;
  };
  struct Tracked {
    RolloutState state;
    std::deque<Sample> samples;
    int64_t next_tick_ms = 0;
    uint64_t last_candidate_errors = 0;
    bool have_errors_mark = false;
    bool just_started = false;  // track() wrote its first state this pass
  };
  struct Current {  // the model's live revision and its parsed spec
    registry::Revision revision;
    DeploymentSpec spec;
  };

  Result<Current> read_current(const std::string& model) const;
  // Finds or creates the tracked rollout for the current spec. mu_ held.
  Result<Tracked*> track(const std::string& model, const Current& cur, int64_t now_ms);
  // Replicas: takes the stored state when another replica's verb changed it. mu_ held.
  void resync(const std::string& model, Tracked& t);
  void tick(const std::string& model, const Current& cur, Tracked& t, int64_t now_ms);
  WindowEvidence sample(const std::string& model, const RolloutSpec& r, Tracked& t, int64_t now_ms);
  // Moves the state, builds the revision for it (if any) and commits; on a refused
  // commit restores the state. mu_ held.
  Status transition(const std::string& model, const Current& cur, Tracked& t, Phase to, int next_step,
                    const std::string& why, const std::string& action, nlohmann::json evidence,
                    const registry::Actor& actor, int64_t now_ms);
  nlohmann::json status_json(const std::string& model, const Current& cur, const Tracked& t) const;
  void export_metrics(const std::string& model, const Tracked& t);
  // Milliseconds on the wall clock's scale (states persist them, and a restart resumes
  // a step's timer from them) but advanced by the steady clock from an anchor taken at
  // construction, so a wall-clock jump neither ends a step's pause early, nor trips
  // the progress deadline, nor stalls the ticks. Only across a restart does the wall
  // clock count.
  int64_t now_ms() const;
  // The delay until the next rollout's tick is due (at most a second).
  std::chrono::milliseconds next_wait();

  registry::Registry& registry_;
  const SignalSource& signals_;
  const Clock& clock_;
  metrics::MetricsRegistry* metrics_;
  std::function<void()> on_revision_;
  const int64_t wall_anchor_ms_;                            // wall time at construction
  const std::chrono::steady_clock::time_point steady_anchor_;  // steady time at construction

  LeadershipProbe leadership_;
  registry::Actor controller_{"rollout-controller", ""};  // this pass's actor, with the lease's fence; mu_

  std::mutex mu_;  // one pass or command at a time; guards tracked_
  std::map<std::string, Tracked> tracked_;

  PeriodicLoop loop_{[this] {
    step();
    return next_wait();
  }};
};

}  // namespace quiver::rollout
