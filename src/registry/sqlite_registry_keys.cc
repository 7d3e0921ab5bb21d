// Access tokens and the tamper-evident audit log: access records, queries over both
// kinds of record, and the chain's verification (registry/audit_chain.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "registry/audit_chain.h"
#include "registry/sqlite_registry.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const std::set<std::string> kRoles = {"admin", "deployer", "publisher", "reader", "infer"};

constexpr const char* kKeyColumns =
    "id, role, models, salt, secret_hash, description, created_at, created_by, expires_at_ms, revoked_at, last_used";

// How many rows one step of verify_audit reads while holding the registry's lock.
constexpr int64_t kVerifyChunk = 5000;

Result<ApiKeyRecord> key_from_row(const sqlite::Statement& row) {
  ApiKeyRecord k;
  k.id = row.text_at(0);
  k.role = row.text_at(1);
  const json models = json::parse(row.text_at(2), nullptr, /*allow_exceptions=*/false);
  if (!models.is_array()) return data_loss("registry row for key '" + k.id + "' has a corrupt model scope");
  for (const json& m : models) {
    if (!m.is_string()) return data_loss("registry row for key '" + k.id + "' has a corrupt model scope");
    k.models.push_back(m.get<std::string>());
  }
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

bool is_key_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
         });
}

// What an audit row says about a key: never its salt or hash.
std::string key_detail(const ApiKeyRecord& k) {
  ordered_json d;
  d["id"] = k.id;
  d["role"] = k.role;
  d["models"] = k.models;
  if (k.expires_at_ms) d["expires_at"] = format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(*k.expires_at_ms)));
  if (!k.description.empty()) d["description"] = k.description;
  return d.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

// --- audit ---

Result<std::vector<AuditEntry>> SqliteRegistry::audit_query(const AuditQuery& q) const {
  if (q.limit <= 0) return invalid_argument("audit: limit must be positive, got " + std::to_string(q.limit));
  if (!q.kind.empty() && q.kind != "change" && q.kind != "access")
    return invalid_argument("audit: kind must be \"change\", \"access\" or \"all\", not '" + q.kind + "'");
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
    AuditEntry e;
    e.kind = "access";
    e.at = r.at.empty() ? now_text() : r.at;
    e.model = r.model;
    e.action = r.action;
    e.client = r.client;
    e.reason = r.reason;
    e.detail_json = "{}";
    e.actor_key = r.actor_key;
    e.actor_role = r.actor_role;
    e.source = r.source;
    e.tls_identity = r.tls_identity;
    e.resource = r.resource;
    e.request_id = r.request_id;
    e.decision = r.decision;
    e.status = r.status;
    e.latency_us = r.latency_us;
    QUIVER_RETURN_IF_ERROR(append_audit_row(*db_, std::move(e)));
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
  if (!is_key_id(key.id)) return invalid_argument("key id '" + key.id + "' must be 1..64 of [a-z0-9]");
  if (!kRoles.count(key.role))
    return invalid_argument("unknown role '" + key.role + "'; use admin, deployer, publisher, reader or infer");
  if (key.models.empty()) return invalid_argument("a key's model scope must name at least one glob");
  if (key.salt.empty() || key.secret_hash.empty()) return invalid_argument("a key needs a salt and a secret hash");
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
  const std::string models = json(stored.models).dump(-1, ' ', false, json::error_handler_t::replace);
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
