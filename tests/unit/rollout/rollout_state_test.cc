// The rollout state machine's transition table, exhaustively, and its JSON round trip.
#include "rollout/rollout_state.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace quiver::rollout {
namespace {

constexpr Phase kAll[] = {Phase::kProgressing, Phase::kPaused,      Phase::kPromoting,
                          Phase::kPromoted,    Phase::kRollingBack, Phase::kAborted};

TEST(RolloutStateTest, TransitionTableIsExactlyTheDocumentedOne) {
  const std::set<std::pair<Phase, Phase>> allowed = {
      {Phase::kProgressing, Phase::kProgressing}, {Phase::kProgressing, Phase::kPaused},
      {Phase::kProgressing, Phase::kPromoting},   {Phase::kProgressing, Phase::kRollingBack},
      {Phase::kPaused, Phase::kProgressing},      {Phase::kPaused, Phase::kPromoting},
      {Phase::kPaused, Phase::kRollingBack},      {Phase::kPromoting, Phase::kPromoted},
      {Phase::kPromoting, Phase::kRollingBack},   {Phase::kRollingBack, Phase::kAborted},
      {Phase::kAborted, Phase::kProgressing}};
  for (Phase from : kAll)
    for (Phase to : kAll)
      EXPECT_EQ(transition_allowed(from, to), allowed.count({from, to}) == 1)
          << phase_name(from) << " -> " << phase_name(to);
}

TEST(RolloutStateTest, RefusedMoveSaysWhyAndChangesNothing) {
  RolloutState s;
  s.phase = Phase::kPromoted;
  s.reason = "done";
  Status st = s.move(Phase::kRollingBack, "too late", 5);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("promoted"), std::string::npos);
  EXPECT_EQ(s.phase, Phase::kPromoted);
  EXPECT_EQ(s.reason, "done");
}

TEST(RolloutStateTest, JsonRoundTrip) {
  RolloutState s;
  s.id = "r1";
  s.phase = Phase::kPaused;
  s.step = 2;
  s.started_ms = 100;
  s.step_started_ms = 200;
  s.failing_ticks = 1;
  s.candidate_errors = 7;
  s.reason = "no data";
  s.no_data = true;
  auto back = RolloutState::from_json(s.to_json());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->to_json(), s.to_json());
  for (Phase p : kAll) EXPECT_EQ(phase_from_name(phase_name(p)), p);
  EXPECT_FALSE(RolloutState::from_json(nlohmann::json{{"state", "exploded"}}).is_ok());
}

}  // namespace
}  // namespace quiver::rollout
