#include "server/quiver_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <limits>
#include <random>

#include "api/grpc/grpc_server.h"
#include "api/http/api_context.h"
#include "server/auth_setup.h"
#include "auth/bootstrap.h"
#include "api/http/http_server.h"
#include "api/http/access_log.h"
#include "api/http/oip_codec.h"
#include "metrics/build_info.h"
#include "metrics/process_metrics.h"
#include "core/periodic_loop.h"
#include "server/bandit_share_relay.h"
#include "server/pooled_signals.h"
#include "server/rollout_signals.h"
#include "server/stats_source.h"
#include "server/version_runner.h"
#include "backends/backend.h"
#include "cluster/cluster_node.h"
#include "cluster/feedback_relay.h"
#include "registry/switchable_registry.h"
#include "store/remote_artifacts.h"

#include <unistd.h>

namespace quiver::server {

// The assembly wires the HTTP frontend's parts by their own names.
using namespace quiver::http;
using api::TlsContextProvider;

struct QuiverServer::Parts {
  SystemClock clock;
  std::filesystem::path trusted_keys_dir;  // re-read on SIGHUP
  std::unique_ptr<store::BlobStore> blobs;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<auth::SignaturePolicy> signatures;  // used by the manager and the API: outlives both
  routing::RoutePublisher routes;
  std::unique_ptr<routing::ShadowTracker> shadows;
  std::unique_ptr<VersionRunner> runner;               // runs versions for evaluations
  std::unique_ptr<quality::QualityService> quality;    // stopped before the manager; outlives inference
  std::unique_ptr<api::InferenceService> inference;
  std::unique_ptr<lifecycle::LifecycleManager> manager;
  std::unique_ptr<RolloutSignals> signals;
  // Replicas sharing a PostgreSQL registry (all null for one server on SQLite).
  std::unique_ptr<store::RemoteArtifacts> remote_artifacts;  // durable artifact copies
  std::unique_ptr<PooledSignals> pooled;                     // every replica's traffic, for the leader
  std::unique_ptr<BanditShareRelay> bandit_shares;           // the leader's shares, applied everywhere
  std::unique_ptr<cluster::FeedbackRelay> feedback_relay;    // feedback for predictions made elsewhere
  registry::SwitchableRegistry* switchable = nullptr;        // = registry with --registry
  std::filesystem::path snapshot_file;                       // the last saved registry snapshot
  int64_t snapshot_revision = 0;                             // the revision it holds; cluster thread only
  std::chrono::steady_clock::time_point snapshot_saved_at{};
  std::unique_ptr<cluster::ClusterNode> cluster;             // stopped first: hands the lease over
  std::atomic<cluster::ClusterNode*> cluster_node{nullptr};  // what the controllers' threads read
  std::unique_ptr<rollout::RolloutController> rollouts;  // stopped before the manager
  std::unique_ptr<rollout::BanditController> bandits;    // likewise
  // The console's traffic history: a sampler of the servables' counters on a loop of its own.
  std::unique_ptr<metrics::StatsHistory> stats_history;
  std::unique_ptr<PeriodicLoop> stats_loop;  // stopped before the manager
  // Repository index/load/unload and model configuration for HTTP and gRPC; its waits
  // are answered (stop) before the listeners stop, and it outlives them.
  std::unique_ptr<lifecycle::ModelRepository> repository;
  std::unique_ptr<ApiContext> ctx;
  std::unique_ptr<rollout::ObjectiveController> objectives;  // reads facts through ctx
  std::unique_ptr<AuthParts> auth;  // tokens, access audit; used by http and grpc, so outlives them
  std::shared_ptr<TlsContextProvider> tls;  // null without TLS; shared with every HTTP connection
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<HttpServer> management;  // the separate management listener, when asked for
  std::unique_ptr<grpc_api::GrpcServer> grpc;
};

namespace {

// Signed artifacts: the operator's trusted keys and the global policy.
Result<std::unique_ptr<auth::SignaturePolicy>> make_signature_policy(const ServeOptions& o,
                                                                     registry::Registry& registry) {
  auto keys = std::make_shared<auth::TrustedKeys>();
  if (!o.trusted_keys_dir.empty()) {
    QUIVER_ASSIGN_OR_RETURN(*keys, auth::TrustedKeys::load_dir(o.trusted_keys_dir));
    spdlog::info("trusting {} artifact signing key(s): {}", keys->keys().size(), keys->describe());
  }
  if (o.require_signature && keys->empty())
    return invalid_argument("--require-signature needs --trusted-keys DIR (the public keys that may sign artifacts)");
  return std::make_unique<auth::SignaturePolicy>(std::move(keys), o.require_signature, registry);
}

// With a separate management listener, which routes each listener serves. Health is
// on both (probes); feedback stays with inference (the application that infers is
// the one that learns the truth).
bool is_management_route(std::string_view pattern) {
  if (pattern == "/v1/feedback") return false;
  return pattern == "/v1" || pattern.starts_with("/v1/") || pattern.starts_with("/v2/repository") ||
         pattern == "/metrics" || pattern == "/ui" || pattern.starts_with("/ui/");
}
bool is_health_route(std::string_view pattern) { return pattern.starts_with("/v2/health/") || pattern == "/readyz"; }
// Handlers that commit to the registry, write blobs, wait on a remote database or
// render every series (/metrics) run off the I/O threads (HttpServerOptions::
// blocking_route): inference, health and the console's files never wait behind them.
bool is_blocking_route(std::string_view pattern) {
  return pattern.starts_with("/v1/") || pattern.starts_with("/v2/repository") || pattern == "/metrics";
}

Status validate_cluster_options(const ServeOptions& o) {
  if (o.heartbeat_ms * 2 > o.leader_lease_ms)
    return invalid_argument("--heartbeat-ms (" + std::to_string(o.heartbeat_ms) +
                            ") must be at most half of --leader-lease-ms (" + std::to_string(o.leader_lease_ms) +
                            "): the leader renews its lease every heartbeat");
  return Status::ok();
}

std::string default_replica_id(uint16_t port) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "replica");
  return std::string(host) + ":" + std::to_string(port);
}

// This replica's heartbeat: the registry revision it has applied and every version it
// serves or is loading, with its state.
void describe_replica(const lifecycle::LifecycleManager& manager, cluster::ReplicaState& self) {
  self.applied_revision = manager.applied_revision();
  nlohmann::json versions = nlohmann::json::array();
  for (const auto& d : manager.all_status()) {
    for (const auto& v : d.versions)
      versions.push_back({{"model", d.model}, {"version", v.version}, {"state", v.state},
                          {"revision", d.revision}, {"serving_revision", d.serving_revision}});
  }
  self.state["versions"] = std::move(versions);
  self.state["ready"] = manager.ready();
}

// The artifact store, opened at start, or at first use when the database was down at
// start (a replica serving its snapshot); each use retries the open until it succeeds.
class LazyRemoteArtifacts final : public store::RemoteArtifacts {
 public:
  static Result<std::unique_ptr<store::RemoteArtifacts>> make(std::string spec, std::string url, bool defer) {
    auto lazy = std::make_unique<LazyRemoteArtifacts>(std::move(spec), std::move(url));
    if (!defer) QUIVER_RETURN_IF_ERROR(lazy->get().status());
    return std::unique_ptr<store::RemoteArtifacts>(std::move(lazy));
  }
  LazyRemoteArtifacts(std::string spec, std::string url) : spec_(std::move(spec)), url_(std::move(url)) {}

  std::string describe() const override {
    auto r = get();
    return r.is_ok() ? (*r)->describe() : spec_ + " (not reached yet)";
  }
  Status put(const std::string& sha256, const std::filesystem::path& file) override {
    QUIVER_ASSIGN_OR_RETURN(auto* r, get());
    return r->put(sha256, file);
  }
  Status fetch_into(const std::string& sha256, store::BlobStore& blobs) const override {
    QUIVER_ASSIGN_OR_RETURN(auto* r, get());
    return r->fetch_into(sha256, blobs);
  }
  Result<bool> exists(const std::string& sha256) const override {
    QUIVER_ASSIGN_OR_RETURN(auto* r, get());
    return r->exists(sha256);
  }

 private:
  Result<store::RemoteArtifacts*> get() const {
    std::lock_guard lock(mu_);
    if (!opened_) {
      QUIVER_ASSIGN_OR_RETURN(opened_, store::open_remote_artifacts(spec_, url_));
    }
    return opened_.get();
  }
  const std::string spec_, url_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<store::RemoteArtifacts> opened_;
};

struct SharedBackend {
  std::shared_ptr<registry::Registry> registry;
  bool read_only = false;  // the saved snapshot, while the database is unreachable
};

// The shared registry, or, when its database cannot be reached at start, the last
// snapshot this replica saved: it serves what it served before, read-only, and swaps
// the database in when it comes back (ClusterHooks::on_connected).
Result<SharedBackend> open_shared_registry(const ServeOptions& o, const std::filesystem::path& snapshot) {
  auto pg = registry::Registry::open_postgres(o.registry_url, std::make_shared<SystemClock>());
  if (pg.is_ok()) return SharedBackend{std::shared_ptr<registry::Registry>(std::move(pg).value()), false};
  std::error_code ec;
  if (pg.status().code() != StatusCode::kUnavailable || !std::filesystem::exists(snapshot, ec))
    return pg.status().with_context("no saved registry snapshot to serve from meanwhile");
  // Serve from a copy, so the saved file stays as it was saved.
  const auto serving = snapshot.parent_path() / "registry-snapshot-serving.db";
  std::filesystem::remove(serving, ec);
  std::filesystem::copy_file(snapshot, serving, ec);
  if (ec) return unavailable("cannot copy the registry snapshot: " + ec.message());
  QUIVER_ASSIGN_OR_RETURN(auto copy, registry::Registry::open(serving));
  spdlog::warn("{}; serving the registry snapshot saved in {} read-only until it is back", pg.status().message(),
               snapshot.string());
  return SharedBackend{std::shared_ptr<registry::Registry>(std::move(copy)), true};
}

// Keeps the snapshot a cold start would serve from: rewritten when the revision moved,
// at most every 5 s (a copy of the whole registry is not free).
void save_snapshot(registry::Registry& registry, const std::filesystem::path& file, int64_t revision,
                   int64_t& saved_revision, std::chrono::steady_clock::time_point& saved_at) {
  const auto now = std::chrono::steady_clock::now();
  if (revision <= saved_revision || now - saved_at < std::chrono::seconds(5)) return;
  const auto tmp = file.parent_path() / (file.filename().string() + ".tmp");
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (Status st = registry.snapshot_to(tmp); !st.is_ok()) {
    spdlog::warn("saving the registry snapshot: {}", st.to_string());
    saved_at = now;
    return;
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    spdlog::warn("saving the registry snapshot: {}", ec.message());
    return;
  }
  saved_revision = revision;
  saved_at = now;
}

Result<std::vector<Tensor>> decode_warmup(const std::string& json) {
  QUIVER_ASSIGN_OR_RETURN(auto req, parse_infer_request(std::make_shared<const std::string>(json), std::nullopt));
  return std::move(req.inputs);
}

}  // namespace

Result<std::unique_ptr<QuiverServer>> QuiverServer::start(const ServeOptions& o) {
  auto p = std::make_unique<Parts>();
  QUIVER_RETURN_IF_ERROR(auth::check_bind_policy(o.host, o.auth, o.insecure_no_auth, "HTTP and gRPC"));
  if (o.management_port >= 0) {
    QUIVER_RETURN_IF_ERROR(
        auth::check_bind_policy(o.management_host, o.auth, o.insecure_no_auth, "the management listener"));
  }
  QUIVER_RETURN_IF_ERROR(o.tls.validate());
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return unavailable("cannot create data directory " + o.data_dir.string() + ": " + ec.message());
  if (o.tls.enabled()) {
    // gRPC reads its certificates from files: it gets validated copies under the
    // data directory, replaced on each reload (tls_context.h).
    QUIVER_ASSIGN_OR_RETURN(p->tls, TlsContextProvider::create(o.tls, o.data_dir / "tls"));
  }

  QUIVER_ASSIGN_OR_RETURN(p->blobs, store::BlobStore::open(o.data_dir));
  if (o.registry_url.empty()) {
    QUIVER_ASSIGN_OR_RETURN(p->registry, registry::Registry::open(o.data_dir / "registry.db"));
  } else {
    QUIVER_RETURN_IF_ERROR(validate_cluster_options(o));
    p->snapshot_file = o.data_dir / "registry-snapshot.db";
    QUIVER_ASSIGN_OR_RETURN(auto backend, open_shared_registry(o, p->snapshot_file));
    auto switchable = std::make_unique<registry::SwitchableRegistry>(std::move(backend.registry), backend.read_only);
    p->switchable = switchable.get();
    p->registry = std::move(switchable);
    QUIVER_ASSIGN_OR_RETURN(p->remote_artifacts,
                            LazyRemoteArtifacts::make(o.artifact_store.empty() ? "postgresql" : o.artifact_store,
                                                      o.registry_url, backend.read_only));
    spdlog::info("shared registry {}; artifact copies in {}", p->registry->url(), p->remote_artifacts->describe());
  }
  QUIVER_ASSIGN_OR_RETURN(p->auth, start_auth(o, *p->registry, p->routes, p->clock, metrics::default_registry()));
  QUIVER_ASSIGN_OR_RETURN(p->signatures, make_signature_policy(o, *p->registry));
  p->trusted_keys_dir = o.trusted_keys_dir;

  lifecycle::ManagerOptions mo;
  mo.intra_op_threads = o.intra_op_threads;
  mo.warmup_runs = o.warmup_runs;
  mo.inline_below = std::chrono::microseconds(o.inline_below_us);
  mo.memory_budget_bytes = o.memory_budget_bytes;
  mo.verify_before_load = [s = p->signatures.get()](const registry::VersionRecord& v) {
    return s->verify_before_load(v);
  };
  if (p->registry->shared()) {
    mo.cluster_ready = [parts = p.get()](const std::string& model, const std::vector<int64_t>& versions) {
      const cluster::ClusterNode* node = parts->cluster_node.load();
      return node == nullptr || node->peers_ready(model, versions);
    };
  }
  if (p->remote_artifacts) {
    mo.fetch_artifact = [r = p->remote_artifacts.get(), b = p->blobs.get()](const std::string& sha) {
      return r->fetch_into(sha, *b);
    };
  }
  p->manager = std::make_unique<lifecycle::LifecycleManager>(
      *p->registry, *p->blobs, p->routes, &metrics::default_registry(), p->clock, mo,
      [](const backends::LoadRequest& r) { return backends::load_backend(r); }, decode_warmup);

  p->shadows = std::make_unique<routing::ShadowTracker>(&metrics::default_registry());
  p->runner = std::make_unique<VersionRunner>(
      p->routes, *p->registry, *p->blobs, [](const backends::LoadRequest& r) { return backends::load_backend(r); },
      o.intra_op_threads);
  p->runner->set_verify_before_load(mo.verify_before_load);
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
  const rollout::SignalSource* signals = p->signals.get();
  if (p->registry->shared()) {
    p->pooled = std::make_unique<PooledSignals>(*p->signals, *p->registry);
    signals = p->pooled.get();
  }
  p->rollouts = std::make_unique<rollout::RolloutController>(*p->registry, *signals, p->clock,
                                                             &metrics::default_registry(),
                                                             [m = p->manager.get()] { m->notify(); });
  p->bandit_shares = std::make_unique<BanditShareRelay>(*p->manager);
  p->bandits = std::make_unique<rollout::BanditController>(
      *p->registry, *signals, p->clock, &metrics::default_registry(),
      [r = p->bandit_shares.get()](const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic) {
        r->publish(model, revision, std::move(traffic));
      },
      std::random_device{}());
  p->ctx = std::make_unique<ApiContext>(ApiContext{*p->registry, *p->blobs, p->routes, *p->manager,
                                                   metrics::default_registry(), *p->shadows, *p->inference,
                                                   *p->rollouts, *p->bandits, *p->quality});
  p->ctx->tensor_limits = o.tensor_limits;
  if (p->remote_artifacts) {
    p->ctx->store_durable_artifact = [r = p->remote_artifacts.get(), b = p->blobs.get()](const std::string& sha) {
      QUIVER_ASSIGN_OR_RETURN(auto path, b->path_of(sha));
      return r->put(sha, path);
    };
  }
  p->ctx->signatures = p->signatures.get();
  p->ctx->backup_tmp_dir = o.data_dir / "tmp";  // swept by the blob store on start
  p->repository = std::make_unique<lifecycle::ModelRepository>(*p->registry, *p->manager, p->routes, p->clock);
  p->ctx->repository = p->repository.get();
  p->stats_history = make_stats_history(p->clock, p->routes);
  p->stats_loop = std::make_unique<PeriodicLoop>([h = p->stats_history.get()] { return h->step(); });
  p->ctx->stats_history = p->stats_history.get();
  p->objectives = std::make_unique<rollout::ObjectiveController>(
      *p->registry,
      [c = p->ctx.get()](const std::string& model, const std::vector<int64_t>& versions) {
        std::vector<rollout::VersionFacts> facts;
        compare_versions(*c, model, versions, facts);
        return facts;
      },
      p->clock, [m = p->manager.get()] { m->notify(); }, std::chrono::milliseconds(o.objective_interval_ms));

  // The standard process_* families and quiver_build_info, beside every module's own.
  metrics::register_process_metrics(metrics::default_registry());
  metrics::register_build_info(metrics::default_registry());
  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = static_cast<uint16_t>(o.http_port);
  ho.threads = o.http_threads;
  ho.blocking_route = [](std::string_view, std::string_view pattern) { return is_blocking_route(pattern); };
  ho.max_body_bytes = o.max_body_bytes;
  ho.max_upload_bytes = o.max_upload_bytes;
  ho.max_header_bytes = o.max_header_bytes;
  ho.max_header_fields = o.max_header_fields;
  ho.max_url_bytes = o.max_url_bytes;
  ho.max_json_depth = o.max_json_depth;
  ho.max_small_chunks = o.max_small_chunks;
  ho.max_connections = o.max_connections;
  ho.header_timeout = std::chrono::milliseconds(o.header_timeout_ms);
  ho.body_timeout = std::chrono::milliseconds(o.body_timeout_ms);
  ho.idle_timeout = std::chrono::seconds(o.idle_timeout_s);
  ho.tls = p->tls;
  if (!o.access_log.empty()) {  // shared by both listeners: one file, one line per request
    AccessLogOptions lo;
    lo.dropped = &metrics::default_registry().counter(
        "quiver_access_log_dropped_total", "Access log lines dropped because writing fell behind");
    QUIVER_ASSIGN_OR_RETURN(ho.access_log, http::AccessLogWriter::open(o.access_log, lo));
  }
  if (o.management_port >= 0) {
    HttpServerOptions mo_http = ho;
    mo_http.host = o.management_host;
    mo_http.port = static_cast<uint16_t>(o.management_port);
    mo_http.route_filter = [](std::string_view, std::string_view pattern) {
      return is_management_route(pattern) || is_health_route(pattern);
    };
    ho.route_filter = [](std::string_view, std::string_view pattern) { return !is_management_route(pattern); };
    p->management = std::make_unique<HttpServer>(mo_http);
  }
  p->http = std::make_unique<HttpServer>(ho);
  // Every endpoint group is offered to every listener; each one's route filter keeps its share.
  for (HttpServer* server : {p->http.get(), p->management.get()}) {
    if (server == nullptr) continue;
    register_inference_routes(*server, *p->ctx);
    register_registry_routes(*server, *p->ctx);
    register_deployment_routes(*server, *p->ctx);
    register_ops_routes(*server, *p->ctx);
    register_rollout_routes(*server, *p->ctx);
    register_compare_routes(*server, *p->ctx);
    register_quality_routes(*server, *p->ctx);
    register_signature_routes(*server, *p->ctx);
    register_backup_routes(*server, *p->ctx);
    register_repository_routes(*server, *p->ctx);
    register_ui_routes(*server);
    register_stats_routes(*server, *p->ctx);
    install_auth(*server, *p->registry, *p->auth);
  }

  if (p->registry->shared()) {
    // Only the lease holder steps rollouts and objectives; its writes carry the fence.
    const auto probe = [parts = p.get()]() -> rollout::Leadership {
      const cluster::ClusterNode* node = parts->cluster_node.load();
      if (node == nullptr) return {false, std::nullopt};  // not joined yet
      auto fence = node->lease().fence();
      return {fence.has_value(), fence};
    };
    p->rollouts->set_leadership(probe);
    p->objectives->set_leadership(probe);
    p->bandits->set_leadership(probe);
    p->bandits->set_leader_status([r = p->bandit_shares.get()](const std::string& model) {
      return r->leader_status(model);
    });
  }

  // Restore deployments before taking traffic, so a restarted server answers with the
  // versions it served before (readiness reports the truth while they load).
  p->manager->start();
  p->rollouts->start();
  p->bandits->start();
  p->objectives->start();
  p->stats_loop->start();
  p->repository->start();
  // A listener that cannot start stops everything started before it.
  const auto fail = [&p](Status st) {
    p->repository->stop();
    if (p->grpc) p->grpc->stop();
    if (p->management) p->management->stop();
    p->http->stop();
    p->quality->stop();
    p->runner->stop();
    p->rollouts->stop();
    p->bandits->stop();
    p->objectives->stop();
    p->stats_loop->stop();
    p->manager->stop();
    return st;
  };
  if (Status st = p->http->start(); !st.is_ok()) return fail(st);
  if (p->management) {
    if (Status st = p->management->start(); !st.is_ok()) return fail(st.with_context("management listener"));
  }
  grpc_api::GrpcServerOptions go;
  go.host = o.host;
  go.port = static_cast<uint16_t>(o.grpc_port);
  // One limit for an inference body, whichever protocol carries it.
  go.max_message_bytes = static_cast<int>(std::min<uint64_t>(o.max_body_bytes, std::numeric_limits<int>::max()));
  go.max_metadata_bytes = o.max_header_bytes;
  go.max_concurrent_streams = o.grpc_max_concurrent_streams;
  go.threads = o.grpc_threads;
  go.tensor_limits = o.tensor_limits;
  if (p->tls) {
    go.tls_cert_file = p->tls->grpc_cert_path().string();
    go.tls_key_file = p->tls->grpc_key_path().string();
    go.tls_client_ca_file = p->tls->grpc_client_ca_path().string();
    go.tls_client_auth = o.tls.client_auth;
    if (o.tls.min_version == "1.3") {
      spdlog::warn("--tls-min-version 1.3 applies to HTTP; gRPC accepts TLS 1.2 and 1.3 (this gRPC version "
                   "has no setting for its minimum)");
    }
  }
  p->grpc = std::make_unique<grpc_api::GrpcServer>(p->routes, *p->manager, *p->inference);
  p->grpc->set_authorizer(p->auth->authorizer.get());
  p->grpc->set_repository(p->repository.get());
  if (Status st = p->grpc->start(go); !st.is_ok()) return fail(st);
  if (p->registry->shared()) {
    cluster::ClusterOptions co;
    co.url = o.registry_url;
    co.replica_id = o.replica_id.empty() ? default_replica_id(p->http->port()) : o.replica_id;
    co.address = o.advertise_address.empty() ? o.host + ":" + std::to_string(p->http->port()) : o.advertise_address;
    co.lease_ttl = std::chrono::milliseconds(o.leader_lease_ms);
    co.heartbeat_interval = std::chrono::milliseconds(o.heartbeat_ms);
    co.poll_interval = std::chrono::milliseconds(o.registry_poll_ms);
    co.listen = o.registry_notify;
    p->feedback_relay = std::make_unique<cluster::FeedbackRelay>(co.url, co.replica_id,
                                                                std::chrono::seconds(o.prediction_log_max_age_s));
    p->quality->set_forward_unknown([r = p->feedback_relay.get()](const nlohmann::json& item) {
      return r->forward(item);
    });
    cluster::ClusterHooks hooks;
    hooks.exchange = [parts = p.get()](pg::Connection& conn) -> Status {
      auto joined = parts->feedback_relay->exchange(
          conn, [q = parts->quality.get()](const nlohmann::json& item) { return q->join_forwarded(item); });
      return joined.status();
    };
    hooks.on_change = [m = p->manager.get()](int64_t revision) {
      m->notify_revision(revision);
    };
    hooks.describe_self = [parts = p.get()](cluster::ReplicaState& self) {
      describe_replica(*parts->manager, self);
      if (self.state.value("leader", false)) self.state["bandit"] = parts->bandit_shares->shares_json(*parts->bandits);
    };
    hooks.after_heartbeat = [parts = p.get()](int64_t known_revision) {
      // A revision held for other replicas may go live now that their states are fresh.
      if (parts->manager->held_for_cluster()) parts->manager->notify();
      if (const cluster::ClusterNode* node = parts->cluster_node.load(); node != nullptr) {
        if (auto leader = node->leader_peer(); leader && leader->state.contains("bandit"))
          parts->bandit_shares->apply_leader(leader->state["bandit"]);
      }
      if (parts->switchable->read_only()) return;
      save_snapshot(*parts->registry, parts->snapshot_file, known_revision, parts->snapshot_revision,
                    parts->snapshot_saved_at);
    };
    hooks.on_connected = [parts = p.get(), url = o.registry_url] {
      if (!parts->switchable->read_only()) return;
      auto pg = registry::Registry::open_postgres(url, std::make_shared<SystemClock>());
      if (!pg.is_ok()) return;
      parts->switchable->swap(std::shared_ptr<registry::Registry>(std::move(pg).value()), false);
      spdlog::info("the registry database is back: serving the shared registry again");
      parts->manager->notify();
    };
    hooks.local_counters = [s = p->pooled.get()] { return s->local_rows(); };
    hooks.remote_counters = [s = p->pooled.get()](std::vector<cluster::CounterRow> rows) {
      s->set_remote(std::move(rows));
    };
    p->cluster = std::make_unique<cluster::ClusterNode>(co, p->clock, &metrics::default_registry(), std::move(hooks));
    p->ctx->cluster_status = [c = p->cluster.get()] { return c->describe(); };
    p->cluster->start();
    p->cluster_node = p->cluster.get();
    spdlog::info("replica {} at {} joined the cluster", co.replica_id, co.address);
  }
  return std::unique_ptr<QuiverServer>(new QuiverServer(std::move(p)));
}

QuiverServer::QuiverServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

QuiverServer::~QuiverServer() { stop(); }

uint16_t QuiverServer::http_port() const { return parts_->http->port(); }

uint16_t QuiverServer::grpc_port() const { return parts_->grpc->port(); }

uint16_t QuiverServer::management_port() const { return parts_->management ? parts_->management->port() : 0; }

Status QuiverServer::reload_tls() {
  if (!parts_ || !parts_->tls) return Status::ok();
  return parts_->tls->reload();
}

Status QuiverServer::reload_trusted_keys() {
  if (!parts_ || parts_->trusted_keys_dir.empty()) return Status::ok();
  QUIVER_ASSIGN_OR_RETURN(auth::TrustedKeys keys, auth::TrustedKeys::load_dir(parts_->trusted_keys_dir));
  auto shared = std::make_shared<const auth::TrustedKeys>(std::move(keys));
  const std::string described = shared->describe();
  const size_t count = shared->keys().size();
  QUIVER_RETURN_IF_ERROR(parts_->signatures->replace_keys(std::move(shared)));
  spdlog::info("now trusting {} artifact signing key(s): {}", count, described);
  return Status::ok();
}

void QuiverServer::stop() {
  if (!parts_) return;
  // Hand the lease over first, so a standby leads while this replica drains.
  if (parts_->cluster) {
    parts_->cluster_node = nullptr;
    parts_->cluster->stop();
  }
  parts_->repository->stop();  // answers waiting loads and unloads, so the listeners can drain
  parts_->grpc->stop();
  parts_->http->stop();
  if (parts_->management) parts_->management->stop();
  parts_->auth->stop();  // writes the queued audit records
  parts_->quality->stop();  // evaluations run versions: before the manager unloads them
  parts_->runner->stop();
  parts_->rollouts->stop();
  parts_->bandits->stop();
  parts_->objectives->stop();
  parts_->stats_loop->stop();
  parts_->manager->stop();
  parts_.reset();
}

}  // namespace quiver::server
