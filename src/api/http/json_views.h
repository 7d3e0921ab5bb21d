// JSON renderings of control-plane records for the management API (nlohmann::json;
// these documents are small, so ergonomics win over speed here).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/http/http_types.h"
#include "core/params.h"
#include "core/signature.h"
#include "lifecycle/deployment_status.h"
#include "registry/registry.h"

namespace quiver::http {

nlohmann::json tensor_specs_json(const std::vector<TensorSpec>& specs);
// Parses [{"name","datatype","shape"}]; `field` names the array in error messages.
Result<std::vector<TensorSpec>> parse_tensor_specs(const nlohmann::json& j, const std::string& field);
nlohmann::json version_json(const registry::VersionRecord& v, const std::string& state);
nlohmann::json model_summary_json(const registry::ModelSummary& m);
nlohmann::json status_json(const lifecycle::DeploymentStatus& s);
nlohmann::json revision_json(const registry::Revision& r);
nlohmann::json audit_json(const registry::AuditEntry& a);
// {"error": message} with the status mapped to HTTP.
std::string error_body(const std::string& message);

// Who is making a management change: the x-quiver-client header (or the peer
// address) and the x-quiver-reason header.
registry::Actor actor_of(const Headers& headers, const std::string& remote);
// The same, naming the token that authenticated the call when there was one:
// "cli (127.0.0.1:5555) token 3fa2c9d1e0b7a655 (role deployer)".
registry::Actor actor_of(const HttpRequest& request);

}  // namespace quiver::http
