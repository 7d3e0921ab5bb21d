// Deployment endpoints (API.md §3): apply a spec as a new revision, read it with its
// live status, list history, roll back, delete; plus the audit log.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>

#include "api/http/api_context.h"
#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"
#include "registry/deployment_spec_json.h"
#include "rollout/objective.h"
#include "rollout/step_traffic.h"

namespace quiver::http {
namespace {

using nlohmann::json;

// A rollout's id: unique enough to tell one apply from the next, readable in audit.
std::string new_rollout_id() {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return "r" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + "-" +
         std::to_string(counter.fetch_add(1));
}

// Parses, resolves and validates a spec body into its normalized JSON text.
Result<std::string> prepare_spec(registry::Registry& reg, const std::string& model, const std::string& body) {
  QUIVER_RETURN_IF_ERROR(reg.get_model(model).status());
  QUIVER_ASSIGN_OR_RETURN(auto spec, registry::parse_deployment_spec(body));
  QUIVER_RETURN_IF_ERROR(registry::resolve_version_refs(
      spec, [&](const std::string& ref) { return reg.resolve(model, ref); }));
  QUIVER_RETURN_IF_ERROR(registry::validate_deployment_spec(spec));
  if (!spec.objective_json.empty())
    QUIVER_RETURN_IF_ERROR(rollout::objective_from_json(json::parse(spec.objective_json)).status());
  if (spec.rollout) {
    // A person applying a rollout starts a new one (unless the body names the running
    // one's id), and it starts with its first step's traffic, never the spec's own.
    QUIVER_ASSIGN_OR_RETURN(auto current, reg.current_deployment(model));
    std::string running;
    if (current) {
      auto cur = registry::parse_deployment_spec(current->spec_json);
      if (cur.is_ok() && cur->rollout) running = cur->rollout->id;
    }
    if (spec.rollout->id.empty() || spec.rollout->id != running) spec.rollout->id = new_rollout_id();
    spec = rollout::with_traffic(std::move(spec), rollout::traffic_at(*spec.rollout, 0));
  }
  return registry::serialize_deployment_spec(spec);
}

json deployment_json(ApiContext& ctx, const registry::Revision& rev) {
  json j = json::parse(rev.spec_json, nullptr, false);
  if (!j.is_object()) j = json::object();
  j["model"] = rev.model;
  j["revision"] = rev.revision;
  j["created_at"] = rev.created_at;
  if (auto st = ctx.manager.status(rev.model)) {
    j["status"] = status_json(*st);
    json shadows = json::array();
    for (const auto& p : ctx.shadows.stats(rev.model))
      shadows.push_back({{"primary", p.primary}, {"shadow", p.shadow}, {"compared", p.compared},
                         {"errors", p.errors}, {"max_abs_diff", p.max_abs_diff},
                         {"mean_abs_diff", p.mean_abs_diff}, {"top1_agreement", p.top1_agreement}});
    j["status"]["shadow"] = shadows;
  } else {
    j["status"] = {{"state", "progressing"}, {"message", "waiting for the lifecycle manager"},
                   {"revision", rev.revision}, {"versions", json::array()}};
  }
  return j;
}

// Applies a normalized spec as a new revision and wakes the lifecycle manager.
Result<registry::Revision> apply(ApiContext& ctx, const std::string& model, const std::string& spec_json,
                                 const registry::Actor& actor) {
  QUIVER_ASSIGN_OR_RETURN(auto rev, ctx.registry.put_deployment(model, spec_json, actor));
  ctx.manager.notify();
  return rev;
}

void handle_put(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  const std::string& model = req->path_params.at("model");
  auto spec_json = prepare_spec(ctx.registry, model, *req->body);
  if (!spec_json.is_ok()) return respond(HttpResponse::error(spec_json.status()));
  auto current = ctx.registry.current_deployment(model);
  if (!current.is_ok()) return respond(HttpResponse::error(current.status()));

  auto dry = req->query.find("dry_run");
  if (dry != req->query.end() && (dry->second == "true" || dry->second == "1")) {
    json cur = *current ? json::parse((*current)->spec_json, nullptr, false) : json(nullptr);
    json proposed = json::parse(*spec_json);
    json out = {{"model", model}, {"dry_run", true}, {"current", cur}, {"proposed", proposed},
                {"changed", cur != proposed}};
    return respond(HttpResponse::json(200, out.dump()));
  }
  auto rev = apply(ctx, model, *spec_json, actor_of(*req));
  if (!rev.is_ok()) return respond(HttpResponse::error(rev.status()));
  respond(HttpResponse::json(200, deployment_json(ctx, *rev).dump()));
}

void handle_rollback(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  const std::string& model = req->path_params.at("model");
  json body = req->body->empty() ? json::object() : json::parse(*req->body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return respond(HttpResponse::error(invalid_argument("body must be a JSON object: {\"revision\"?: n}")));
  auto history = ctx.registry.history(model);
  if (!history.is_ok()) return respond(HttpResponse::error(history.status()));
  if (history->empty())
    return respond(HttpResponse::error(not_found("model '" + model + "' has no deployment history")));

  std::optional<registry::Revision> target;
  if (body.contains("revision")) {
    if (!body["revision"].is_number_integer())
      return respond(HttpResponse::error(invalid_argument("'revision' must be an integer")));
    auto rev = ctx.registry.get_revision(model, body["revision"].get<int64_t>());
    if (!rev.is_ok()) return respond(HttpResponse::error(rev.status()));
    target = *rev;
  } else {
    // The previous revision that was a live spec (deletions cannot be restored to).
    for (size_t i = 1; i < history->size(); ++i)
      if (!(*history)[i].deleted && (*history)[i].spec_json != history->front().spec_json) {
        target = (*history)[i];
        break;
      }
    if (!target)
      return respond(HttpResponse::error(failed_precondition("model '" + model + "' has no earlier revision to roll back to")));
  }
  if (target->deleted)
    return respond(HttpResponse::error(
        invalid_argument("revision " + std::to_string(target->revision) + " deleted the deployment; pick another")));
  auto actor = actor_of(*req);
  if (actor.reason.empty()) actor.reason = "rollback to revision " + std::to_string(target->revision);
  auto rev = apply(ctx, model, target->spec_json, actor);
  if (!rev.is_ok()) return respond(HttpResponse::error(rev.status()));
  json out = deployment_json(ctx, *rev);
  out["restored_revision"] = target->revision;
  respond(HttpResponse::json(200, out.dump()));
}

}  // namespace

void register_deployment_routes(HttpServer& server, ApiContext& ctx) {
  server.route("PUT", "/v1/deployments/{model}",
               [&ctx](const auto& req, Responder respond) { handle_put(ctx, req, std::move(respond)); });
  server.route("GET", "/v1/deployments", [&ctx](const auto& req, Responder respond) {
    auto live = ctx.registry.live_deployments();
    if (!live.is_ok()) return respond(HttpResponse::error(live.status()));
    json arr = json::array();
    for (const auto& rev : *live)
      if (in_scope(*req, rev.model)) arr.push_back(deployment_json(ctx, rev));  // a scoped token sees its models
    respond(HttpResponse::json(200, arr.dump()));
  });
  server.route("GET", "/v1/deployments/{model}", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    auto cur = ctx.registry.current_deployment(model);
    if (!cur.is_ok()) return respond(HttpResponse::error(cur.status()));
    if (!*cur) return respond(HttpResponse::error(not_found("model '" + model + "' has no deployment")));
    respond(HttpResponse::json(200, deployment_json(ctx, **cur).dump()));
  });
  server.route("DELETE", "/v1/deployments/{model}", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    auto rev = ctx.registry.delete_deployment(model, actor_of(*req));
    if (!rev.is_ok()) return respond(HttpResponse::error(rev.status()));
    ctx.manager.notify();
    respond(HttpResponse::json(200, json{{"model", model}, {"revision", rev->revision}, {"deleted", true}}.dump()));
  });
  server.route("GET", "/v1/deployments/{model}/history", [&ctx](const auto& req, Responder respond) {
    auto history = ctx.registry.history(req->path_params.at("model"));
    if (!history.is_ok()) return respond(HttpResponse::error(history.status()));
    json arr = json::array();
    for (const auto& r : *history) arr.push_back(revision_json(r));
    respond(HttpResponse::json(200, arr.dump()));
  });
  server.route("POST", "/v1/deployments/{model}/rollback",
               [&ctx](const auto& req, Responder respond) { handle_rollback(ctx, req, std::move(respond)); });
  server.route("GET", "/v1/audit", [&ctx](const auto& req, Responder respond) {
    // ?model=m, ?kind=change (default) | access | all, ?limit=n, ?before=id (paging).
    auto query = audit_query_of(*req);
    if (!query.is_ok()) return respond(HttpResponse::error(query.status()));
    auto entries = ctx.registry.audit_query(*query);
    if (!entries.is_ok()) return respond(HttpResponse::error(entries.status()));
    json arr = json::array();
    for (const auto& e : *entries) arr.push_back(audit_json(e));
    respond(HttpResponse::json(200, arr.dump()));
  });
}

}  // namespace quiver::http
