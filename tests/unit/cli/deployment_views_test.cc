#include "cli/deployment_views.h"

#include <gtest/gtest.h>

namespace quiver::cli {
namespace {

using nlohmann::json;

TEST(RenderModelsTest, AlignsVersionsAndAliases) {
  const json models = json::parse(R"([
    {"name": "resnet", "versions": [1, 2, 3], "aliases": {"prod": 2, "canary": 3}},
    {"name": "bert-base", "versions": [1], "aliases": {}}
  ])");
  EXPECT_EQ(render_models(models),
            "MODEL      VERSIONS  ALIASES          SIGNED BY\n"
            "resnet     1,2,3     canary=3,prod=2  -\n"
            "bert-base  1         -                -\n");
}

TEST(RenderModelsTest, GroupsSignedVersionsByKeyId) {
  const json models = json::parse(R"([
    {"name": "iris", "versions": [1, 2, 3], "aliases": {},
     "signed_by": {"2": "3f2a9c1d0b7e6a55", "3": "3f2a9c1d0b7e6a55", "1": "00aa11bb22cc33dd"}}
  ])");
  EXPECT_EQ(render_models(models),
            "MODEL  VERSIONS  ALIASES  SIGNED BY\n"
            "iris   1,2,3     -        00aa11bb22cc33dd: 1; 3f2a9c1d0b7e6a55: 2,3\n");
}

TEST(RenderDeploymentStatusTest, PrintsPerVersionTableWithDashesForMissingFields) {
  const json deployment = json::parse(R"({
    "model": "resnet", "revision": 7,
    "versions": [{"version": "3", "instances": 2}, {"version": "4", "instances": 1}],
    "traffic": [{"version": "3", "weight": 90}, {"version": "4", "weight": 10}],
    "status": {"state": "progressing", "message": "version 4 is loading",
      "versions": [
        {"version": 3, "state": "ready", "instances": 2, "ready_instances": 2, "traffic_share": 0.9,
         "observed_share": 0.913, "requests": 1000, "errors": 2, "rps": 12.34, "p50_ms": 4.12, "p99_ms": 20.5},
        {"version": 4, "state": "failed", "instances": 1, "ready_instances": 0,
         "error": "cannot load artifact: bad magic"}
      ]}
  })");
  EXPECT_EQ(render_deployment_status(deployment),
            "model resnet  revision 7  state progressing\n"
            "  version 4 is loading\n"
            "VERSION  STATE   INSTANCES  TRAFFIC  OBSERVED  RPS   P50     P99      ERRORS\n"
            "3        ready   2/2        90%      91.3%     12.3  4.1 ms  20.5 ms  2\n"
            "4        failed  0/1        10%      -         -     -       -        -\n"
            "version 4 failed: cannot load artifact: bad magic\n");
}

TEST(RenderDeploymentStatusTest, ListsSpecVersionsTheServerSaysNothingAbout) {
  const json deployment = json::parse(R"({"model": "m", "revision": 1,
    "versions": [{"version": "1", "instances": 1}, {"version": "2"}]})");
  EXPECT_EQ(render_deployment_status(deployment),
            "model m  revision 1  state -\n"
            "VERSION  STATE  INSTANCES  TRAFFIC  OBSERVED  RPS  P50  P99  ERRORS\n"
            "1        -      -/1        100%     -         -    -    -    -\n"
            "2        -      -          0%       -         -    -    -    -\n");
}

TEST(RenderDeploymentStatusTest, AddsAShadowSection) {
  const json deployment = json::parse(R"({"model": "m", "revision": 2, "status": {"state": "ready",
    "versions": [{"version": 3, "state": "ready",
      "shadow": [{"primary": 3, "shadow": 4, "compared": 1200, "top1_agreement": 0.992,
                  "max_abs_diff": 0.0031, "mean_abs_diff": 0.0004}]}]}})");
  const std::string text = render_deployment_status(deployment);
  EXPECT_NE(text.find("shadow comparisons:\n"
                      "PRIMARY  SHADOW  COMPARED  TOP1 AGREEMENT  MAX ABS DIFF  MEAN ABS DIFF\n"
                      "3        4       1200      99.2%           0.0031        0.0004\n"),
            std::string::npos)
      << text;
}

TEST(RenderDeploymentListTest, OneLinePerDeployment) {
  const json list = json::parse(R"([{"model": "a", "revision": 3, "status": {"state": "ready"}},
                                    {"model": "bb", "revision": 1, "status": {"state": "failed", "message": "oops"}}])");
  EXPECT_EQ(render_deployment_list(list),
            "MODEL  REVISION  STATE   MESSAGE\n"
            "a      3         ready\n"
            "bb     1         failed  oops\n");
}

TEST(RenderHistoryTest, SummarisesEachRevision) {
  const json history = json::parse(R"([
    {"revision": 3, "created_at": 1700000000, "client": "cli", "reason": "canary", "deleted": false,
     "spec": {"versions": [{"version": "3"}, {"version": "4"}],
              "traffic": [{"version": "3", "weight": 90}, {"version": "4", "weight": 10}],
              "sticky": {"header": "x-user-id"}, "rules": [{"version": "4"}],
              "shadow": [{"version": "5", "percent": 100}]}},
    {"revision": 2, "created_at": "2023-11-14T22:00:00Z", "client": "rollout", "deleted": true}
  ])");
  EXPECT_EQ(render_history(history),
            "REVISION  CREATED               CLIENT   REASON  CHANGE\n"
            "3         2023-11-14 22:13:20Z  cli      canary  3:90 4:10, sticky header x-user-id, 1 rule, shadow 5 at 100%\n"
            "2         2023-11-14T22:00:00Z  rollout  -       deleted\n");
}

TEST(FormatTimestampTest, ReadsSecondsAndMilliseconds) {
  const json seconds = 1700000000;
  const json millis = 1700000000123;
  EXPECT_EQ(format_timestamp(&seconds), "2023-11-14 22:13:20Z");
  EXPECT_EQ(format_timestamp(&millis), "2023-11-14 22:13:20Z");
  EXPECT_EQ(format_timestamp(nullptr), "-");
}

}  // namespace
}  // namespace quiver::cli
