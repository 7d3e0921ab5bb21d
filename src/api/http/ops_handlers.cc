// Operations endpoints: Prometheus metrics and the cluster's replicas.
#include "api/http/api_context.h"
#include "api/http/http_server.h"

#include <nlohmann/json.hpp>

namespace quiver::http {

void register_ops_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/metrics", [&ctx](const auto&, Responder respond) {
    HttpResponse resp;
    resp.content_type = "text/plain; version=0.0.4";
    resp.body = ctx.metrics.render();
    respond(std::move(resp));
  });
  // Replicas that share a registry: who is alive, who leads, who has converged.
  server.route("GET", "/v1/cluster", [&ctx](const auto&, Responder respond) {
    if (ctx.cluster_status) {
      auto described = ctx.cluster_status();
      if (!described.is_ok()) return respond(HttpResponse::error(described.status()));
      return respond(HttpResponse::json(200, described->dump()));
    }
    auto revision = ctx.registry.revision();
    nlohmann::json out = {{"mode", "single"}, {"replicas", nlohmann::json::array()}};
    if (revision.is_ok()) out["revision"] = *revision;
    respond(HttpResponse::json(200, out.dump()));
  });
}

}  // namespace quiver::http
