// Cost of one routing decision (ModelRoute::route) for the policies a deployment can
// combine, and of loading the current route snapshot. Both sit on every request's path.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "routing/model_route.h"
#include "routing/route_table.h"
#include "serving/servable.h"

namespace {

using quiver::DeploymentSpec;
using quiver::Headers;
using quiver::KeySource;
using quiver::MatchOp;
using quiver::Params;
using quiver::VersionRef;
using quiver::routing::Endpoint;
using quiver::routing::ModelRoute;

// Routing never calls the backend; it only needs a live servable per version.
class IdleBackend final : public quiver::backends::Backend {
 public:
  const quiver::ModelSignature& signature() const override { return signature_; }
  quiver::Result<std::vector<quiver::Tensor>> infer(const std::vector<quiver::Tensor>& inputs) override {
    return inputs;
  }

 private:
  quiver::ModelSignature signature_;
};

std::vector<Endpoint> endpoints(int n) {
  std::vector<Endpoint> out;
  const quiver::serving::BackendLoader loader =
      [](const quiver::backends::LoadRequest&) -> quiver::Result<std::unique_ptr<quiver::backends::Backend>> {
    return std::unique_ptr<quiver::backends::Backend>(std::make_unique<IdleBackend>());
  };
  for (int v = 1; v <= n; ++v) {
    quiver::serving::ServableConfig config;
    config.model = "bench";
    config.version = v;
    auto s = quiver::serving::Servable::load(config, loader, nullptr);
    if (!s.is_ok()) continue;
    Endpoint e;
    e.version = v;
    e.servable = std::move(s).value();
    out.push_back(std::move(e));
  }
  return out;
}

VersionRef ref(int64_t v) { return {std::to_string(v), v}; }

DeploymentSpec spec_with(int versions) {
  DeploymentSpec spec;
  for (int v = 1; v <= versions; ++v) {
    quiver::DeployedVersion dv;
    dv.version = ref(v);
    spec.versions.push_back(dv);
  }
  return spec;
}

void add_weight(DeploymentSpec& spec, int64_t version, uint32_t weight) {
  quiver::TrafficWeight tw;
  tw.version = ref(version);
  tw.weight = weight;
  spec.traffic.push_back(tw);
}

std::shared_ptr<const ModelRoute> build(DeploymentSpec spec, int versions) {
  auto r = ModelRoute::build("bench", 1, std::move(spec), endpoints(versions));
  return r.is_ok() ? std::move(r).value() : nullptr;
}

// Typical request metadata: a few headers, a couple of parameters.
Headers request_headers(const std::string& user) {
  return {{"content-type", "application/json"}, {"x-request-id", "3f2a9c"}, {"x-user-id", user}};
}
Params request_params() { return {{"temperature", 0.5}, {"region", std::string("eu")}}; }

void run(benchmark::State& state, const ModelRoute* route, const Headers& headers, const Params& params) {
  if (!route) {
    state.SkipWithError("route did not build");
    return;
  }
  for (auto _ : state) {
    auto d = route->route(headers, params);
    benchmark::DoNotOptimize(d.primary);
    benchmark::DoNotOptimize(d.shadows.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RouteWeightedTwoVersions(benchmark::State& state) {
  auto spec = spec_with(2);
  add_weight(spec, 1, 90);
  add_weight(spec, 2, 10);
  auto route = build(spec, 2);
  run(state, route.get(), request_headers("user-1"), request_params());
}
BENCHMARK(BM_RouteWeightedTwoVersions);

void BM_RouteStickyHeaderThreeVersions(benchmark::State& state) {
  auto spec = spec_with(3);
  add_weight(spec, 1, 50);
  add_weight(spec, 2, 30);
  add_weight(spec, 3, 20);
  spec.sticky = quiver::StickyConfig{KeySource::kHeader, "x-user-id"};
  auto route = build(spec, 3);
  run(state, route.get(), request_headers("user-8c1d4e7f"), request_params());
}
BENCHMARK(BM_RouteStickyHeaderThreeVersions);

// Five rules that all miss (the worst case for rules), then a weighted pick.
void BM_RouteFiveRulesThenWeighted(benchmark::State& state) {
  auto spec = spec_with(2);
  add_weight(spec, 1, 90);
  add_weight(spec, 2, 10);
  auto add_rule = [&spec](KeySource source, std::string key, MatchOp op, std::vector<std::string> values,
                          double number) {
    quiver::RouteRule r;
    r.match.source = source;
    r.match.key = std::move(key);
    r.match.op = op;
    r.match.values = std::move(values);
    r.match.number = number;
    r.version = ref(2);
    spec.rules.push_back(std::move(r));
  };
  add_rule(KeySource::kHeader, "x-beta", MatchOp::kEquals, {"1"}, 0);
  add_rule(KeySource::kHeader, "x-tenant", MatchOp::kIn, {"acme", "globex", "initech"}, 0);
  add_rule(KeySource::kParameter, "temperature", MatchOp::kGt, {}, 0.9);
  add_rule(KeySource::kParameter, "region", MatchOp::kNotEquals, {"eu"}, 0);
  add_rule(KeySource::kParameter, "max_tokens", MatchOp::kGte, {}, 1000);
  auto route = build(spec, 2);
  run(state, route.get(), request_headers("user-1"), request_params());
}
BENCHMARK(BM_RouteFiveRulesThenWeighted);

void BM_RouteWeightedWithFullShadow(benchmark::State& state) {
  auto spec = spec_with(3);
  add_weight(spec, 1, 90);
  add_weight(spec, 2, 10);
  quiver::ShadowTarget shadow;
  shadow.version = ref(3);
  shadow.percent = 100;
  spec.shadow.push_back(shadow);
  auto route = build(spec, 3);
  run(state, route.get(), request_headers("user-1"), request_params());
}
BENCHMARK(BM_RouteWeightedWithFullShadow);

// A live rollout at a 5 % step with a full mirror and retry_on_baseline: the route the
// rollout controller writes. The request path does the weighted pick plus a pointer
// compare for the fallback.
void BM_RouteLiveRollout(benchmark::State& state) {
  auto spec = spec_with(2);
  add_weight(spec, 1, 9500);
  add_weight(spec, 2, 500);
  quiver::ShadowTarget shadow;
  shadow.version = ref(2);
  shadow.percent = 100;
  spec.shadow.push_back(shadow);
  quiver::RolloutSpec rollout;
  rollout.baseline = ref(1);
  rollout.candidate = ref(2);
  rollout.retry_on_baseline = true;
  spec.rollout = rollout;
  auto route = build(spec, 2);
  run(state, route.get(), request_headers("user-1"), request_params());
}
BENCHMARK(BM_RouteLiveRollout);

// A three-armed bandit: its shares arrive as weights in parts per million, so the
// decision is the same weighted pick.
void BM_RouteBanditThreeArms(benchmark::State& state) {
  auto spec = spec_with(3);
  add_weight(spec, 1, 20000);
  add_weight(spec, 2, 30000);
  add_weight(spec, 3, 950000);
  quiver::BanditSpec bandit;
  bandit.arms = {ref(1), ref(2), ref(3)};
  spec.bandit = bandit;
  auto route = build(spec, 3);
  run(state, route.get(), request_headers("user-1"), request_params());
}
BENCHMARK(BM_RouteBanditThreeArms);

void BM_RoutePublisherLoad(benchmark::State& state) {
  quiver::routing::RoutePublisher publisher;
  auto table = std::make_shared<quiver::routing::RouteTable>();
  auto spec = spec_with(2);
  table->models["bench"].route = build(spec, 2);
  publisher.publish(table);
  for (auto _ : state) {
    auto snapshot = publisher.load();
    benchmark::DoNotOptimize(snapshot.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RoutePublisherLoad);
BENCHMARK(BM_RoutePublisherLoad)->Threads(2);

}  // namespace
