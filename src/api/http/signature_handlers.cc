// Signed artifacts: per-model policies and the server's trusted keys (API.md §5;
// docs/api.md "Signed artifacts"). Verification itself happens where versions are
// registered (registry_handlers.cc) and loaded (the lifecycle manager).
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"

namespace quiver::http {
namespace {

using nlohmann::json;

json policy_json(const ApiContext& ctx, const registry::ModelPolicy& p) {
  const bool global = ctx.signatures != nullptr && ctx.signatures->required_globally();
  json j = {{"model", p.model},
            {"require_signature", p.require_signature},
            {"global_require_signature", global},
            {"signature_required", global || p.require_signature}};
  j["updated_at"] = p.updated_at.empty() ? json(nullptr) : json(p.updated_at);
  return j;
}

}  // namespace

void register_signature_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v1/models/{model}/policy", [&ctx](const auto& req, Responder respond) {
    auto policy = ctx.registry.model_policy(req->path_params.at("model"));
    if (!policy.is_ok()) return respond(HttpResponse::error(policy.status()));
    respond(HttpResponse::json(200, policy_json(ctx, *policy).dump()));
  });
  server.route("PUT", "/v1/models/{model}/policy", [&ctx](const auto& req, Responder respond) {
    const json j = json::parse(*req->body, nullptr, false);
    if (!j.is_object() || !j.contains("require_signature") || !j["require_signature"].is_boolean())
      return respond(HttpResponse::error(invalid_argument("body must be {\"require_signature\": true|false}")));
    for (const auto& [k, v] : j.items())
      if (k != "require_signature") return respond(HttpResponse::error(invalid_argument("unknown field '" + k + "'")));
    registry::ModelPolicy wanted;
    wanted.model = req->path_params.at("model");
    wanted.require_signature = j["require_signature"].get<bool>();
    auto stored = ctx.registry.set_model_policy(wanted, actor_of(*req));
    if (!stored.is_ok()) return respond(HttpResponse::error(stored.status()));
    ctx.manager.notify();  // loads that were allowed may not be any more, and the reverse
    respond(HttpResponse::json(200, policy_json(ctx, *stored).dump()));
  });
  server.route("GET", "/v1/trusted-keys", [&ctx](const auto&, Responder respond) {
    json keys = json::array();
    if (ctx.signatures != nullptr)
      for (const auto& k : ctx.signatures->keys()->keys()) keys.push_back({{"id", k.id}, {"name", k.name}});
    const bool global = ctx.signatures != nullptr && ctx.signatures->required_globally();
    respond(HttpResponse::json(200, json{{"require_signature", global}, {"keys", keys}}.dump()));
  });
}

}  // namespace quiver::http
