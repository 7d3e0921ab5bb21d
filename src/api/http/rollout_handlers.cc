// Rollout endpoints (API.md §4): the rollout's status and the verbs people steer it
// with. The controller does the work; these translate HTTP to its calls.
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"
#include "rollout/rollout_controller.h"

namespace quiver::http {
namespace {

using nlohmann::json;

Result<rollout::Verb> verb_of(const std::string& name, bool full) {
  if (name == "promote") return full ? rollout::Verb::kPromoteFull : rollout::Verb::kPromote;
  if (name == "abort") return rollout::Verb::kAbort;
  if (name == "pause") return rollout::Verb::kPause;
  if (name == "resume") return rollout::Verb::kResume;
  if (name == "retry") return rollout::Verb::kRetry;
  return not_found("unknown rollout verb '" + name + "'; use promote, abort, pause, resume or retry");
}

void handle_verb(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  const std::string& model = req->path_params.at("model");
  json body = req->body->empty() ? json::object() : json::parse(*req->body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return respond(HttpResponse::error(invalid_argument("body must be a JSON object: {\"reason\"?, \"full\"?}")));
  if (body.contains("full") && !body["full"].is_boolean())
    return respond(HttpResponse::error(invalid_argument("'full' must be true or false")));
  if (body.contains("reason") && !body["reason"].is_string())
    return respond(HttpResponse::error(invalid_argument("'reason' must be a string")));
  auto verb = verb_of(req->path_params.at("verb"), body.value("full", false));
  if (!verb.is_ok()) return respond(HttpResponse::error(verb.status()));
  auto actor = actor_of(*req);
  if (body.contains("reason")) actor.reason = body["reason"].get<std::string>();
  auto out = ctx.rollouts.command(model, *verb, actor);
  if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
  respond(HttpResponse::json(200, out->dump()));
}

}  // namespace

void register_rollout_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v1/deployments/{model}/rollout", [&ctx](const auto& req, Responder respond) {
    auto out = ctx.rollouts.status(req->path_params.at("model"));
    if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
    respond(HttpResponse::json(200, out->dump()));
  });
  server.route("GET", "/v1/deployments/{model}/bandit", [&ctx](const auto& req, Responder respond) {
    auto out = ctx.bandits.status(req->path_params.at("model"));
    if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
    respond(HttpResponse::json(200, out->dump()));
  });
  server.route("POST", "/v1/deployments/{model}/rollout/{verb}",
               [&ctx](const auto& req, Responder respond) { handle_verb(ctx, req, std::move(respond)); });
}

}  // namespace quiver::http
