#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/deployment_spec_json.h"
#include "registry/migrations.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

constexpr const char* kSpec = R"({"versions":[{"version":"stable","instances":2},{"version":3}],
                                  "traffic":[{"version":"stable","weight":90},{"version":"3","weight":10}]})";

class DeploymentTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    add_versions("iris", 3);
    ASSERT_TRUE(registry_->set_alias("iris", "stable", 2, actor_).is_ok());
  }
};
QUIVER_ON_BOTH_REGISTRY_BACKENDS(DeploymentTest);

TEST_P(DeploymentTest, PutResolvesRefsAndStoresTheNormalizedSpec) {
  auto rev = registry_->put_deployment("iris", kSpec, {"cli", "first rollout"});
  ASSERT_TRUE(rev.is_ok()) << rev.status().to_string();
  EXPECT_EQ(rev->revision, 1);
  EXPECT_FALSE(rev->deleted);
  EXPECT_EQ(rev->client, "cli");
  EXPECT_EQ(rev->reason, "first rollout");
  EXPECT_EQ(rev->created_at, format_utc(clock_->wall_now()));

  auto spec = parse_deployment_spec(rev->spec_json);
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(spec->versions[0].version, (VersionRef{"stable", 2}));
  EXPECT_EQ(spec->versions[0].instances, 2);
  EXPECT_EQ(spec->versions[1].version, (VersionRef{"3", 3}));
  EXPECT_EQ(spec->traffic[0].version.version, 2);
  EXPECT_EQ(rev->spec_json, serialize_deployment_spec(*spec));

  // Moving the alias later does not change what the revision meant.
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 1, actor_).is_ok());
  auto current = registry_->current_deployment("iris");
  ASSERT_TRUE(current.is_ok() && current->has_value());
  EXPECT_EQ(parse_deployment_spec((*current)->spec_json)->versions[0].version.version, 2);
}

TEST_P(DeploymentTest, HistoryIsNewestFirstAndRevisionsAreKept) {
  ASSERT_TRUE(registry_->put_deployment("iris", R"({"versions":[{"version":1}]})", actor_).is_ok());
  clock_->advance(std::chrono::seconds(5));
  ASSERT_TRUE(registry_->put_deployment("iris", R"({"versions":[{"version":2}]})", actor_).is_ok());
  clock_->advance(std::chrono::seconds(5));
  ASSERT_TRUE(registry_->put_deployment("iris", kSpec, actor_).is_ok());

  auto history = registry_->history("iris");
  ASSERT_TRUE(history.is_ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].revision, 3);
  EXPECT_EQ((*history)[2].revision, 1);
  EXPECT_LT((*history)[2].created_at, (*history)[0].created_at);

  auto first = registry_->get_revision("iris", 1);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(parse_deployment_spec(first->spec_json)->versions[0].version.version, 1);

  auto missing = registry_->get_revision("iris", 9);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("revision 9"), std::string::npos);
}

TEST_P(DeploymentTest, DeleteEndsTheDeploymentButKeepsHistory) {
  ASSERT_TRUE(registry_->put_deployment("iris", kSpec, actor_).is_ok());
  ASSERT_EQ(registry_->live_deployments()->size(), 1u);

  auto deleted = registry_->delete_deployment("iris", {"cli", "retire"});
  ASSERT_TRUE(deleted.is_ok()) << deleted.status().to_string();
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(deleted->revision, 2);

  auto current = registry_->current_deployment("iris");
  ASSERT_TRUE(current.is_ok());
  EXPECT_FALSE(current->has_value());
  EXPECT_TRUE(registry_->live_deployments()->empty());
  EXPECT_EQ(registry_->history("iris")->size(), 2u);
  EXPECT_EQ(registry_->delete_deployment("iris", actor_).status().code(), StatusCode::kNotFound);

  // Deploying again continues the revision numbers.
  auto again = registry_->put_deployment("iris", kSpec, actor_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->revision, 3);
}

TEST_P(DeploymentTest, NoDeploymentYet) {
  auto current = registry_->current_deployment("iris");
  ASSERT_TRUE(current.is_ok());
  EXPECT_FALSE(current->has_value());
  EXPECT_EQ(registry_->delete_deployment("iris", actor_).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->current_deployment("foo").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->put_deployment("foo", kSpec, actor_).status().code(), StatusCode::kNotFound);
}

TEST_P(DeploymentTest, LiveDeploymentsListsEachModelsNewestRevision) {
  add_versions("bert", 1);
  ASSERT_TRUE(registry_->put_deployment("iris", R"({"versions":[{"version":1}]})", actor_).is_ok());
  ASSERT_TRUE(registry_->put_deployment("iris", R"({"versions":[{"version":2}]})", actor_).is_ok());
  ASSERT_TRUE(registry_->put_deployment("bert", R"({"versions":[{"version":1}]})", actor_).is_ok());
  auto live = registry_->live_deployments();
  ASSERT_TRUE(live.is_ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ((*live)[0].model, "bert");
  EXPECT_EQ((*live)[1].model, "iris");
  EXPECT_EQ((*live)[1].revision, 2);
}

TEST_P(DeploymentTest, BadSpecsAreRejectedAndRecordNothing) {
  const size_t audit_before = registry_->audit("iris", 1000)->size();
  auto unknown_version = registry_->put_deployment("iris", R"({"versions":[{"version":7}]})", actor_);
  EXPECT_EQ(unknown_version.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown_version.status().message().find("no version 7"), std::string::npos)
      << unknown_version.status().message();

  auto unknown_alias = registry_->put_deployment(
      "iris", R"({"versions":[{"version":1}],"traffic":[{"version":"canary","weight":1}]})", actor_);
  EXPECT_EQ(unknown_alias.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown_alias.status().message().find("traffic[0].version"), std::string::npos);

  auto not_listed = registry_->put_deployment(
      "iris", R"({"versions":[{"version":1}],"traffic":[{"version":"stable","weight":1}]})", actor_);
  EXPECT_EQ(not_listed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(not_listed.status().message(), "traffic names version 'stable' (2), which is not in versions");

  EXPECT_EQ(registry_->put_deployment("iris", "{", actor_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_->history("iris")->empty());
  EXPECT_EQ(registry_->audit("iris", 1000)->size(), audit_before);
}

TEST_P(DeploymentTest, EveryMutationIsAudited) {
  ASSERT_TRUE(registry_->put_deployment("iris", kSpec, {"api 127.0.0.1", "canary 10%"}).is_ok());
  ASSERT_TRUE(registry_->delete_alias("iris", "stable", {"cli", "cleanup"}).is_ok());
  ASSERT_TRUE(registry_->delete_deployment("iris", {"rollout-controller", "error rate 5%"}).is_ok());
  ASSERT_TRUE(registry_->record_event("iris", "version.load_failed", R"({"version":3})", {"lifecycle", "oom"}).is_ok());

  auto entries = registry_->audit("iris", 1000);
  ASSERT_TRUE(entries.is_ok());
  // 3 x version.create + alias.set from SetUp, then the four above; newest first.
  ASSERT_EQ(entries->size(), 8u);
  std::vector<std::string> actions;
  for (const auto& e : *entries) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"version.load_failed", "deployment.delete", "alias.delete",
                                               "deployment.apply", "alias.set", "version.create", "version.create",
                                               "version.create"}));
  EXPECT_EQ((*entries)[1].client, "rollout-controller");
  EXPECT_EQ((*entries)[1].reason, "error rate 5%");
  EXPECT_EQ((*entries)[3].client, "api 127.0.0.1");
  EXPECT_EQ((*entries)[3].reason, "canary 10%");
  EXPECT_NE((*entries)[3].detail_json.find("\"revision\":1"), std::string::npos) << (*entries)[3].detail_json;
  EXPECT_EQ((*entries)[0].detail_json, R"({"version":3})");
  EXPECT_EQ((*entries)[7].client, "test-client");
  EXPECT_GT((*entries)[0].id, (*entries)[1].id);
  for (const auto& e : *entries) EXPECT_EQ(e.model, "iris");

  EXPECT_EQ(registry_->audit("iris", 2)->size(), 2u);
  EXPECT_TRUE(registry_->audit("other", 10)->empty());
  EXPECT_EQ(registry_->audit("", 1000)->size(), 8u);
  EXPECT_EQ(registry_->audit("", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->record_event("iris", "x", "{bad", actor_).code(), StatusCode::kInvalidArgument);
}

TEST_P(DeploymentTest, AliasMoveIsAuditedWithThePreviousVersion) {
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 3, actor_).is_ok());
  auto entries = registry_->audit("iris", 1);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].action, "alias.set");
  EXPECT_EQ((*entries)[0].detail_json, R"({"alias":"stable","version":3,"previous":2})");
}

TEST_P(DeploymentTest, ReopeningTheFileKeepsEverything) {
  ASSERT_TRUE(registry_->put_deployment("iris", kSpec, actor_).is_ok());
  const auto models_before = *registry_->list_models();
  const auto history_before = *registry_->history("iris");
  const auto audit_before = *registry_->audit("", 1000);

  reopen();
  auto models = registry_->list_models();
  ASSERT_TRUE(models.is_ok());
  ASSERT_EQ(models->size(), models_before.size());
  EXPECT_EQ((*models)[0].versions, models_before[0].versions);
  EXPECT_EQ((*models)[0].aliases, models_before[0].aliases);
  auto history = registry_->history("iris");
  ASSERT_EQ(history->size(), history_before.size());
  EXPECT_EQ((*history)[0].spec_json, history_before[0].spec_json);
  EXPECT_EQ(registry_->audit("", 1000)->size(), audit_before.size());
  EXPECT_EQ(registry_->get_version("iris", 2)->artifact_sha256, sha_of_char('b'));

  // The next mutation continues where the old process stopped.
  EXPECT_EQ(registry_->create_version(onnx_version("iris"), actor_)->version, 4);
}

// The SQLite file itself: its schema version, and what a crash leaves in it.
class SqliteRegistryFileTest : public RegistryTest {};
QUIVER_ON_SQLITE_ONLY(SqliteRegistryFileTest);

int user_version_of(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  const int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

TEST_P(SqliteRegistryFileTest, MigrationsRunOnceAndRecordTheSchemaVersion) {
  ASSERT_GE(latest_schema_version(), 1);
  for (size_t i = 0; i < schema_migrations().size(); ++i)
    EXPECT_EQ(schema_migrations()[i].version, static_cast<int>(i + 1));
  registry_.reset();
  EXPECT_EQ(user_version_of(db_path()), latest_schema_version());
  reopen();  // would fail with "table already exists" if migrations ran again
  reopen();
  EXPECT_EQ(user_version_of(db_path()), latest_schema_version());
}

TEST_P(SqliteRegistryFileTest, RefusesADatabaseFromANewerRelease) {
  registry_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
  const std::string sql = "PRAGMA user_version = " + std::to_string(latest_schema_version() + 1);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  auto opened = Registry::open(db_path(), clock_);
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("newer"), std::string::npos) << opened.status().message();
}

TEST_P(SqliteRegistryFileTest, CommittedChangesSurviveKill9) {
  registry_.reset();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child commits, then dies without running any destructor or close.
    auto reg = Registry::open(db_path());
    if (!reg.is_ok()) _exit(2);
    if (!(*reg)->create_version(onnx_version("iris"), actor_).is_ok()) _exit(3);
    if (!(*reg)->set_alias("iris", "stable", 1, actor_).is_ok()) _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  reopen();
  EXPECT_EQ(*registry_->resolve("iris", "stable"), 1);
  EXPECT_EQ(registry_->audit("iris", 10)->size(), 2u);
}

}  // namespace
}  // namespace quiver::registry
