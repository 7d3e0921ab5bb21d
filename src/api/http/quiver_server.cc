#include "api/http/quiver_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "api/grpc/grpc_server.h"
#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "api/http/oip_codec.h"
#include "backends/backend.h"

namespace quiver::http {

struct QuiverServer::Parts {
  SystemClock clock;
  std::unique_ptr<store::BlobStore> blobs;
  std::unique_ptr<registry::Registry> registry;
  routing::RoutePublisher routes;
  std::unique_ptr<routing::ShadowTracker> shadows;
  std::unique_ptr<api::InferenceService> inference;
  std::unique_ptr<lifecycle::LifecycleManager> manager;
  std::unique_ptr<ApiContext> ctx;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<grpc_api::GrpcServer> grpc;
};

namespace {

Result<std::vector<Tensor>> decode_warmup(const std::string& json) {
  QUIVER_ASSIGN_OR_RETURN(auto req, parse_infer_request(std::make_shared<const std::string>(json), std::nullopt));
  return std::move(req.inputs);
}

}  // namespace

Result<std::unique_ptr<QuiverServer>> QuiverServer::start(const ServeOptions& o) {
  auto p = std::make_unique<Parts>();
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return unavailable("cannot create data directory " + o.data_dir.string() + ": " + ec.message());

  QUIVER_ASSIGN_OR_RETURN(p->blobs, store::BlobStore::open(o.data_dir));
  QUIVER_ASSIGN_OR_RETURN(p->registry, registry::Registry::open(o.data_dir / "registry.db"));

  lifecycle::ManagerOptions mo;
  mo.intra_op_threads = o.intra_op_threads;
  mo.warmup_runs = o.warmup_runs;
  p->manager = std::make_unique<lifecycle::LifecycleManager>(
      *p->registry, *p->blobs, p->routes, &metrics::default_registry(), p->clock, mo,
      [](const backends::LoadRequest& r) { return backends::load_backend(r); }, decode_warmup);

  p->shadows = std::make_unique<routing::ShadowTracker>(&metrics::default_registry());
  p->inference = std::make_unique<api::InferenceService>(p->routes, *p->shadows, metrics::default_registry());
  p->ctx = std::make_unique<ApiContext>(ApiContext{*p->registry, *p->blobs, p->routes, *p->manager,
                                                   metrics::default_registry(), *p->shadows, *p->inference});

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = static_cast<uint16_t>(o.http_port);
  ho.threads = o.http_threads;
  ho.max_body_bytes = o.max_body_bytes;
  ho.max_upload_bytes = o.max_upload_bytes;
  p->http = std::make_unique<HttpServer>(ho);
  register_inference_routes(*p->http, *p->ctx);
  register_registry_routes(*p->http, *p->ctx);
  register_deployment_routes(*p->http, *p->ctx);
  register_ops_routes(*p->http, *p->ctx);

  // Restore deployments before taking traffic, so a restarted server answers with the
  // versions it served before (readiness reports the truth while they load).
  p->manager->start();
  QUIVER_RETURN_IF_ERROR(p->http->start());
  grpc_api::GrpcServerOptions go;
  go.host = o.host;
  go.port = static_cast<uint16_t>(o.grpc_port);
  // One limit for an inference body, whichever protocol carries it.
  go.max_message_bytes = static_cast<int>(std::min<uint64_t>(o.max_body_bytes, std::numeric_limits<int>::max()));
  p->grpc = std::make_unique<grpc_api::GrpcServer>(p->routes, *p->manager, *p->inference);
  if (Status st = p->grpc->start(go); !st.is_ok()) {
    p->http->stop();
    p->manager->stop();
    return st;
  }
  return std::unique_ptr<QuiverServer>(new QuiverServer(std::move(p)));
}

QuiverServer::QuiverServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

QuiverServer::~QuiverServer() { stop(); }

uint16_t QuiverServer::http_port() const { return parts_->http->port(); }

uint16_t QuiverServer::grpc_port() const { return parts_->grpc->port(); }

void QuiverServer::stop() {
  if (!parts_) return;
  parts_->grpc->stop();
  parts_->http->stop();
  parts_->manager->stop();
  parts_.reset();
}

}  // namespace quiver::http
