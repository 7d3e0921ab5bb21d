#include "api/inference/inference_service.h"

#include "metrics/metrics_registry.h"
#include "routing/route_table.h"
#include "routing/shadow_compare.h"
#include "serving/servable.h"

namespace quiver::api {

void InferenceService::count_route(const std::string& model, int64_t version, routing::RouteKind kind) {
  metrics_
      .counter("quiver_routed_requests_total", "Inference requests by model, version and route kind",
               {{"model", model}, {"version", std::to_string(version)},
                {"route", std::string(routing::route_kind_name(kind))}})
      .inc();
}

void InferenceService::infer(InferCall call, InferCallback done) {
  auto table = routes_.load();  // pins every servable in it until this request is queued
  const routing::Endpoint* endpoint = nullptr;
  routing::RouteKind kind = routing::RouteKind::kPinned;
  std::vector<std::shared_ptr<routing::ShadowComparison>> comparisons;

  if (call.version) {
    auto pinned = table->resolve_pinned(call.model, *call.version);
    if (!pinned.is_ok()) return done(pinned.status(), 0);
    endpoint = *pinned;
  } else {
    auto route = table->route_for(call.model);
    if (!route.is_ok()) return done(route.status(), 0);
    auto decision = (*route)->route(call.headers, call.parameters);
    endpoint = decision.primary;
    kind = decision.kind;
    endpoint->servable->stats().record_routed();
    // Shadows get the same input bytes (shared, not copied); their results only feed
    // the comparison and nothing waits for them.
    for (const routing::Endpoint* shadow : decision.shadows) {
      count_route(call.model, shadow->version, routing::RouteKind::kShadow);
      auto cmp = std::make_shared<routing::ShadowComparison>(shadows_, call.model, endpoint->version,
                                                             shadow->version);
      shadow->servable->submit(call.inputs, [cmp](Result<std::vector<Tensor>> r) { cmp->set_shadow(r); });
      comparisons.push_back(std::move(cmp));
    }
  }
  count_route(call.model, endpoint->version, kind);

  // The callback must not capture the servable (see serving/servable.h on lifetimes).
  const int64_t version = endpoint->version;
  endpoint->servable->submit(
      std::move(call.inputs),
      [version, kind, comparisons = std::move(comparisons), done = std::move(done)](Result<std::vector<Tensor>> r) {
        for (const auto& cmp : comparisons) cmp->set_primary(r);
        if (!r.is_ok()) return done(r.status(), version);
        done(InferOutcome{version, kind, std::move(r).value()}, version);
      });
}

}  // namespace quiver::api
