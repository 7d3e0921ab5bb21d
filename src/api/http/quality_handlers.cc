// Feedback, live quality and offline evaluations (API.md §4). QualityService does the
// work; an evaluation runs on its worker thread and answers through the Responder, so
// no I/O thread waits for it.
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"
#include "quality/quality_service.h"

namespace quiver::http {

void register_quality_routes(HttpServer& server, ApiContext& ctx) {
  server.route("POST", "/v1/feedback", [&ctx](const auto& req, Responder respond) {
    // Labels steer rollouts: a token scoped to some models may label only those.
    if (Status scoped = check_feedback_scope(*req); !scoped.is_ok()) return respond(HttpResponse::error(scoped));
    auto out = ctx.quality.feedback(*req->body);
    if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
    respond(HttpResponse::json(200, quality::feedback_json(*out).dump()));
  });
  server.route("GET", "/v1/models/{model}/versions/{version}/quality", [&ctx](const auto& req, Responder respond) {
    auto out = ctx.quality.quality(req->path_params.at("model"), req->path_params.at("version"));
    if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
    respond(HttpResponse::json(200, out->dump()));
  });
  server.route("POST", "/v1/models/{model}/versions/{version}/evaluations", [&ctx](const auto& req, Responder respond) {
    ctx.quality.evaluate(req->path_params.at("model"), req->path_params.at("version"), *req->body,
                         actor_of(*req), [respond](Result<nlohmann::json> report) {
                           if (!report.is_ok()) return respond(HttpResponse::error(report.status()));
                           respond(HttpResponse::json(201, report->dump()));
                         });
  });
  server.route("GET", "/v1/models/{model}/versions/{version}/evaluations", [&ctx](const auto& req, Responder respond) {
    auto out = ctx.quality.evaluations(req->path_params.at("model"), req->path_params.at("version"));
    if (!out.is_ok()) return respond(HttpResponse::error(out.status()));
    respond(HttpResponse::json(200, out->dump()));
  });
}

}  // namespace quiver::http
