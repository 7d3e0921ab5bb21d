// The protocol's model repository extension over HTTP (API.md §1), mapped onto
// deployments by lifecycle::ModelRepository (the gRPC frontend uses the same one):
//   POST /v2/repository/index                  every registered version and its state
//   POST /v2/repository/models/{m}/load        deploy (or complete) the model, answer when ready
//   POST /v2/repository/models/{m}/unload      delete its deployment, answer when unrouted
// Load and unload are management writes: one deployment revision and audit entry each,
// like PUT and DELETE /v1/deployments/{m}.
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"

namespace quiver::http {
namespace {

using nlohmann::json;

// How long load and unload wait for the deployment to settle before answering 504
// (the change stays applied and keeps going).
constexpr std::chrono::seconds kSettleWait{120};

// An empty body is an empty object: stock clients send either.
Result<json> body_object(const HttpRequest& req) {
  if (req.body->empty()) return json::object();
  json j = json::parse(*req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("body must be a JSON object");
  return j;
}

Result<json> parameters_of(const json& body) {
  if (!body.contains("parameters")) return json::object();
  if (!body["parameters"].is_object()) return invalid_argument("'parameters' must be an object");
  return body["parameters"];
}

// Load takes "version" (a number or an alias). Anything else (a configuration or
// files to write) has no meaning here and is refused, so a client never believes it
// took effect.
Result<std::optional<std::string>> load_version(const json& parameters) {
  std::optional<std::string> version;
  for (const auto& [name, value] : parameters.items()) {
    if (name != "version")
      return invalid_argument("load parameter '" + name +
                              "' is not supported: register versions with POST /v1/models/{m}/versions and name one "
                              "with the \"version\" parameter");
    if (value.is_string()) {
      version = value.get<std::string>();
    } else if (value.is_number_integer()) {
      version = std::to_string(value.get<int64_t>());
    } else {
      return invalid_argument("load parameter 'version' must be a version number or an alias");
    }
  }
  return version;
}

json change_json(const lifecycle::RepositoryChange& change) {
  json j = {{"model", change.model}, {"changed", change.written}};
  j["revision"] = change.revision > 0 ? json(change.revision) : json(nullptr);
  if (!change.versions.empty()) j["versions"] = change.versions;
  return j;
}

Status no_repository() { return unavailable("the model repository is not available on this server"); }

void handle_index(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  if (ctx.repository == nullptr) return respond(HttpResponse::error(no_repository()));
  auto body = body_object(*req);
  if (!body.is_ok()) return respond(HttpResponse::error(body.status()));
  bool ready_only = false;
  if (body->contains("ready")) {
    if (!(*body)["ready"].is_boolean()) return respond(HttpResponse::error(invalid_argument("'ready' must be a boolean")));
    ready_only = (*body)["ready"].get<bool>();
  }
  auto entries = ctx.repository->index(ready_only);
  if (!entries.is_ok()) return respond(HttpResponse::error(entries.status()));
  json arr = json::array();
  for (const auto& e : *entries) {
    if (!in_scope(*req, e.model)) continue;  // a scoped token sees its models
    json row = {{"name", e.model}, {"version", std::to_string(e.version)}, {"state", e.state}};
    if (!e.reason.empty()) row["reason"] = e.reason;
    arr.push_back(std::move(row));
  }
  respond(HttpResponse::json(200, arr.dump()));
}

void handle_load(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  if (ctx.repository == nullptr) return respond(HttpResponse::error(no_repository()));
  auto body = body_object(*req);
  if (!body.is_ok()) return respond(HttpResponse::error(body.status()));
  auto parameters = parameters_of(*body);
  if (!parameters.is_ok()) return respond(HttpResponse::error(parameters.status()));
  auto version = load_version(*parameters);
  if (!version.is_ok()) return respond(HttpResponse::error(version.status()));
  auto change = ctx.repository->load(req->path_params.at("model"), *version, actor_of(*req));
  if (!change.is_ok()) return respond(HttpResponse::error(change.status()));
  ctx.repository->await(*change, lifecycle::AwaitKind::kLoaded, kSettleWait,
                        [respond = std::move(respond), out = change_json(*change)](Status st) {
                          if (!st.is_ok()) return respond(HttpResponse::error(st));
                          respond(HttpResponse::json(200, out.dump()));
                        });
}

void handle_unload(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  if (ctx.repository == nullptr) return respond(HttpResponse::error(no_repository()));
  // Stock clients send {"parameters": {"unload_dependents": false}}: Quiver models
  // have no dependents, so parameters are accepted and have no effect.
  auto body = body_object(*req);
  if (!body.is_ok()) return respond(HttpResponse::error(body.status()));
  if (auto parameters = parameters_of(*body); !parameters.is_ok())
    return respond(HttpResponse::error(parameters.status()));
  auto change = ctx.repository->unload(req->path_params.at("model"), actor_of(*req));
  if (!change.is_ok()) return respond(HttpResponse::error(change.status()));
  ctx.repository->await(*change, lifecycle::AwaitKind::kUnloaded, kSettleWait,
                        [respond = std::move(respond), out = change_json(*change)](Status st) {
                          if (!st.is_ok()) return respond(HttpResponse::error(st));
                          respond(HttpResponse::json(200, out.dump()));
                        });
}

}  // namespace

void register_repository_routes(HttpServer& server, ApiContext& ctx) {
  server.route("POST", "/v2/repository/index",
               [&ctx](const auto& req, Responder respond) { handle_index(ctx, req, std::move(respond)); });
  server.route("POST", "/v2/repository/models/{model}/load",
               [&ctx](const auto& req, Responder respond) { handle_load(ctx, req, std::move(respond)); });
  server.route("POST", "/v2/repository/models/{model}/unload",
               [&ctx](const auto& req, Responder respond) { handle_unload(ctx, req, std::move(respond)); });
}

}  // namespace quiver::http
