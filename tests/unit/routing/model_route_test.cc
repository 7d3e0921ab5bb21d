#include "routing/model_route.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::routing {
namespace {

constexpr int kDraws = 100000;

VersionRef ref(int64_t v) { return {std::to_string(v), v}; }

DeploymentSpec versions_spec(std::vector<int64_t> versions) {
  DeploymentSpec spec;
  for (int64_t v : versions) {
    DeployedVersion dv;
    dv.version = ref(v);
    spec.versions.push_back(dv);
  }
  return spec;
}

void add_traffic(DeploymentSpec& spec, std::vector<std::pair<int64_t, uint32_t>> weights) {
  for (auto [v, w] : weights) {
    TrafficWeight tw;
    tw.version = ref(v);
    tw.weight = w;
    spec.traffic.push_back(tw);
  }
}

ShadowTarget shadow_of(int64_t version, double percent) {
  ShadowTarget t;
  t.version = ref(version);
  t.percent = percent;
  return t;
}

RouteRule rule(KeySource source, std::string key, MatchOp op, std::vector<std::string> values, int64_t version,
               double number = 0) {
  RouteRule r;
  r.match.source = source;
  r.match.key = std::move(key);
  r.match.op = op;
  r.match.values = std::move(values);
  r.match.number = number;
  r.version = ref(version);
  return r;
}

// Endpoints for versions 1..3 backed by real servables over the fake backend.
class ModelRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int64_t v = 1; v <= 3; ++v) {
      auto servable = testing::fake_servable("m", v, std::make_shared<testing::FakeBackendControl>());
      ASSERT_NE(servable, nullptr);
      Endpoint e;
      e.version = v;
      e.servable = servable;
      endpoints_.push_back(e);
    }
  }

  std::shared_ptr<const ModelRoute> build(DeploymentSpec spec) {
    auto r = ModelRoute::build("m", 1, std::move(spec), endpoints_);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : nullptr;
  }

  // Share of kDraws anonymous requests per version.
  static std::map<int64_t, double> shares(const ModelRoute& route, const Headers& headers = {},
                                          const Params& params = {}) {
    std::map<int64_t, int> counts;
    for (int i = 0; i < kDraws; ++i) ++counts[route.route(headers, params).primary->version];
    std::map<int64_t, double> out;
    for (auto [v, c] : counts) out[v] = 100.0 * c / kDraws;
    return out;
  }

  std::vector<Endpoint> endpoints_;
};

TEST_F(ModelRouteTest, NinetyTenSplitWithinOnePoint) {
  auto spec = versions_spec({1, 2});
  add_traffic(spec, {{1, 90}, {2, 10}});
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  auto s = shares(*route);
  EXPECT_NEAR(s[1], 90.0, 1.0);
  EXPECT_NEAR(s[2], 10.0, 1.0);
  EXPECT_EQ(route->route({}, {}).kind, RouteKind::kWeighted);
}

TEST_F(ModelRouteTest, ThreeWaySplitWithinOnePoint) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 50}, {2, 30}, {3, 20}});
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  auto s = shares(*route);
  EXPECT_NEAR(s[1], 50.0, 1.0);
  EXPECT_NEAR(s[2], 30.0, 1.0);
  EXPECT_NEAR(s[3], 20.0, 1.0);
}

TEST_F(ModelRouteTest, ZeroWeightGetsNothing) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 1}, {2, 0}, {3, 1}});
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  auto s = shares(*route);
  EXPECT_EQ(s.count(2), 0u) << "version 2 got " << s[2] << "%";
  EXPECT_NEAR(s[1], 50.0, 1.5);
  EXPECT_DOUBLE_EQ(route->configured_share(2), 0.0);
}

TEST_F(ModelRouteTest, SingleWeightedVersionTakesEverything) {
  auto spec = versions_spec({1, 2});
  add_traffic(spec, {{2, 5}});
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  for (int i = 0; i < 1000; ++i) {
    auto d = route->route({}, {});
    ASSERT_EQ(d.primary->version, 2);
    ASSERT_EQ(d.kind, RouteKind::kWeighted);
  }
}

TEST_F(ModelRouteTest, NoTrafficSendsAllToTheFirstVersionAsDefault) {
  auto route = build(versions_spec({2, 1, 3}));
  ASSERT_NE(route, nullptr);
  for (int i = 0; i < 1000; ++i) {
    auto d = route->route({{"x-user-id", "u" + std::to_string(i)}}, {});
    ASSERT_EQ(d.primary->version, 2);
    ASSERT_EQ(d.kind, RouteKind::kDefault);
    ASSERT_TRUE(d.shadows.empty());
  }
  EXPECT_DOUBLE_EQ(route->configured_share(2), 1.0);
  EXPECT_DOUBLE_EQ(route->configured_share(1), 0.0);
}

TEST_F(ModelRouteTest, EndpointsFollowSpecOrderAndFindByVersion) {
  std::vector<Endpoint> reversed(endpoints_.rbegin(), endpoints_.rend());
  auto r = ModelRoute::build("m", 7, versions_spec({2, 3, 1}), reversed);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const auto& route = **r;
  EXPECT_EQ(route.model(), "m");
  EXPECT_EQ(route.revision(), 7);
  ASSERT_EQ(route.endpoints().size(), 3u);
  EXPECT_EQ(route.endpoints()[0].version, 2);
  EXPECT_EQ(route.endpoints()[1].version, 3);
  EXPECT_EQ(route.endpoints()[2].version, 1);
  ASSERT_NE(route.find(3), nullptr);
  EXPECT_EQ(route.find(3)->servable, endpoints_[2].servable);
  EXPECT_EQ(route.find(9), nullptr);
}

TEST_F(ModelRouteTest, ConfiguredShareFollowsWeights) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 50}, {2, 30}, {3, 20}});
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  EXPECT_DOUBLE_EQ(route->configured_share(1), 0.5);
  EXPECT_DOUBLE_EQ(route->configured_share(2), 0.3);
  EXPECT_DOUBLE_EQ(route->configured_share(3), 0.2);
  EXPECT_DOUBLE_EQ(route->configured_share(4), 0.0);
}

// --- sticky ---

std::shared_ptr<const ModelRoute> sticky_route(const std::vector<Endpoint>& endpoints, uint32_t canary_weight) {
  auto spec = versions_spec({1, 2});
  add_traffic(spec, {{1, 100 - canary_weight}, {2, canary_weight}});
  spec.sticky = StickyConfig{KeySource::kHeader, "x-user-id"};
  auto r = ModelRoute::build("m", 1, std::move(spec), endpoints);
  return r.is_ok() ? std::move(r).value() : nullptr;
}

TEST_F(ModelRouteTest, StickyKeyAlwaysLandsOnTheSameVersion) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 50}, {2, 30}, {3, 20}});
  spec.sticky = StickyConfig{KeySource::kHeader, "x-user-id"};
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  std::map<int64_t, int> counts;
  for (int i = 0; i < 2000; ++i) {
    const Headers h = {{"x-user-id", "user-" + std::to_string(i)}};
    auto first = route->route(h, {});
    ASSERT_EQ(first.kind, RouteKind::kSticky);
    for (int rep = 0; rep < 5; ++rep) ASSERT_EQ(route->route(h, {}).primary, first.primary) << "user-" << i;
    ++counts[first.primary->version];
  }
  // Distinct keys still follow the weights.
  EXPECT_NEAR(counts[1] / 20.0, 50.0, 4.0);
  EXPECT_NEAR(counts[3] / 20.0, 20.0, 4.0);
}

TEST_F(ModelRouteTest, StickyMatchesGoldenPicksAcrossReplicas) {
  // Another replica builds its own route from the same spec: same answers.
  auto a = sticky_route(endpoints_, 10);
  auto b = sticky_route({endpoints_[1], endpoints_[0]}, 10);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 1000; ++i) {
    const Headers h = {{"x-user-id", "user-" + std::to_string(i)}};
    ASSERT_EQ(a->route(h, {}).primary->version, b->route(h, {}).primary->version);
  }
  EXPECT_EQ(a->route({{"x-user-id", "user-42"}}, {}).primary->version, 2);
  EXPECT_EQ(a->route({{"x-user-id", "user-43"}}, {}).primary->version, 1);
}

TEST_F(ModelRouteTest, StickyWithoutKeyFallsBackToWeighted) {
  auto route = sticky_route(endpoints_, 10);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->route({}, {}).kind, RouteKind::kWeighted);
  EXPECT_EQ(route->route({{"x-other", "a"}}, {}).kind, RouteKind::kWeighted);
  EXPECT_EQ(route->route({{"x-user-id", ""}}, {}).kind, RouteKind::kWeighted);
}

TEST_F(ModelRouteTest, StickyByParameter) {
  auto spec = versions_spec({1, 2});
  add_traffic(spec, {{1, 50}, {2, 50}});
  spec.sticky = StickyConfig{KeySource::kParameter, "session"};
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  const Params p = {{"session", int64_t{123456}}};
  auto first = route->route({}, p);
  EXPECT_EQ(first.kind, RouteKind::kSticky);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(route->route({}, p).primary, first.primary);
}

TEST_F(ModelRouteTest, RaisingCanaryMovesOnlyTheNewShareAndNothingAway) {
  auto before = sticky_route(endpoints_, 10);
  auto after = sticky_route(endpoints_, 20);
  ASSERT_NE(before, nullptr);
  ASSERT_NE(after, nullptr);
  int moved = 0, moved_away = 0, on_canary_before = 0;
  for (int i = 0; i < kDraws; ++i) {
    const Headers h = {{"x-user-id", "user-" + std::to_string(i)}};
    const int64_t b = before->route(h, {}).primary->version;
    const int64_t a = after->route(h, {}).primary->version;
    on_canary_before += b == 2;
    if (a != b) ++moved;
    if (b == 2 && a != 2) ++moved_away;
  }
  EXPECT_NEAR(100.0 * on_canary_before / kDraws, 10.0, 1.0);
  const double moved_pct = 100.0 * moved / kDraws;
  EXPECT_GE(moved_pct, 8.0);
  EXPECT_LE(moved_pct, 12.0);
  EXPECT_EQ(moved_away, 0) << "a key on the canary must stay there when its weight grows";
}

// --- rules ---

TEST_F(ModelRouteTest, RuleRoutesMatchingRequestsWithKindRule) {
  auto spec = versions_spec({1, 2, 3});
  spec.rules.push_back(rule(KeySource::kHeader, "x-beta", MatchOp::kEquals, {"1"}, 2));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  auto hit = route->route({{"x-beta", "1"}}, {});
  EXPECT_EQ(hit.primary->version, 2);
  EXPECT_EQ(hit.kind, RouteKind::kRule);
  auto miss = route->route({{"x-beta", "0"}}, {});
  EXPECT_EQ(miss.primary->version, 1);
  EXPECT_EQ(miss.kind, RouteKind::kDefault);
  auto absent = route->route({}, {});
  EXPECT_EQ(absent.primary->version, 1);
}

TEST_F(ModelRouteTest, FirstMatchingRuleWins) {
  auto spec = versions_spec({1, 2, 3});
  spec.rules.push_back(rule(KeySource::kParameter, "amount", MatchOp::kGt, {}, 3, 100));
  spec.rules.push_back(rule(KeySource::kParameter, "amount", MatchOp::kGt, {}, 2, 10));
  spec.rules.push_back(rule(KeySource::kParameter, "region", MatchOp::kIn, {"eu", "us"}, 3));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->route({}, {{"amount", int64_t{500}}}).primary->version, 3);
  EXPECT_EQ(route->route({}, {{"amount", int64_t{50}}}).primary->version, 2);
  EXPECT_EQ(route->route({}, {{"amount", int64_t{50}}, {"region", std::string("eu")}}).primary->version, 2);
  EXPECT_EQ(route->route({}, {{"amount", int64_t{5}}, {"region", std::string("eu")}}).primary->version, 3);
  EXPECT_EQ(route->route({}, {{"amount", int64_t{5}}}).primary->version, 1);
}

TEST_F(ModelRouteTest, RuleTakesPrecedenceOverStickyAndWeights) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 100}});
  spec.sticky = StickyConfig{KeySource::kHeader, "x-user-id"};
  spec.rules.push_back(rule(KeySource::kHeader, "x-tenant", MatchOp::kNotEquals, {"acme"}, 3));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  auto d = route->route({{"x-user-id", "u1"}, {"x-tenant", "globex"}}, {});
  EXPECT_EQ(d.primary->version, 3);
  EXPECT_EQ(d.kind, RouteKind::kRule);
  auto acme = route->route({{"x-user-id", "u1"}, {"x-tenant", "acme"}}, {});
  EXPECT_EQ(acme.primary->version, 1);
  EXPECT_EQ(acme.kind, RouteKind::kSticky);
}

// --- shadow ---

TEST_F(ModelRouteTest, FullShadowIsAlwaysReturnedAndNeverThePrimary) {
  auto spec = versions_spec({1, 2, 3});
  add_traffic(spec, {{1, 50}, {2, 50}});
  spec.shadow.push_back(shadow_of(3, 100));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  for (int i = 0; i < 10000; ++i) {
    auto d = route->route({}, {});
    ASSERT_EQ(d.shadows.size(), 1u);
    ASSERT_EQ(d.shadows[0]->version, 3);
    ASSERT_NE(d.shadows[0], d.primary);
  }
}

TEST_F(ModelRouteTest, ShadowOfThePrimaryItselfIsSkipped) {
  auto spec = versions_spec({1, 2});
  add_traffic(spec, {{1, 50}, {2, 50}});
  spec.shadow.push_back(shadow_of(2, 100));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  int with_shadow = 0;
  for (int i = 0; i < 10000; ++i) {
    auto d = route->route({}, {});
    for (const Endpoint* s : d.shadows) ASSERT_NE(s, d.primary);
    if (d.primary->version == 1) {
      ASSERT_EQ(d.shadows.size(), 1u);
      ++with_shadow;
    } else {
      ASSERT_TRUE(d.shadows.empty());
    }
  }
  EXPECT_GT(with_shadow, 0);
}

TEST_F(ModelRouteTest, PartialShadowLandsNearItsPercent) {
  auto spec = versions_spec({1, 2});
  spec.shadow.push_back(shadow_of(2, 30));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  int shadowed = 0;
  for (int i = 0; i < kDraws; ++i) shadowed += static_cast<int>(route->route({}, {}).shadows.size());
  EXPECT_NEAR(100.0 * shadowed / kDraws, 30.0, 1.0);
}

TEST_F(ModelRouteTest, ZeroShadowNeverMirrors) {
  auto spec = versions_spec({1, 2});
  spec.shadow.push_back(shadow_of(2, 0));
  auto route = build(spec);
  ASSERT_NE(route, nullptr);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(route->route({}, {}).shadows.empty());
}

// --- build errors ---

TEST_F(ModelRouteTest, BuildRejectsVersionWithoutEndpoint) {
  auto r = ModelRoute::build("m", 1, versions_spec({1, 4}), endpoints_);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("version 4 of 'm' has no ready servable"), std::string::npos)
      << r.status().message();
}

TEST_F(ModelRouteTest, BuildRejectsEndpointWithoutServable) {
  Endpoint empty;
  empty.version = 2;  // no servable
  std::vector<Endpoint> endpoints = {endpoints_[0], empty};
  auto r = ModelRoute::build("m", 1, versions_spec({1, 2}), endpoints);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelRouteTest, BuildRejectsTrafficRuleOrShadowNamingAnUndeployedVersion) {
  auto traffic = versions_spec({1});
  add_traffic(traffic, {{1, 50}, {2, 50}});
  auto r1 = ModelRoute::build("m", 1, traffic, endpoints_);
  EXPECT_EQ(r1.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r1.status().message().find("traffic names version 2"), std::string::npos) << r1.status().message();

  auto rules = versions_spec({1});
  rules.rules.push_back(rule(KeySource::kHeader, "x", MatchOp::kEquals, {"1"}, 3));
  auto r2 = ModelRoute::build("m", 1, rules, endpoints_);
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("rule names version 3"), std::string::npos) << r2.status().message();

  auto shadow = versions_spec({1});
  shadow.shadow.push_back(shadow_of(2, 100));
  auto r3 = ModelRoute::build("m", 1, shadow, endpoints_);
  EXPECT_EQ(r3.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r3.status().message().find("shadow names version 2"), std::string::npos) << r3.status().message();
}

TEST_F(ModelRouteTest, BuildRejectsEmptyVersionList) {
  auto r = ModelRoute::build("m", 1, DeploymentSpec{}, endpoints_);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::routing
