// What only the PostgreSQL registry does: replicas sharing one database migrate once,
// number versions without gaps, see every write's revision announced, refuse writes
// from a leader that lost its lease, and ride out a dropped connection. (Everything
// both backends share runs on both in the other registry tests.)
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "registry/pg_migrations.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

using namespace std::chrono_literals;

class PgRegistryTest : public RegistryTest {
 protected:
  // A direct connection to the test's database, as an operator (or another replica's
  // cluster module) would have.
  std::unique_ptr<pg::Connection> direct() {
    auto conn = pg::Connection::connect(pg_->url());
    EXPECT_TRUE(conn.is_ok()) << conn.status().to_string();
    return conn.is_ok() ? std::move(conn).value() : nullptr;
  }
  void sql(const std::string& text) {
    auto conn = direct();
    ASSERT_NE(conn, nullptr);
    const Status st = conn->exec_script(text);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  int64_t scalar(const std::string& text) {
    auto conn = direct();
    if (!conn) return -1;
    auto rows = conn->exec(text);
    EXPECT_TRUE(rows.is_ok()) << rows.status().to_string();
    return rows.is_ok() && !rows->empty() ? rows->int_at(0, 0) : -1;
  }
  Actor fenced(const std::string& holder, int64_t epoch) {
    Actor a = actor_;
    a.fence = Fence{holder, epoch};
    return a;
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, PgRegistryTest, ::testing::Values(Backend::kPostgresql), backend_name);

TEST_P(PgRegistryTest, TwoReplicasStartingAtOnceMigrateOnce) {
  PgScratchDatabase fresh;
  ASSERT_TRUE(fresh.create().is_ok());
  std::optional<Result<std::unique_ptr<Registry>>> opened[2];
  std::thread a([&] { opened[0].emplace(Registry::open_postgres(fresh.url(), clock_)); });
  std::thread b([&] { opened[1].emplace(Registry::open_postgres(fresh.url(), clock_)); });
  a.join();
  b.join();
  ASSERT_TRUE(opened[0]->is_ok()) << opened[0]->status().to_string();
  ASSERT_TRUE(opened[1]->is_ok()) << opened[1]->status().to_string();
  auto conn = pg::Connection::connect(fresh.url());
  ASSERT_TRUE(conn.is_ok());
  auto rows = (*conn)->exec("SELECT count(*), max(version) FROM schema_migrations");
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->int_at(0, 0), pg_latest_schema_version());
  EXPECT_EQ(rows->int_at(0, 1), pg_latest_schema_version());
  // Both work on the one schema.
  ASSERT_TRUE((**opened[0])->create_version(onnx_version("iris"), actor_).is_ok());
  EXPECT_EQ((**opened[1])->get_model("iris")->versions, std::vector<int64_t>{1});
}

TEST_P(PgRegistryTest, ASchemaNewerThanTheBinaryIsRefused) {
  const int newer = pg_latest_schema_version() + 7;
  sql("INSERT INTO schema_migrations (version, description) VALUES (" + std::to_string(newer) + ", 'from the future')");
  registry_.reset();
  auto opened = open_another();
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("the registry database has schema version " + std::to_string(newer) +
                                           ", newer than this binary knows (" +
                                           std::to_string(pg_latest_schema_version()) + "): upgrade quiver"),
            std::string::npos)
      << opened.status().message();
}

TEST_P(PgRegistryTest, ThreeReplicasCreatingAtOnceNumberVersionsWithoutGaps) {
  constexpr int kReplicas = 3;
  constexpr int kEach = 20;
  std::vector<std::vector<int64_t>> got(kReplicas);
  std::vector<std::string> errors(kReplicas);
  std::vector<std::thread> threads;
  for (int t = 0; t < kReplicas; ++t)
    threads.emplace_back([&, t] {
      auto replica = open_another();
      if (!replica.is_ok()) {
        errors[t] = replica.status().to_string();
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        auto r = (*replica)->create_version(onnx_version("iris"), actor_);
        if (r.is_ok()) got[t].push_back(r->version);
        else errors[t] = r.status().to_string();
      }
    });
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (int t = 0; t < kReplicas; ++t) {
    EXPECT_EQ(errors[t], "");
    all.insert(got[t].begin(), got[t].end());
  }
  std::set<int64_t> expected;
  for (int v = 1; v <= kReplicas * kEach; ++v) expected.insert(v);
  EXPECT_EQ(all, expected);
  // One linear audit chain across the three writers.
  auto verified = registry_->verify_audit();
  ASSERT_TRUE(verified.is_ok()) << verified.status().to_string();
  EXPECT_TRUE(verified->ok) << verified->problem;
  EXPECT_EQ(verified->records, kReplicas * kEach);
}

TEST_P(PgRegistryTest, EveryWriteBumpsTheRevisionAndIsAnnouncedOnCommit) {
  auto listener = direct();
  ASSERT_NE(listener, nullptr);
  ASSERT_TRUE(listener->exec_script("LISTEN quiver_registry").is_ok());
  const int64_t before = *registry_->revision();

  ASSERT_TRUE(registry_->create_version(onnx_version("iris"), actor_).is_ok());
  const int64_t after_create = *registry_->revision();
  EXPECT_EQ(after_create, before + 1);
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 1, actor_).is_ok());
  const int64_t after_alias = *registry_->revision();
  EXPECT_EQ(after_alias, after_create + 1);
  // A refused write changes nothing, so announces nothing.
  NewVersion taken = onnx_version("iris");
  taken.version = 1;
  EXPECT_FALSE(registry_->create_version(taken, actor_).is_ok());
  EXPECT_EQ(*registry_->revision(), after_alias);

  std::vector<std::string> heard;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (heard.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto got = listener->wait_for_notifications(500ms);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (const auto& n : *got) {
      EXPECT_EQ(n.channel, "quiver_registry");
      heard.push_back(n.payload);
    }
  }
  EXPECT_EQ(heard, (std::vector<std::string>{std::to_string(after_create), std::to_string(after_alias)}));
}

TEST_P(PgRegistryTest, AFencedWriteFromAStaleLeaderWritesNothing) {
  add_versions("iris", 1);
  sql("INSERT INTO cluster_lease (name, holder, epoch, expires_at, acquired_at) "
      "VALUES ('leader', 'replica-a', 3, now() + interval '1 minute', now())");
  const int64_t before = *registry_->revision();

  // A lease taken over since (another epoch), or another holder: refused.
  auto stale = registry_->set_alias("iris", "stable", 1, fenced("replica-a", 2));
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.message().find("fenced: replica replica-a no longer holds the leader lease at epoch 2"),
            std::string::npos)
      << stale.message();
  EXPECT_EQ(registry_->create_version(onnx_version("other"), fenced("replica-b", 3)).status().code(),
            StatusCode::kFailedPrecondition);

  // The right holder and epoch, but the lease ran out by the database's clock.
  sql("UPDATE cluster_lease SET expires_at = now() - interval '1 second'");
  auto expired = registry_->put_deployment("iris", R"({"versions":[{"version":1}]})", fenced("replica-a", 3));
  EXPECT_EQ(expired.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(expired.status().message().find("fenced"), std::string::npos);

  EXPECT_EQ(*registry_->revision(), before);
  EXPECT_TRUE(registry_->get_model("iris")->aliases.empty());
  EXPECT_EQ(registry_->get_model("other").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(registry_->current_deployment("iris")->has_value());

  // A valid lease lets the write through; writes without a fence never look.
  sql("UPDATE cluster_lease SET expires_at = now() + interval '1 minute'");
  EXPECT_TRUE(registry_->set_alias("iris", "stable", 1, fenced("replica-a", 3)).is_ok());
  EXPECT_TRUE(registry_->set_alias("iris", "canary", 1, actor_).is_ok());
  EXPECT_EQ(registry_->get_model("iris")->aliases.size(), 2u);
}

TEST_P(PgRegistryTest, AKilledConnectionIsReplacedAtTheNextCall) {
  add_versions("iris", 1);
  auto admin = pg::Connection::connect(PgScratchDatabase::admin_url());
  ASSERT_TRUE(admin.is_ok());
  auto killed = (*admin)->query(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      pg_->name());
  ASSERT_TRUE(killed.is_ok()) << killed.status().to_string();
  ASSERT_GE(killed->int_at(0, 0), 1);

  // The first call may find the connection dead (Unavailable) or already replaced...
  auto first = registry_->create_version(onnx_version("iris"), actor_);
  if (!first.is_ok()) {
    EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().to_string();
    EXPECT_NE(first.status().message().find("the registry database is unreachable"), std::string::npos)
        << first.status().message();
  }
  // ...and the next one works, on a new connection, numbering on from what committed.
  auto next = registry_->create_version(onnx_version("iris"), actor_);
  ASSERT_TRUE(next.is_ok()) << next.status().to_string();
  EXPECT_EQ(next->version, first.is_ok() ? 3 : 2);
  EXPECT_TRUE(registry_->get_model("iris").is_ok());
}

TEST_P(PgRegistryTest, AnUnreachableDatabaseAnswersUnavailableQuickly) {
  const auto start = std::chrono::steady_clock::now();
  auto opened = Registry::open_postgres("postgresql://postgres:secret@127.0.0.1:1/quiver", clock_);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.status().message().find("the registry database is unreachable"), std::string::npos);
  EXPECT_EQ(opened.status().message().find("secret"), std::string::npos) << "the password is redacted";
}

TEST_P(PgRegistryTest, IsSharedAndKeepsVersionsAndTheAuditLogImmutable) {
  EXPECT_TRUE(registry_->shared());
  EXPECT_EQ(registry_->url(), pg_->url());
  add_versions("iris", 1);
  auto conn = direct();
  ASSERT_NE(conn, nullptr);
  auto update = conn->exec_script("UPDATE versions SET framework = 'torchscript'");
  EXPECT_FALSE(update.is_ok());
  EXPECT_NE(update.message().find("immutable"), std::string::npos) << update.message();
  for (const char* edit : {"UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"}) {
    auto st = conn->exec_script(edit);
    EXPECT_FALSE(st.is_ok()) << edit;
    EXPECT_NE(st.message().find("append-only"), std::string::npos) << st.message();
  }
  auto verified = registry_->verify_audit();
  ASSERT_TRUE(verified.is_ok());
  EXPECT_TRUE(verified->ok);
  EXPECT_EQ(verified->records, 1);
}

}  // namespace
}  // namespace quiver::registry
