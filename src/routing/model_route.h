// ModelRoute: one model's compiled, immutable routing policy over its ready versions.
// Built by the lifecycle manager from a deployment spec; read lock-free by requests.
//
// Thread-safety: immutable after build(); any number of threads may route().
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/deployment_spec.h"
#include "core/params.h"
#include "core/prediction_task.h"
#include "core/status.h"
#include "routing/route_hash.h"
#include "routing/route_kind.h"

namespace quiver::serving { class Servable; }

namespace quiver::routing {

struct Endpoint {
  int64_t version = 0;
  std::shared_ptr<serving::Servable> servable;
  // The servable's routed-request count when this route was built, so the observed
  // traffic share reflects this revision only.
  uint64_t routed_baseline = 0;
  // What the version predicts and where to read it (quality/ logs predictions with it).
  PredictionTask task = {};
};

struct RouteDecision {
  const Endpoint* primary = nullptr;
  RouteKind kind = RouteKind::kDefault;
  std::vector<const Endpoint*> shadows;  // mirrored asynchronously, never awaited
  // A rollout's candidate with retry_on_baseline: where to run the request again when
  // the primary fails with a server-side error (the user sees no failure).
  const Endpoint* fallback = nullptr;
};

class ModelRoute {
 public:
  // `endpoints` holds one ready servable per version in spec.versions (any order).
  // InvalidArgument when the spec names a version that has no endpoint.
  // `ejected` versions (failing health checks) get no routed traffic: their weight
  // goes to the others in proportion, rules and shadows naming them are skipped. They
  // still answer pinned requests. If every weighted version is ejected, the weights
  // stand: trying a sick version beats failing every request.
  static Result<std::shared_ptr<const ModelRoute>> build(std::string model, int64_t revision,
                                                         DeploymentSpec spec, std::vector<Endpoint> endpoints,
                                                         std::set<int64_t> ejected = {});

  RouteDecision route(const Headers& headers, const Params& params) const;
  // The endpoint serving `version`, or nullptr.
  const Endpoint* find(int64_t version) const;

  const std::string& model() const { return model_; }
  int64_t revision() const { return revision_; }
  const DeploymentSpec& spec() const { return spec_; }
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  const std::set<int64_t>& ejected() const { return ejected_; }
  // Configured share of routed traffic (0..1) for `version` by the traffic weights.
  double configured_share(int64_t version) const;

 private:
  struct CompiledRule {
    RuleMatch match;
    const Endpoint* target;
  };
  struct CompiledShadow {
    const Endpoint* target;
    double fraction;  // 0..1
  };

  ModelRoute() = default;
  const Endpoint* pick_weighted(const Headers& headers, const Params& params, RouteKind& kind) const;

  std::string model_;
  int64_t revision_ = 0;
  DeploymentSpec spec_;
  std::vector<Endpoint> endpoints_;  // spec.versions order; never resized after build
  // (version, endpoint) sorted by version: find() in O(log n) for models with
  // hundreds of on-demand versions.
  std::vector<std::pair<int64_t, const Endpoint*>> by_version_;
  std::vector<WeightedChoice> choices_;  // parallel to weighted_targets_
  std::vector<const Endpoint*> weighted_targets_;
  std::vector<uint64_t> cumulative_;  // running weight sums for random picks
  uint64_t total_weight_ = 0;
  std::vector<CompiledRule> rules_;
  std::vector<CompiledShadow> shadows_;
  std::set<int64_t> ejected_;
  const Endpoint* default_ = nullptr;  // into endpoints_
  const Endpoint* retry_from_ = nullptr;  // the rollout's candidate, when it retries on the baseline
  const Endpoint* retry_to_ = nullptr;
};

}  // namespace quiver::routing
