#include "routing/route_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::routing {
namespace {

// Model "iris": versions 1..4 registered, alias "stable" -> 1 and "canary" -> 2,
// versions 1 and 2 live, version 3 pending (loading), version 4 never deployed.
// Model "idle": registered, nothing deployed. Model "warming": deployed, nothing ready.
class RouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int64_t v : {1, 2}) {
      auto servable = testing::fake_servable("iris", v, std::make_shared<testing::FakeBackendControl>());
      ASSERT_NE(servable, nullptr);
      Endpoint e;
      e.version = v;
      e.servable = servable;
      endpoints_.push_back(e);
    }
    DeploymentSpec spec;
    DeployedVersion v1, v2;
    v1.version = {"1", 1};
    v2.version = {"canary", 2};
    spec.versions = {v1, v2};
    auto route = ModelRoute::build("iris", 3, spec, endpoints_);
    ASSERT_TRUE(route.is_ok()) << route.status().to_string();

    ModelEntry& iris = table_.models["iris"];
    iris.route = std::move(route).value();
    iris.registered = {1, 2, 3, 4};
    iris.aliases = {{"stable", 1}, {"canary", 2}, {"next", 3}};
    iris.pending = {3};

    table_.models["idle"].registered = {1};
    ModelEntry& warming = table_.models["warming"];
    warming.registered = {1};
    warming.pending = {1};
  }

  std::vector<Endpoint> endpoints_;
  RouteTable table_;
};

TEST_F(RouteTableTest, ResolveRefAcceptsNumbersAndAliases) {
  EXPECT_EQ(*table_.resolve_ref("iris", "3"), 3);
  EXPECT_EQ(*table_.resolve_ref("iris", "canary"), 2);
  EXPECT_EQ(table_.resolve_ref("iris", "9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table_.resolve_ref("iris", "nightly").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table_.resolve_ref("rose", "1").status().code(), StatusCode::kNotFound);
}

TEST_F(RouteTableTest, PinnedVersionNumberResolvesToItsEndpoint) {
  auto e = table_.resolve_pinned("iris", "1");
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ((*e)->version, 1);
  EXPECT_EQ((*e)->servable, endpoints_[0].servable);
}

TEST_F(RouteTableTest, PinnedAliasResolvesToTheEndpoint) {
  auto e = table_.resolve_pinned("iris", "canary");
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ((*e)->version, 2);
  EXPECT_EQ((*e)->servable, endpoints_[1].servable);
}

TEST_F(RouteTableTest, PinnedUnknownModelVersionOrAliasIsNotFound) {
  auto model = table_.resolve_pinned("rose", "1");
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("unknown model 'rose'"), std::string::npos);
  auto version = table_.resolve_pinned("iris", "17");
  EXPECT_EQ(version.status().code(), StatusCode::kNotFound);
  EXPECT_NE(version.status().message().find("has no version 17"), std::string::npos);
  auto alias = table_.resolve_pinned("iris", "nightly");
  EXPECT_EQ(alias.status().code(), StatusCode::kNotFound);
  EXPECT_NE(alias.status().message().find("'nightly'"), std::string::npos);
}

TEST_F(RouteTableTest, PinnedPendingVersionIsUnavailable) {
  auto by_number = table_.resolve_pinned("iris", "3");
  EXPECT_EQ(by_number.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(by_number.status().message().find("is not ready"), std::string::npos);
  EXPECT_EQ(table_.resolve_pinned("iris", "next").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(table_.resolve_pinned("warming", "1").status().code(), StatusCode::kUnavailable);
}

TEST_F(RouteTableTest, PinnedRegisteredButUndeployedIsNotFound) {
  auto e = table_.resolve_pinned("iris", "4");
  ASSERT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("not deployed"), std::string::npos) << e.status().message();
  auto idle = table_.resolve_pinned("idle", "1");
  ASSERT_EQ(idle.status().code(), StatusCode::kNotFound);
  EXPECT_NE(idle.status().message().find("not deployed"), std::string::npos) << idle.status().message();
}

TEST_F(RouteTableTest, RouteForDistinguishesUnknownUndeployedAndNotReady) {
  auto live = table_.route_for("iris");
  ASSERT_TRUE(live.is_ok());
  EXPECT_EQ((*live)->revision(), 3);
  EXPECT_EQ(table_.route_for("rose").status().code(), StatusCode::kNotFound);
  auto idle = table_.route_for("idle");
  EXPECT_EQ(idle.status().code(), StatusCode::kNotFound);
  EXPECT_NE(idle.status().message().find("has no deployment"), std::string::npos);
  EXPECT_EQ(table_.route_for("warming").status().code(), StatusCode::kUnavailable);
}

TEST(RoutePublisher, StartsWithAnEmptyTable) {
  RoutePublisher publisher;
  auto t = publisher.load();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->models.empty());
}

TEST(RoutePublisher, ASnapshotOutlivesLaterPublishes) {
  RoutePublisher publisher;
  auto first = std::make_shared<RouteTable>();
  first->models["a"].registered = {1};
  publisher.publish(first);
  auto held = publisher.load();
  publisher.publish(std::make_shared<RouteTable>());
  ASSERT_EQ(held->models.size(), 1u);
  EXPECT_TRUE(publisher.load()->models.empty());
}

// Readers on several threads see only whole tables, and never an older one after a
// newer one, while a writer publishes.
TEST(RoutePublisher, ConcurrentPublishAndLoadSeeConsistentSnapshots) {
  RoutePublisher publisher;
  constexpr int kGenerations = 3000;
  constexpr int kReaders = 4;
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0}, went_back{0};
  std::atomic<long> loads{0};
  std::atomic<int> started{0};

  auto make = [](int g) {
    auto t = std::make_shared<RouteTable>();
    ModelEntry& e = t->models["m"];
    e.registered = {g};
    e.aliases = {{"gen", g}};
    e.pending = {g};
    return t;
  };

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      int64_t last = -1;
      bool counted = false;
      while (!done.load()) {
        auto t = publisher.load();
        loads.fetch_add(1);
        if (!counted) {
          started.fetch_add(1);
          counted = true;
        }
        const ModelEntry* e = t->find("m");
        if (!e) continue;  // the initial empty table
        const int64_t g = *e->registered.begin();
        if (e->aliases.at("gen") != g || *e->pending.begin() != g) inconsistent.fetch_add(1);
        if (g < last) went_back.fetch_add(1);
        last = g;
      }
    });
  }
  // Publish only once every reader is running, so reads and writes overlap.
  while (started.load() < kReaders) std::this_thread::yield();
  for (int g = 0; g < kGenerations; ++g) publisher.publish(make(g));
  done.store(true);
  for (auto& t : readers) t.join();

  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(went_back.load(), 0);
  EXPECT_GT(loads.load(), 0);
  EXPECT_EQ(*publisher.load()->models.at("m").registered.begin(), kGenerations - 1);
}

}  // namespace
}  // namespace quiver::routing
