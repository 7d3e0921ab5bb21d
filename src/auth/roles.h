// Roles, what each may do, and model-name scopes.
//
// Every route of the API needs one Permission; a role grants a fixed set of them:
//
// | permission      | what                                              | roles                          |
// |-----------------|---------------------------------------------------|--------------------------------|
// | health          | liveness, readiness, server metadata              | anyone, no token               |
// | model_metadata  | OIP model metadata and readiness                  | every role (public with inference) |
// | infer           | inference                                         | infer, deployer, admin         |
// | feedback        | POST /v1/feedback (labels steer rollouts)         | infer, deployer, admin         |
// | read            | models, versions, deployments, status, history,   | reader, publisher, deployer, admin |
// |                 | rollouts, quality, evaluations, compare           |                                |
// | metrics         | GET /metrics                                      | reader, publisher, deployer, admin |
// | publish         | upload blobs, register versions                   | publisher, admin               |
// | read_artifacts  | download or probe blobs (model weights)           | publisher, admin               |
// | evaluate        | run offline evaluations                           | publisher, deployer, admin     |
// | deploy          | deployments, rollouts, rollback, aliases, load     | deployer, admin                |
// | manage_keys     | tokens                                            | admin                          |
// | audit           | the audit log and its verification                | admin                          |
// | admin           | anything else (routes not in the table: fail closed) | admin                       |
//
// A key's scope is a list of model-name globs (fnmatch: *, ?, [...]); a route that
// names a model is allowed only when one glob matches it. Admin keys are never scoped.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::auth {

enum class Role { kAdmin, kDeployer, kPublisher, kReader, kInfer };

enum class Permission {
  kHealth,
  kModelMetadata,
  kInfer,
  kFeedback,
  kRead,
  kMetrics,
  kPublish,
  kReadArtifacts,
  kEvaluate,
  kDeploy,
  kManageKeys,
  kAudit,
  kAdmin,
};

std::string_view role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);
std::string_view permission_name(Permission p);
// For messages: "token x (role reader) may not <what>".
std::string_view permission_description(Permission p);

bool role_allows(Role role, Permission p);
// "publisher or admin": the roles that hold `p`, for messages.
std::string roles_holding(Permission p);

// fnmatch(3) without flags: '*' and '?' match any characters ('/' included; model
// names have none), "[a-z]" a class.
bool glob_match(std::string_view glob, std::string_view name);
// True when one of `globs` matches `model`.
bool scope_allows(const std::vector<std::string>& globs, std::string_view model);
// Whether `glob` is a usable scope entry: 1..128 characters of model-name characters
// and glob characters (* ? [ ] ! ^).
bool valid_scope_glob(std::string_view glob);

}  // namespace quiver::auth
