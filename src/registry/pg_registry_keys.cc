// Access tokens and the tamper-evident audit log of PgRegistry: access records,
// queries over both kinds of record, and the chain's verification. Mirrors
// sqlite_registry_keys.cc; the chain's rules are registry/audit_chain.h's.
#include "registry/audit_chain.h"
#include "registry/pg_registry.h"
#include "registry/registry_common.h"

namespace quiver::registry {
namespace {

constexpr const char* kKeyColumns =
    "id, role, models, salt, secret_hash, description, created_at, created_by, expires_at_ms, revoked_at, last_used";

// How many rows one step of verify_audit reads while holding the registry's lock.
constexpr int64_t kVerifyChunk = 5000;

Result<ApiKeyRecord> key_from_row(const pg::Rows& rows, int i) {
  ApiKeyRecord k;
  k.id = rows.text_at(i, 0);
  k.role = rows.text_at(i, 1);
  QUIVER_ASSIGN_OR_RETURN(k.models, key_models_from_json(k.id, rows.text_at(i, 2)));
  k.salt = rows.text_at(i, 3);
  k.secret_hash = rows.text_at(i, 4);
  k.description = rows.text_at(i, 5);
  k.created_at = rows.text_at(i, 6);
  k.created_by = rows.text_at(i, 7);
  if (!rows.is_null(i, 8)) k.expires_at_ms = rows.int_at(i, 8);
  if (!rows.is_null(i, 9)) k.revoked_at = rows.text_at(i, 9);
  if (!rows.is_null(i, 10)) k.last_used = rows.text_at(i, 10);
  return k;
}

AuditEntry audit_from_pg_row(const pg::Rows& rows, int i) {
  AuditEntry e;
  e.id = rows.int_at(i, 0);
  e.at = rows.text_at(i, 1);
  e.model = rows.text_at(i, 2);
  e.action = rows.text_at(i, 3);
  e.client = rows.text_at(i, 4);
  e.reason = rows.text_at(i, 5);
  e.detail_json = rows.text_at(i, 6);
  e.kind = rows.text_at(i, 7);
  e.actor_key = rows.text_at(i, 8);
  e.actor_role = rows.text_at(i, 9);
  e.source = rows.text_at(i, 10);
  e.tls_identity = rows.text_at(i, 11);
  e.resource = rows.text_at(i, 12);
  e.request_id = rows.text_at(i, 13);
  e.decision = rows.text_at(i, 14);
  e.status = rows.int_at(i, 15);
  e.latency_us = rows.int_at(i, 16);
  e.prev_hash = rows.text_at(i, 17);
  e.hash = rows.text_at(i, 18);
  return e;
}

}  // namespace

// --- audit ---

Result<std::vector<AuditEntry>> PgRegistry::audit_query(const AuditQuery& q) const {
  QUIVER_RETURN_IF_ERROR(validate_audit_query(q));
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kAuditColumns +
                                         " FROM audit_log WHERE ($1 = '' OR model = $1) AND ($2 = '' OR kind = $2) "
                                         "AND ($3 <= 0 OR id < $3) ORDER BY id DESC LIMIT $4",
                                     q.model, q.kind, q.before_id, q.limit));
  std::vector<AuditEntry> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(audit_from_pg_row(rows, i));
  return out;
}

Status PgRegistry::append_access(const std::vector<AccessRecord>& records) {
  if (records.empty()) return Status::ok();
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, std::nullopt));
  for (const AccessRecord& r : records) QUIVER_RETURN_IF_ERROR(append_audit_entry_locked(access_entry(r, now_text())));
  // Access records change no desired state: no revision, no NOTIFY.
  return tx->commit();
}

Result<AuditVerification> PgRegistry::verify_audit() const {
  AuditVerification out;
  int64_t last_id = 0;
  std::string last_hash;
  const auto broken = [&](int64_t id, std::string problem) {
    out.ok = false;
    out.first_broken = id;
    out.problem = std::move(problem);
    return out;
  };
  while (true) {
    std::lock_guard lock(mu_);
    // One snapshot per chunk, so the end-of-log check below sees the same rows.
    std::optional<pg::Transaction> tx;
    QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
    QUIVER_ASSIGN_OR_RETURN(
        pg::Rows rows, db().query(std::string("SELECT ") + kAuditColumns +
                                      " FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                                  last_id, kVerifyChunk));
    for (int i = 0; i < rows.size(); ++i) {
      const AuditEntry e = audit_from_pg_row(rows, i);
      if (e.id != last_id + 1)
        return broken(e.id, "record " + std::to_string(last_id + 1) +
                                (e.id > last_id + 2 ? " to " + std::to_string(e.id - 1) : std::string()) +
                                " missing before record " + std::to_string(e.id));
      if (e.prev_hash != last_hash)
        return broken(e.id, "record " + std::to_string(e.id) + " does not link to the record before it");
      if (e.hash.empty()) return broken(e.id, "record " + std::to_string(e.id) + " has no hash");
      if (audit_hash(e.prev_hash, e) != e.hash)
        return broken(e.id, "record " + std::to_string(e.id) + " does not match its hash (it was changed)");
      last_id = e.id;
      last_hash = e.hash;
      ++out.records;
    }
    if (rows.size() < kVerifyChunk) {
      // Rows deleted at the end leave the head counter ahead of the last row.
      QUIVER_ASSIGN_OR_RETURN(pg::Rows head, db().exec("SELECT last_id FROM audit_log_head"));
      const int64_t seq = head.empty() ? 0 : head.int_at(0, 0);
      if (seq > last_id)
        return broken(last_id + 1, "records " + std::to_string(last_id + 1) + " to " + std::to_string(seq) +
                                       " were deleted from the end of the log");
      out.head_hash = last_hash;
      return out;
    }
  }
}

// --- access tokens ---

Result<ApiKeyRecord> PgRegistry::create_key(const ApiKeyRecord& key, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_new_key(key));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows existing, db().query("SELECT 1 FROM api_keys WHERE id = $1", key.id));
  if (!existing.empty()) return already_exists("key id '" + key.id + "' is taken");

  ApiKeyRecord stored = key;
  stored.created_at = now_text();
  stored.created_by = actor.client;
  stored.revoked_at.reset();
  stored.last_used.reset();
  QUIVER_RETURN_IF_ERROR(
      db().query("INSERT INTO api_keys (id, role, models, salt, secret_hash, description, created_at, created_by, "
                 "expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                 stored.id, stored.role, key_models_to_json(stored.models), stored.salt, stored.secret_hash,
                 stored.description, stored.created_at, stored.created_by, stored.expires_at_ms)
          .status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked("", "key.create", key_detail(stored), actor, stored.created_at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return stored;
}

Result<std::vector<ApiKeyRecord>> PgRegistry::list_keys() const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, db().exec(std::string("SELECT ") + kKeyColumns +
                                                   " FROM api_keys ORDER BY created_at COLLATE \"C\", id COLLATE \"C\""));
  std::vector<ApiKeyRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(rows, i));
    out.push_back(std::move(k));
  }
  return out;
}

Result<std::optional<ApiKeyRecord>> PgRegistry::find_key(const std::string& id) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = $1", id));
  if (rows.empty()) return std::optional<ApiKeyRecord>();
  QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(rows, 0));
  return std::optional<ApiKeyRecord>(std::move(k));
}

Result<ApiKeyRecord> PgRegistry::revoke_key(const std::string& id, const Actor& actor) {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = $1", id));
  if (rows.empty()) return not_found("unknown key '" + id + "'");
  QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(rows, 0));
  if (k.revoked_at) return k;
  k.revoked_at = now_text();
  QUIVER_RETURN_IF_ERROR(db().query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2", *k.revoked_at, id).status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked("", "key.revoke", key_detail(k), actor, *k.revoked_at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return k;
}

Status PgRegistry::touch_keys(const std::map<std::string, std::string>& last_used) {
  if (last_used.empty()) return Status::ok();
  std::lock_guard lock(mu_);
  // Bookkeeping: no write lock, no revision (last_used is not desired state).
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  pg::Transaction tx(*conn_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  for (const auto& [id, at] : last_used)
    QUIVER_RETURN_IF_ERROR(db().query("UPDATE api_keys SET last_used = $1 WHERE id = $2", at, id).status());
  return tx.commit();
}

}  // namespace quiver::registry
