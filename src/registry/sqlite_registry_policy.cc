// Per-model policies and online snapshots of the SQLite registry (signed artifacts and
// backups, issue 9).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>

#include "registry/registry_common.h"
#include "registry/sqlite_registry.h"

namespace quiver::registry {
namespace {

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

// A second, read-only connection to the registry file: in WAL mode its reads see one
// committed state and never wait for, or hold up, the registry's own writes.
Result<Connection> open_read_only(const std::filesystem::path& file) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK)
    return sqlite::status_from_sqlite(rc, "opening '" + file.string() + "' read-only",
                                      raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

}  // namespace

Result<ModelPolicy> SqliteRegistry::model_policy(const std::string& model) const {
  QUIVER_RETURN_IF_ERROR(validate_model_name(model));
  std::lock_guard lock(mu_);
  ModelPolicy policy;
  policy.model = model;
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->prepare("SELECT require_signature, updated_at FROM model_policies WHERE model = ?1", model));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (found) {
    policy.require_signature = st.int_at(0) != 0;
    policy.updated_at = st.text_at(1);
  }
  return policy;
}

Result<ModelPolicy> SqliteRegistry::set_model_policy(const ModelPolicy& policy, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_model_name(policy.model));
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement previous,
      db_->prepare("SELECT require_signature FROM model_policies WHERE model = ?1", policy.model));
  QUIVER_ASSIGN_OR_RETURN(bool had_previous, previous.step());
  const bool was_required = had_previous && previous.int_at(0) != 0;

  ModelPolicy stored = policy;
  stored.updated_at = now_text();
  QUIVER_RETURN_IF_ERROR(db_->run(
      "INSERT INTO model_policies (model, require_signature, updated_at) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (model) DO UPDATE SET require_signature = excluded.require_signature, "
      "updated_at = excluded.updated_at",
      stored.model, int64_t{stored.require_signature ? 1 : 0}, stored.updated_at));
  QUIVER_RETURN_IF_ERROR(append_audit_locked(stored.model, "model.policy",
                                             policy_detail(stored.require_signature, was_required), actor,
                                             stored.updated_at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return stored;
}

Status SqliteRegistry::snapshot_to(const std::filesystem::path& file) const {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return failed_precondition("snapshot target '" + file.string() + "' exists");
  const char* source = sqlite3_db_filename(db_->handle(), "main");
  if (source == nullptr || *source == '\0') return internal_error("the registry has no database file to snapshot");
  QUIVER_ASSIGN_OR_RETURN(Connection db, open_read_only(source));
  // VACUUM INTO copies one read transaction's view: every commit before it, none after,
  // and a compact file with no WAL beside it.
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), "VACUUM INTO ?1", -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> st(raw, &sqlite3_finalize);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(raw, 1, file.c_str(), -1, SQLITE_TRANSIENT);
  if (rc == SQLITE_OK) rc = sqlite3_step(raw);
  if (rc != SQLITE_DONE) {
    Status failed = sqlite::status_from_sqlite(rc, "snapshot into '" + file.string() + "'", sqlite3_errmsg(db.get()));
    st.reset();
    std::filesystem::remove(file, ec);
    return failed;
  }
  return Status::ok();
}

Result<std::vector<std::string>> blobs_named_in(const std::filesystem::path& registry_file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(registry_file, ec))
    return not_found("registry file '" + registry_file.string() + "' not found");
  QUIVER_ASSIGN_OR_RETURN(Connection db, open_read_only(registry_file));
  // Every column that names a blob. A new one must be added here, or backups would
  // leave its blobs behind (tests/unit/registry checks the two known ones).
  constexpr const char* kSql =
      "SELECT artifact_sha256 FROM versions UNION SELECT dataset_sha256 FROM evaluations ORDER BY 1";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), kSql, -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> st(raw, &sqlite3_finalize);
  std::vector<std::string> out;
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(raw);
    if (rc != SQLITE_ROW) break;
    const unsigned char* text = sqlite3_column_text(raw, 0);
    if (text != nullptr) out.emplace_back(reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE)
    return sqlite::status_from_sqlite(rc, "listing the blobs of '" + registry_file.string() + "'",
                                      sqlite3_errmsg(db.get()));
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace quiver::registry
