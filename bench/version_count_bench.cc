// Routing cost against the number of versions a server knows: one weighted routing
// decision over N live versions, one pinned request resolved among N registered
// versions, and building a model's route (what publishing a snapshot costs). The
// versions are on-demand servables that never load: routing only needs the handles.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "routing/model_route.h"
#include "routing/route_table.h"
#include "serving/servable.h"

namespace {

using quiver::DeploymentSpec;
using quiver::routing::Endpoint;
using quiver::routing::ModelRoute;

std::vector<Endpoint> cold_endpoints(int n) {
  std::vector<Endpoint> out;
  const quiver::serving::BackendLoader never = [](const quiver::backends::LoadRequest&)
      -> quiver::Result<std::unique_ptr<quiver::backends::Backend>> { return quiver::unavailable("never loaded"); };
  for (int v = 1; v <= n; ++v) {
    quiver::serving::ServableConfig config;
    config.model = "bench";
    config.version = v;
    auto s = quiver::serving::Servable::deferred(config, never, nullptr, [](auto) {});
    Endpoint e;
    e.version = v;
    e.servable = std::move(s).value();
    out.push_back(std::move(e));
  }
  return out;
}

DeploymentSpec weighted_spec(int n) {
  DeploymentSpec spec;
  for (int v = 1; v <= n; ++v) {
    quiver::DeployedVersion dv;
    dv.version = {std::to_string(v), v};
    dv.load = quiver::LoadPolicy::kOnDemand;
    spec.versions.push_back(dv);
    spec.traffic.push_back({{std::to_string(v), v}, 1});
  }
  return spec;
}

void BM_RouteWeightedAmongVersions(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto route = ModelRoute::build("bench", 1, weighted_spec(n), cold_endpoints(n)).value();
  const quiver::Headers headers = {{"content-type", "application/json"}};
  const quiver::Params params;
  for (auto _ : state) {
    auto d = route->route(headers, params);
    benchmark::DoNotOptimize(d.primary);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteWeightedAmongVersions)->RangeMultiplier(10)->Range(1, 1000);

// A pinned request (`/versions/{v}/infer`) among N deployed versions: alias
// resolution and the endpoint look-up in the snapshot.
void BM_ResolvePinnedAmongVersions(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  quiver::routing::RouteTable table;
  auto& entry = table.models["bench"];
  for (int v = 1; v <= n; ++v) entry.registered.insert(v);
  entry.aliases.emplace("stable", n / 2 + 1);
  entry.route = ModelRoute::build("bench", 1, weighted_spec(n), cold_endpoints(n)).value();
  const std::string pinned = std::to_string(n);
  for (auto _ : state) {
    auto e = table.resolve_pinned("bench", pinned);
    benchmark::DoNotOptimize(e);
    auto a = table.resolve_pinned("bench", "stable");
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_ResolvePinnedAmongVersions)->RangeMultiplier(10)->Range(1, 1000);

// Building the route of a model with N versions: paid once per published snapshot.
void BM_BuildRouteOfVersions(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto endpoints = cold_endpoints(n);
  const auto spec = weighted_spec(n);
  for (auto _ : state) {
    auto r = ModelRoute::build("bench", 1, spec, endpoints);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildRouteOfVersions)->RangeMultiplier(10)->Range(1, 1000);

}  // namespace
