#include "lifecycle/manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registry/deployment_spec_json.h"
#include "unit/store/temp_dir.h"
#include "unit/testing/fake_backend.h"

namespace quiver::lifecycle {
namespace {

using quiver::testing::FakeBackendControl;
using quiver::testing::fake_input;

// A real registry and blob store in a temp folder; the loader hands out fake backends
// chosen by artifact path, so each version has its own FakeBackendControl (and its
// own factor: version v answers y = x * v).
class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    open_registry();
    auto blobs = store::BlobStore::open(dir_.path() / "blobs");
    ASSERT_TRUE(blobs.is_ok()) << blobs.status().to_string();
    blobs_ = std::move(blobs).value();
    options_.warmup_runs = 1;  // tests that count warmup calls set their own
    manager_ = make_manager(routes_);
  }

  void TearDown() override {
    if (manager_) manager_->stop();
  }

  void open_registry() {
    registry_.reset();
    auto opened = registry::Registry::open(dir_.path() / "registry.db", registry_clock_);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
  }

  serving::BackendLoader loader() {
    return [this](const backends::LoadRequest& req) -> Result<std::unique_ptr<backends::Backend>> {
      std::shared_ptr<FakeBackendControl> control;
      {
        std::lock_guard lock(controls_mu_);
        auto it = controls_.find(req.artifact_path);
        if (it == controls_.end()) return not_found("no fake for " + req.artifact_path.string());
        control = it->second;
      }
      return testing::fake_loader(control)(req);
    };
  }

  std::unique_ptr<LifecycleManager> make_manager(routing::RoutePublisher& routes, WarmupDecoder decoder = nullptr) {
    return std::make_unique<LifecycleManager>(*registry_, *blobs_, routes, nullptr, clock_, options_, loader(),
                                              std::move(decoder));
  }

  // Registers version `v` of "iris" with its own artifact bytes and fake backend.
  std::shared_ptr<FakeBackendControl> add_version(int64_t v, std::string warmup_json = "") {
    const std::string bytes = "fake-artifact-v" + std::to_string(v);
    auto info = blobs_->put(std::as_bytes(std::span(bytes.data(), bytes.size())));
    EXPECT_TRUE(info.is_ok()) << info.status().to_string();
    auto path = blobs_->path_of(info->sha256);
    EXPECT_TRUE(path.is_ok());
    auto control = std::make_shared<FakeBackendControl>();
    control->factor = static_cast<float>(v);
    {
      std::lock_guard lock(controls_mu_);
      controls_[*path] = control;
    }
    registry::NewVersion nv;
    nv.model = "iris";
    nv.version = v;
    nv.framework = "onnx";
    nv.artifact_sha256 = info->sha256;
    nv.size = info->size;
    nv.signature = testing::fake_signature();
    nv.warmup_json = std::move(warmup_json);
    auto created = registry_->create_version(nv, actor_);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return control;
  }

  int64_t deploy(const DeploymentSpec& spec) { return deploy_json(registry::serialize_deployment_spec(spec)); }
  int64_t deploy_json(const std::string& json) {
    auto rev = registry_->put_deployment("iris", json, actor_);
    EXPECT_TRUE(rev.is_ok()) << rev.status().to_string();
    return rev.is_ok() ? rev->revision : 0;
  }

  static DeploymentSpec spec_of(std::vector<int64_t> versions, int instances = 1) {
    DeploymentSpec spec;
    for (int64_t v : versions) {
      DeployedVersion dv;
      dv.version = {std::to_string(v), v};
      dv.instances = instances;
      spec.versions.push_back(dv);
    }
    return spec;
  }

  // The live route's endpoint versions, in spec order; empty when there is no route.
  std::vector<int64_t> live_versions(const routing::RoutePublisher& routes) const {
    std::vector<int64_t> out;
    auto table = routes.load();
    auto route = table->route_for("iris");
    if (!route.is_ok()) return out;
    for (const auto& e : (*route)->endpoints()) out.push_back(e.version);
    return out;
  }
  std::vector<int64_t> live_versions() const { return live_versions(routes_); }

  // Runs one request through the live route and returns y[0] (x = 1): the version's factor.
  float answer_of_live_route() {
    auto table = routes_.load();
    auto route = table->route_for("iris");
    if (!route.is_ok()) return -1;
    auto d = (*route)->route({}, {});
    auto r = d.primary->servable->infer_sync({fake_input({1, 1})});
    return r.is_ok() ? r->front().values<float>()[0] : -1;
  }

  bool has_audit(const std::string& action, const std::string& detail_part) const {
    auto entries = registry_->audit("iris");
    EXPECT_TRUE(entries.is_ok());
    if (!entries.is_ok()) return false;
    for (const auto& e : *entries)
      if (e.action == action && e.detail_json.find(detail_part) != std::string::npos) return true;
    return false;
  }

  quiver::testing::TempDir dir_;
  std::shared_ptr<FakeClock> registry_clock_ = std::make_shared<FakeClock>();
  FakeClock clock_;
  ManagerOptions options_;
  registry::Actor actor_{"test", "testing"};
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<store::BlobStore> blobs_;
  routing::RoutePublisher routes_;
  routing::RoutePublisher restarted_routes_;  // a second process's view, for restart tests
  std::mutex controls_mu_;
  std::map<std::filesystem::path, std::shared_ptr<FakeBackendControl>> controls_;
  std::unique_ptr<LifecycleManager> manager_;
};

TEST_F(ManagerTest, NothingDeployedPublishesRegisteredModelsWithoutRoutes) {
  add_version(1);
  manager_->reconcile_once();
  auto table = routes_.load();
  EXPECT_EQ(table->route_for("iris").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table->resolve_pinned("iris", "1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(manager_->status("iris").has_value());
  EXPECT_TRUE(manager_->ready());
}

TEST_F(ManagerTest, AppliedDeploymentBecomesReadyAndRoutable) {
  auto v1 = add_version(1);
  const int64_t rev = deploy_json(R"({"versions": [{"version": "1", "instances": 2}]})");
  manager_->reconcile_once();

  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1}));
  EXPECT_EQ(v1->alive.load(), 2) << "two instances";
  auto table = routes_.load();
  auto route = table->route_for("iris");
  ASSERT_TRUE(route.is_ok()) << route.status().to_string();
  EXPECT_EQ((*route)->revision(), rev);
  auto pinned = table->resolve_pinned("iris", "1");
  ASSERT_TRUE(pinned.is_ok()) << pinned.status().to_string();
  EXPECT_EQ((*pinned)->version, 1);
  EXPECT_EQ(answer_of_live_route(), 1.0f);

  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready") << st->message;
  EXPECT_EQ(st->revision, rev);
  EXPECT_EQ(st->serving_revision, rev);
  ASSERT_EQ(st->versions.size(), 1u);
  EXPECT_EQ(st->versions[0].version, 1);
  EXPECT_EQ(st->versions[0].state, "ready");
  EXPECT_EQ(st->versions[0].ready_instances, 2);
  EXPECT_DOUBLE_EQ(st->versions[0].traffic_share, 1.0);
  EXPECT_TRUE(manager_->ready());
}

TEST_F(ManagerTest, ReconcileIsIdempotent) {
  auto v1 = add_version(1);
  deploy(spec_of({1}));
  manager_->reconcile_once();
  auto first = routes_.load()->route_for("iris");
  ASSERT_TRUE(first.is_ok());
  const routing::ModelRoute* route_before = *first;
  manager_->reconcile_once();
  manager_->reconcile_once();
  EXPECT_EQ(v1->loads.load(), 1) << "a ready version is not loaded again";
  auto again = routes_.load()->route_for("iris");
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*again, route_before) << "an unchanged revision keeps its compiled route";
}

TEST_F(ManagerTest, SplitRevisionPublishesWeights) {
  add_version(1);
  add_version(2);
  deploy_json(R"({"versions": [{"version": "1"}, {"version": "2"}],
                  "traffic": [{"version": "1", "weight": 90}, {"version": "2", "weight": 10}]})");
  manager_->reconcile_once();
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1, 2}));
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready") << st->message;
  ASSERT_EQ(st->versions.size(), 2u);
  EXPECT_DOUBLE_EQ(st->versions[0].traffic_share, 0.9);
  EXPECT_DOUBLE_EQ(st->versions[1].traffic_share, 0.1);
}

TEST_F(ManagerTest, NewRevisionSwitchesRouteAndDrainsOldVersionOnlyWhenReleased) {
  auto v1 = add_version(1);
  auto v2 = add_version(2);
  deploy(spec_of({1}));
  manager_->reconcile_once();
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1}));

  // A request in progress holds the snapshot it routed with.
  std::shared_ptr<const routing::RouteTable> held = routes_.load();
  std::weak_ptr<serving::Servable> old_servable = (*held->route_for("iris"))->find(1)->servable;

  const int64_t rev2 = deploy(spec_of({2}));
  manager_->reconcile_once();
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{2}));
  EXPECT_EQ(answer_of_live_route(), 2.0f);
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready") << st->message;
  EXPECT_EQ(st->serving_revision, rev2);

  // v1 is out of routing but still loaded and answering for the held snapshot.
  EXPECT_EQ(v1->alive.load(), 1);
  ASSERT_FALSE(old_servable.expired());
  auto still = (*held->route_for("iris"))->find(1)->servable->infer_sync({fake_input({3, 3})});
  ASSERT_TRUE(still.is_ok()) << still.status().to_string() << " (stopped while a snapshot still held it)";
  EXPECT_EQ(still->front().values<float>()[0], 3.0f);

  manager_->reconcile_once();
  EXPECT_EQ(v1->alive.load(), 1) << "still held: must not unload";

  // Now a request is in flight on v1 while the snapshot goes away.
  v1->gate.close();
  std::promise<Status> in_flight_done;
  (*held->route_for("iris"))->find(1)->servable->submit(
      {fake_input({1, 1})}, [&](Result<std::vector<Tensor>> r) { in_flight_done.set_value(r.status()); });
  ASSERT_TRUE(v1->gate.wait_for_waiters(1));
  held.reset();
  manager_->reconcile_once();
  EXPECT_EQ(v1->alive.load(), 1) << "a request in flight: must not unload";
  EXPECT_FALSE(old_servable.expired());

  v1->gate.open();
  EXPECT_TRUE(in_flight_done.get_future().get().is_ok());
  // The worker decrements in_flight just after the callback returns.
  while (auto s = old_servable.lock()) {
    if (s->in_flight() == 0) break;
    s.reset();
    std::this_thread::yield();
  }
  manager_->reconcile_once();
  EXPECT_EQ(v1->alive.load(), 0) << "drained and released: must unload";
  EXPECT_TRUE(old_servable.expired());
  EXPECT_EQ(v2->alive.load(), 1);
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{2}));
}

// Rolling back to a version that is still draining revives it: the same loaded,
// warm copy serves again, and the manager keeps owning it (releasing an old route
// snapshot must never unload anything).
TEST_F(ManagerTest, RevivingADrainingVersionKeepsTheOldCopyOwnedByTheManager) {
  auto v1 = add_version(1);
  add_version(2);
  deploy(spec_of({1}));
  manager_->reconcile_once();
  std::shared_ptr<const routing::RouteTable> held = routes_.load();
  deploy(spec_of({2}));
  manager_->reconcile_once();  // v1 drains; `held` keeps it loaded
  ASSERT_EQ(v1->alive.load(), 1);
  deploy(spec_of({1}));  // roll back to v1 while it still drains
  manager_->reconcile_once();
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1}));
  EXPECT_EQ(v1->loads.load(), 1) << "revived, not loaded again";
  held.reset();
  EXPECT_EQ(v1->alive.load(), 1) << "releasing a snapshot must not unload: the manager does that";
  manager_->reconcile_once();
  EXPECT_EQ(v1->alive.load(), 1) << "the revived copy keeps serving";
}

TEST_F(ManagerTest, FailedLoadKeepsPreviousRevisionServing) {
  auto v1 = add_version(1);
  auto v2 = add_version(2);
  const int64_t rev1 = deploy(spec_of({1}));
  manager_->reconcile_once();
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1}));

  v2->fail_load = true;
  const int64_t rev2 = deploy(spec_of({2}));
  manager_->reconcile_once();

  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1}));
  EXPECT_EQ(answer_of_live_route(), 1.0f);
  EXPECT_EQ((*routes_.load()->route_for("iris"))->revision(), rev1);
  EXPECT_EQ(routes_.load()->resolve_pinned("iris", "2").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(v1->alive.load(), 1) << "the serving version must stay loaded";

  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "failed");
  EXPECT_EQ(st->revision, rev2);
  EXPECT_EQ(st->serving_revision, rev1);
  EXPECT_NE(st->message.find("version 2"), std::string::npos) << st->message;
  EXPECT_NE(st->message.find("fake artifact is corrupt"), std::string::npos) << st->message;
  EXPECT_NE(st->message.find("revision " + std::to_string(rev1) + " keeps serving"), std::string::npos)
      << st->message;
  ASSERT_EQ(st->versions.size(), 1u);
  EXPECT_EQ(st->versions[0].state, "failed");
  EXPECT_NE(st->versions[0].error.find("fake artifact is corrupt"), std::string::npos);
  EXPECT_TRUE(has_audit("version.load_failed", "\"version\":2")) << "audit entry for the failed load";
  EXPECT_TRUE(has_audit("deployment.failed", "fake artifact is corrupt"));

  // The same revision is not retried on every pass.
  const int loads = v2->loads.load();
  manager_->reconcile_once();
  EXPECT_EQ(v2->loads.load(), loads);

  // A later good revision recovers.
  v2->fail_load = false;
  const int64_t rev3 = deploy(spec_of({2}));
  manager_->reconcile_once();
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{2}));
  EXPECT_EQ(answer_of_live_route(), 2.0f);
  st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready") << st->message;
  EXPECT_EQ(st->serving_revision, rev3);
  EXPECT_EQ(st->versions[0].error, "");
  EXPECT_EQ(v1->alive.load(), 0) << "the replaced version unloads once nothing holds it";
}

TEST_F(ManagerTest, FirstRevisionFailingLeavesModelUnavailable) {
  auto v1 = add_version(1);
  v1->fail_load = true;
  deploy(spec_of({1}));
  manager_->reconcile_once();
  auto table = routes_.load();
  EXPECT_EQ(table->route_for("iris").status().code(), StatusCode::kUnavailable);
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "failed");
  EXPECT_EQ(st->serving_revision, 0);
  EXPECT_FALSE(manager_->ready());
}

TEST_F(ManagerTest, DeletingTheDeploymentEmptiesTheRouteAndUnloads) {
  auto v1 = add_version(1);
  deploy(spec_of({1}));
  manager_->reconcile_once();
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1}));

  auto deleted = registry_->delete_deployment("iris", actor_);
  ASSERT_TRUE(deleted.is_ok()) << deleted.status().to_string();
  manager_->reconcile_once();

  auto table = routes_.load();
  auto route = table->route_for("iris");
  EXPECT_EQ(route.status().code(), StatusCode::kNotFound);
  EXPECT_NE(route.status().message().find("has no deployment"), std::string::npos) << route.status().message();
  EXPECT_EQ(table->resolve_pinned("iris", "1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(manager_->status("iris").has_value());
  EXPECT_EQ(v1->alive.load(), 0);
}

TEST_F(ManagerTest, WarmupRunsBeforeTheRouteIsPublished) {
  options_.warmup_runs = 2;
  manager_ = make_manager(routes_);
  auto v1 = add_version(1);
  std::atomic<int> before_publish{0}, after_publish{0}, pinned_unavailable{0};
  v1->on_infer = [&] {
    auto table = routes_.load();
    if (table->route_for("iris").is_ok()) {
      ++after_publish;
    } else {
      ++before_publish;
      if (table->resolve_pinned("iris", "1").status().code() == StatusCode::kUnavailable) ++pinned_unavailable;
    }
  };
  deploy(spec_of({1}, /*instances=*/2));
  manager_->reconcile_once();
  EXPECT_EQ(before_publish.load(), 4) << "warmup_runs x instances warmup requests";
  EXPECT_EQ(pinned_unavailable.load(), 4) << "while warming, the version shows as pending";
  EXPECT_EQ(after_publish.load(), 0);
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1}));
  EXPECT_EQ(answer_of_live_route(), 1.0f);
  EXPECT_EQ(after_publish.load(), 1);
}

TEST_F(ManagerTest, RegisteredWarmupRequestIsDecodedAndUsed) {
  int decoded = 0;
  manager_ = make_manager(routes_, [&](const std::string& json) -> Result<std::vector<Tensor>> {
    ++decoded;
    EXPECT_NE(json.find("inputs"), std::string::npos) << json;
    return std::vector<Tensor>{fake_input({1, 2, 3, 4, 5, 6})};
  });
  auto v1 = add_version(1, R"({"inputs": []})");
  deploy(spec_of({1}));
  manager_->reconcile_once();
  EXPECT_EQ(decoded, 1);
  EXPECT_EQ(v1->infer_calls.load(), 1);
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1}));
}

TEST_F(ManagerTest, FailingWarmupFailsTheVersionAndPublishesNothing) {
  auto v1 = add_version(1);
  v1->infer_failure = testing::InferFailure::kReturnError;
  deploy(spec_of({1}));
  manager_->reconcile_once();
  EXPECT_TRUE(live_versions().empty());
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "failed");
  ASSERT_EQ(st->versions.size(), 1u);
  EXPECT_EQ(st->versions[0].state, "failed");
  EXPECT_NE(st->versions[0].error.find("warmup failed"), std::string::npos) << st->versions[0].error;
  EXPECT_TRUE(has_audit("version.load_failed", "warmup"));
}

TEST_F(ManagerTest, NewManagerOnTheSameRegistryRestoresTheDeployment) {
  auto v1 = add_version(1);
  const int64_t rev = deploy(spec_of({1}));
  manager_->reconcile_once();
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1}));
  manager_->stop();
  manager_.reset();
  EXPECT_EQ(v1->alive.load(), 0);

  // A restart: the registry reopened from disk, a fresh route publisher.
  open_registry();
  manager_ = make_manager(restarted_routes_);
  manager_->reconcile_once();
  EXPECT_EQ(live_versions(restarted_routes_), (std::vector<int64_t>{1}));
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, "ready") << st->message;
  EXPECT_EQ(st->serving_revision, rev);
  EXPECT_EQ(v1->alive.load(), 1);
}

TEST_F(ManagerTest, StopUnpublishesAndUnloadsEverything) {
  auto v1 = add_version(1);
  deploy(spec_of({1}, 3));
  manager_->reconcile_once();
  ASSERT_EQ(v1->alive.load(), 3);
  manager_->stop();
  EXPECT_EQ(v1->alive.load(), 0);
  EXPECT_TRUE(routes_.load()->models.empty());
}

TEST_F(ManagerTest, BackgroundLoopReconcilesOnNotify) {
  options_.interval = std::chrono::hours(1);  // only start() and notify() can wake it
  manager_ = make_manager(routes_);
  auto v1 = add_version(1);
  manager_->start();
  deploy(spec_of({1}));
  manager_->notify();
  // The loop offers no completion signal, so poll the lock-free snapshot (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (live_versions().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1}));
  manager_->stop();
  EXPECT_EQ(v1->alive.load(), 0);
}

}  // namespace
}  // namespace quiver::lifecycle

namespace quiver::lifecycle {
namespace {

TEST_F(ManagerTest, FailingProbesEjectTheVersionAndRecoveryReadmitsIt) {
  auto v1 = add_version(1);
  add_version(2);
  DeploymentSpec spec = spec_of({1, 2});
  spec.traffic = {TrafficWeight{{"1", 1}, 50}, TrafficWeight{{"2", 2}, 50}};
  spec.health.probe_interval_ms = 100;
  spec.health.failure_threshold = 2;
  deploy(spec);
  manager_->reconcile_once();  // loads both; the first probe is one interval away
  ASSERT_EQ(live_versions(), (std::vector<int64_t>{1, 2}));

  v1->infer_failure = testing::InferFailure::kReturnError;
  for (int i = 0; i < 2; ++i) {
    clock_.advance(std::chrono::milliseconds(100));
    manager_->reconcile_once();
  }
  auto route = routes_.load()->route_for("iris");
  ASSERT_TRUE(route.is_ok());
  EXPECT_EQ((*route)->ejected(), (std::set<int64_t>{1}));
  for (int i = 0; i < 50; ++i) EXPECT_EQ((*route)->route({}, {}).primary->version, 2) << "share goes to v2";
  EXPECT_NE((*route)->find(1), nullptr) << "still loaded for pinned requests";
  EXPECT_TRUE(has_audit("version.ejected", "\"version\":1"));
  auto status = manager_->status("iris");
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->versions[0].ejected);
  EXPECT_NE(status->versions[0].ejected_reason.find("2 consecutive health probes failed"), std::string::npos);

  v1->infer_failure = testing::InferFailure::kNone;
  clock_.advance(std::chrono::milliseconds(100));
  manager_->reconcile_once();
  route = routes_.load()->route_for("iris");
  ASSERT_TRUE(route.is_ok());
  EXPECT_TRUE((*route)->ejected().empty());
  EXPECT_TRUE(has_audit("version.readmitted", "\"version\":1"));
}

// --- on-demand loading and autoscaling through the manager ---

TEST_F(ManagerTest, AnOnDemandVersionIsRoutableBeforeItLoadsAndLoadsOnItsFirstRequest) {
  auto v1 = add_version(1);
  auto v2 = add_version(2);
  const int64_t rev = deploy_json(R"({"versions": [{"version": "1"}, {"version": "2", "load": "on_demand"}]})");
  manager_->reconcile_once();
  EXPECT_EQ(live_versions(), (std::vector<int64_t>{1, 2})) << "the revision goes live without loading version 2";
  EXPECT_EQ(v2->loads.load(), 0);
  auto st = manager_->status("iris");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->revision, rev);
  EXPECT_EQ(st->state, "ready");
  EXPECT_EQ(st->versions[1].state, "ready");
  EXPECT_EQ(st->versions[1].ready_instances, 0);

  auto pinned = routes_.load()->resolve_pinned("iris", "2");
  ASSERT_TRUE(pinned.is_ok());
  std::promise<Result<std::vector<Tensor>>> promise;
  auto answer = promise.get_future();
  (*pinned)->servable->submit({fake_input({1, 1})}, [&promise](Result<std::vector<Tensor>> r) {
    promise.set_value(std::move(r));
  });
  manager_->on_demand().step();  // what the loader thread does when started
  auto r = answer.get();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FLOAT_EQ(r->front().values<float>()[0], 2.0f);
  EXPECT_EQ(v2->loads.load(), 1);
  EXPECT_EQ(manager_->status("iris")->versions[1].ready_instances, 1);
  EXPECT_EQ(v1->loads.load(), 1) << "the eager version loaded with the deployment, once";
}

TEST_F(ManagerTest, AutoscaledVersionGrowsWithItsQueueAndShrinksAfterALull) {
  options_.autoscaler.up_cooldown = std::chrono::milliseconds(1000);
  options_.autoscaler.down_delay = std::chrono::milliseconds(5000);
  manager_ = make_manager(routes_);
  auto v1 = add_version(1);
  deploy_json(R"({"versions": [{"version": "1", "instances": {"min": 1, "max": 3}}]})");
  manager_->reconcile_once();
  EXPECT_EQ(v1->alive.load(), 1) << "starts at min";

  // Six requests held in flight: three instances' worth.
  v1->gate.close();
  auto servable = (*routes_.load()->resolve_pinned("iris", "1"))->servable;
  std::atomic<int> answered{0};
  std::promise<void> all_answered;
  for (int i = 0; i < 6; ++i)
    servable->submit({fake_input({1, 1})}, [&answered, &all_answered](Result<std::vector<Tensor>> r) {
      EXPECT_TRUE(r.is_ok());
      if (answered.fetch_add(1) + 1 == 6) all_answered.set_value();
    });
  manager_->reconcile_once();
  EXPECT_EQ(servable->instances(), 3);
  EXPECT_EQ(manager_->status("iris")->versions[0].ready_instances, 3);

  v1->gate.open();
  ASSERT_EQ(all_answered.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  manager_->reconcile_once();  // the lull begins
  EXPECT_EQ(servable->instances(), 3);
  clock_.advance(std::chrono::seconds(5));
  manager_->reconcile_once();
  EXPECT_EQ(servable->instances(), 2) << "one step down after a whole lull";
  clock_.advance(std::chrono::seconds(5));
  manager_->reconcile_once();
  EXPECT_EQ(servable->instances(), 1);
  clock_.advance(std::chrono::seconds(60));
  manager_->reconcile_once();
  EXPECT_EQ(servable->instances(), 1) << "never below min";
  EXPECT_EQ(v1->alive.load(), 1);
}

}  // namespace
}  // namespace quiver::lifecycle
