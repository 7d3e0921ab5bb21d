#include "lifecycle/version_state.h"

namespace quiver::lifecycle {

std::string_view version_state_name(VersionState s) {
  switch (s) {
    case VersionState::kLoading: return "loading";
    case VersionState::kWarming: return "warming";
    case VersionState::kReady: return "ready";
    case VersionState::kDraining: return "draining";
    case VersionState::kUnloaded: return "unloaded";
    case VersionState::kFailed: return "failed";
  }
  return "unknown";
}

Status VersionStateMachine::move(VersionState from_a, VersionState from_b, VersionState from_c, VersionState to) {
  if (state_ != from_a && state_ != from_b && state_ != from_c)
    return failed_precondition("cannot move a version from " + std::string(version_state_name(state_)) + " to " +
                               std::string(version_state_name(to)));
  state_ = to;
  return Status::ok();
}

Status VersionStateMachine::start_warming() {
  return move(VersionState::kLoading, VersionState::kLoading, VersionState::kLoading, VersionState::kWarming);
}
Status VersionStateMachine::become_ready() {
  return move(VersionState::kWarming, VersionState::kWarming, VersionState::kWarming, VersionState::kReady);
}
Status VersionStateMachine::start_draining() {
  return move(VersionState::kReady, VersionState::kReady, VersionState::kReady, VersionState::kDraining);
}
Status VersionStateMachine::revive() {
  return move(VersionState::kDraining, VersionState::kDraining, VersionState::kDraining, VersionState::kReady);
}
Status VersionStateMachine::fail(std::string reason) {
  QUIVER_RETURN_IF_ERROR(
      move(VersionState::kLoading, VersionState::kWarming, VersionState::kReady, VersionState::kFailed));
  reason_ = std::move(reason);
  return Status::ok();
}
Status VersionStateMachine::unload() {
  return move(VersionState::kDraining, VersionState::kFailed, VersionState::kFailed, VersionState::kUnloaded);
}

}  // namespace quiver::lifecycle
