// A replica's cluster node against a real PostgreSQL: registry changes wake it through
// NOTIFY (and polling), heartbeats show who is alive and converged, and the counter
// exchange pools every other replica's traffic.
#include "cluster/cluster_node.h"

#include <atomic>
#include <chrono>

#include "metrics/metrics_registry.h"
#include "unit/cluster/cluster_test_db.h"

namespace quiver::cluster {
namespace {

using namespace std::chrono_literals;

class ClusterNodeTest : public ClusterDbTest {
 protected:
  ClusterOptions options(const std::string& id) {
    ClusterOptions o;
    o.url = db_.url();
    o.replica_id = id;
    o.address = "127.0.0.1:" + std::to_string(8000 + id.size());
    o.lease_ttl = 2000ms;
    o.heartbeat_interval = 500ms;
    return o;
  }
  registry::NewVersion version(const std::string& model, char c) {
    registry::NewVersion v;
    v.model = model;
    v.framework = "onnx";
    v.artifact_sha256 = std::string(64, c);
    v.size = 10;
    return v;
  }
};

TEST_F(ClusterNodeTest, ANotificationWakesTheReplicaWithTheNewRevision) {
  std::atomic<int64_t> seen{0};
  ClusterHooks hooks;
  hooks.on_change = [&seen](int64_t r) { seen = r; };
  ClusterNode node(options("a"), *clock_, nullptr, hooks);
  node.step_watch(0ms);  // connects, LISTENs, reads the current revision
  ASSERT_TRUE(node.connected());
  const int64_t start = node.known_revision();

  ASSERT_TRUE(registry_->create_version(version("iris", 'a'), {"test", ""}).is_ok());
  const auto t0 = std::chrono::steady_clock::now();
  node.step_watch(5000ms);  // returns as soon as the notification arrives
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, 1000ms);
  EXPECT_GT(seen.load(), start);
  EXPECT_EQ(seen.load(), *registry_->revision());
}

TEST_F(ClusterNodeTest, PollingAloneCatchesAMissedNotification) {
  ClusterNode node(options("a"), *clock_, nullptr, {});
  node.step_watch(0ms);
  // A write whose notification this node cannot have heard: made before it listened
  // again on a fresh connection is the same as a lost one; here, read without waiting.
  ASSERT_TRUE(registry_->create_version(version("iris", 'b'), {"test", ""}).is_ok());
  node.step_watch(0ms);
  EXPECT_EQ(node.known_revision(), *registry_->revision());
}

TEST_F(ClusterNodeTest, HeartbeatsListReplicasTheLeaderAndConvergence) {
  ClusterHooks ha, hb;
  int64_t applied_a = 0;
  ha.describe_self = [&applied_a](ReplicaState& s) {
    s.applied_revision = applied_a;
    s.state["versions"] = nlohmann::json::array({{{"model", "iris"}, {"version", 1}, {"state", "ready"}}});
  };
  hb.describe_self = [](ReplicaState& s) { s.applied_revision = 0; };
  metrics::MetricsRegistry metrics;
  ClusterNode a(options("a"), *clock_, &metrics, ha), b(options("b"), *clock_, nullptr, hb);
  ASSERT_TRUE(registry_->create_version(version("iris", 'c'), {"test", ""}).is_ok());
  applied_a = *registry_->revision();
  a.step_heartbeat();
  b.step_heartbeat();

  auto d = b.describe();
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  ASSERT_EQ((*d)["replicas"].size(), 2u);
  const auto& ra = (*d)["replicas"][0];
  const auto& rb = (*d)["replicas"][1];
  EXPECT_EQ(ra["id"], "a");
  EXPECT_TRUE(ra["live"].get<bool>());
  EXPECT_TRUE(ra["leader"].get<bool>());  // the first to beat took the lease
  EXPECT_TRUE(ra["converged"].get<bool>());
  EXPECT_FALSE(rb["converged"].get<bool>());  // b has applied nothing yet
  EXPECT_FALSE((*d)["converged"].get<bool>());
  EXPECT_EQ((*d)["leader"], "a");  // API.md: the holder's id
  EXPECT_EQ((*d)["epoch"], 1);
  EXPECT_EQ((*d)["live_replicas"], 2);
  EXPECT_NE(metrics.render().find("quiver_cluster_leader 1"), std::string::npos);

  a.stop();  // a clean stop hands the lease over and removes a's row
  b.step_heartbeat();
  EXPECT_TRUE(b.lease().is_leader());
  d = b.describe();
  ASSERT_TRUE(d.is_ok());
  ASSERT_EQ((*d)["replicas"].size(), 1u);
  EXPECT_EQ((*d)["replicas"][0]["id"], "b");
}

TEST_F(ClusterNodeTest, CountersOfOtherReplicasArePooled) {
  std::vector<CounterRow> received_by_a;
  ClusterHooks ha, hb;
  ha.local_counters = [] { return std::vector<CounterRow>{{"", "iris", 1, 0, R"({"requests":5})"}}; };
  ha.remote_counters = [&received_by_a](std::vector<CounterRow> rows) { received_by_a = std::move(rows); };
  hb.local_counters = [] {
    return std::vector<CounterRow>{{"", "iris", 1, 0, R"({"requests":7})"}, {"", "iris", 2, 1, R"({"requests":3})"}};
  };
  ClusterNode a(options("a"), *clock_, nullptr, ha), b(options("b"), *clock_, nullptr, hb);
  b.step_heartbeat();
  a.step_heartbeat();
  ASSERT_EQ(received_by_a.size(), 2u);  // b's rows, never a's own
  for (const auto& r : received_by_a) EXPECT_EQ(r.replica, "b");
}

TEST_F(ClusterNodeTest, ADeadDatabaseIsReportedAndNothingThrows) {
  ClusterOptions o = options("a");
  o.url = "postgresql://postgres@127.0.0.1:1/nothing";
  metrics::MetricsRegistry metrics;
  ClusterNode node(o, *clock_, &metrics, {});
  node.step_watch(0ms);
  node.step_heartbeat();
  EXPECT_FALSE(node.connected());
  EXPECT_FALSE(node.lease().is_leader());
  EXPECT_EQ(node.describe().status().code(), StatusCode::kUnavailable);
  EXPECT_NE(metrics.render().find("quiver_registry_connected 0"), std::string::npos);
}

}  // namespace
}  // namespace quiver::cluster
