#include "lifecycle/version_state.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quiver::lifecycle {
namespace {

enum class Transition { kStartWarming, kBecomeReady, kStartDraining, kFail, kUnload };

const char* transition_name(Transition t) {
  switch (t) {
    case Transition::kStartWarming: return "start_warming";
    case Transition::kBecomeReady: return "become_ready";
    case Transition::kStartDraining: return "start_draining";
    case Transition::kFail: return "fail";
    case Transition::kUnload: return "unload";
  }
  return "?";
}

Status apply(VersionStateMachine& m, Transition t) {
  switch (t) {
    case Transition::kStartWarming: return m.start_warming();
    case Transition::kBecomeReady: return m.become_ready();
    case Transition::kStartDraining: return m.start_draining();
    case Transition::kFail: return m.fail("boom");
    case Transition::kUnload: return m.unload();
  }
  return internal_error("unreachable");
}

// A machine brought to `target` through allowed transitions only.
VersionStateMachine machine_in(VersionState target) {
  VersionStateMachine m;
  auto step = [&m](Status st) { EXPECT_TRUE(st.is_ok()) << st.to_string(); };
  switch (target) {
    case VersionState::kLoading: break;
    case VersionState::kWarming: step(m.start_warming()); break;
    case VersionState::kReady:
      step(m.start_warming());
      step(m.become_ready());
      break;
    case VersionState::kDraining:
      step(m.start_warming());
      step(m.become_ready());
      step(m.start_draining());
      break;
    case VersionState::kFailed: step(m.fail("earlier failure")); break;
    case VersionState::kUnloaded:
      step(m.fail("earlier failure"));
      step(m.unload());
      break;
  }
  EXPECT_EQ(m.state(), target);
  return m;
}

TEST(VersionStateMachine, StartsLoading) {
  VersionStateMachine m;
  EXPECT_EQ(m.state(), VersionState::kLoading);
  EXPECT_EQ(m.reason(), "");
}

TEST(VersionStateMachine, EveryStateTransitionPairFollowsTheTable) {
  const std::vector<VersionState> states = {VersionState::kLoading,  VersionState::kWarming,
                                            VersionState::kReady,    VersionState::kDraining,
                                            VersionState::kUnloaded, VersionState::kFailed};
  const std::vector<Transition> transitions = {Transition::kStartWarming, Transition::kBecomeReady,
                                               Transition::kStartDraining, Transition::kFail, Transition::kUnload};
  // The allowed moves, from the diagram in version_state.h; everything else refuses.
  const std::map<std::pair<VersionState, Transition>, VersionState> allowed = {
      {{VersionState::kLoading, Transition::kStartWarming}, VersionState::kWarming},
      {{VersionState::kLoading, Transition::kFail}, VersionState::kFailed},
      {{VersionState::kWarming, Transition::kBecomeReady}, VersionState::kReady},
      {{VersionState::kWarming, Transition::kFail}, VersionState::kFailed},
      {{VersionState::kReady, Transition::kStartDraining}, VersionState::kDraining},
      {{VersionState::kReady, Transition::kFail}, VersionState::kFailed},
      {{VersionState::kDraining, Transition::kUnload}, VersionState::kUnloaded},
      {{VersionState::kFailed, Transition::kUnload}, VersionState::kUnloaded},
  };
  int checked = 0;
  for (VersionState from : states) {
    for (Transition t : transitions) {
      VersionStateMachine m = machine_in(from);
      const std::string before_reason = m.reason();
      Status st = apply(m, t);
      const std::string what = std::string(version_state_name(from)) + " + " + transition_name(t);
      auto it = allowed.find({from, t});
      if (it != allowed.end()) {
        EXPECT_TRUE(st.is_ok()) << what << ": " << st.to_string();
        EXPECT_EQ(m.state(), it->second) << what;
      } else {
        EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << what << ": " << st.to_string();
        EXPECT_EQ(m.state(), from) << what << " must leave the state unchanged";
        EXPECT_EQ(m.reason(), before_reason) << what << " must leave the reason unchanged";
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 30);
}

TEST(VersionStateMachine, RefusalNamesBothStates) {
  VersionStateMachine m = machine_in(VersionState::kDraining);
  Status st = m.become_ready();
  EXPECT_EQ(st.message(), "cannot move a version from draining to ready");
}

TEST(VersionStateMachine, FailRecordsTheReason) {
  VersionStateMachine m = machine_in(VersionState::kWarming);
  ASSERT_TRUE(m.fail("warmup failed: bad output").is_ok());
  EXPECT_EQ(m.state(), VersionState::kFailed);
  EXPECT_EQ(m.reason(), "warmup failed: bad output");
  ASSERT_TRUE(m.unload().is_ok());
  EXPECT_EQ(m.reason(), "warmup failed: bad output") << "the reason outlives the unload";
}

TEST(VersionStateMachine, StateNames) {
  EXPECT_EQ(version_state_name(VersionState::kLoading), "loading");
  EXPECT_EQ(version_state_name(VersionState::kWarming), "warming");
  EXPECT_EQ(version_state_name(VersionState::kReady), "ready");
  EXPECT_EQ(version_state_name(VersionState::kDraining), "draining");
  EXPECT_EQ(version_state_name(VersionState::kUnloaded), "unloaded");
  EXPECT_EQ(version_state_name(VersionState::kFailed), "failed");
}

}  // namespace
}  // namespace quiver::lifecycle
