#include "auth/roles.h"

#include <fnmatch.h>

#include <array>

namespace quiver::auth {
namespace {

constexpr std::array<Role, 5> kRoles = {Role::kAdmin, Role::kDeployer, Role::kPublisher, Role::kReader, Role::kInfer};

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kDeployer: return "deployer";
    case Role::kPublisher: return "publisher";
    case Role::kReader: return "reader";
    case Role::kInfer: return "infer";
  }
  return "unknown";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (Role r : kRoles)
    if (role_name(r) == name) return r;
  return std::nullopt;
}

std::string_view permission_name(Permission p) {
  switch (p) {
    case Permission::kHealth: return "health";
    case Permission::kModelMetadata: return "model_metadata";
    case Permission::kInfer: return "infer";
    case Permission::kFeedback: return "feedback";
    case Permission::kRead: return "read";
    case Permission::kMetrics: return "metrics";
    case Permission::kPublish: return "publish";
    case Permission::kReadArtifacts: return "read_artifacts";
    case Permission::kEvaluate: return "evaluate";
    case Permission::kDeploy: return "deploy";
    case Permission::kManageKeys: return "manage_keys";
    case Permission::kAudit: return "audit";
    case Permission::kAdmin: return "admin";
  }
  return "unknown";
}

std::string_view permission_description(Permission p) {
  switch (p) {
    case Permission::kHealth: return "check health";
    case Permission::kModelMetadata: return "read model metadata";
    case Permission::kInfer: return "run inference";
    case Permission::kFeedback: return "send feedback";
    case Permission::kRead: return "read models and deployments";
    case Permission::kMetrics: return "read metrics";
    case Permission::kPublish: return "upload artifacts or register versions";
    case Permission::kReadArtifacts: return "download artifacts";
    case Permission::kEvaluate: return "run evaluations";
    case Permission::kDeploy: return "change deployments, rollouts or aliases";
    case Permission::kManageKeys: return "manage tokens";
    case Permission::kAudit: return "read the audit log";
    case Permission::kAdmin: return "use this administrative endpoint";
  }
  return "do this";
}

bool role_allows(Role role, Permission p) {
  if (role == Role::kAdmin) return true;
  switch (p) {
    case Permission::kHealth:
    case Permission::kModelMetadata:
      return true;
    case Permission::kInfer:
    case Permission::kFeedback:
      return role == Role::kInfer || role == Role::kDeployer;
    case Permission::kRead:
    case Permission::kMetrics:
      return role == Role::kReader || role == Role::kPublisher || role == Role::kDeployer;
    case Permission::kPublish:
    case Permission::kReadArtifacts:
      return role == Role::kPublisher;
    case Permission::kEvaluate:
      return role == Role::kPublisher || role == Role::kDeployer;
    case Permission::kDeploy:
      return role == Role::kDeployer;
    case Permission::kManageKeys:
    case Permission::kAudit:
    case Permission::kAdmin:
      return false;
  }
  return false;
}

std::string roles_holding(Permission p) {
  std::vector<std::string_view> names;
  for (Role r : kRoles)
    if (r != Role::kAdmin && role_allows(r, p)) names.push_back(role_name(r));
  std::string out;
  for (std::string_view n : names) {
    out += n;
    out += ", ";
  }
  if (out.empty()) return "admin";
  out.resize(out.size() - 2);
  return out + " or admin";
}

bool glob_match(std::string_view glob, std::string_view name) {
  const std::string g(glob);
  const std::string n(name);
  return fnmatch(g.c_str(), n.c_str(), 0) == 0;
}

bool scope_allows(const std::vector<std::string>& globs, std::string_view model) {
  for (const std::string& g : globs)
    if (glob_match(g, model)) return true;
  return false;
}

bool valid_scope_glob(std::string_view glob) {
  if (glob.empty() || glob.size() > 128) return false;
  for (char c : glob) {
    const bool name_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                           c == '.' || c == '-';
    const bool glob_char = c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '^';
    if (!name_char && !glob_char) return false;
  }
  return true;
}

}  // namespace quiver::auth
