#include "api/http/authz.h"

#include <gtest/gtest.h>

#include <memory>

namespace quiver::http {
namespace {

using auth::Permission;

TEST(Authz, RoutesNeedTheDocumentedPermission) {
  struct Row {
    const char* method;
    const char* pattern;
    Permission permission;
    bool audited;
  };
  const Row rows[] = {
      {"GET", "/v2/health/ready", Permission::kHealth, false},
      {"POST", "/v2/models/{model}/infer", Permission::kInfer, false},
      {"GET", "/v2/models/{model}", Permission::kModelMetadata, false},
      {"GET", "/metrics", Permission::kMetrics, false},
      {"POST", "/v1/blobs", Permission::kPublish, true},
      {"GET", "/v1/blobs/{sha256}", Permission::kReadArtifacts, true},
      {"POST", "/v1/models/{model}/versions", Permission::kPublish, true},
      {"GET", "/v1/models", Permission::kRead, true},
      {"PUT", "/v1/models/{model}/aliases/{alias}", Permission::kDeploy, true},
      {"PUT", "/v1/deployments/{model}", Permission::kDeploy, true},
      {"POST", "/v1/deployments/{model}/rollout/{verb}", Permission::kDeploy, true},
      {"POST", "/v1/feedback", Permission::kFeedback, true},
      {"POST", "/v1/models/{model}/versions/{version}/evaluations", Permission::kEvaluate, true},
      {"POST", "/v1/tokens", Permission::kManageKeys, true},
      {"DELETE", "/v1/tokens/{id}", Permission::kManageKeys, true},
      {"GET", "/v1/audit/verify", Permission::kAudit, true},
      // Not in the table: admin only, and audited (fail closed).
      {"POST", "/v1/something/new", Permission::kAdmin, true},
      {"PATCH", "/v1/deployments/{model}", Permission::kAdmin, true},
  };
  for (const Row& row : rows) {
    const RoutePolicy p = route_policy(row.method, row.pattern);
    EXPECT_EQ(p.permission, row.permission) << row.method << " " << row.pattern;
    EXPECT_EQ(p.audited, row.audited) << row.method << " " << row.pattern;
  }
}

TEST(Authz, FeedbackIsCheckedAgainstTheTokensScope) {
  HttpRequest req;
  req.actor = "token abc (role infer, models iris)";
  req.model_scope = {"iris"};
  req.body = std::make_shared<const std::string>(R"({"model": "iris", "id": "1", "truth": 0})");
  EXPECT_TRUE(check_feedback_scope(req).is_ok());
  req.body = std::make_shared<const std::string>(R"({"items": [{"model": "iris"}, {"model": "fraud"}]})");
  const Status st = check_feedback_scope(req);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("model 'fraud'"), std::string::npos) << st.message();
  req.model_scope.clear();  // unscoped
  EXPECT_TRUE(check_feedback_scope(req).is_ok());
}

TEST(Authz, AuditQueryParameters) {
  HttpRequest req;
  auto q = audit_query_of(req);
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->kind, "change");
  EXPECT_EQ(q->limit, 1000);
  req.query = {{"kind", "all"}, {"limit", "5"}, {"before", "9"}, {"model", "iris"}};
  q = audit_query_of(req);
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->kind, "");
  EXPECT_EQ(q->limit, 5);
  EXPECT_EQ(q->before_id, 9);
  EXPECT_EQ(q->model, "iris");
  req.query = {{"kind", "secrets"}};
  EXPECT_FALSE(audit_query_of(req).is_ok());
  req.query = {{"limit", "0"}};
  EXPECT_FALSE(audit_query_of(req).is_ok());
}

}  // namespace
}  // namespace quiver::http
