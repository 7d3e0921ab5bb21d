// Access tokens and the tamper-evident audit log: access records, queries over both
// kinds of record, and the chain's verification (registry/audit_chain.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "registry/audit_chain.h"
#include "registry/registry_common.h"
#include "registry/sqlite_registry.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kKeyColumns =
    "id, role, models, salt, secret_hash, description, created_at, created_by, expires_at_ms, revoked_at, last_used";

// How many rows one step of verify_audit reads while holding the registry's lock.
constexpr int64_t kVerifyChunk = 5000;

Result<ApiKeyRecord> key_from_row(const sqlite::Statement& row) {
  ApiKeyRecord k;
  k.id = row.text_at(0);
  k.role = row.text_at(1);
  QUIVER_ASSIGN_OR_RETURN(k.models, key_models_from_json(k.id, row.text_at(2)));
  k.salt = row.text_at(3);
  k.secret_hash = row.text_at(4);
  k.description = row.text_at(5);
  k.created_at = row.text_at(6);
  k.created_by = row.text_at(7);
  if (!row.is_null(8)) k.expires_at_ms = row.int_at(8);
  if (!row.is_null(9)) k.revoked_at = row.text_at(9);
  if (!row.is_null(10)) k.last_used = row.text_at(10);
  return k;
}

}  // namespace

// --- audit ---

Result<std::vector<AuditEntry>> SqliteRegistry::audit_query(const AuditQuery& q) const {
  QUIVER_RETURN_IF_ERROR(validate_audit_query(q));
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->prepare(std::string("SELECT ") + kAuditColumns +
                       " FROM audit_log WHERE (?1 = '' OR model = ?1) AND (?2 = '' OR kind = ?2) "
                       "AND (?3 <= 0 OR id < ?3) ORDER BY id DESC LIMIT ?4",
                   q.model, q.kind, q.before_id, q.limit));
  std::vector<AuditEntry> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    out.push_back(audit_from_row(st));
  }
}

Status SqliteRegistry::append_access(const std::vector<AccessRecord>& records) {
  if (records.empty()) return Status::ok();
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  for (const AccessRecord& r : records) {
    QUIVER_RETURN_IF_ERROR(append_audit_row(*db_, access_entry(r, now_text())));
  }
  return tx.commit();
}

Result<AuditVerification> SqliteRegistry::verify_audit() const {
  AuditVerification out;
  ChainCursor cursor;
  while (true) {
    std::lock_guard lock(mu_);
    QUIVER_ASSIGN_OR_RETURN(bool more, verify_audit_chunk(*db_, kVerifyChunk, cursor, out));
    if (!more) return out;
  }
}

// --- access tokens ---

Result<ApiKeyRecord> SqliteRegistry::create_key(const ApiKeyRecord& key, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_new_key(key));
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement existing, db_->prepare("SELECT 1 FROM api_keys WHERE id = ?1", key.id));
  QUIVER_ASSIGN_OR_RETURN(bool taken, existing.step());
  if (taken) return already_exists("key id '" + key.id + "' is taken");

  ApiKeyRecord stored = key;
  stored.created_at = now_text();
  stored.created_by = actor.client;
  stored.revoked_at.reset();
  stored.last_used.reset();
  const std::string models = key_models_to_json(stored.models);
  if (stored.expires_at_ms) {
    QUIVER_RETURN_IF_ERROR(db_->run(
        "INSERT INTO api_keys (id, role, models, salt, secret_hash, description, created_at, created_by, "
        "expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        stored.id, stored.role, models, stored.salt, stored.secret_hash, stored.description, stored.created_at,
        stored.created_by, *stored.expires_at_ms));
  } else {
    QUIVER_RETURN_IF_ERROR(
        db_->run("INSERT INTO api_keys (id, role, models, salt, secret_hash, description, created_at, created_by) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 stored.id, stored.role, models, stored.salt, stored.secret_hash, stored.description,
                 stored.created_at, stored.created_by));
  }
  QUIVER_RETURN_IF_ERROR(append_audit_locked("", "key.create", key_detail(stored), actor, stored.created_at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return stored;
}

Result<std::vector<ApiKeyRecord>> SqliteRegistry::list_keys() const {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare(std::string("SELECT ") + kKeyColumns + " FROM api_keys ORDER BY created_at, id"));
  std::vector<ApiKeyRecord> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(st));
    out.push_back(std::move(k));
  }
}

Result<std::optional<ApiKeyRecord>> SqliteRegistry::find_key(const std::string& id) const {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ?1", id));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return std::optional<ApiKeyRecord>();
  QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(st));
  return std::optional<ApiKeyRecord>(std::move(k));
}

Result<ApiKeyRecord> SqliteRegistry::revoke_key(const std::string& id, const Actor& actor) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ?1", id));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return not_found("unknown key '" + id + "'");
  QUIVER_ASSIGN_OR_RETURN(ApiKeyRecord k, key_from_row(st));
  if (k.revoked_at) return k;
  k.revoked_at = now_text();
  QUIVER_RETURN_IF_ERROR(db_->run("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2", *k.revoked_at, id));
  QUIVER_RETURN_IF_ERROR(append_audit_locked("", "key.revoke", key_detail(k), actor, *k.revoked_at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return k;
}

Status SqliteRegistry::touch_keys(const std::map<std::string, std::string>& last_used) {
  if (last_used.empty()) return Status::ok();
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  for (const auto& [id, at] : last_used)
    QUIVER_RETURN_IF_ERROR(db_->run("UPDATE api_keys SET last_used = ?1 WHERE id = ?2", at, id));
  return tx.commit();
}

}  // namespace quiver::registry
