// Everything the HTTP endpoints need, wired once by QuiverServer. Handlers reach the
// modules only through this struct, so each endpoint file states its dependencies.
#pragma once

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "api/inference/inference_service.h"
#include "auth/signature_policy.h"
#include "lifecycle/manager.h"
#include "lifecycle/model_repository.h"
#include "metrics/metrics_registry.h"
#include "metrics/stats_history.h"
#include "quality/quality_service.h"
#include "registry/registry.h"
#include "routing/route_table.h"
#include "rollout/bandit_controller.h"
#include "rollout/objective.h"
#include "rollout/objective_controller.h"
#include "rollout/rollout_controller.h"
#include "routing/shadow_compare.h"
#include "store/blob_store.h"

namespace quiver::http {

class HttpServer;

struct ApiContext {
  registry::Registry& registry;
  store::BlobStore& blobs;
  routing::RoutePublisher& routes;
  lifecycle::LifecycleManager& manager;
  metrics::MetricsRegistry& metrics;
  routing::ShadowTracker& shadows;
  api::InferenceService& inference;
  rollout::RolloutController& rollouts;
  rollout::BanditController& bandits;
  quality::QualityService& quality;
  TensorLimits tensor_limits{};  // what an inference request may declare
  // Signed artifacts (auth/signature_policy.h); null: signatures are refused.
  const auth::SignaturePolicy* signatures = nullptr;
  // Where GET /v1/backup keeps its registry snapshot while it streams (<data-dir>/tmp).
  std::filesystem::path backup_tmp_dir{};
  // The model repository extension and model configuration (lifecycle/model_repository.h);
  // null: those routes answer 503.
  lifecycle::ModelRepository* repository = nullptr;
  // Recent per-version traffic for the console (GET /v1/deployments/{m}/stats); null: none kept.
  const metrics::StatsHistory* stats_history = nullptr;
  // Replicas (cluster/cluster_node.h): GET /v1/cluster's document; empty: one server.
  std::function<Result<nlohmann::json>()> cluster_status{};
  // Replicas: the durable copy of a pushed artifact, written before its version
  // commits (store/remote_artifacts.h); empty: the local blob store is the only copy.
  std::function<Status(const std::string& sha256)> store_durable_artifact{};
};

// Each registers one endpoint group (one file each).
void register_inference_routes(HttpServer& server, ApiContext& ctx);
void register_registry_routes(HttpServer& server, ApiContext& ctx);
void register_deployment_routes(HttpServer& server, ApiContext& ctx);
void register_ops_routes(HttpServer& server, ApiContext& ctx);
void register_rollout_routes(HttpServer& server, ApiContext& ctx);
void register_compare_routes(HttpServer& server, ApiContext& ctx);

// The versions' columns of GET /v1/models/{m}/compare, and the facts the objective
// scores (compare_handlers.cc; the objective controller uses it too).
nlohmann::json compare_versions(ApiContext& ctx, const std::string& model, const std::vector<int64_t>& versions,
                                std::vector<rollout::VersionFacts>& facts);
void register_quality_routes(HttpServer& server, ApiContext& ctx);
// Model policies and trusted keys (signature_handlers.cc); GET /v1/backup (backup_handlers.cc).
void register_signature_routes(HttpServer& server, ApiContext& ctx);
void register_backup_routes(HttpServer& server, ApiContext& ctx);
// POST /v2/repository/index, /v2/repository/models/{m}/load and /unload (repository_handlers.cc).
void register_repository_routes(HttpServer& server, ApiContext& ctx);
// The web console's embedded assets at /ui (ui_handlers.cc) and the traffic history it
// charts (stats_handlers.cc).
void register_ui_routes(HttpServer& server);
void register_stats_routes(HttpServer& server, ApiContext& ctx);

}  // namespace quiver::http
