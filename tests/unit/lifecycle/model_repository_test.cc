#include "lifecycle/model_repository.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "registry/deployment_spec_json.h"
#include "unit/store/temp_dir.h"
#include "unit/testing/fake_backend.h"

namespace quiver::lifecycle {
namespace {

using quiver::testing::FakeBackendControl;

// A real registry and blob store, fake backends, a manager stepped by hand
// (reconcile_once) and a repository stepped by hand on a FakeClock: no sleeps.
class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = registry::Registry::open(dir_.path() / "registry.db");
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
    auto blobs = store::BlobStore::open(dir_.path() / "blobs");
    ASSERT_TRUE(blobs.is_ok()) << blobs.status().to_string();
    blobs_ = std::move(blobs).value();
    ManagerOptions options;
    options.warmup_runs = 0;
    manager_ = std::make_unique<LifecycleManager>(*registry_, *blobs_, routes_, nullptr, manager_clock_, options,
                                                  loader(), nullptr);
    repo_ = std::make_unique<ModelRepository>(*registry_, *manager_, routes_, clock_);
  }

  void TearDown() override {
    repo_->stop();
    manager_->stop();
  }

  serving::BackendLoader loader() {
    return [this](const backends::LoadRequest& req) -> Result<std::unique_ptr<backends::Backend>> {
      std::lock_guard lock(mu_);
      auto it = controls_.find(req.artifact_path);
      if (it == controls_.end()) return not_found("no fake for " + req.artifact_path.string());
      return testing::fake_loader(it->second)(req);
    };
  }

  std::shared_ptr<FakeBackendControl> add_version(int64_t v) {
    const std::string bytes = "artifact-" + std::to_string(v);
    auto info = blobs_->put(std::as_bytes(std::span(bytes.data(), bytes.size())));
    EXPECT_TRUE(info.is_ok());
    auto control = std::make_shared<FakeBackendControl>();
    {
      std::lock_guard lock(mu_);
      controls_[*blobs_->path_of(info->sha256)] = control;
    }
    registry::NewVersion nv;
    nv.model = "iris";
    nv.version = v;
    nv.framework = "onnx";
    nv.artifact_sha256 = info->sha256;
    nv.size = info->size;
    nv.signature = testing::fake_signature();
    EXPECT_TRUE(registry_->create_version(nv, actor_).is_ok());
    return control;
  }

  std::vector<int64_t> deployed_versions() {
    auto current = registry_->current_deployment("iris");
    std::vector<int64_t> out;
    if (!current.is_ok() || !*current) return out;
    auto spec = registry::parse_deployment_spec((*current)->spec_json);
    for (const auto& dv : spec->versions) out.push_back(dv.version.version);
    return out;
  }

  std::string state_of(int64_t version) {
    auto index = repo_->index(false);
    EXPECT_TRUE(index.is_ok());
    for (const auto& e : *index)
      if (e.version == version) return e.state + (e.reason.empty() ? "" : " (" + e.reason + ")");
    return "absent";
  }

  testing::TempDir dir_;
  SystemClock manager_clock_;
  FakeClock clock_;
  registry::Actor actor_{"test", ""};
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<store::BlobStore> blobs_;
  routing::RoutePublisher routes_;
  std::unique_ptr<LifecycleManager> manager_;
  std::unique_ptr<ModelRepository> repo_;
  std::mutex mu_;
  std::map<std::filesystem::path, std::shared_ptr<FakeBackendControl>> controls_;
};

TEST_F(ModelRepositoryTest, LoadDeploysTheNewestVersionAndAnswersOnceReady) {
  add_version(1);
  add_version(2);
  EXPECT_EQ(state_of(1), "UNAVAILABLE (not deployed)");

  auto change = repo_->load("iris", std::nullopt, actor_);
  ASSERT_TRUE(change.is_ok()) << change.status().to_string();
  EXPECT_TRUE(change->written);
  EXPECT_EQ(deployed_versions(), std::vector<int64_t>{2});
  auto history = registry_->history("iris");
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(history->front().reason, "model repository load");

  std::optional<Status> answer;
  repo_->await(*change, AwaitKind::kLoaded, std::chrono::seconds(10), [&](Status st) { answer = st; });
  EXPECT_FALSE(answer) << "answered before the manager took the revision up";
  repo_->step();
  EXPECT_FALSE(answer);
  manager_->reconcile_once();
  repo_->step();
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->is_ok()) << answer->to_string();
  EXPECT_EQ(state_of(2), "READY");
  EXPECT_EQ(state_of(1), "UNAVAILABLE (not deployed)");
  ASSERT_TRUE(repo_->index(true).is_ok());
  EXPECT_EQ(repo_->index(true)->size(), 1u);
}

TEST_F(ModelRepositoryTest, LoadingAnotherVersionAddsItWithoutMovingTraffic) {
  add_version(1);
  add_version(2);
  ASSERT_TRUE(repo_->load("iris", std::string("1"), actor_).is_ok());
  auto added = repo_->load("iris", std::string("2"), actor_);
  ASSERT_TRUE(added.is_ok());
  EXPECT_TRUE(added->written);
  EXPECT_EQ(deployed_versions(), (std::vector<int64_t>{1, 2}));
  auto spec = registry::parse_deployment_spec((*registry_->current_deployment("iris"))->spec_json);
  EXPECT_TRUE(spec->traffic.empty());  // routed traffic still goes to the first listed version

  // Loading what is deployed writes nothing; neither does a plain load of a deployed model.
  auto again = repo_->load("iris", std::string("2"), actor_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->written);
  EXPECT_EQ(again->revision, added->revision);
  EXPECT_FALSE(repo_->load("iris", std::nullopt, actor_)->written);
  EXPECT_EQ(registry_->history("iris")->size(), 2u);

  EXPECT_EQ(repo_->load("iris", std::string("9"), actor_).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(repo_->load("nosuch", std::nullopt, actor_).status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, AFailedLoadIsReportedWithItsReason) {
  auto control = add_version(1);
  control->fail_load = true;
  auto change = repo_->load("iris", std::nullopt, actor_);
  ASSERT_TRUE(change.is_ok());
  manager_->reconcile_once();
  std::optional<Status> answer;
  repo_->await(*change, AwaitKind::kLoaded, std::chrono::seconds(10), [&](Status st) { answer = st; });
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->code(), StatusCode::kUnavailable);
  EXPECT_NE(answer->message().find("failed to load"), std::string::npos) << answer->message();
  EXPECT_EQ(state_of(1).rfind("UNAVAILABLE", 0), 0u) << state_of(1);
}

TEST_F(ModelRepositoryTest, AWaitEndsAtItsDeadlineAndAtStop) {
  add_version(1);
  auto change = repo_->load("iris", std::nullopt, actor_);
  ASSERT_TRUE(change.is_ok());
  std::optional<Status> timed, stopped;
  repo_->await(*change, AwaitKind::kLoaded, std::chrono::seconds(5), [&](Status st) { timed = st; });
  repo_->await(*change, AwaitKind::kLoaded, std::chrono::seconds(60), [&](Status st) { stopped = st; });
  clock_.advance(std::chrono::seconds(4));
  repo_->step();
  EXPECT_FALSE(timed);
  clock_.advance(std::chrono::seconds(2));
  repo_->step();
  ASSERT_TRUE(timed);
  EXPECT_EQ(timed->code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(stopped);
  repo_->stop();
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->code(), StatusCode::kUnavailable);
}

TEST_F(ModelRepositoryTest, UnloadDeletesTheDeploymentAndAnswersOnceUnrouted) {
  add_version(1);
  auto loaded = repo_->load("iris", std::nullopt, actor_);
  ASSERT_TRUE(loaded.is_ok());
  manager_->reconcile_once();
  ASSERT_TRUE(routes_.load()->route_for("iris").is_ok());

  auto change = repo_->unload("iris", actor_);
  ASSERT_TRUE(change.is_ok());
  EXPECT_TRUE(change->written);
  EXPECT_TRUE(registry_->history("iris")->front().deleted);
  std::optional<Status> answer;
  repo_->await(*change, AwaitKind::kUnloaded, std::chrono::seconds(10), [&](Status st) { answer = st; });
  EXPECT_FALSE(answer);
  manager_->reconcile_once();
  repo_->step();
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->is_ok());
  // Unloading what is not loaded is not an error and writes nothing.
  auto again = repo_->unload("iris", actor_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->written);
  EXPECT_EQ(repo_->unload("nosuch", actor_).status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, ConfigLeavesTheBatchDimensionOutOnlyWhenBatching) {
  add_version(1);
  add_version(2);
  auto plain = repo_->config("iris", std::nullopt);
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(plain->version, 2);
  EXPECT_EQ(plain->max_batch_size, 0);
  EXPECT_EQ(plain->signature.inputs.front().shape, (Shape{-1, 2}));

  DeploymentSpec spec;
  DeployedVersion dv;
  dv.version = {"1", 1};
  dv.instances = 3;
  dv.batching.max_batch_size = 16;
  dv.batching.max_queue_delay_us = 250;
  spec.versions.push_back(dv);
  ASSERT_TRUE(registry_->put_deployment("iris", registry::serialize_deployment_spec(spec), actor_).is_ok());
  manager_->reconcile_once();

  auto batched = repo_->config("iris", std::nullopt);  // the routed version now
  ASSERT_TRUE(batched.is_ok());
  EXPECT_EQ(batched->version, 1);
  EXPECT_EQ(batched->max_batch_size, 16);
  EXPECT_TRUE(batched->dynamic_batching);
  EXPECT_EQ(batched->max_queue_delay_us, 250);
  EXPECT_EQ(batched->instances, 3);
  EXPECT_EQ(batched->signature.inputs.front().shape, (Shape{2}));
  EXPECT_EQ(batched->signature.outputs.front().shape, (Shape{2}));
  EXPECT_EQ(repo_->config("iris", std::string("2"))->max_batch_size, 0);
  EXPECT_EQ(repo_->config("nosuch", std::nullopt).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace quiver::lifecycle
