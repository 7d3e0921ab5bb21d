// The rollout controller against a real registry and simulated traffic, stepped with
// a FakeClock: promotion of an identical candidate, rollback of a bad or slow one, no
// data, the shadow gate, manual gates, verbs and resuming after a restart.
#include "rollout/rollout_controller.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "registry/deployment_spec_json.h"
#include "unit/registry/registry_test_util.h"
#include "unit/rollout/rollout_sim.h"

namespace quiver::rollout {
namespace {

using nlohmann::json;
using registry::RegistryTest;

json rollout_spec(json steps, json metrics, json extra = json::object(), std::string window = "30s") {
  json r = {{"id", "test-rollout"},
            {"baseline", 1},
            {"candidate", 2},
            {"steps", steps},
            {"analysis", {{"tick", "1s"}, {"window", window}, {"min_samples", 100}, {"alpha", 0.01}, {"metrics", metrics}}}};
  for (auto& [k, v] : extra.items()) r[k] = v;
  return {{"versions", {{{"version", 1}}, {{"version", 2}}}}, {"traffic", {{{"version", 1}, {"weight", 100}}}},
          {"rollout", r}};
}

class RolloutControllerTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    add_versions("m", 2);
  }
  void apply(const json& spec) {
    auto rev = registry_->put_deployment("m", spec.dump(), actor_);
    ASSERT_TRUE(rev.is_ok()) << rev.status().to_string();
  }
  void start(uint64_t seed) {
    sim_ = std::make_unique<testing::SimSignals>(*registry_, seed);
    controller_ = std::make_unique<RolloutController>(*registry_, *sim_, *clock_, nullptr, nullptr);
  }
  // `seconds` ticks of `rps` requests each; stops early once the rollout is terminal.
  void run(int seconds, int rps) {
    for (int i = 0; i < seconds; ++i) {
      controller_->step();
      if (terminal()) return;
      sim_->traffic("m", rps);
      clock_->advance(std::chrono::seconds(1));
    }
    controller_->step();
  }
  json status() {
    auto s = controller_->status("m");
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? *s : json::object();
  }
  std::string state() { return status().value("state", ""); }
  bool terminal() {
    const auto s = state();
    return s == "promoted" || s == "aborted";
  }
  double candidate_weight_share() {
    auto cur = registry_->current_deployment("m");
    auto spec = registry::parse_deployment_spec((*cur)->spec_json);
    uint64_t total = 0, cand = 0;
    for (const auto& tw : spec->traffic) {
      total += tw.weight;
      if (tw.version.version == 2) cand += tw.weight;
    }
    return static_cast<double>(cand) / static_cast<double>(total);
  }
  std::vector<registry::AuditEntry> audit_of(const std::string& action) {
    std::vector<registry::AuditEntry> out;
    auto entries = registry_->audit("m");
    EXPECT_TRUE(entries.is_ok()) << entries.status().to_string();
    if (!entries.is_ok()) return out;
    for (auto& e : *entries)
      if (e.action == action) out.push_back(e);
    return out;
  }

  std::unique_ptr<testing::SimSignals> sim_;
  std::unique_ptr<RolloutController> controller_;
};

const json kSteps = json::array({{{"shadow", 100}, {"pause", "30s"}},
                                 {{"weight", 5}, {"pause", "60s"}},
                                 {{"weight", 50}, {"pause", "60s"}}});
const json kErrorAndLatency = json::array({{{"name", "error_rate"}, {"max_increase", 0.01}},
                                           {{"name", "latency_p50"}, {"max_ratio", 1.2}}});

TEST_F(RolloutControllerTest, IdenticalCandidatePromotesInAtLeast99Of100SeededRuns) {
  int promoted = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    reopen();
    // Each run is a fresh rollout of the same spec; the window spans a whole step.
    json spec = rollout_spec(kSteps, kErrorAndLatency, json::object(), "60s");
    spec["rollout"]["id"] = "run-" + std::to_string(seed);
    apply(spec);
    start(seed);
    run(400, 1000);
    promoted += state() == "promoted" ? 1 : 0;
    if (state() != "promoted") ADD_FAILURE() << "seed " << seed << ": " << status()["reason"];
  }
  EXPECT_GE(promoted, 99);
}

TEST_F(RolloutControllerTest, PromotionWalksEveryStepAndEndsWithAllTrafficOnTheCandidate) {
  apply(rollout_spec(kSteps, kErrorAndLatency));
  start(7);
  std::set<int> steps_seen;
  for (int i = 0; i < 400 && !terminal(); ++i) {
    steps_seen.insert(status()["step"].get<int>());
    run(1, 1000);
  }
  EXPECT_EQ(state(), "promoted");
  EXPECT_EQ(steps_seen, (std::set<int>{0, 1, 2}));
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 1.0);
  EXPECT_EQ(audit_of("rollout.step").size(), 2u);
  EXPECT_EQ(audit_of("rollout.promoted").size(), 1u);
}

TEST_F(RolloutControllerTest, CandidateFiftyMillisecondsSlowerIsRolledBackWithinOneWindow) {
  apply(rollout_spec(json::array({{{"weight", 5}, {"pause", "60s"}}, {{"weight", 50}, {"pause", "60s"}}}),
                     json::array({{{"name", "latency_p99"}, {"max_ratio", 1.2}}}), {{"analysis",
                     {{"tick", "1s"}, {"window", "30s"}, {"min_samples", 50}, {"alpha", 0.01},
                      {"metrics", json::array({{{"name", "latency_p99"}, {"max_ratio", 1.2}}})}}}}));
  start(3);
  sim_->behaviour[2].latency_ms = 60;  // baseline 10 ms
  run(30, 1000);
  EXPECT_EQ(state(), "aborted") << status().dump(1);
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.0);
  auto entries = audit_of("rollout.rolling_back");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(json::parse(entries[0].detail_json)["metric"], "latency_p99");
}

TEST_F(RolloutControllerTest, CandidateFailingTwentyPercentIsRolledBackWithinTenSeconds) {
  apply(rollout_spec(json::array({{{"weight", 5}, {"pause", "60s"}}}),
                     json::array({{{"name", "error_rate"}, {"max_increase", 0.01}}})));
  start(5);
  sim_->behaviour[1].error_rate = 0;
  sim_->behaviour[2].error_rate = 0.2;
  run(10, 400);  // 5 % of 400/s: 20 candidate requests a second
  EXPECT_EQ(state(), "aborted") << status().dump();
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.0);
  auto entries = audit_of("rollout.rolling_back");
  ASSERT_EQ(entries.size(), 1u);
  auto detail = json::parse(entries[0].detail_json);
  EXPECT_EQ(detail["metric"], "error_rate");
  EXPECT_EQ(detail["limit"], 0.01);
  EXPECT_GT(detail["value"].get<double>(), 0.1);
}

TEST_F(RolloutControllerTest, NoTrafficPausesThenAbortsAtTheDeadlineWithNoData) {
  apply(rollout_spec(json::array({{{"weight", 5}, {"pause", "30s"}}}), kErrorAndLatency,
                     {{"progress_deadline", "5m"}}));
  start(9);
  bool paused_seen = false;
  for (int i = 0; i < 400 && !terminal(); ++i) {
    run(1, 0);
    paused_seen = paused_seen || state() == "paused";
    ASSERT_NE(state(), "promoted");
  }
  EXPECT_TRUE(paused_seen);
  EXPECT_EQ(state(), "aborted");
  EXPECT_NE(status()["reason"].get<std::string>().find("no data"), std::string::npos) << status().dump();
  EXPECT_EQ(audit_of("rollout.rolling_back").size(), 1u);
}

TEST_F(RolloutControllerTest, ShadowGateAbortsBeforeTheCandidateGetsLiveTraffic) {
  apply(rollout_spec(kSteps, json::array({{{"name", "shadow_top1_agreement"}, {"min", 0.98}}})));
  start(11);
  sim_->behaviour[2].agreement = 0.8;
  run(60, 200);
  EXPECT_EQ(state(), "aborted");
  EXPECT_EQ(sim_->served[2], 0u);  // not one live request reached the candidate
  auto history = registry_->history("m");
  ASSERT_TRUE(history.is_ok()) << history.status().to_string();
  for (const auto& rev : *history) {
    auto spec = registry::parse_deployment_spec(rev.spec_json);
    ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
    for (const auto& tw : spec->traffic) EXPECT_FALSE(tw.version.version == 2 && tw.weight > 0) << rev.spec_json;
  }
}

TEST_F(RolloutControllerTest, LessAccurateCandidateIsRolledBackOnFeedbackOnceItAnswersUsers) {
  apply(rollout_spec(json::array({{{"shadow", 100}, {"pause", "10s"}}, {{"weight", 20}, {"pause", "5m"}}}),
                     json::array({{{"name", "accuracy"}, {"max_decrease", 0.05}}})));
  start(41);
  sim_->behaviour[1].accuracy = 0.97;
  sim_->behaviour[2].accuracy = 0.75;
  run(12, 200);
  // The mirror step cannot measure accuracy (no user saw the candidate): it is not held up.
  EXPECT_EQ(status()["step"], 1) << status().dump(1);
  EXPECT_FALSE(status()["metrics"][0]["applies"].get<bool>() && status()["step"] == 0);
  run(60, 200);
  EXPECT_EQ(state(), "aborted");
  auto entries = audit_of("rollout.rolling_back");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(json::parse(entries[0].detail_json)["metric"], "accuracy");
}

TEST_F(RolloutControllerTest, ManualGateWaitsForPromote) {
  apply(rollout_spec(json::array({{{"weight", 20}, {"pause", "manual"}}, {{"weight", 100}, {"pause", "1s"}}}),
                     json::array()));
  start(13);
  run(120, 100);
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(status()["step"], 0);
  auto out = controller_->command("m", Verb::kPromote, {"test", "looks good"});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)["step"], 1);
  run(10, 100);
  EXPECT_EQ(state(), "promoted");
}

TEST_F(RolloutControllerTest, AbortPutsAllTrafficOnTheBaselineAtOnce) {
  apply(rollout_spec(json::array({{{"weight", 50}, {"pause", "manual"}}}), json::array()));
  start(17);
  run(3, 100);
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.5);
  auto out = controller_->command("m", Verb::kAbort, {"test", "bad idea"});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.0);  // the revision is written by the command itself
  controller_->step();
  EXPECT_EQ(state(), "aborted");
  // A second abort is refused with the reason.
  auto again = controller_->command("m", Verb::kAbort, {"test", ""});
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  // retry starts over from the first step.
  auto retry = controller_->command("m", Verb::kRetry, {"test", ""});
  ASSERT_TRUE(retry.is_ok()) << retry.status().to_string();
  EXPECT_EQ((*retry)["state"], "progressing");
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.5);
}

TEST_F(RolloutControllerTest, RollingBackWaitsUntilTheBaselineRouteServes) {
  apply(rollout_spec(json::array({{{"weight", 50}, {"pause", "manual"}}}), json::array()));
  start(19);
  run(2, 10);
  sim_->frozen_revision_ = (*registry_->current_deployment("m"))->revision;
  ASSERT_TRUE(controller_->command("m", Verb::kAbort, {"test", ""}).is_ok());
  run(3, 10);
  EXPECT_EQ(state(), "rolling_back");
  sim_->frozen_revision_ = -1;
  run(2, 10);
  EXPECT_EQ(state(), "aborted");
}

TEST_F(RolloutControllerTest, PauseResumeAndRestartResumeAtTheSameStep) {
  apply(rollout_spec(json::array({{{"weight", 10}, {"pause", "10s"}}, {{"weight", 30}, {"pause", "1h"}},
                                  {{"weight", 60}, {"pause", "10s"}}}),
                     json::array()));
  start(23);
  run(15, 100);
  ASSERT_EQ(status()["step"], 1);
  ASSERT_TRUE(controller_->command("m", Verb::kPause, {"test", ""}).is_ok());
  run(5, 100);
  EXPECT_EQ(state(), "paused");
  // A new controller (a restarted server) reads the state back.
  controller_.reset();
  reopen();
  start(29);
  EXPECT_EQ(state(), "paused");
  EXPECT_EQ(status()["step"], 1);
  ASSERT_TRUE(controller_->command("m", Verb::kResume, {"test", ""}).is_ok());
  run(5, 100);
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(status()["step"], 1);
  EXPECT_DOUBLE_EQ(candidate_weight_share(), 0.3);
}

TEST_F(RolloutControllerTest, HardErrorBudgetRollsBack) {
  apply(rollout_spec(json::array({{{"weight", 50}, {"pause", "1h"}}}), json::array(),
                     {{"max_candidate_errors", 5}}));
  start(31);
  sim_->behaviour[2].error_rate = 0.05;
  run(20, 100);
  EXPECT_EQ(state(), "aborted");
  auto entries = audit_of("rollout.rolling_back");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(json::parse(entries[0].detail_json)["metric"], "max_candidate_errors");
}

TEST_F(RolloutControllerTest, VerbsOnAModelWithoutRolloutAreNotFound) {
  apply({{"versions", {{{"version", 1}}}}});
  start(37);
  EXPECT_EQ(controller_->status("m").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(controller_->command("m", Verb::kAbort, {"t", ""}).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace quiver::rollout
