#include "rollout/rollout_controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

#include "metrics/metrics_registry.h"
#include "registry/deployment_spec_json.h"
#include "registry/evidence_spec_json.h"
#include "rollout/step_traffic.h"

namespace quiver::rollout {
namespace {

using nlohmann::json;

json verdict_json(const MetricVerdict& v) {
  return {{"name", v.name},         {"verdict", verdict_name(v.verdict)},
          {"n", v.n},               {"estimate", v.estimate},
          {"interval", {v.interval.lo, v.interval.hi}},
          {"limit", v.limit},       {"value", v.value},
          {"baseline", v.baseline}, {"critical", v.critical},
          {"applies", v.applies},   {"detail", v.detail}};
}

// The evidence an audit entry names: the metric, its value and its limit.
json evidence_of(const MetricVerdict& v) {
  return {{"metric", v.name}, {"value", v.value},   {"estimate", v.estimate}, {"limit", v.limit},
          {"n", v.n},         {"interval", {v.interval.lo, v.interval.hi}},    {"detail", v.detail}};
}

std::string describe(const MetricVerdict& v) {
  return fmt::format("metric {} failed: {}", v.name, v.detail);
}

double candidate_share(const DeploymentSpec& spec) {
  uint64_t total = 0, cand = 0;
  for (const auto& tw : spec.traffic) {
    total += tw.weight;
    if (tw.version.version == spec.rollout->candidate.version) cand += tw.weight;
  }
  return total ? static_cast<double>(cand) / static_cast<double>(total) : 0;
}

}  // namespace

RolloutController::RolloutController(registry::Registry& registry, const SignalSource& signals, const Clock& clock,
                                     metrics::MetricsRegistry* metrics, std::function<void()> on_revision)
    : registry_(registry),
      signals_(signals),
      clock_(clock),
      metrics_(metrics),
      on_revision_(std::move(on_revision)),
      wall_anchor_ms_(
          std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall_now().time_since_epoch()).count()),
      steady_anchor_(clock.now()) {}

RolloutController::~RolloutController() { stop(); }

int64_t RolloutController::now_ms() const {
  return wall_anchor_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - steady_anchor_).count();
}

Result<RolloutController::Current> RolloutController::read_current(const std::string& model) const {
  QUIVER_ASSIGN_OR_RETURN(auto rev, registry_.current_deployment(model));
  if (!rev) return not_found("model '" + model + "' has no deployment");
  QUIVER_ASSIGN_OR_RETURN(auto spec, registry::parse_deployment_spec(rev->spec_json));
  if (!spec.rollout) return not_found("the deployment of model '" + model + "' has no rollout");
  return Current{*rev, std::move(spec)};
}

Result<RolloutController::Tracked*> RolloutController::track(const std::string& model, const Current& cur,
                                                              int64_t now) {
  const RolloutSpec& r = *cur.spec.rollout;
  if (auto it = tracked_.find(model); it != tracked_.end() && it->second.state.id == r.id) {
    if (leadership_) resync(model, it->second);
    return &it->second;
  }

  Tracked t;
  QUIVER_ASSIGN_OR_RETURN(auto record, registry_.rollout(model));
  if (record) {
    auto state = RolloutState::from_json(json::parse(record->state_json, nullptr, false));
    if (state.is_ok() && state->id == r.id) {
      // Resumed after a restart: the step's timer runs on from where it was.
      t.state = std::move(state).value();
      return &(tracked_[model] = std::move(t));
    }
  }
  // A rollout this server has not seen: it starts at its first step.
  t.state.id = r.id;
  t.state.phase = Phase::kProgressing;
  t.state.started_ms = t.state.step_started_ms = t.state.updated_ms = now;
  t.state.reason = "started";
  registry::RolloutWrite write;
  write.state_json = t.state.to_json().dump();
  const std::string first = registry::serialize_deployment_spec(with_traffic(cur.spec, traffic_at(r, 0)));
  if (first != cur.revision.spec_json) write.spec_json = first;
  write.action = "rollout.started";
  write.detail_json = json{{"id", r.id}, {"baseline", r.baseline.version}, {"candidate", r.candidate.version},
                           {"steps", r.steps.size()}}.dump();
  QUIVER_ASSIGN_OR_RETURN(auto rev, registry_.commit_rollout(model, write, controller_, cur.revision.revision));
  if (rev && on_revision_) on_revision_();
  spdlog::info("model '{}': rollout {} started (baseline {}, candidate {})", model, r.id, r.baseline.version,
               r.candidate.version);
  t.just_started = true;
  Tracked& slot = tracked_[model] = std::move(t);
  export_metrics(model, slot);
  return &slot;
}

void RolloutController::resync(const std::string& model, Tracked& t) {
  // Replicas: a verb answered by another replica changed the stored state.
  auto record = registry_.rollout(model);
  if (!record.is_ok() || !*record) return;
  auto state = RolloutState::from_json(json::parse((*record)->state_json, nullptr, false));
  if (state.is_ok() && state->id == t.state.id && state->updated_ms != t.state.updated_ms)
    t.state = std::move(state).value();
}

void RolloutController::step() {
  std::lock_guard lock(mu_);
  const Leadership lead = ask(leadership_);
  if (!lead.leads) {
    // A standby keeps nothing: when it leads, it resumes every rollout from the registry.
    tracked_.clear();
    return;
  }
  controller_.fence = lead.fence;
  auto live = registry_.live_deployments();
  if (!live.is_ok()) {
    spdlog::warn("rollout controller: reading deployments: {}", live.status().to_string());
    return;
  }
  const int64_t now = now_ms();
  std::set<std::string> active;
  for (const auto& rev : *live) {
    auto spec = registry::parse_deployment_spec(rev.spec_json);
    if (!spec.is_ok() || !spec->rollout) continue;
    active.insert(rev.model);
    Current cur{rev, std::move(spec).value()};
    auto t = track(rev.model, cur, now);
    if (!t.is_ok()) {
      spdlog::warn("model '{}': rollout: {}", rev.model, t.status().to_string());
      continue;
    }
    // A revision written when the rollout started is read on the next pass.
    if (std::exchange((*t)->just_started, false)) continue;
    tick(rev.model, cur, **t, now);
  }
  for (auto it = tracked_.begin(); it != tracked_.end();)
    it = active.count(it->first) ? std::next(it) : tracked_.erase(it);
}

WindowEvidence RolloutController::sample(const std::string& model, const RolloutSpec& r, Tracked& t, int64_t now) {
  Sample s;
  s.at_ms = now;
  s.baseline = signals_.read(model, r.baseline.version, 0);
  s.candidate = signals_.read(model, r.candidate.version, r.baseline.version);
  if (t.have_errors_mark && s.candidate.errors > t.last_candidate_errors)
    t.state.candidate_errors += s.candidate.errors - t.last_candidate_errors;
  t.last_candidate_errors = s.candidate.errors;
  t.have_errors_mark = true;
  t.samples.push_back(std::move(s));
  // Keep the newest sample at or before the window's start as the anchor.
  const int64_t start = now - r.analysis.window_ms;
  while (t.samples.size() >= 2 && t.samples[1].at_ms <= start) t.samples.pop_front();
  const Sample& a = t.samples.front();
  const Sample& b = t.samples.back();
  return WindowEvidence{b.baseline.minus(a.baseline), b.candidate.minus(a.candidate)};
}

void RolloutController::tick(const std::string& model, const Current& cur, Tracked& t, int64_t now) {
  const RolloutSpec& r = *cur.spec.rollout;
  if (now < t.next_tick_ms) return;
  t.next_tick_ms = now + r.analysis.tick_ms;
  RolloutState& st = t.state;
  auto act = [&](Phase to, int next_step, const std::string& why, const std::string& action, json evidence) {
    if (Status s = transition(model, cur, t, to, next_step, why, action, std::move(evidence), controller_, now);
        !s.is_ok())
      spdlog::info("model '{}': rollout move to {} deferred: {}", model, phase_name(to), s.message());
  };

  if (st.phase == Phase::kPromoting || st.phase == Phase::kRollingBack) {
    if (signals_.serving_revision(model) >= st.target_revision) {
      const bool promoted = st.phase == Phase::kPromoting;
      act(promoted ? Phase::kPromoted : Phase::kAborted, st.step, st.reason,
          promoted ? "rollout.promoted" : "rollout.aborted", json{{"revision", st.target_revision}});
    }
    return;
  }
  if (is_terminal(st.phase)) return;

  // The deadline bounds how long a rollout may take, paused or not.
  if (r.progress_deadline_ms > 0 && now - st.started_ms > r.progress_deadline_ms) {
    const std::string deadline = registry::format_duration_ms(r.progress_deadline_ms);
    const std::string why = st.no_data ? "no data: the candidate got no traffic to judge before the progress deadline (" +
                                             deadline + ")"
                                       : "progress deadline (" + deadline + ") exceeded at step " +
                                             std::to_string(st.step);
    act(Phase::kRollingBack, st.step, why, "rollout.rolling_back",
        json{{"metric", "progress_deadline"}, {"value", now - st.started_ms}, {"limit", r.progress_deadline_ms},
             {"no_data", st.no_data}});
    return;
  }
  if (st.phase != Phase::kProgressing) return;

  const WindowEvidence evidence = sample(model, r, t, now);
  const StepTraffic traffic = traffic_at(r, st.step);
  const auto verdicts =
      analyze(r.analysis, evidence, signals_.latency_bounds(), StepKind{traffic.shadow > 0, traffic.weight > 0});
  st.last_analysis = json::array();
  for (const auto& v : verdicts) st.last_analysis.push_back(verdict_json(v));

  // The hard budget: no statistics, the candidate has simply failed too often.
  if (r.max_candidate_errors > 0 && st.candidate_errors > r.max_candidate_errors) {
    const std::string why = fmt::format("metric max_candidate_errors failed: the candidate failed {} requests, budget {}",
                                        st.candidate_errors, r.max_candidate_errors);
    act(r.on_failure == RolloutAction::kPause ? Phase::kPaused : Phase::kRollingBack, st.step, why,
        r.on_failure == RolloutAction::kPause ? "rollout.paused" : "rollout.rolling_back",
        json{{"metric", "max_candidate_errors"}, {"value", st.candidate_errors}, {"limit", r.max_candidate_errors}});
    return;
  }

  const MetricVerdict* failed = nullptr;
  bool critical = false;
  for (const auto& v : verdicts)
    if (v.applies && v.verdict == Verdict::kFail && (!failed || (v.critical && !critical))) {
      failed = &v;
      critical = critical || v.critical;
    }
  if (failed) {
    ++st.failing_ticks;
    if (critical || st.failing_ticks > r.analysis.failure_limit) {
      const bool pause = r.on_failure == RolloutAction::kPause;
      act(pause ? Phase::kPaused : Phase::kRollingBack, st.step, describe(*failed),
          pause ? "rollout.paused" : "rollout.rolling_back", evidence_of(*failed));
      return;
    }
  }

  const RolloutStep& step = r.steps[static_cast<size_t>(st.step)];
  if (step.manual || now - st.step_started_ms < step.pause_ms) return;

  // The step's time is up: advance on evidence, or do what the spec says without it.
  auto advance = [&](const std::string& why, json ev) {
    const int next = st.step + 1;
    if (next >= static_cast<int>(r.steps.size()))
      act(Phase::kPromoting, st.step, why, "rollout.promoting", std::move(ev));
    else
      act(Phase::kProgressing, next, why, "rollout.step", std::move(ev));
  };
  auto follow = [&](RolloutAction a, const std::string& why, json ev) {
    if (a == RolloutAction::kContinue) return advance(why + "; continuing", std::move(ev));
    const bool pause = a == RolloutAction::kPause;
    act(pause ? Phase::kPaused : Phase::kRollingBack, st.step, why, pause ? "rollout.paused" : "rollout.rolling_back",
        std::move(ev));
  };

  json all = st.last_analysis;
  if (evidence.candidate.requests == 0 && evidence.candidate.shadow_compared == 0) {
    st.no_data = true;
    return follow(r.analysis.on_no_data, "no data: the candidate received no requests in step " + std::to_string(st.step),
                  json{{"metric", "requests"}, {"value", 0}, {"limit", 1}});
  }
  std::vector<std::string> open;
  for (const auto& v : verdicts)
    if (v.applies && v.verdict != Verdict::kPass) open.push_back(v.name);
  if (open.empty())
    return advance("step " + std::to_string(st.step) + " passed every metric", json{{"metrics", all}});
  std::string names;
  for (const auto& n : open) names += (names.empty() ? "" : ", ") + n;
  follow(r.analysis.on_inconclusive, "inconclusive at the end of step " + std::to_string(st.step) + ": " + names,
         json{{"metric", open.front()}, {"metrics", all}});
}

Status RolloutController::transition(const std::string& model, const Current& cur, Tracked& t, Phase to,
                                     int next_step, const std::string& why, const std::string& action, json evidence,
                                     const registry::Actor& actor, int64_t now) {
  const RolloutState before = t.state;
  const Phase from = t.state.phase;
  QUIVER_RETURN_IF_ERROR(t.state.move(to, why, now));
  RolloutState& st = t.state;
  const RolloutSpec& r = *cur.spec.rollout;

  std::optional<DeploymentSpec> next;
  if (to == Phase::kProgressing) {
    const bool retry = from == Phase::kAborted;
    if (next_step != st.step || retry) {
      st.step = next_step;
      st.step_started_ms = now;
    }
    if (retry) {
      st.started_ms = now;
      st.candidate_errors = 0;
      t.samples.clear();
    }
    if (from == Phase::kPaused) st.step_started_ms = now;  // resume: the step's pause starts over
    st.failing_ticks = 0;
    st.no_data = false;
    next = with_traffic(cur.spec, traffic_at(r, st.step));
  } else if (to == Phase::kPromoting) {
    next = promoted_spec(cur.spec);
  } else if (to == Phase::kRollingBack) {
    next = aborted_spec(cur.spec);
  }

  // Every transition is a revision, even one that keeps the traffic (a pause), so the
  // deployment's history tells the rollout's whole story with its reasons.
  registry::RolloutWrite write;
  write.spec_json = next ? registry::serialize_deployment_spec(*next) : cur.revision.spec_json;
  if (to == Phase::kPromoting || to == Phase::kRollingBack) st.target_revision = cur.revision.revision + 1;
  write.state_json = st.to_json().dump();
  write.action = action;
  evidence["from"] = phase_name(from);
  evidence["to"] = phase_name(to);
  evidence["step"] = st.step;
  evidence["reason"] = why;
  write.detail_json = evidence.dump();
  registry::Actor who = actor;
  if (who.reason.empty()) who.reason = why;
  auto rev = registry_.commit_rollout(model, write, who, cur.revision.revision);
  if (!rev.is_ok()) {
    t.state = before;
    return rev.status();
  }
  spdlog::info("model '{}': rollout {} -> {} (step {}): {}", model, phase_name(from), phase_name(to), st.step, why);
  if (*rev && on_revision_) on_revision_();
  if (metrics_)
    metrics_->counter("quiver_rollout_transitions_total", "Rollout state transitions",
                      {{"model", model}, {"to", std::string(phase_name(to))}}).inc();
  export_metrics(model, t);
  return Status::ok();
}

void RolloutController::export_metrics(const std::string& model, const Tracked& t) {
  if (!metrics_) return;
  for (int p = 0; p <= static_cast<int>(Phase::kAborted); ++p) {
    const auto phase = static_cast<Phase>(p);
    metrics_->gauge("quiver_rollout_state", "1 for the state each model's rollout is in",
                    {{"model", model}, {"state", std::string(phase_name(phase))}})
        .set(t.state.phase == phase ? 1 : 0);
  }
  metrics_->gauge("quiver_rollout_step", "The step each model's rollout is at (0-based)", {{"model", model}})
      .set(t.state.step);
}

json RolloutController::status_json(const std::string& model, const Current& cur, const Tracked& t) const {
  const RolloutSpec& r = *cur.spec.rollout;
  const RolloutState& st = t.state;
  const StepTraffic traffic = traffic_at(r, st.step);
  return {{"model", model},
          {"id", st.id},
          {"state", phase_name(st.phase)},
          {"step", st.step},
          {"steps", r.steps.size()},
          {"baseline", r.baseline.version},
          {"candidate", r.candidate.version},
          {"candidate_share", candidate_share(cur.spec)},
          {"shadow_percent", st.phase == Phase::kProgressing || st.phase == Phase::kPaused ? traffic.shadow : 0},
          {"reason", st.reason},
          {"no_data", st.no_data},
          {"metrics", st.last_analysis},
          {"candidate_errors", st.candidate_errors},
          {"max_candidate_errors", r.max_candidate_errors},
          {"started_at", format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(st.started_ms)))},
          {"step_started_at",
           format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(st.step_started_ms)))},
          {"updated_at", format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(st.updated_ms)))},
          {"revision", cur.revision.revision}};
}

Result<json> RolloutController::status(const std::string& model) {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(Current cur, read_current(model));
  QUIVER_ASSIGN_OR_RETURN(Tracked * t, track(model, cur, now_ms()));
  return status_json(model, cur, *t);
}

Result<json> RolloutController::command(const std::string& model, Verb verb, const registry::Actor& actor) {
  std::lock_guard lock(mu_);
  const int64_t now = now_ms();
  // A person's verb is not the leader's write: it carries no fence, and it works on
  // any replica (the commit names the revision it read, so a race loses cleanly).
  controller_.fence.reset();
  QUIVER_ASSIGN_OR_RETURN(Current cur, read_current(model));
  QUIVER_ASSIGN_OR_RETURN(Tracked * t, track(model, cur, now));
  const RolloutState& st = t->state;
  const RolloutSpec& r = *cur.spec.rollout;
  const std::string by = " by " + actor.client + (actor.reason.empty() ? "" : ": " + actor.reason);
  Status s;
  switch (verb) {
    case Verb::kPromote: {
      if (st.phase != Phase::kProgressing && st.phase != Phase::kPaused)
        return failed_precondition("rollout is " + std::string(phase_name(st.phase)) + "; only a progressing or "
                                   "paused rollout can be promoted");
      const int next = st.step + 1;
      s = next >= static_cast<int>(r.steps.size())
              ? transition(model, cur, *t, Phase::kPromoting, st.step, "promoted" + by, "rollout.promoting",
                           json{{"metric", "manual"}}, actor, now)
              : transition(model, cur, *t, Phase::kProgressing, next, "promoted to step " + std::to_string(next) + by,
                           "rollout.step", json{{"metric", "manual"}}, actor, now);
      break;
    }
    case Verb::kPromoteFull:
      s = transition(model, cur, *t, Phase::kPromoting, st.step, "fully promoted" + by, "rollout.promoting",
                     json{{"metric", "manual"}}, actor, now);
      break;
    case Verb::kAbort:
      s = transition(model, cur, *t, Phase::kRollingBack, st.step, "aborted" + by, "rollout.rolling_back",
                     json{{"metric", "manual"}}, actor, now);
      break;
    case Verb::kPause:
      if (st.phase != Phase::kProgressing)
        return failed_precondition("rollout is " + std::string(phase_name(st.phase)) + "; only a progressing rollout can be paused");
      s = transition(model, cur, *t, Phase::kPaused, st.step, "paused" + by, "rollout.paused",
                     json{{"metric", "manual"}}, actor, now);
      break;
    case Verb::kResume:
      if (st.phase != Phase::kPaused)
        return failed_precondition("rollout is " + std::string(phase_name(st.phase)) + "; only a paused rollout can be resumed");
      s = transition(model, cur, *t, Phase::kProgressing, st.step, "resumed" + by, "rollout.resumed",
                     json{{"metric", "manual"}}, actor, now);
      break;
    case Verb::kRetry:
      if (st.phase != Phase::kAborted)
        return failed_precondition("rollout is " + std::string(phase_name(st.phase)) + "; only an aborted rollout can be retried");
      s = transition(model, cur, *t, Phase::kProgressing, 0, "retried" + by, "rollout.retried",
                     json{{"metric", "manual"}}, actor, now);
      break;
  }
  QUIVER_RETURN_IF_ERROR(s);
  t->next_tick_ms = 0;  // look again at once
  loop_.wake();
  QUIVER_ASSIGN_OR_RETURN(Current after, read_current(model));
  return status_json(model, after, *t);
}

void RolloutController::start() { loop_.start(); }

void RolloutController::stop() { loop_.stop(); }

std::chrono::milliseconds RolloutController::next_wait() {
  std::lock_guard lock(mu_);
  int64_t wait_ms = 1000;
  const int64_t now = now_ms();
  for (const auto& [model, t] : tracked_)
    if (!is_terminal(t.state.phase)) wait_ms = std::min(wait_ms, std::max<int64_t>(t.next_tick_ms - now, 10));
  return std::chrono::milliseconds(wait_ms);
}

}  // namespace quiver::rollout
