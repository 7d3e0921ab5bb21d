// Operations endpoints: Prometheus metrics.
#include "api/http/api_context.h"
#include "api/http/http_server.h"

namespace quiver::http {

void register_ops_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/metrics", [&ctx](const auto&, Responder respond) {
    HttpResponse resp;
    resp.content_type = "text/plain; version=0.0.4";
    resp.body = ctx.metrics.render();
    respond(std::move(resp));
  });
}

}  // namespace quiver::http
