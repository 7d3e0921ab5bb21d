// The state of one progressive rollout and the table of moves between states.
//
//                 pause / inconclusive / no data           resume
//   Progressing(step) ───────────────────────────► Paused ───────► Progressing
//     │  │  └─ last step passed, promote --full ─► Promoting ─► Promoted   (traffic 100 % candidate)
//     │  └──── metric failed, abort, deadline ───► RollingBack ─► Aborted  (traffic 100 % baseline)
//     └─ step passed: Progressing(step + 1)        Paused also ─► Promoting / RollingBack
//   Aborted ─ retry ─► Progressing(0)
//
// Promoting and RollingBack last until the route that carries their traffic serves.
// A move that the table does not allow is refused with FailedPrecondition, so a verb
// sent in the wrong state (promote an aborted rollout) says why instead of acting.
//
// RolloutState is what the registry persists (as JSON), so a restarted server resumes
// a rollout at its step, with its timers.
//
// Thread-safety: plain values; the controller serialises access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace quiver::rollout {

enum class Phase { kProgressing, kPaused, kPromoting, kPromoted, kRollingBack, kAborted };

std::string_view phase_name(Phase p);  // "progressing", "paused", "promoting", ...
std::optional<Phase> phase_from_name(std::string_view name);
bool is_terminal(Phase p);  // promoted, aborted
// The transition table above.
bool transition_allowed(Phase from, Phase to);

struct RolloutState {
  std::string id;                 // the rollout section's id
  Phase phase = Phase::kProgressing;
  int step = 0;                   // index into the spec's steps
  int64_t started_ms = 0;         // wall clock, ms since the epoch
  int64_t step_started_ms = 0;
  int64_t updated_ms = 0;
  int failing_ticks = 0;          // failing looks counted against failure_limit
  uint64_t candidate_errors = 0;  // spent from max_candidate_errors
  int64_t target_revision = 0;    // Promoting / RollingBack: the revision that must serve
  std::string reason;             // why the last transition happened
  bool no_data = false;           // paused or aborted for lack of candidate traffic
  nlohmann::json last_analysis = nlohmann::json::array();  // verdicts of the latest look

  // Moves to `to`, refusing a move the table forbids.
  Status move(Phase to, std::string why, int64_t now_ms);

  nlohmann::json to_json() const;
  static Result<RolloutState> from_json(const nlohmann::json& j);
};

}  // namespace quiver::rollout
