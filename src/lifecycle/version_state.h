// The life of one loaded version (a servable), as an explicit state machine:
//
//   loading ──► warming ──► ready ──► draining ──► unloaded
//      │           │          │  ◄──revive──┘
//      └───────────┴──────────┴──► failed ──► unloaded
//
// loading:  backend instances are being created from the verified artifact.
// warming:  loaded; warmup requests run; takes no user traffic.
// ready:    may appear in a route snapshot.
// draining: removed from routing; in-flight requests finish before it unloads.
// A draining version that is wanted again (a quick rollback) is revived to ready:
// its instances are still loaded and warm.
// failed:   could not load or warm up, or was ejected as broken; `reason` says why.
//
// Each transition is a method that refuses (FailedPrecondition) when called from the
// wrong state. Thread-safety: none; the lifecycle manager guards it.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::lifecycle {

enum class VersionState { kLoading, kWarming, kReady, kDraining, kUnloaded, kFailed };

std::string_view version_state_name(VersionState s);

class VersionStateMachine {
 public:
  VersionState state() const { return state_; }
  const std::string& reason() const { return reason_; }

  Status start_warming();          // loading -> warming
  Status become_ready();           // warming -> ready
  Status start_draining();         // ready -> draining
  Status revive();                 // draining -> ready
  Status fail(std::string reason);  // loading | warming | ready -> failed
  Status unload();                 // draining | failed -> unloaded

 private:
  Status move(VersionState from_a, VersionState from_b, VersionState from_c, VersionState to);
  VersionState state_ = VersionState::kLoading;
  std::string reason_;
};

}  // namespace quiver::lifecycle
