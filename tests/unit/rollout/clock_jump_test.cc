// A wall-clock jump (an NTP step, `date -s`, a resumed VM) must not move anything
// that measures time: a step's pause, the progress deadline, the analysis ticks, the
// prediction log's max age. Only expiry and the timestamps
// shown to people follow the wall clock. FakeClock::jump_wall() moves the wall clock
// alone, as a real jump does.
#include <gtest/gtest.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "quality/prediction_log.h"
#include "rollout/rollout_controller.h"
#include "unit/registry/registry_test_util.h"
#include "unit/rollout/rollout_sim.h"

namespace quiver::rollout {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Request deadlines are steady by type: see tests/unit/serving/servable_faults_test.cc.

TEST(FakeClockTest, AWallJumpMovesOnlyTheWallClock) {
  FakeClock clock;
  const auto steady = clock.now();
  const auto wall = clock.wall_now();
  clock.jump_wall(2h);
  EXPECT_EQ(clock.now(), steady);
  EXPECT_EQ(clock.wall_now() - wall, 2h);
  clock.advance(1s);
  EXPECT_EQ(clock.now() - steady, 1s);
  EXPECT_EQ(clock.wall_now() - wall, 2h + 1s);
}

class RolloutClockJumpTest : public registry::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    add_versions("m", 2);
    // One step of 5% for 60 s, then 50% for 60 s; at most 10 minutes in all.
    json r = {{"id", "jump"},
              {"baseline", 1},
              {"candidate", 2},
              {"steps", json::array({{{"weight", 5}, {"pause", "60s"}}, {{"weight", 50}, {"pause", "60s"}}})},
              {"progress_deadline", "10m"},
              {"analysis",
               {{"tick", "1s"},
                {"window", "60s"},
                {"min_samples", 100},
                {"alpha", 0.01},
                {"on_inconclusive", "continue"},
                {"metrics", json::array({{{"name", "error_rate"}, {"max_increase", 0.05}}})}}}};
    json spec = {{"versions", {{{"version", 1}}, {{"version", 2}}}},
                 {"traffic", {{{"version", 1}, {"weight", 100}}}},
                 {"rollout", r}};
    auto rev = registry_->put_deployment("m", spec.dump(), actor_);
    ASSERT_TRUE(rev.is_ok()) << rev.status().to_string();
    sim_ = std::make_unique<testing::SimSignals>(*registry_, 11);
    controller_ = std::make_unique<RolloutController>(*registry_, *sim_, *clock_, nullptr, nullptr);
  }
  void run(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      controller_->step();
      sim_->traffic("m", 200);
      clock_->advance(1s);
    }
    controller_->step();
  }
  json status() {
    auto s = controller_->status("m");
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? *s : json::object();
  }

  std::unique_ptr<testing::SimSignals> sim_;
  std::unique_ptr<RolloutController> controller_;
};

TEST_F(RolloutClockJumpTest, AForwardJumpNeitherEndsTheStepEarlyNorTripsTheProgressDeadline) {
  run(10);
  ASSERT_EQ(status()["state"], "progressing");
  ASSERT_EQ(status()["step"], 0);
  clock_->jump_wall(2h);  // past the step's 60 s and the 10 minute deadline, by the wall clock
  run(5);
  EXPECT_EQ(status()["state"], "progressing") << status().dump();
  EXPECT_EQ(status()["step"], 0) << "the step ended after 15 s of its 60 s pause";
  // The step still ends when its 60 s have really passed.
  run(60);
  EXPECT_EQ(status()["step"], 1) << status().dump();
}

TEST_F(RolloutClockJumpTest, ABackwardJumpDoesNotStallTheRollout) {
  run(10);
  ASSERT_EQ(status()["step"], 0);
  clock_->jump_wall(-2h);
  run(60);
  EXPECT_EQ(status()["state"], "progressing") << status().dump();
  EXPECT_EQ(status()["step"], 1) << "the step did not end 70 s after it began: " << status().dump();
}

TEST(PredictionLogClockJumpTest, AForwardJumpDoesNotExpirePredictionsEarly) {
  FakeClock clock;
  quality::PredictionLogOptions o;
  o.max_age = 60s;
  quality::PredictionLog log(clock, o, nullptr);
  quality::Prediction p;
  p.kind = TaskKind::kClassification;
  p.num_classes = 3;
  p.classes = {1};
  log.record("m", "a", 1, p);
  clock.jump_wall(24h);
  EXPECT_EQ(log.lookup("m", "a", nullptr), quality::LookupResult::kFound);
  clock.advance(61s);
  EXPECT_NE(log.lookup("m", "a", nullptr), quality::LookupResult::kFound);
}

}  // namespace
}  // namespace quiver::rollout
