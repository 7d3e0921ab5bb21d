// Open Inference Protocol v2 endpoints: health, server and model metadata, and
// routed / pinned inference. This is the request path: it reads only the route
// snapshot, never the registry or a control-plane lock.
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/inference/inference_service.h"
#include "api/http/http_server.h"
#include "api/http/oip_codec.h"
#include "backends/backend.h"
#include "serving/servable.h"

namespace quiver::http {
namespace {

using nlohmann::json;
constexpr const char* kVersionHeader = "x-quiver-model-version";

json metadata_json(const std::string& model, const routing::Endpoint& e, const std::vector<std::string>& versions) {
  const auto& sig = e.servable->signature();
  auto specs = [](const std::vector<TensorSpec>& v) {
    json arr = json::array();
    for (const auto& s : v)
      arr.push_back({{"name", s.name}, {"datatype", std::string(datatype_name(s.dtype))}, {"shape", s.shape}});
    return arr;
  };
  return {{"name", model},
          {"versions", versions},
          {"platform", backends::platform_name(e.servable->framework())},
          {"inputs", specs(sig.inputs)},
          {"outputs", specs(sig.outputs)}};
}

std::vector<std::string> live_versions(const routing::ModelRoute& route) {
  std::vector<std::string> out;
  for (const auto& e : route.endpoints()) out.push_back(std::to_string(e.version));
  return out;
}

// The model configuration as the protocol's clients read it: repository data types
// ("TYPE_FP32"), dims without the batch dimension when max_batch_size > 0.
json config_json(const lifecycle::ModelConfigView& view) {
  auto tensors = [](const std::vector<TensorSpec>& specs) {
    json arr = json::array();
    for (const auto& t : specs) {
      const std::string_view name = datatype_name(t.dtype);
      const std::string type = t.dtype == DataType::kBytes ? "TYPE_STRING" : "TYPE_" + std::string(name);
      arr.push_back({{"name", t.name}, {"data_type", type}, {"dims", t.shape}});
    }
    return arr;
  };
  json j = {{"name", view.name},
            {"version", std::to_string(view.version)},
            {"platform", backends::platform_name(view.framework)},
            {"backend", view.framework},
            {"max_batch_size", view.max_batch_size},
            {"input", tensors(view.signature.inputs)},
            {"output", tensors(view.signature.outputs)},
            {"instance_group", json::array({{{"count", view.instances}, {"kind", "KIND_CPU"}}})}};
  if (view.dynamic_batching)
    j["dynamic_batching"] = {{"preferred_batch_size", view.preferred_batch_sizes},
                             {"max_queue_delay_microseconds", view.max_queue_delay_us}};
  return j;
}

void handle_config(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  if (ctx.repository == nullptr)
    return respond(HttpResponse::error(unavailable("model configuration is not available on this server")));
  std::optional<std::string> version;
  if (auto it = req->path_params.find("version"); it != req->path_params.end()) version = it->second;
  auto view = ctx.repository->config(req->path_params.at("model"), version);
  if (!view.is_ok()) return respond(HttpResponse::error(view.status()));
  respond(HttpResponse::json(200, config_json(*view).dump()));
}

Result<std::optional<size_t>> binary_header_length(const HttpRequest& req) {
  const std::string v = req.header("inference-header-content-length");
  if (v.empty()) return std::optional<size_t>();
  size_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size())
    return invalid_argument("Inference-Header-Content-Length must be a non-negative integer, got '" + v + "'");
  return std::optional<size_t>(n);
}

void handle_infer(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond, bool pinned) {
  auto json_length = binary_header_length(*req);
  if (!json_length.is_ok()) return respond(HttpResponse::error(json_length.status()));
  auto parsed = parse_infer_request(req->body, *json_length, ctx.tensor_limits);
  if (!parsed.is_ok())
    return respond(HttpResponse::error(parsed.status().with_context("invalid inference request")));

  api::InferCall call;
  call.model = req->path_params.at("model");
  if (pinned) call.version = req->path_params.at("version");
  call.headers = req->headers;
  call.parameters = parsed->parameters;
  call.inputs = parsed->inputs;  // shares the tensor bytes with the body
  call.request_id = parsed->id.empty() ? req->header("x-request-id") : parsed->id;
  auto state = std::make_shared<InferRequestData>(std::move(parsed).value());
  ctx.inference.infer(std::move(call), [state, model = req->path_params.at("model"),
                                        respond = std::move(respond)](Result<api::InferOutcome> r, int64_t version) {
    if (!r.is_ok()) {
      auto resp = HttpResponse::error(r.status());
      if (version > 0) resp.headers.emplace_back(kVersionHeader, std::to_string(version));
      return respond(std::move(resp));
    }
    auto outputs = std::move(r->outputs);
    if (Status st = select_outputs(state->outputs, outputs); !st.is_ok()) return respond(HttpResponse::error(st));
    const std::string v = std::to_string(version);
    auto encoded = encode_infer_response(model, v, state->id, outputs, state->outputs, state->binary_output_all);
    HttpResponse resp;
    resp.body = std::move(encoded.body);
    if (encoded.json_length) {
      resp.content_type = "application/octet-stream";
      resp.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*encoded.json_length));
    }
    resp.headers.emplace_back(kVersionHeader, v);
    respond(std::move(resp));
  });
}

}  // namespace

void register_inference_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v2/health/live", [](const auto&, Responder respond) {
    respond(HttpResponse::json(200, R"({"live":true})"));
  });
  server.route("GET", "/v2/health/ready", [&ctx](const auto&, Responder respond) {
    const bool ready = ctx.manager.ready();
    respond(HttpResponse::json(ready ? 200 : 503, json{{"ready", ready}}.dump()));
  });
  // The load balancer's readiness: whether this replica serves what it was asked to,
  // from its own loaded versions. It never asks the registry database, so a replica
  // keeps taking traffic (from its snapshot) while the database is down.
  server.route("GET", "/readyz", [&ctx](const auto&, Responder respond) {
    const bool ready = ctx.manager.ready();
    respond(HttpResponse::json(ready ? 200 : 503, json{{"ready", ready}}.dump()));
  });
  server.route("GET", "/healthz", [](const auto&, Responder respond) {
    respond(HttpResponse::json(200, json{{"live", true}}.dump()));
  });
  server.route("GET", "/v2", [](const auto&, Responder respond) {
    respond(HttpResponse::json(
        200, json{{"name", "quiver"}, {"version", "0.1.0"}, {"extensions", {"binary_tensor_data", "model_repository"}}}
                 .dump()));
  });
  server.route("GET", "/v2/models/{model}", [&ctx](const auto& req, Responder respond) {
    auto table = ctx.routes.load();
    auto route = table->route_for(req->path_params.at("model"));
    if (!route.is_ok()) return respond(HttpResponse::error(route.status()));
    const auto& r = **route;
    respond(HttpResponse::json(200, metadata_json(r.model(), r.endpoints().front(), live_versions(r)).dump()));
  });
  server.route("GET", "/v2/models/{model}/versions/{version}", [&ctx](const auto& req, Responder respond) {
    auto table = ctx.routes.load();
    const std::string& model = req->path_params.at("model");
    auto e = table->resolve_pinned(model, req->path_params.at("version"));
    if (!e.is_ok()) return respond(HttpResponse::error(e.status()));
    respond(HttpResponse::json(200, metadata_json(model, **e, {std::to_string((*e)->version)}).dump()));
  });
  server.route("GET", "/v2/models/{model}/ready", [&ctx](const auto& req, Responder respond) {
    auto table = ctx.routes.load();
    const std::string& model = req->path_params.at("model");
    auto route = table->route_for(model);
    if (!route.is_ok() && route.status().code() == StatusCode::kNotFound && !table->find(model))
      return respond(HttpResponse::error(route.status()));
    respond(HttpResponse::json(200, json{{"name", model}, {"ready", route.is_ok()}}.dump()));
  });
  server.route("GET", "/v2/models/{model}/versions/{version}/ready", [&ctx](const auto& req, Responder respond) {
    auto table = ctx.routes.load();
    const std::string& model = req->path_params.at("model");
    const std::string& ref = req->path_params.at("version");
    if (auto known = table->resolve_ref(model, ref); !known.is_ok()) return respond(HttpResponse::error(known.status()));
    const bool ready = table->resolve_pinned(model, ref).is_ok();
    respond(HttpResponse::json(200, json{{"name", model}, {"ready", ready}}.dump()));
  });
  server.route("GET", "/v2/models/{model}/config",
               [&ctx](const auto& req, Responder respond) { handle_config(ctx, req, std::move(respond)); });
  server.route("GET", "/v2/models/{model}/versions/{version}/config",
               [&ctx](const auto& req, Responder respond) { handle_config(ctx, req, std::move(respond)); });
  server.route("POST", "/v2/models/{model}/infer", [&ctx](const auto& req, Responder respond) {
    handle_infer(ctx, req, std::move(respond), /*pinned=*/false);
  });
  server.route("POST", "/v2/models/{model}/versions/{version}/infer", [&ctx](const auto& req, Responder respond) {
    handle_infer(ctx, req, std::move(respond), /*pinned=*/true);
  });
}

}  // namespace quiver::http
