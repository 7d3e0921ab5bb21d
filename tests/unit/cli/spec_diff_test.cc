#include "cli/spec_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace quiver::cli {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SpecDiffTest, ShowsVersionsAddedRemovedAndChanged) {
  const json current = json::parse(R"({"versions": [{"version": 2, "instances": 1}, {"version": 3, "instances": 2}]})");
  const json proposed = json::parse(R"({"versions": [{"version": "3", "instances": 3}, {"version": "4", "instances": 1}]})");
  EXPECT_THAT(diff_specs(current, proposed),
              ElementsAre("versions: - 2 (instances 1)", "versions: 3 instances 2 -> 3",
                          "versions: + 4 (instances 1)"));
}

TEST(SpecDiffTest, ShowsWeightChangesPerVersion) {
  const json current = json::parse(R"({"traffic": [{"version": "3", "weight": 100}]})");
  const json proposed = json::parse(R"({"traffic": [{"version": 3, "weight": 90}, {"version": "canary", "weight": 10}]})");
  EXPECT_THAT(diff_specs(current, proposed),
              ElementsAre("traffic: 3 weight 100 -> 90", "traffic: + canary (weight 10)"));
}

TEST(SpecDiffTest, ShowsRulesShadowAndStickyChanges) {
  const json current = json::parse(R"({
    "rules": [{"match": {"header": "x-beta", "equals": "1"}, "version": "canary"}],
    "shadow": [{"version": "4", "percent": 100}]
  })");
  const json proposed = json::parse(R"({
    "sticky": {"header": "x-user-id"},
    "rules": [{"match": {"header": "x-beta", "equals": "2"}, "version": "canary"}],
    "shadow": [{"version": "4", "percent": 50}]
  })");
  EXPECT_THAT(diff_specs(current, proposed),
              ElementsAre(R"(sticky: none -> {"header":"x-user-id"})",
                          R"(rules: - {"match":{"equals":"1","header":"x-beta"},"version":"canary"})",
                          R"(rules: + {"match":{"equals":"2","header":"x-beta"},"version":"canary"})",
                          "shadow: 4 percent 100 -> 50"));
}

TEST(SpecDiffTest, ReorderingRulesOrVersionsIsAChange) {
  const json a = json::parse(R"({"versions": [{"version": 1}, {"version": 2}],
                                 "rules": [{"version": 1}, {"version": 2}]})");
  const json b = json::parse(R"({"versions": [{"version": 2}, {"version": 1}],
                                 "rules": [{"version": 2}, {"version": 1}]})");
  EXPECT_THAT(diff_specs(a, b), ElementsAre("versions: order 1, 2 -> 2, 1", "rules: order changed"));
}

TEST(SpecDiffTest, SameSpecWithNumberAndTextVersionsHasNoChanges) {
  const json current = json::parse(R"({"model": "m", "revision": 4, "status": {"state": "ready"},
                                       "versions": [{"version": 3, "instances": 2}],
                                       "traffic": [{"version": 3, "weight": 100}]})");
  const json proposed = json::parse(R"({"versions": [{"version": "3", "instances": 2}],
                                        "traffic": [{"version": "3", "weight": 100}]})");
  EXPECT_THAT(diff_specs(current, proposed), IsEmpty());
  EXPECT_EQ(render_dry_run("m", current, proposed),
            "dry run: applying this spec would not change deployment 'm'\n");
}

TEST(SpecDiffTest, NewDeploymentListsEverythingAsAdded) {
  const json proposed = json::parse(R"({"versions": [{"version": "1", "instances": 1}], "autoscale": true})");
  EXPECT_EQ(render_dry_run("m", nullptr, proposed),
            "dry run: would create deployment 'm':\n"
            "  versions: + 1 (instances 1)\n"
            "  autoscale: none -> true\n"
            "nothing was applied\n");
}

TEST(SpecDiffTest, CountsChangesInTheHeading) {
  const json current = json::parse(R"({"versions": [{"version": "1"}]})");
  const json proposed = json::parse(R"({"versions": [{"version": "2"}]})");
  EXPECT_EQ(render_dry_run("m", current, proposed),
            "dry run: would change deployment 'm' (2 changes):\n"
            "  versions: - 1\n"
            "  versions: + 2\n"
            "nothing was applied\n");
}

}  // namespace
}  // namespace quiver::cli
