// KeyStore and Authorizer against a real registry in a temporary folder, with a
// FakeClock for expiry and rate limits: nothing here sleeps.
#include "auth/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "auth/authorizer.h"
#include "auth/bootstrap.h"
#include "auth/rate_limiter.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::auth {
namespace {

using registry::RegistryTest;

std::string bearer(const std::string& token) { return "Bearer " + token; }

class KeyStoreTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    keys_ = std::make_unique<KeyStore>(*registry_, *clock_);
    ASSERT_TRUE(keys_->refresh().is_ok());
  }
  CreatedKey make(Role role, std::vector<std::string> models = {"*"},
                  std::optional<std::chrono::seconds> expires_in = std::nullopt) {
    NewKey k;
    k.role = role;
    k.models = std::move(models);
    k.expires_in = expires_in;
    auto created = keys_->create(k, actor_);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created.is_ok() ? *created : CreatedKey{};
  }

  std::unique_ptr<KeyStore> keys_;
};

TEST_F(KeyStoreTest, AuthenticatesOnlyTheRightSecret) {
  const CreatedKey k = make(Role::kDeployer);
  auto who = keys_->authenticate(bearer(k.token));
  ASSERT_TRUE(who.is_ok()) << who.status().to_string();
  EXPECT_EQ(who->key_id, k.record.id);
  EXPECT_EQ(who->role, Role::kDeployer);
  EXPECT_EQ(who->describe(), "token " + k.record.id + " (role deployer)");

  std::string wrong = k.token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto bad = keys_->authenticate(bearer(wrong));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(bad.status().message().find("does not match"), std::string::npos);
  EXPECT_EQ(bad.status().message().find(wrong.substr(20)), std::string::npos) << "never echo a secret";

  auto unknown = keys_->authenticate(bearer("qv_" + std::string(16, 'f') + "_" + std::string(64, 'f')));
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("does not exist"), std::string::npos);
}

TEST_F(KeyStoreTest, OnlyAHashIsStored) {
  const CreatedKey k = make(Role::kReader);
  auto stored = registry_->find_key(k.record.id);
  ASSERT_TRUE(stored.is_ok() && stored->has_value());
  const std::string secret = k.token.substr(k.token.rfind('_') + 1);
  EXPECT_NE((*stored)->secret_hash, secret);
  EXPECT_EQ((*stored)->secret_hash.find(secret), std::string::npos);
  std::ifstream db(db_path(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(db)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(secret), std::string::npos) << "the secret must not be in the database file";
}

TEST_F(KeyStoreTest, ExpiryFollowsTheClock) {
  const CreatedKey k = make(Role::kInfer, {"*"}, std::chrono::hours(12));
  ASSERT_TRUE(k.record.expires_at_ms.has_value());
  EXPECT_TRUE(keys_->authenticate(bearer(k.token)).is_ok());
  clock_->advance(std::chrono::hours(12) - std::chrono::seconds(1));
  EXPECT_TRUE(keys_->authenticate(bearer(k.token)).is_ok());
  clock_->advance(std::chrono::seconds(1));
  auto expired = keys_->authenticate(bearer(k.token));
  ASSERT_FALSE(expired.is_ok());
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired at"), std::string::npos) << expired.status().message();
}

TEST_F(KeyStoreTest, RevocationIsImmediateAndRotationWorks) {
  const CreatedKey old_key = make(Role::kDeployer);
  const CreatedKey new_key = make(Role::kDeployer);  // overlapping: both valid
  EXPECT_TRUE(keys_->authenticate(bearer(old_key.token)).is_ok());
  EXPECT_TRUE(keys_->authenticate(bearer(new_key.token)).is_ok());
  ASSERT_TRUE(keys_->revoke(old_key.record.id, actor_).is_ok());
  auto revoked = keys_->authenticate(bearer(old_key.token));
  ASSERT_FALSE(revoked.is_ok());
  EXPECT_NE(revoked.status().message().find("was revoked"), std::string::npos);
  EXPECT_TRUE(keys_->authenticate(bearer(new_key.token)).is_ok());
  // Revoking again changes nothing; an unknown id is NotFound.
  EXPECT_TRUE(keys_->revoke(old_key.record.id, actor_).is_ok());
  EXPECT_EQ(keys_->revoke("0000000000000000", actor_).status().code(), StatusCode::kNotFound);
}

TEST_F(KeyStoreTest, RevocationByAnotherWriterIsSeenAtTheNextRefresh) {
  const CreatedKey k = make(Role::kReader);
  ASSERT_TRUE(registry_->revoke_key(k.record.id, actor_).is_ok());  // not through this store
  ASSERT_TRUE(keys_->refresh().is_ok());                            // what the 500 ms thread does
  EXPECT_FALSE(keys_->authenticate(bearer(k.token)).is_ok());
}

TEST_F(KeyStoreTest, ScopesAndBadRequests) {
  const CreatedKey k = make(Role::kDeployer, {"fraud-*", "iris"});
  auto who = keys_->authenticate(bearer(k.token));
  ASSERT_TRUE(who.is_ok());
  EXPECT_TRUE(who->may_use_model("fraud-2"));
  EXPECT_TRUE(who->may_use_model("iris"));
  EXPECT_FALSE(who->may_use_model("iris2"));
  EXPECT_EQ(who->describe(), "token " + k.record.id + " (role deployer, models fraud-*,iris)");

  NewKey scoped_admin;
  scoped_admin.role = Role::kAdmin;
  scoped_admin.models = {"iris"};
  EXPECT_EQ(keys_->create(scoped_admin, actor_).status().code(), StatusCode::kInvalidArgument);
  NewKey bad_glob;
  bad_glob.models = {"../etc"};
  EXPECT_EQ(keys_->create(bad_glob, actor_).status().code(), StatusCode::kInvalidArgument);
  NewKey no_models;
  no_models.models = {};
  EXPECT_EQ(keys_->create(no_models, actor_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KeyStoreTest, LastUsedIsRecordedOffTheRequestPath) {
  const CreatedKey k = make(Role::kReader);
  ASSERT_TRUE(keys_->authenticate(bearer(k.token)).is_ok());
  EXPECT_FALSE((*registry_->find_key(k.record.id))->last_used.has_value());
  keys_->flush_last_used();
  EXPECT_EQ((*registry_->find_key(k.record.id))->last_used, format_utc(clock_->wall_now()));
}

TEST_F(KeyStoreTest, KeyChangesAreAuditedWithoutSecrets) {
  const CreatedKey k = make(Role::kPublisher);
  ASSERT_TRUE(keys_->revoke(k.record.id, actor_).is_ok());
  auto entries = registry_->audit("", 10);
  ASSERT_TRUE(entries.is_ok());
  ASSERT_GE(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].action, "key.revoke");
  EXPECT_EQ((*entries)[1].action, "key.create");
  for (const auto& e : *entries) {
    EXPECT_EQ(e.detail_json.find(k.record.secret_hash), std::string::npos);
    EXPECT_EQ(e.detail_json.find(k.record.salt), std::string::npos);
    EXPECT_EQ(e.detail_json.find(k.token.substr(20)), std::string::npos);
  }
}

TEST_F(KeyStoreTest, FirstStartWritesAPrivateAdminToken) {
  const auto data_dir = dir_.path() / "data";
  auto written = ensure_admin_token(*keys_, data_dir, *clock_);
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  ASSERT_TRUE(written->has_value());
  struct stat st {};
  ASSERT_EQ(::stat((*written)->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::ifstream in(**written);
  std::string token;
  std::getline(in, token);
  auto who = keys_->authenticate(bearer(token));
  ASSERT_TRUE(who.is_ok()) << who.status().to_string();
  EXPECT_EQ(who->role, Role::kAdmin);
  // A usable admin key exists: nothing is written again.
  auto again = ensure_admin_token(*keys_, data_dir, *clock_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->has_value());
  // Every admin key revoked: the next start writes a new one (the recovery path).
  ASSERT_TRUE(keys_->revoke(who->key_id, actor_).is_ok());
  auto recovered = ensure_admin_token(*keys_, data_dir, *clock_);
  ASSERT_TRUE(recovered.is_ok());
  EXPECT_TRUE(recovered->has_value());
}

TEST(BindPolicy, LoopbackOnlyWithoutAuth) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
    EXPECT_TRUE(check_bind_policy(host, false, false, "HTTP").is_ok()) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "example.com", ""}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
    const Status st = check_bind_policy(host, false, false, "HTTP");
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << host;
    EXPECT_NE(st.message().find("--insecure-no-auth"), std::string::npos);
    EXPECT_TRUE(check_bind_policy(host, true, false, "HTTP").is_ok());
    EXPECT_TRUE(check_bind_policy(host, false, true, "HTTP").is_ok());
  }
}

TEST(RateLimiter, TokenBucketWithAFakeClock) {
  FakeClock clock;
  RateLimiter limiter({2.0, 3.0}, clock);  // 2/s, burst 3
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_FALSE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("b")) << "buckets are per key";
  clock.advance(std::chrono::milliseconds(499));
  EXPECT_FALSE(limiter.try_acquire("a"));
  clock.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_FALSE(limiter.try_acquire("a"));
  clock.advance(std::chrono::hours(1));  // refills to the burst, not beyond
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_FALSE(limiter.try_acquire("a"));

  RateLimiter off({0, 0}, clock);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(off.try_acquire("a"));
}

class AuthorizerTest : public KeyStoreTest {
 protected:
  Authorizer make_authorizer(AuthOptions o) {
    o.enabled = true;
    return Authorizer(o, keys_.get(), *clock_, [this](std::string_view model) {
      auto it = access_.find(std::string(model));
      return it == access_.end() ? InferenceAccess::kServerDefault : it->second;
    });
  }
  std::map<std::string, InferenceAccess> access_;
};

TEST_F(AuthorizerTest, AuthOffAllowsEverything) {
  Authorizer off(AuthOptions{}, nullptr, *clock_, nullptr);
  EXPECT_TRUE(off.authorize("", Permission::kManageKeys, "").allowed());
  EXPECT_TRUE(off.authorize("garbage", Permission::kDeploy, "iris").allowed());
}

TEST_F(AuthorizerTest, MissingTokenIs401AndHealthIsPublic) {
  Authorizer a = make_authorizer({});
  EXPECT_TRUE(a.authorize("", Permission::kHealth, "").allowed());
  const Decision d = a.authorize("", Permission::kDeploy, "iris");
  EXPECT_EQ(d.status.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(d.status.message().find("missing token"), std::string::npos);
  EXPECT_EQ(a.authorize("Bearer nonsense", Permission::kRead, "").status.code(), StatusCode::kUnauthenticated);
}

TEST_F(AuthorizerTest, RolesAndScopesGive403WithClearMessages) {
  Authorizer a = make_authorizer({});
  const CreatedKey reader = make(Role::kReader);
  const CreatedKey deployer = make(Role::kDeployer, {"fraud-*"});
  EXPECT_TRUE(a.authorize(bearer(reader.token), Permission::kRead, "iris").allowed());
  const Decision wrong_role = a.authorize(bearer(reader.token), Permission::kDeploy, "iris");
  EXPECT_EQ(wrong_role.status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong_role.status.message(), "token " + reader.record.id +
                                             " (role reader) may not change deployments, rollouts or aliases of "
                                             "model 'iris'; that needs role deployer or admin");
  ASSERT_TRUE(wrong_role.principal.has_value());
  EXPECT_TRUE(a.authorize(bearer(deployer.token), Permission::kDeploy, "fraud-1").allowed());
  const Decision out_of_scope = a.authorize(bearer(deployer.token), Permission::kDeploy, "iris");
  EXPECT_EQ(out_of_scope.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(out_of_scope.status.message().find("outside the token's model scope"), std::string::npos);
  EXPECT_NE(out_of_scope.status.message().find("model 'iris'"), std::string::npos);
}

TEST_F(AuthorizerTest, InferenceIsPublicPerServerOrPerModel) {
  const CreatedKey infer = make(Role::kInfer, {"iris"});
  const CreatedKey reader = make(Role::kReader);
  access_["open"] = InferenceAccess::kPublic;
  access_["closed"] = InferenceAccess::kToken;
  {
    Authorizer token_only = make_authorizer({});
    EXPECT_EQ(token_only.authorize("", Permission::kInfer, "iris").status.code(), StatusCode::kUnauthenticated);
    EXPECT_TRUE(token_only.authorize("", Permission::kInfer, "open").allowed());
    EXPECT_TRUE(token_only.authorize("", Permission::kModelMetadata, "open").allowed());
    EXPECT_TRUE(token_only.authorize(bearer(infer.token), Permission::kInfer, "iris").allowed());
    EXPECT_EQ(token_only.authorize(bearer(infer.token), Permission::kInfer, "other").status.code(),
              StatusCode::kPermissionDenied);
    EXPECT_EQ(token_only.authorize(bearer(reader.token), Permission::kInfer, "iris").status.code(),
              StatusCode::kPermissionDenied);
    EXPECT_TRUE(token_only.authorize(bearer(reader.token), Permission::kModelMetadata, "iris").allowed());
  }
  {
    AuthOptions o;
    o.public_inference = true;
    Authorizer public_server = make_authorizer(o);
    EXPECT_TRUE(public_server.authorize("", Permission::kInfer, "iris").allowed());
    EXPECT_EQ(public_server.authorize("", Permission::kInfer, "closed").status.code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(public_server.authorize("", Permission::kDeploy, "iris").status.code(), StatusCode::kUnauthenticated);
    // A bad token is refused even where none is needed.
    EXPECT_EQ(public_server.authorize("Bearer qv_x", Permission::kInfer, "iris").status.code(),
              StatusCode::kUnauthenticated);
  }
}

TEST_F(AuthorizerTest, PerKeyRateLimitGives429) {
  AuthOptions o;
  o.rate_limit = {1.0, 2.0};
  Authorizer a = make_authorizer(o);
  const CreatedKey k1 = make(Role::kReader);
  const CreatedKey k2 = make(Role::kReader);
  EXPECT_TRUE(a.authorize(bearer(k1.token), Permission::kRead, "").allowed());
  EXPECT_TRUE(a.authorize(bearer(k1.token), Permission::kRead, "").allowed());
  const Decision limited = a.authorize(bearer(k1.token), Permission::kRead, "");
  EXPECT_EQ(limited.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(limited.status.message().find("rate limit of 1 requests/s (burst 2)"), std::string::npos)
      << limited.status.message();
  EXPECT_TRUE(a.authorize(bearer(k2.token), Permission::kRead, "").allowed());
  clock_->advance(std::chrono::seconds(1));
  EXPECT_TRUE(a.authorize(bearer(k1.token), Permission::kRead, "").allowed());
}

}  // namespace
}  // namespace quiver::auth
