#include "api/http/quiver_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <random>

#include "api/grpc/grpc_server.h"
#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "api/http/oip_codec.h"
#include "api/http/rollout_signals.h"
#include "api/http/version_runner.h"
#include "backends/backend.h"

namespace quiver::http {

struct QuiverServer::Parts {
  SystemClock clock;
  std::unique_ptr<store::BlobStore> blobs;
  std::unique_ptr<registry::Registry> registry;
  routing::RoutePublisher routes;
  std::unique_ptr<routing::ShadowTracker> shadows;
  std::unique_ptr<VersionRunner> runner;               // runs versions for evaluations
  std::unique_ptr<quality::QualityService> quality;    // stopped before the manager; outlives inference
  std::unique_ptr<api::InferenceService> inference;
  std::unique_ptr<lifecycle::LifecycleManager> manager;
  std::unique_ptr<RolloutSignals> signals;
  std::unique_ptr<rollout::RolloutController> rollouts;  // stopped before the manager
  std::unique_ptr<rollout::BanditController> bandits;    // likewise
  std::unique_ptr<ApiContext> ctx;
  std::unique_ptr<rollout::ObjectiveController> objectives;  // reads facts through ctx
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
  p->runner = std::make_unique<VersionRunner>(
      p->routes, *p->registry, *p->blobs, [](const backends::LoadRequest& r) { return backends::load_backend(r); },
      o.intra_op_threads);
  quality::QualityOptions qo;
  qo.log.max_entries = o.prediction_log_max_entries;
  qo.log.max_age = std::chrono::seconds(o.prediction_log_max_age_s);
  p->quality = std::make_unique<quality::QualityService>(
      *p->registry, [b = p->blobs.get()](const std::string& sha) { return b->path_of(sha); }, p->clock,
      &metrics::default_registry(), qo,
      [r = p->runner.get()](const std::string& model, int64_t version, std::vector<Tensor> inputs,
                            quality::RunDone done) { r->run(model, version, std::move(inputs), std::move(done)); },
      [r = p->runner.get()](const std::string& model, int64_t version) { r->release(model, version); });
  p->inference = std::make_unique<api::InferenceService>(p->routes, *p->shadows, metrics::default_registry(),
                                                         &p->quality->predictions());
  p->signals = std::make_unique<RolloutSignals>(p->routes, *p->shadows, 
      [q = p->quality.get()](const std::string& model, int64_t version, rollout::VersionCounters& out) {
        const quality::QualityCounts c = q->tracker().counts(model, version);
        out.feedback_n += c.n;
        out.correct += c.correct;
        out.reward_n += c.reward_n;
        out.reward_sum += c.reward_sum;
        out.reward_sq_sum += c.reward_sq_sum;
      });
  p->rollouts = std::make_unique<rollout::RolloutController>(*p->registry, *p->signals, p->clock,
                                                             &metrics::default_registry(),
                                                             [m = p->manager.get()] { m->notify(); });
  p->bandits = std::make_unique<rollout::BanditController>(
      *p->registry, *p->signals, p->clock, &metrics::default_registry(),
      [m = p->manager.get()](const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic) {
        m->set_traffic_override(model, revision, std::move(traffic));
      },
      std::random_device{}());
  p->ctx = std::make_unique<ApiContext>(ApiContext{*p->registry, *p->blobs, p->routes, *p->manager,
                                                   metrics::default_registry(), *p->shadows, *p->inference,
                                                   *p->rollouts, *p->bandits, *p->quality});
  p->objectives = std::make_unique<rollout::ObjectiveController>(
      *p->registry,
      [c = p->ctx.get()](const std::string& model, const std::vector<int64_t>& versions) {
        std::vector<rollout::VersionFacts> facts;
        compare_versions(*c, model, versions, facts);
        return facts;
      },
      p->clock, [m = p->manager.get()] { m->notify(); }, std::chrono::milliseconds(o.objective_interval_ms));

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
  register_rollout_routes(*p->http, *p->ctx);
  register_compare_routes(*p->http, *p->ctx);
  register_quality_routes(*p->http, *p->ctx);

  // Restore deployments before taking traffic, so a restarted server answers with the
  // versions it served before (readiness reports the truth while they load).
  p->manager->start();
  p->rollouts->start();
  p->bandits->start();
  p->objectives->start();
  QUIVER_RETURN_IF_ERROR(p->http->start());
  grpc_api::GrpcServerOptions go;
  go.host = o.host;
  go.port = static_cast<uint16_t>(o.grpc_port);
  // One limit for an inference body, whichever protocol carries it.
  go.max_message_bytes = static_cast<int>(std::min<uint64_t>(o.max_body_bytes, std::numeric_limits<int>::max()));
  p->grpc = std::make_unique<grpc_api::GrpcServer>(p->routes, *p->manager, *p->inference);
  if (Status st = p->grpc->start(go); !st.is_ok()) {
    p->http->stop();
    p->quality->stop();
    p->runner->stop();
    p->rollouts->stop();
    p->bandits->stop();
    p->objectives->stop();
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
  parts_->quality->stop();  // evaluations run versions: before the manager unloads them
  parts_->runner->stop();
  parts_->rollouts->stop();
  parts_->bandits->stop();
  parts_->objectives->stop();
  parts_->manager->stop();
  parts_.reset();
}

}  // namespace quiver::http
