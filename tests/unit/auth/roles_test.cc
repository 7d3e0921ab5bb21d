#include "auth/roles.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace quiver::auth {
namespace {

using P = Permission;

// The whole matrix, spelled out: a change to a role's rights must change this table.
TEST(Roles, PermissionMatrix) {
  const std::map<Role, std::set<P>> allowed = {
      {Role::kAdmin,
       {P::kHealth, P::kModelMetadata, P::kInfer, P::kFeedback, P::kRead, P::kMetrics, P::kPublish,
        P::kReadArtifacts, P::kEvaluate, P::kDeploy, P::kManageKeys, P::kAudit, P::kAdmin}},
      {Role::kDeployer,
       {P::kHealth, P::kModelMetadata, P::kInfer, P::kFeedback, P::kRead, P::kMetrics, P::kEvaluate, P::kDeploy}},
      {Role::kPublisher,
       {P::kHealth, P::kModelMetadata, P::kRead, P::kMetrics, P::kPublish, P::kReadArtifacts, P::kEvaluate}},
      {Role::kReader, {P::kHealth, P::kModelMetadata, P::kRead, P::kMetrics}},
      {Role::kInfer, {P::kHealth, P::kModelMetadata, P::kInfer, P::kFeedback}},
  };
  const P all[] = {P::kHealth,  P::kModelMetadata, P::kInfer,    P::kFeedback,   P::kRead,  P::kMetrics, P::kPublish,
                   P::kReadArtifacts, P::kEvaluate, P::kDeploy, P::kManageKeys, P::kAudit, P::kAdmin};
  for (const auto& [role, set] : allowed) {
    for (P p : all) {
      EXPECT_EQ(role_allows(role, p), set.count(p) == 1) << role_name(role) << " / " << permission_name(p);
    }
  }
}

TEST(Roles, NamesRoundTrip) {
  for (Role r : {Role::kAdmin, Role::kDeployer, Role::kPublisher, Role::kReader, Role::kInfer}) {
    EXPECT_EQ(role_from_name(role_name(r)), r);
  }
  EXPECT_FALSE(role_from_name("root"));
  EXPECT_FALSE(role_from_name("Admin"));
  EXPECT_EQ(roles_holding(P::kDeploy), "deployer or admin");
  EXPECT_EQ(roles_holding(P::kAudit), "admin");
  EXPECT_EQ(roles_holding(P::kInfer), "deployer, infer or admin");
}

TEST(Roles, GlobScopes) {
  EXPECT_TRUE(glob_match("*", "iris"));
  EXPECT_TRUE(glob_match("fraud-*", "fraud-v2"));
  EXPECT_FALSE(glob_match("fraud-*", "iris"));
  EXPECT_TRUE(glob_match("iris?", "iris2"));
  EXPECT_FALSE(glob_match("iris?", "iris"));
  EXPECT_TRUE(glob_match("[ab]*", "beta"));
  EXPECT_FALSE(glob_match("[ab]*", "gamma"));
  EXPECT_TRUE(glob_match("iris", "iris"));
  EXPECT_FALSE(glob_match("iris", "iris2"));
  EXPECT_TRUE(scope_allows({"a", "fraud-*"}, "fraud-x"));
  EXPECT_FALSE(scope_allows({"a", "fraud-*"}, "iris"));
  EXPECT_FALSE(scope_allows({}, "iris"));
  EXPECT_TRUE(valid_scope_glob("fraud-*"));
  EXPECT_TRUE(valid_scope_glob("[a-z]?x.y_z"));
  EXPECT_FALSE(valid_scope_glob(""));
  EXPECT_FALSE(valid_scope_glob("a/b"));
  EXPECT_FALSE(valid_scope_glob("a b"));
  EXPECT_FALSE(valid_scope_glob(std::string(129, 'a')));
}

}  // namespace
}  // namespace quiver::auth
