#include "rollout/objective_controller.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "registry/deployment_spec_json.h"
#include "rollout/rollout_state.h"
#include "rollout/step_traffic.h"

namespace quiver::rollout {
namespace {

using nlohmann::json;

// The version taking most of the live traffic (the first listed when no weights).
int64_t serving_version(const DeploymentSpec& spec) {
  int64_t best = spec.versions.front().version.version;
  uint32_t weight = 0;
  for (const auto& tw : spec.traffic)
    if (tw.weight > weight) {
      weight = tw.weight;
      best = tw.version.version;
    }
  return best;
}

// What an objective's rollout checks by default: no more errors, no slower tail.
RolloutSpec default_rollout(const DeploymentSpec& spec, int64_t baseline, int64_t candidate, const std::string& id) {
  auto ref_of = [&](int64_t v) {
    for (const auto& dv : spec.versions)
      if (dv.version.version == v) return dv.version;
    return VersionRef{std::to_string(v), v};
  };
  RolloutSpec r;
  r.id = id;
  r.baseline = ref_of(baseline);
  r.candidate = ref_of(candidate);
  RolloutStep a, b;
  a.weight = 10;
  a.pause_ms = 30'000;
  b.weight = 50;
  b.pause_ms = 30'000;
  r.steps = {a, b};
  AnalysisMetric errors, latency;
  errors.name = "error_rate";
  errors.max_increase = 0.01;
  latency.name = "latency_p99";
  latency.max_ratio = 1.5;
  r.analysis.metrics = {errors, latency};
  r.analysis.on_no_data = RolloutAction::kPause;
  r.progress_deadline_ms = 30 * 60'000;
  return r;
}

}  // namespace

ObjectiveController::ObjectiveController(registry::Registry& registry, FactsProvider facts, const Clock& clock,
                                         std::function<void()> on_revision, std::chrono::milliseconds interval)
    : registry_(registry), facts_(std::move(facts)), clock_(clock), on_revision_(std::move(on_revision)),
      interval_(interval) {}

ObjectiveController::~ObjectiveController() { stop(); }

void ObjectiveController::step() {
  std::lock_guard lock(mu_);
  const Leadership lead = ask(leadership_);
  if (!lead.leads) return;
  fence_ = lead.fence;
  auto live = registry_.live_deployments();
  if (!live.is_ok()) return;
  const auto now = clock_.now();
  for (const auto& rev : *live) {
    auto& next = next_look_[rev.model];
    if (now < next) continue;
    next = now + interval_;
    consider(rev);
  }
}

void ObjectiveController::consider(const registry::Revision& rev) {
  auto spec = registry::parse_deployment_spec(rev.spec_json);
  if (!spec.is_ok() || spec->objective_json.empty()) return;
  auto config = objective_from_json(json::parse(spec->objective_json, nullptr, false));
  if (!config.is_ok() || config->auto_action != ObjectiveConfig::Auto::kPromoteBest) return;

  // A running rollout decides first; an aborted one is not proposed again.
  std::optional<RolloutState> last;
  if (auto record = registry_.rollout(rev.model); record.is_ok() && *record) {
    auto state = RolloutState::from_json(json::parse((*record)->state_json, nullptr, false));
    if (state.is_ok()) last = *state;
  }
  if (spec->rollout && (!last || last->id != spec->rollout->id || !is_terminal(last->phase))) return;

  std::vector<int64_t> versions;
  for (const auto& dv : spec->versions) versions.push_back(dv.version.version);
  auto rows = score(facts_(rev.model, versions), *config);
  if (!rows.is_ok()) return;
  const auto best = best_within_budget(*rows);
  const int64_t serving = serving_version(*spec);
  if (!best || *best == serving) return;
  if (spec->rollout && last && last->phase == Phase::kAborted && spec->rollout->candidate.version == *best) return;
  double best_score = 0, serving_score = 0;
  for (const auto& r : *rows) {
    if (r.version == *best) best_score = r.score;
    if (r.version == serving) serving_score = r.score;
  }
  if (best_score < serving_score + kMargin) return;

  const std::string id = fmt::format("objective-{}-{}", rev.revision, *best);
  DeploymentSpec next = *spec;
  next.rollout = default_rollout(*spec, serving, *best, id);
  next = with_traffic(std::move(next), traffic_at(*next.rollout, 0));
  json table = json::array();
  for (const auto& r : *rows) table.push_back(score_row_to_json(r));
  const std::string why = fmt::format("objective: version {} scores {:.3f}, the serving version {} scores {:.3f}",
                                      *best, best_score, serving, serving_score);
  registry::Actor actor{"objective", why, fence_};
  auto written = registry_.put_deployment(rev.model, registry::serialize_deployment_spec(next), actor);
  if (!written.is_ok()) {
    spdlog::warn("model '{}': objective rollout not started: {}", rev.model, written.status().message());
    return;
  }
  (void)registry_.record_event(rev.model, "objective.promote_best",
                               json{{"best", *best}, {"serving", serving}, {"rollout", id}, {"scores", table}}.dump(),
                               actor);
  spdlog::info("model '{}': {}; rollout {} started", rev.model, why, id);
  if (on_revision_) on_revision_();
}

void ObjectiveController::start() { loop_.start(); }

void ObjectiveController::stop() { loop_.stop(); }

}  // namespace quiver::rollout
