// `quiver rollout ...` and `quiver bandit status` against a fake server: the requests
// they send, how they print the answers, and how they fail.
#include <gtest/gtest.h>

#include "cli/client_commands.h"
#include "cli/command_context.h"
#include "unit/cli/run_cli.h"
#include "unit/cli/test_http_server.h"

namespace quiver::cli {
namespace {

using nlohmann::json;
using test_support::RecordedRequest;
using test_support::Reply;
using test_support::TestHttpServer;

using test_support::Outcome;
using test_support::run_cli;

using test_support::has_line;

const char* const kRollout = R"({
  "model": "resnet", "id": "r-7", "state": "progressing", "step": 1, "steps": 4,
  "baseline": 1, "candidate": 2, "candidate_share": 0.05, "shadow_percent": 0,
  "reason": "step 0 passed every metric", "no_data": false,
  "metrics": [
    {"name": "error_rate", "verdict": "pass", "n": 1200, "estimate": 0.0012, "interval": [-0.004, 0.0061],
     "limit": 0.01, "value": 0.003, "baseline": 0.0018, "critical": false, "applies": true,
     "detail": "candidate 0.30% vs baseline 0.18%"},
    {"name": "latency_p99", "verdict": "inconclusive", "n": 40, "estimate": 1.07, "interval": [0.9, 1.31],
     "limit": 1.2, "value": 21.5, "baseline": 20.1, "critical": false, "applies": true, "detail": "too few samples"},
    {"name": "shadow_top1_agreement", "verdict": "inconclusive", "n": 0, "estimate": null, "interval": null,
     "limit": 0.98, "applies": false, "detail": "no mirrored traffic in this step"}
  ],
  "candidate_errors": 3, "max_candidate_errors": 50,
  "started_at": "2024-05-01T10:00:00Z", "step_started_at": "2024-05-01T10:01:00Z",
  "updated_at": "2024-05-01T10:01:30Z", "revision": 12})";

TEST(RolloutCommandsTest, StatusPrintsStateStepSharesAndMetricVerdicts) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kRollout}; });
  const Outcome outcome = run_cli({"rollout", "status", "resnet", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/deployments/resnet/rollout");

  const std::string& out = outcome.out;
  EXPECT_TRUE(has_line(out, "model resnet  rollout r-7  state progressing  step 2/4  revision 12")) << out;
  EXPECT_TRUE(has_line(out, "baseline 1 -> candidate 2  candidate share 5%")) << out;
  EXPECT_TRUE(has_line(out, "reason: step 0 passed every metric")) << out;
  EXPECT_TRUE(has_line(out, "candidate errors: 3 of at most 50")) << out;
  EXPECT_TRUE(has_line(out, "started 2024-05-01T10:00:00Z  step started 2024-05-01T10:01:00Z  "
                            "updated 2024-05-01T10:01:30Z"))
      << out;
  EXPECT_TRUE(has_line(out,
                       "METRIC                 VERDICT       N     ESTIMATE  INTERVAL          LIMIT  DETAIL"))
      << out;
  EXPECT_TRUE(has_line(out,
                       "error_rate             pass          1200  0.0012    [-0.004, 0.0061]  0.01   "
                       "candidate 0.30% vs baseline 0.18%"))
      << out;
  EXPECT_TRUE(has_line(out,
                       "latency_p99            inconclusive  40    1.07      [0.9, 1.31]       1.2    too few samples"))
      << out;
  EXPECT_TRUE(has_line(out,
                       "shadow_top1_agreement  n/a           0     -         -                 0.98   "
                       "no mirrored traffic in this step"))
      << out;
}

TEST(RolloutCommandsTest, StatusBeforeAnyAnalysisSaysSo) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"model":"m","state":"paused","step":0,"steps":2,"baseline":1,"candidate":2,
                          "candidate_share":0,"shadow_percent":100,"reason":"","no_data":true,"metrics":[]})"};
  });
  const Outcome outcome = run_cli({"rollout", "status", "m", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_TRUE(has_line(outcome.out, "model m  rollout -  state paused  step 1/2  revision -")) << outcome.out;
  EXPECT_TRUE(has_line(outcome.out, "baseline 1 -> candidate 2  candidate share 0%  shadow 100%")) << outcome.out;
  EXPECT_TRUE(has_line(outcome.out, "no analysis yet")) << outcome.out;
  EXPECT_NE(outcome.out.find("no data"), std::string::npos) << outcome.out;
  EXPECT_EQ(outcome.out.find("reason:"), std::string::npos) << outcome.out;
}

TEST(RolloutCommandsTest, StatusJsonPrintsTheAnswer) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kRollout}; });
  const Outcome outcome = run_cli({"rollout", "status", "resnet", "--json", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(json::parse(outcome.out), json::parse(kRollout));
}

TEST(RolloutCommandsTest, PromoteSendsFullAndReasonAndPrintsTheRollout) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kRollout}; });
  const Outcome outcome =
      run_cli({"rollout", "promote", "resnet", "--full", "--reason", "looks good", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/deployments/resnet/rollout/promote");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(json::parse(seen[0].body), json::parse(R"({"full": true, "reason": "looks good"})"));
  EXPECT_TRUE(has_line(outcome.out, "model resnet  rollout r-7  state progressing  step 2/4  revision 12"))
      << outcome.out;
}

TEST(RolloutCommandsTest, EachVerbPostsToItsPath) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kRollout}; });
  for (const std::string verb : {"abort", "pause", "resume", "retry", "promote"}) {
    const Outcome outcome = run_cli({"rollout", verb, "my model", "--server", server.url()});
    EXPECT_EQ(outcome.exit_code, 0) << verb << ": " << outcome.err;
  }
  const Outcome reasoned = run_cli({"rollout", "abort", "m", "--reason", "p99 alarm", "--server", server.url()});
  EXPECT_EQ(reasoned.exit_code, 0) << reasoned.err;

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 6u);
  const std::vector<std::string> verbs = {"abort", "pause", "resume", "retry", "promote"};
  for (size_t i = 0; i < verbs.size(); ++i) {
    EXPECT_EQ(seen[i].method, "POST");
    EXPECT_EQ(seen[i].target, "/v1/deployments/my%20model/rollout/" + verbs[i]);
    EXPECT_EQ(json::parse(seen[i].body), json::object()) << verbs[i];
  }
  EXPECT_EQ(seen[5].target, "/v1/deployments/m/rollout/abort");
  EXPECT_EQ(json::parse(seen[5].body), json::parse(R"({"reason": "p99 alarm"})"));
}

TEST(RolloutCommandsTest, ArgumentErrorsSendNothing) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kRollout}; });
  EXPECT_NE(run_cli({"rollout", "--server", server.url()}).exit_code, 0);
  EXPECT_NE(run_cli({"rollout", "status", "--server", server.url()}).exit_code, 0);
  EXPECT_NE(run_cli({"rollout", "restart", "m", "--server", server.url()}).exit_code, 0);
  EXPECT_NE(run_cli({"rollout", "abort", "m", "--full", "--server", server.url()}).exit_code, 0);
  EXPECT_NE(run_cli({"bandit", "status", "--server", server.url()}).exit_code, 0);
  EXPECT_TRUE(server.requests().empty());
}

TEST(RolloutCommandsTest, RefusedVerbPrintsTheServersMessage) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{409, R"({"error":"rollout is promoted; only a paused rollout can be resumed"})"};
  });
  const Outcome outcome = run_cli({"rollout", "resume", "m", "--server", server.url()});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_EQ(outcome.err, "error: rollout is promoted; only a paused rollout can be resumed\n");
  EXPECT_EQ(outcome.out, "");
}

TEST(RolloutCommandsTest, MissingRolloutIsAnError) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{404, R"({"error":"the deployment of model 'ghost' has no rollout"})"};
  });
  const Outcome outcome = run_cli({"rollout", "status", "ghost", "--server", server.url()});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_EQ(outcome.err, "error: the deployment of model 'ghost' has no rollout\n");
}

TEST(BanditCommandsTest, StatusPrintsEachArm) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"model":"rec","policy":"thompson","discount":0.99,"arms":[
      {"version":1,"share":0.25,"rewards":400,"mean_reward":0.1234567},
      {"version":2,"share":0.75,"rewards":1200,"mean_reward":0.31}]})"};
  });
  const Outcome outcome = run_cli({"bandit", "status", "rec", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(server.requests().at(0).target, "/v1/deployments/rec/bandit");
  EXPECT_EQ(outcome.out,
            "model rec  bandit policy thompson  discount 0.99\n"
            "VERSION  SHARE  REWARDS  MEAN REWARD\n"
            "1        25%    400      0.1235\n"
            "2        75%    1200     0.31\n");
}

TEST(BanditCommandsTest, NoBanditIsAnError) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{404, R"({"error":"the deployment of model 'rec' has no bandit"})"};
  });
  const Outcome outcome = run_cli({"bandit", "status", "rec", "--json", "--server", server.url()});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_EQ(outcome.err, "error: the deployment of model 'rec' has no bandit\n");
  EXPECT_EQ(outcome.out, "");
}

}  // namespace
}  // namespace quiver::cli
