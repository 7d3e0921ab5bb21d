// Model policies, signed version records, and online snapshots (issue 9: signed
// artifacts and backups).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "registry/registry.h"
#include "registry/sqlite_db.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

class RegistryPolicyTest : public RegistryTest {};
QUIVER_ON_BOTH_REGISTRY_BACKENDS(RegistryPolicyTest);
class SqlitePolicyFileTest : public RegistryTest {};
QUIVER_ON_SQLITE_ONLY(SqlitePolicyFileTest);

TEST_P(RegistryPolicyTest, PoliciesDefaultOffAndNeedNoRegisteredModel) {
  auto none = registry_->model_policy("fresh");
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_FALSE(none->require_signature);
  EXPECT_TRUE(none->updated_at.empty());

  auto set = registry_->set_model_policy({"fresh", true, ""}, actor_);
  ASSERT_TRUE(set.is_ok()) << set.status().to_string();
  EXPECT_TRUE(set->require_signature);
  EXPECT_FALSE(set->updated_at.empty());
  reopen();
  EXPECT_TRUE(registry_->model_policy("fresh")->require_signature);

  ASSERT_TRUE(registry_->set_model_policy({"fresh", false, ""}, actor_).is_ok());
  EXPECT_FALSE(registry_->model_policy("fresh")->require_signature);
  auto audit = registry_->audit("fresh");
  ASSERT_TRUE(audit.is_ok());
  ASSERT_GE(audit->size(), 2u);
  EXPECT_EQ(audit->front().action, "model.policy");

  EXPECT_EQ(registry_->model_policy("../etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->set_model_policy({"a/b", true, ""}, actor_).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(RegistryPolicyTest, SignedVersionsKeepTheirSignatureAndSigner) {
  NewVersion v = onnx_version("iris");
  v.artifact_signature = "MEUCIQ==";
  v.signed_by = "0123456789abcdef";
  auto created = registry_->create_version(v, actor_);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->signed_by, "0123456789abcdef");
  ASSERT_TRUE(registry_->create_version(onnx_version("iris", 'b'), actor_).is_ok());
  reopen();
  auto record = registry_->get_version("iris", 1);
  EXPECT_EQ(record->artifact_signature, "MEUCIQ==");
  EXPECT_EQ(record->signed_by, "0123456789abcdef");
  EXPECT_TRUE(registry_->get_version("iris", 2)->signed_by.empty());
  EXPECT_EQ(registry_->get_model("iris")->signed_by, (std::map<int64_t, std::string>{{1, "0123456789abcdef"}}));
  EXPECT_EQ(registry_->list_models()->at(0).signed_by.size(), 1u);
}

TEST_P(RegistryPolicyTest, SnapshotIsConsistentWhileWritesContinue) {
  add_versions("iris", 2);
  ASSERT_TRUE(registry_->add_evaluation("iris", 1, sha_of_char('0'), "{}", actor_).is_ok());

  // Writers keep writing while snapshots are taken; every snapshot opens cleanly and
  // names exactly the blobs of the versions it holds.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (char c = 'c'; c <= 'z' && !stop; ++c) (void)registry_->create_version(onnx_version("iris", c), actor_);
  });
  for (int i = 0; i < 5; ++i) {
    const auto file = dir_.path() / ("snap" + std::to_string(i) + ".db");
    ASSERT_TRUE(registry_->snapshot_to(file).is_ok());
    auto copy = Registry::open(file, clock_);
    ASSERT_TRUE(copy.is_ok()) << copy.status().to_string();
    auto versions = (*copy)->get_model("iris")->versions;
    auto named = blobs_named_in(file);
    ASSERT_TRUE(named.is_ok()) << named.status().to_string();
    EXPECT_EQ(named->size(), versions.size() + 1) << "every version's artifact and the dataset";
    EXPECT_TRUE(std::is_sorted(named->begin(), named->end()));
  }
  stop = true;
  writer.join();

  // A snapshot never overwrites a file.
  EXPECT_FALSE(registry_->snapshot_to(dir_.path() / "snap0.db").is_ok());
  EXPECT_EQ(blobs_named_in(dir_.path() / "missing.db").status().code(), StatusCode::kNotFound);
}

TEST_P(SqlitePolicyFileTest, VersionsStayImmutableAfterTheMigration) {
  add_versions("iris", 1);
  // The trigger still refuses updates, including of the new columns.
  auto db = sqlite::Database::open(db_path());
  ASSERT_TRUE(db.is_ok());
  EXPECT_FALSE((*db)->exec("UPDATE versions SET signed_by = 'forged'").is_ok());
}

}  // namespace
}  // namespace quiver::registry
