// The audit log's hash chain: every change and every access record joins it, and an
// edit made behind the registry's back (with sqlite3 directly) is found, at the
// right record.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include "registry/audit_chain.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

class AuditChainTest : public RegistryTest {
 protected:
  // Runs SQL on the file directly, as someone with write access to it could.
  void tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }
  int exec_rc(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc;
  }
  void fill() {
    add_versions("iris", 2);
    ASSERT_TRUE(registry_->set_alias("iris", "stable", 1, actor_).is_ok());
    AccessRecord r;
    r.action = "PUT /v1/models/{model}/aliases/{alias}";
    r.model = "iris";
    r.resource = "/v1/models/iris/aliases/stable";
    r.actor_key = "0123456789abcdef";
    r.actor_role = "deployer";
    r.source = "127.0.0.1:5000";
    r.decision = "allow";
    r.status = 200;
    r.latency_us = 1234;
    r.request_id = "req-1";
    AccessRecord denied = r;
    denied.decision = "deny";
    denied.status = 403;
    denied.reason = "token 0123456789abcdef (role reader) may not ...";
    ASSERT_TRUE(registry_->append_access({r, denied}).is_ok());
    ASSERT_TRUE(registry_->record_event("iris", "version.load_failed", "{\"version\": 2}", actor_).is_ok());
  }
};

QUIVER_ON_BOTH_REGISTRY_BACKENDS(AuditChainTest);
// Tampering with the file directly (sqlite3): SQLite only. PostgreSQL's append-only
// triggers are covered in pg_registry_test.cc.
class SqliteAuditChainTest : public AuditChainTest {};
QUIVER_ON_SQLITE_ONLY(SqliteAuditChainTest);

TEST_P(AuditChainTest, ChangesAndAccessRecordsFormOneVerifiableChain) {
  fill();
  auto v = registry_->verify_audit();
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->records, 6);  // 2 versions, 1 alias, 2 access, 1 event
  EXPECT_FALSE(v->first_broken.has_value());
  EXPECT_EQ(v->head_hash.size(), 64u);

  auto all = registry_->audit_query({"", "", 100, 0});
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 6u);
  std::string prev;
  for (auto it = all->rbegin(); it != all->rend(); ++it) {  // oldest first
    EXPECT_EQ(it->prev_hash, prev);
    EXPECT_EQ(it->hash, audit_hash(prev, *it));
    prev = it->hash;
  }
  EXPECT_EQ(prev, v->head_hash);
  // The change view is what GET /v1/audit always showed; access records are apart.
  EXPECT_EQ(registry_->audit("iris", 100)->size(), 4u);
  auto access = registry_->audit_query({"", "access", 100, 0});
  ASSERT_EQ(access->size(), 2u);
  EXPECT_EQ((*access)[0].decision, "deny");
  EXPECT_EQ((*access)[0].status, 403);
  EXPECT_EQ((*access)[1].actor_role, "deployer");
  EXPECT_EQ((*access)[1].latency_us, 1234);
  auto paged = registry_->audit_query({"", "", 2, (*all)[1].id});
  ASSERT_EQ(paged->size(), 2u);
  EXPECT_LT((*paged)[0].id, (*all)[1].id);
}

TEST_P(SqliteAuditChainTest, TheLogIsAppendOnlyForTheServer) {
  fill();
  EXPECT_NE(exec_rc("UPDATE audit_log SET reason = 'x' WHERE id = 1"), SQLITE_OK);
  EXPECT_NE(exec_rc("DELETE FROM audit_log WHERE id = 1"), SQLITE_OK);
}

TEST_P(SqliteAuditChainTest, AnEditedRowIsNamed) {
  fill();
  tamper("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET client = 'someone else' WHERE id = 3");
  auto v = registry_->verify_audit();
  ASSERT_TRUE(v.is_ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_broken, 3);
  EXPECT_EQ(v->records, 2);
  EXPECT_NE(v->problem.find("changed"), std::string::npos) << v->problem;
}

TEST_P(SqliteAuditChainTest, ARehashedRowBreaksTheNextLink) {
  fill();
  auto all = registry_->audit_query({"", "", 100, 0});
  AuditEntry e = (*all)[all->size() - 2];  // id 2
  ASSERT_EQ(e.id, 2);
  e.reason = "rewritten";
  const std::string rehashed = audit_hash(e.prev_hash, e);
  tamper("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET reason = 'rewritten', hash = '" + rehashed +
         "' WHERE id = 2");
  auto v = registry_->verify_audit();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_broken, 3);
  EXPECT_NE(v->problem.find("does not link"), std::string::npos) << v->problem;
}

TEST_P(SqliteAuditChainTest, DeletedRowsAreFoundInTheMiddleAndAtTheEnd) {
  fill();
  tamper("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 4");
  auto middle = registry_->verify_audit();
  EXPECT_FALSE(middle->ok);
  EXPECT_EQ(middle->first_broken, 5);
  EXPECT_NE(middle->problem.find("missing"), std::string::npos) << middle->problem;
}

TEST_P(SqliteAuditChainTest, DeletedTailIsFound) {
  fill();
  tamper("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id >= 5");
  auto v = registry_->verify_audit();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_broken, 5);
  EXPECT_NE(v->problem.find("deleted from the end"), std::string::npos) << v->problem;
}

TEST_P(SqliteAuditChainTest, RowsFromBeforeTheChainAreSealedOnce) {
  fill();
  // A database from before the chain: no hashes at all.
  tamper("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET prev_hash = '', hash = ''");
  EXPECT_FALSE(registry_->verify_audit()->ok);
  reopen();  // sealing happens on open
  auto sealed = registry_->verify_audit();
  EXPECT_TRUE(sealed->ok) << sealed->problem;
  EXPECT_EQ(sealed->records, 6);
  // Later appends continue the chain.
  ASSERT_TRUE(registry_->set_alias("iris", "stable", 2, actor_).is_ok());
  EXPECT_TRUE(registry_->verify_audit()->ok);
  // Once a chain exists, a blanked row is reported, never re-sealed.
  tamper("UPDATE audit_log SET hash = '' WHERE id = 7");
  reopen();
  auto v = registry_->verify_audit();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_broken, 7);
}

TEST_P(SqliteAuditChainTest, CanonicalFormIsLengthPrefixed) {
  AuditEntry e;
  e.id = 7;
  e.at = "t";
  e.kind = "change";
  e.model = "m";
  e.action = "a";
  e.client = "c";
  e.reason = "";
  e.detail_json = "{}";
  EXPECT_EQ(audit_canonical(e), "1:71:t6:change1:m1:a1:c0:2:{}0:0:0:0:0:0:0:1:01:0");
  // Moving a character between fields changes the hash (no ambiguity).
  AuditEntry f = e;
  f.model = "ma";
  f.action = "";
  EXPECT_NE(audit_hash("", e), audit_hash("", f));
}

}  // namespace
}  // namespace quiver::registry
