#include "rollout/rollout_state.h"

#include <array>

namespace quiver::rollout {
namespace {

constexpr std::array<std::string_view, 6> kNames = {"progressing", "paused", "promoting",
                                                    "promoted", "rolling_back", "aborted"};

}  // namespace

std::string_view phase_name(Phase p) { return kNames[static_cast<size_t>(p)]; }

std::optional<Phase> phase_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<Phase>(i);
  return std::nullopt;
}

bool is_terminal(Phase p) { return p == Phase::kPromoted || p == Phase::kAborted; }

bool transition_allowed(Phase from, Phase to) {
  switch (from) {
    case Phase::kProgressing:
      // Progressing -> Progressing is the move to the next step.
      return to == Phase::kProgressing || to == Phase::kPaused || to == Phase::kPromoting ||
             to == Phase::kRollingBack;
    case Phase::kPaused:
      return to == Phase::kProgressing || to == Phase::kPromoting || to == Phase::kRollingBack;
    case Phase::kPromoting:
      return to == Phase::kPromoted || to == Phase::kRollingBack;
    case Phase::kRollingBack:
      return to == Phase::kAborted;
    case Phase::kAborted:
      return to == Phase::kProgressing;  // retry
    case Phase::kPromoted:
      return false;
  }
  return false;
}

Status RolloutState::move(Phase to, std::string why, int64_t now_ms) {
  if (!transition_allowed(phase, to))
    return failed_precondition("rollout is " + std::string(phase_name(phase)) + "; it cannot become " +
                               std::string(phase_name(to)));
  phase = to;
  reason = std::move(why);
  updated_ms = now_ms;
  return Status::ok();
}

nlohmann::json RolloutState::to_json() const {
  return {{"id", id},
          {"state", phase_name(phase)},
          {"step", step},
          {"started_ms", started_ms},
          {"step_started_ms", step_started_ms},
          {"updated_ms", updated_ms},
          {"failing_ticks", failing_ticks},
          {"candidate_errors", candidate_errors},
          {"target_revision", target_revision},
          {"reason", reason},
          {"no_data", no_data},
          {"last_analysis", last_analysis}};
}

Result<RolloutState> RolloutState::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_argument("rollout state must be an object");
  RolloutState s;
  try {
    s.id = j.value("id", "");
    auto phase = phase_from_name(j.value("state", ""));
    if (!phase) return invalid_argument("rollout state: unknown state " + j.value("state", std::string()));
    s.phase = *phase;
    s.step = j.value("step", 0);
    s.started_ms = j.value("started_ms", int64_t{0});
    s.step_started_ms = j.value("step_started_ms", int64_t{0});
    s.updated_ms = j.value("updated_ms", int64_t{0});
    s.failing_ticks = j.value("failing_ticks", 0);
    s.candidate_errors = j.value("candidate_errors", uint64_t{0});
    s.target_revision = j.value("target_revision", int64_t{0});
    s.reason = j.value("reason", "");
    s.no_data = j.value("no_data", false);
    if (j.contains("last_analysis")) s.last_analysis = j["last_analysis"];
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("rollout state: ") + e.what());
  }
  return s;
}

}  // namespace quiver::rollout
