#include "api/http/authz.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>

#include "auth/token.h"
#include "core/clock.h"

namespace quiver::http {
namespace {

using auth::Permission;

struct PolicyRow {
  std::string_view method;
  std::string_view pattern;
  Permission permission;
};

// Every route of the API and what it needs. Keep in step with the register_*_routes
// functions (docs/security.md shows the same table); a route left out needs admin.
constexpr std::array kPolicies = {
    // Health and server metadata: always public (probes, load balancers).
    PolicyRow{"GET", "/v2/health/live", Permission::kHealth},
    PolicyRow{"GET", "/v2/health/ready", Permission::kHealth},
    PolicyRow{"GET", "/v2", Permission::kHealth},
    PolicyRow{"GET", "/readyz", Permission::kHealth},
    PolicyRow{"GET", "/healthz", Permission::kHealth},
    // The console's static assets (its API calls carry tokens like any client's).
    PolicyRow{"GET", "/ui", Permission::kHealth},
    PolicyRow{"GET", "/ui/{path}", Permission::kHealth},
    // Open Inference Protocol.
    PolicyRow{"GET", "/v2/models/{model}", Permission::kModelMetadata},
    PolicyRow{"GET", "/v2/models/{model}/versions/{version}", Permission::kModelMetadata},
    PolicyRow{"GET", "/v2/models/{model}/ready", Permission::kModelMetadata},
    PolicyRow{"GET", "/v2/models/{model}/versions/{version}/ready", Permission::kModelMetadata},
    PolicyRow{"GET", "/v2/models/{model}/config", Permission::kModelMetadata},
    PolicyRow{"GET", "/v2/models/{model}/versions/{version}/config", Permission::kModelMetadata},
    PolicyRow{"POST", "/v2/models/{model}/infer", Permission::kInfer},
    PolicyRow{"POST", "/v2/models/{model}/versions/{version}/infer", Permission::kInfer},
    PolicyRow{"POST", "/v2/repository/index", Permission::kRead},
    PolicyRow{"POST", "/v2/repository/models/{model}/load", Permission::kDeploy},
    PolicyRow{"POST", "/v2/repository/models/{model}/unload", Permission::kDeploy},
    PolicyRow{"GET", "/metrics", Permission::kMetrics},
    // Registry.
    PolicyRow{"POST", "/v1/blobs", Permission::kPublish},
    PolicyRow{"HEAD", "/v1/blobs/{sha256}", Permission::kReadArtifacts},
    PolicyRow{"GET", "/v1/blobs/{sha256}", Permission::kReadArtifacts},
    PolicyRow{"POST", "/v1/models/{model}/versions", Permission::kPublish},
    PolicyRow{"GET", "/v1/models", Permission::kRead},
    PolicyRow{"GET", "/v1/models/{model}", Permission::kRead},
    PolicyRow{"GET", "/v1/models/{model}/versions/{version}", Permission::kRead},
    PolicyRow{"PUT", "/v1/models/{model}/aliases/{alias}", Permission::kDeploy},
    PolicyRow{"DELETE", "/v1/models/{model}/aliases/{alias}", Permission::kDeploy},
    PolicyRow{"GET", "/v1/models/{model}/policy", Permission::kRead},
    PolicyRow{"PUT", "/v1/models/{model}/policy", Permission::kAdmin},  // loosening it is a security change
    PolicyRow{"GET", "/v1/trusted-keys", Permission::kRead},
    // Deployments, rollouts, bandits.
    PolicyRow{"GET", "/v1/deployments", Permission::kRead},
    PolicyRow{"PUT", "/v1/deployments/{model}", Permission::kDeploy},
    PolicyRow{"GET", "/v1/deployments/{model}", Permission::kRead},
    PolicyRow{"DELETE", "/v1/deployments/{model}", Permission::kDeploy},
    PolicyRow{"GET", "/v1/deployments/{model}/history", Permission::kRead},
    PolicyRow{"POST", "/v1/deployments/{model}/rollback", Permission::kDeploy},
    PolicyRow{"GET", "/v1/deployments/{model}/rollout", Permission::kRead},
    PolicyRow{"POST", "/v1/deployments/{model}/rollout/{verb}", Permission::kDeploy},
    PolicyRow{"GET", "/v1/deployments/{model}/bandit", Permission::kRead},
    PolicyRow{"GET", "/v1/deployments/{model}/stats", Permission::kRead},
    PolicyRow{"GET", "/v1/cluster", Permission::kRead},
    // Evidence.
    PolicyRow{"POST", "/v1/feedback", Permission::kFeedback},
    PolicyRow{"GET", "/v1/models/{model}/compare", Permission::kRead},
    PolicyRow{"GET", "/v1/models/{model}/versions/{version}/quality", Permission::kRead},
    PolicyRow{"POST", "/v1/models/{model}/versions/{version}/evaluations", Permission::kEvaluate},
    PolicyRow{"GET", "/v1/models/{model}/versions/{version}/evaluations", Permission::kRead},
    // Security: tokens and the audit log (admin only; model policies fall to admin too).
    PolicyRow{"POST", "/v1/tokens", Permission::kManageKeys},
    PolicyRow{"GET", "/v1/tokens", Permission::kManageKeys},
    PolicyRow{"DELETE", "/v1/tokens/{id}", Permission::kManageKeys},
    PolicyRow{"GET", "/v1/audit", Permission::kAudit},
    PolicyRow{"GET", "/v1/audit/verify", Permission::kAudit},
    // Backups hold the whole registry (token hashes included): admin.
    PolicyRow{"GET", "/v1/backup", Permission::kAdmin},
};

bool is_management(std::string_view pattern) {
  return pattern.starts_with("/v1/") || pattern == "/v1" || pattern.starts_with("/v2/repository");
}

// A client's x-request-id when it is short printable ASCII; otherwise one made here.
std::string request_id_for(const HttpRequest& request, bool need_one) {
  std::string id = request.header("x-request-id");
  bool usable = !id.empty() && id.size() <= 128;
  for (char c : id) usable = usable && c > 0x20 && c < 0x7f;
  if (usable) return id;
  if (!need_one) return {};
  auto made = auth::random_hex(8);
  return made.is_ok() ? *made : std::string();
}

std::string clipped(std::string text, size_t max) {
  if (text.size() > max) {
    text.resize(max);
    text += "...";
  }
  return text;
}

// Hides the secret of anything shaped like a token ("qv_<id>_<secret>"), e.g. a whole
// token pasted where a key id belongs (DELETE /v1/tokens/qv_...), before it is recorded.
std::string redact_tokens(std::string text) {
  size_t at = 0;
  while ((at = text.find(auth::kTokenPrefix, at)) != std::string::npos) {
    const size_t secret = at + auth::kTokenPrefix.size() + auth::kKeyIdChars + 1;
    if (secret <= text.size() && text[secret - 1] == '_') {
      size_t end = secret;
      while (end < text.size() && std::isxdigit(static_cast<unsigned char>(text[end]))) ++end;
      if (end > secret) text.replace(secret, end - secret, "<redacted>");
    }
    at += auth::kTokenPrefix.size();
  }
  return text;
}

// The message of an error body {"error": "..."}; "" otherwise.
std::string error_message(const HttpResponse& response) {
  if (response.status < 400 || response.body.empty() || response.body.size() > 16384) return {};
  const auto parsed = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return {};
  const auto it = parsed.find("error");
  return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

RoutePolicy route_policy(std::string_view method, std::string_view pattern) {
  for (const PolicyRow& row : kPolicies) {
    if (row.method == method && row.pattern == pattern) return {row.permission, is_management(pattern)};
  }
  return {Permission::kAdmin, true};
}

RequestGuard make_request_guard(auth::Authorizer& authorizer, auth::AccessLog* access_log) {
  return [&authorizer, access_log](HttpRequest& request, std::string_view pattern) -> GuardVerdict {
    const RoutePolicy policy = route_policy(request.method, pattern);
    const auto started = std::chrono::steady_clock::now();
    const auto path_model = request.path_params.find("model");
    const std::string model = path_model != request.path_params.end() ? path_model->second : std::string();

    auth::Decision decision = authorizer.authorize(request.header("authorization"), policy.permission, model);
    if (decision.principal) {
      request.actor = decision.principal->describe();
      const auth::Principal& p = *decision.principal;
      const bool unscoped = p.role == auth::Role::kAdmin || (p.models.size() == 1 && p.models.front() == "*");
      if (!unscoped) request.model_scope = p.models;
    }
    const bool refused = !decision.allowed();
    request.request_id = request_id_for(request, policy.audited || refused);

    GuardVerdict verdict;
    if (refused) {
      HttpResponse response = HttpResponse::error(decision.status);
      if (decision.status.code() == StatusCode::kUnauthenticated)
        response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"quiver\"");
      if (decision.status.code() == StatusCode::kResourceExhausted) response.headers.emplace_back("Retry-After", "1");
      verdict.refusal = std::move(response);
    }
    if (!policy.audited && !refused) return verdict;

    const std::string request_id = request.request_id;
    if (!policy.audited || access_log == nullptr) {
      verdict.on_response = [request_id](HttpResponse& response) {
        if (!request_id.empty()) response.headers.emplace_back("x-request-id", request_id);
      };
      return verdict;
    }
    auto record = std::make_shared<registry::AccessRecord>();
    record->at = format_utc(std::chrono::system_clock::now());
    record->model = model;
    record->action = request.method + " " + std::string(pattern);
    record->client = clipped(request.header("x-quiver-client"), 64);
    record->source = request.remote;
    record->tls_identity = request.tls_client_identity;
    record->resource = clipped(redact_tokens(request.path), 512);
    record->request_id = request_id;
    record->decision = refused ? "deny" : "allow";
    if (decision.principal) {
      record->actor_key = decision.principal->key_id;
      record->actor_role = std::string(auth::role_name(decision.principal->role));
    }
    const std::string why = clipped(request.header("x-quiver-reason"), 512);
    verdict.on_response = [record, access_log, started, why](HttpResponse& response) {
      if (!record->request_id.empty()) response.headers.emplace_back("x-request-id", record->request_id);
      record->status = response.status;
      record->latency_us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
      const std::string error = error_message(response);
      record->reason = clipped(redact_tokens(error.empty() ? why : error), 512);
      access_log->record(std::move(*record));
    };
    return verdict;
  };
}

Status check_model_scope(const HttpRequest& request, std::string_view model, std::string_view what) {
  if (request.model_scope.empty() || auth::scope_allows(request.model_scope, model)) return Status::ok();
  return permission_denied(request.actor + " may not " + std::string(what) + " for model '" + std::string(model) +
                           "': it is outside the token's model scope");
}

Status check_feedback_scope(const HttpRequest& request) {
  if (request.model_scope.empty()) return Status::ok();
  const auto body = nlohmann::json::parse(*request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Status::ok();
  const auto check = [&](const nlohmann::json& item) -> Status {
    if (!item.is_object()) return Status::ok();
    const auto m = item.find("model");
    if (m == item.end() || !m->is_string()) return Status::ok();
    return check_model_scope(request, m->get<std::string>(), "send feedback");
  };
  QUIVER_RETURN_IF_ERROR(check(body));
  if (const auto items = body.find("items"); items != body.end() && items->is_array()) {
    for (const auto& item : *items) QUIVER_RETURN_IF_ERROR(check(item));
  }
  return Status::ok();
}

Result<registry::AuditQuery> audit_query_of(const HttpRequest& request) {
  registry::AuditQuery q;
  const auto number = [&](const std::string& name, int64_t min, int64_t max) -> Result<int64_t> {
    const std::string& text = request.query.at(name);
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr != text.data() + text.size() || n < min || n > max)
      return invalid_argument("'" + name + "' must be a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max));
    return n;
  };
  if (auto m = request.query.find("model"); m != request.query.end()) q.model = m->second;
  if (auto k = request.query.find("kind"); k != request.query.end()) {
    if (k->second != "change" && k->second != "access" && k->second != "all")
      return invalid_argument("'kind' must be change, access or all");
    q.kind = k->second == "all" ? "" : k->second;
  }
  if (request.query.count("limit")) {
    QUIVER_ASSIGN_OR_RETURN(q.limit, number("limit", 1, 10000));
  }
  if (request.query.count("before")) {
    QUIVER_ASSIGN_OR_RETURN(q.before_id, number("before", 1, INT64_MAX));
  }
  return q;
}

}  // namespace quiver::http
