#include <sqlite3.h>

#include <set>
#include <thread>

#include "registry/signature_json.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

// Every test here runs on SQLite and on PostgreSQL, except the file-level ones.
QUIVER_ON_BOTH_REGISTRY_BACKENDS(RegistryTest);
class SqliteVersionFileTest : public RegistryTest {};
QUIVER_ON_SQLITE_ONLY(SqliteVersionFileTest);

TEST_P(RegistryTest, CreateThenGetReturnsEverythingStored) {
  NewVersion v = onnx_version("iris");
  v.description = "first model";
  v.metadata = {{"team", "ml"}, {"dataset", "iris-v2"}};
  v.signature.inputs = {{"x", DataType::kFp32, {-1, 4}}};
  v.signature.outputs = {{"probs", DataType::kFp32, {-1, 3}}};
  v.warmup_json = R"({"inputs":[]})";

  auto created = registry_->create_version(v, actor_);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(created->created_at, format_utc(clock_->wall_now()));

  auto got = registry_->get_version("iris", 1);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->model, "iris");
  EXPECT_EQ(got->framework, "onnx");
  EXPECT_EQ(got->artifact_sha256, v.artifact_sha256);
  EXPECT_EQ(got->size, 1234u);
  EXPECT_EQ(got->description, "first model");
  EXPECT_EQ(got->metadata, v.metadata);
  EXPECT_EQ(got->signature, v.signature);
  EXPECT_EQ(got->warmup_json, v.warmup_json);
  EXPECT_EQ(got->created_at, created->created_at);
}

TEST_P(RegistryTest, VersionsAreNumberedInOrderWhenNotGiven) {
  EXPECT_EQ(registry_->create_version(onnx_version("iris"), actor_)->version, 1);
  EXPECT_EQ(registry_->create_version(onnx_version("iris"), actor_)->version, 2);
  NewVersion explicit_version = onnx_version("iris");
  explicit_version.version = 10;
  EXPECT_EQ(registry_->create_version(explicit_version, actor_)->version, 10);
  EXPECT_EQ(registry_->create_version(onnx_version("iris"), actor_)->version, 11);
  // Numbering is per model.
  EXPECT_EQ(registry_->create_version(onnx_version("other"), actor_)->version, 1);
}

TEST_P(RegistryTest, ConcurrentCreatesGetDistinctNumbers) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5;
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = registry_->create_version(onnx_version("iris"), actor_);
        if (r.is_ok()) got[t].push_back(r->version);
      }
    });
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
}

TEST_P(RegistryTest, TakenVersionIsAlreadyExistsAndOriginalIsUntouched) {
  NewVersion v = onnx_version("iris", 'a');
  v.version = 3;
  ASSERT_TRUE(registry_->create_version(v, actor_).is_ok());

  NewVersion again = onnx_version("iris", 'b');
  again.version = 3;
  again.framework = "torchscript";
  auto conflict = registry_->create_version(again, actor_);
  EXPECT_EQ(conflict.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(conflict.status().message().find("'iris'"), std::string::npos) << conflict.status().message();
  EXPECT_NE(conflict.status().message().find("3"), std::string::npos);

  auto got = registry_->get_version("iris", 3);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->artifact_sha256, sha_of_char('a'));
  EXPECT_EQ(got->framework, "onnx");
}

TEST_P(SqliteVersionFileTest, VersionRowsCannotBeUpdatedEvenDirectly) {
  add_versions("iris", 1);
  registry_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, "UPDATE versions SET framework = 'torchscript'", nullptr, nullptr, &err);
  EXPECT_NE(rc, SQLITE_OK);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("immutable"), std::string::npos) << err;
  sqlite3_free(err);
  sqlite3_close(db);

  reopen();
  EXPECT_EQ(registry_->get_version("iris", 1)->framework, "onnx");
}

TEST_P(RegistryTest, InvalidNewVersionsAreRejected) {
  auto expect_invalid = [&](NewVersion v, const std::string& needle) {
    auto r = registry_->create_version(v, actor_);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_invalid(onnx_version("bad name"), "bad name");
  expect_invalid(onnx_version(""), "empty");
  expect_invalid(onnx_version("-lead"), "-lead");

  NewVersion v = onnx_version("iris");
  v.framework = "tensorflow";
  expect_invalid(v, "tensorflow");

  v = onnx_version("iris");
  v.artifact_sha256 = "abc";
  expect_invalid(v, "sha256");
  v.artifact_sha256 = std::string(64, 'A');
  expect_invalid(v, "sha256");

  v = onnx_version("iris");
  v.version = 0;
  expect_invalid(v, "positive");
  v.version = -4;
  expect_invalid(v, "positive");

  v = onnx_version("iris");
  v.signature.inputs = {{"x", DataType::kFp32, {1}}, {"x", DataType::kFp32, {2}}};
  expect_invalid(v, "'x'");
  v.signature.inputs = {{"x", DataType::kFp32, {-2}}};
  expect_invalid(v, "shape");

  v = onnx_version("iris");
  v.warmup_json = "{not json";
  expect_invalid(v, "warmup");

  // Nothing was created by any of the attempts.
  EXPECT_EQ(registry_->get_model("iris").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry_->audit("", 100)->empty());
}

TEST_P(RegistryTest, GetVersionNotFoundMessages) {
  auto unknown = registry_->get_version("foo", 1);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "unknown model 'foo'");

  add_versions("iris", 1);
  auto missing = registry_->get_version("iris", 7);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "model 'iris' has no version 7");
}

TEST_P(RegistryTest, ResolveNumbersAndAliases) {
  add_versions("iris", 3);
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 2, actor_).is_ok());

  EXPECT_EQ(*registry_->resolve("iris", "3"), 3);
  EXPECT_EQ(*registry_->resolve("iris", "stable"), 2);

  auto no_alias = registry_->resolve("iris", "canary");
  EXPECT_EQ(no_alias.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(no_alias.status().message(), "model 'iris' has no version or alias 'canary'");

  auto no_version = registry_->resolve("iris", "9");
  EXPECT_EQ(no_version.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_version.status().message().find("9"), std::string::npos);

  auto no_model = registry_->resolve("foo", "1");
  EXPECT_EQ(no_model.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(no_model.status().message(), "unknown model 'foo'");
}

TEST_P(RegistryTest, AliasesSetMoveDelete) {
  add_versions("iris", 3);
  ASSERT_TRUE(registry_->set_alias("iris", "canary", 2, actor_).is_ok());
  EXPECT_EQ(registry_->get_model("iris")->aliases, (std::map<std::string, int64_t>{{"canary", 2}}));

  ASSERT_TRUE(registry_->set_alias("iris", "canary", 3, actor_).is_ok());  // move
  EXPECT_EQ(*registry_->resolve("iris", "canary"), 3);

  ASSERT_TRUE(registry_->delete_alias("iris", "canary", actor_).is_ok());
  EXPECT_EQ(registry_->resolve("iris", "canary").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry_->get_model("iris")->aliases.empty());

  Status again = registry_->delete_alias("iris", "canary", actor_);
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
  EXPECT_NE(again.message().find("'canary'"), std::string::npos);
}

TEST_P(RegistryTest, AliasNeedsAnExistingVersionAndAValidName) {
  add_versions("iris", 1);
  Status missing = registry_->set_alias("iris", "canary", 5, actor_);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("no version 5"), std::string::npos) << missing.message();
  EXPECT_EQ(registry_->set_alias("foo", "canary", 1, actor_).code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->set_alias("iris", "42", 1, actor_).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->set_alias("iris", "has space", 1, actor_).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_->get_model("iris")->aliases.empty());
}

TEST_P(RegistryTest, ListAndGetModels) {
  add_versions("iris", 2);
  add_versions("bert", 1);
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 1, actor_).is_ok());

  auto models = registry_->list_models();
  ASSERT_TRUE(models.is_ok());
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name, "bert");
  EXPECT_EQ((*models)[0].versions, (std::vector<int64_t>{1}));
  EXPECT_EQ((*models)[1].name, "iris");
  EXPECT_EQ((*models)[1].versions, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*models)[1].aliases.at("stable"), 1);

  auto iris = registry_->get_model("iris");
  ASSERT_TRUE(iris.is_ok());
  EXPECT_EQ(iris->versions, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(registry_->get_model("nope").status().message(), "unknown model 'nope'");
}

TEST(RegistryNamesTest, ModelAndAliasNameRules) {
  for (const char* ok : {"iris", "Iris_2", "a.b-c", "x", "0model"}) EXPECT_TRUE(validate_model_name(ok).is_ok()) << ok;
  for (const char* bad : {"", ".hidden", "-flag", "a/b", "a b", "ü", "a:b"})
    EXPECT_EQ(validate_model_name(bad).code(), StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(validate_model_name(std::string(128, 'm')).is_ok());
  EXPECT_FALSE(validate_model_name(std::string(129, 'm')).is_ok());

  EXPECT_TRUE(validate_alias_name("canary").is_ok());
  EXPECT_TRUE(validate_alias_name("v2").is_ok());
  EXPECT_FALSE(validate_alias_name("2").is_ok());
  EXPECT_FALSE(validate_alias_name("007").is_ok());
  EXPECT_FALSE(validate_alias_name("").is_ok());
}

TEST(SignatureJsonTest, RoundTripAndStrictParsing) {
  ModelSignature sig;
  sig.inputs = {{"x", DataType::kFp32, {-1, 4}}, {"ids", DataType::kInt64, {-1}}};
  sig.outputs = {{"y", DataType::kBytes, {}}};
  const std::string text = signature_to_json(sig);
  EXPECT_NE(text.find("\"datatype\":\"FP32\""), std::string::npos) << text;
  auto back = signature_from_json(text);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(*back, sig);

  auto unknown_dtype = signature_from_json(R"({"inputs":[{"name":"x","datatype":"FLOAT","shape":[1]}]})");
  EXPECT_EQ(unknown_dtype.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown_dtype.status().message().find("inputs[0].datatype"), std::string::npos);
  auto unknown_field = signature_from_json(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"dims":1}]})");
  EXPECT_NE(unknown_field.status().message().find("unknown field 'dims' in inputs[0]"), std::string::npos)
      << unknown_field.status().message();
}

// Replicas tell what they have applied by the registry revision: every change moves
// it forward; reads and refused writes leave it where it is.
TEST_P(RegistryTest, EveryChangeMovesTheRevisionForward) {
  auto at = [&] {
    auto r = registry_->revision();
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : -1;
  };
  int64_t last = at();
  const auto expect_moved = [&](const char* what) {
    const int64_t now = at();
    EXPECT_GT(now, last) << what;
    last = now;
  };
  ASSERT_TRUE(registry_->create_version(onnx_version("iris"), actor_).is_ok());
  expect_moved("version.create");
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 1, actor_).is_ok());
  expect_moved("alias.set");
  ASSERT_TRUE(registry_->put_deployment("iris", R"({"versions":[{"version":1}]})", actor_).is_ok());
  expect_moved("deployment.apply");
  ASSERT_TRUE(registry_->record_event("iris", "version.load_failed", "{}", actor_).is_ok());
  expect_moved("an event");
  ASSERT_TRUE(registry_->delete_alias("iris", "stable", actor_).is_ok());
  expect_moved("alias.delete");

  (void)registry_->get_model("iris");
  (void)registry_->history("iris");
  EXPECT_FALSE(registry_->set_alias("iris", "stable", 9, actor_).is_ok());
  EXPECT_EQ(at(), last) << "reads and refused writes change nothing";
  reopen();
  EXPECT_EQ(at(), last) << "the revision is stored with the registry";
}

}  // namespace
}  // namespace quiver::registry
