// Per-model policies and snapshots of PgRegistry. A snapshot is a SQLite registry file
// with the same schema and rows, so backups (src/backup) and restores work unchanged
// whichever backend the server runs on.
#include <array>
#include <system_error>

#include "registry/migrations.h"
#include "registry/pg_registry.h"
#include "registry/registry_common.h"
#include "registry/sqlite_db.h"

namespace quiver::registry {
namespace {

struct TableCopy {
  const char* table;
  const char* columns;      // as named in both schemas, in this order
  const char* pg_select;    // the same columns as PostgreSQL reads them (booleans as 0/1)
  const char* order_by;
};

// Parents before children, for the foreign keys.
constexpr std::array kTables = {
    TableCopy{"models", "name, created_at", "name, created_at", "name"},
    TableCopy{"versions",
              "model, version, framework, artifact_sha256, size, created_at, description, metadata, signature, "
              "warmup_json, artifact_signature, signed_by",
              "model, version, framework, artifact_sha256, size, created_at, description, metadata, signature, "
              "warmup_json, artifact_signature, signed_by",
              "model, version"},
    TableCopy{"aliases", "model, alias, version, updated_at", "model, alias, version, updated_at", "model, alias"},
    TableCopy{"deployment_revisions", "model, revision, spec_json, deleted, created_at, client, reason",
              "model, revision, spec_json, deleted::int, created_at, client, reason", "model, revision"},
    TableCopy{"audit_log",
              "id, at, model, action, client, reason, detail_json, kind, actor_key, actor_role, source, tls_identity, "
              "resource, request_id, decision, status, latency_us, prev_hash, hash",
              "id, at, model, action, client, reason, detail_json, kind, actor_key, actor_role, source, tls_identity, "
              "resource, request_id, decision, status, latency_us, prev_hash, hash",
              "id"},
    TableCopy{"evaluations", "id, model, version, created_at, dataset_sha256, report_json",
              "id, model, version, created_at, dataset_sha256, report_json", "id"},
    TableCopy{"rollouts", "model, state_json, updated_at", "model, state_json, updated_at", "model"},
    TableCopy{"api_keys",
              "id, role, models, salt, secret_hash, description, created_at, created_by, expires_at_ms, revoked_at, "
              "last_used",
              "id, role, models, salt, secret_hash, description, created_at, created_by, expires_at_ms, revoked_at, "
              "last_used",
              "id"},
    TableCopy{"model_policies", "model, require_signature, updated_at", "model, require_signature::int, updated_at",
              "model"},
};

int column_count(const char* columns) {
  int n = 1;
  for (const char* c = columns; *c; ++c) n += *c == ',';
  return n;
}

// Writes the rows read from PostgreSQL into a fresh SQLite registry at `file`.
Status write_sqlite_copy(const std::filesystem::path& file, const std::vector<pg::Rows>& tables, int64_t revision) {
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db, sqlite::Database::open(file));
  QUIVER_RETURN_IF_ERROR(apply_migrations(*db));
  {
    sqlite::Transaction tx(*db);
    QUIVER_RETURN_IF_ERROR(tx.begin());
    for (size_t t = 0; t < kTables.size(); ++t) {
      const int columns = column_count(kTables[t].columns);
      std::string sql = std::string("INSERT INTO ") + kTables[t].table + " (" + kTables[t].columns + ") VALUES (";
      for (int c = 0; c < columns; ++c) sql += (c ? ", ?" : "?") + std::to_string(c + 1);
      sql += ")";
      const pg::Rows& rows = tables[t];
      for (int r = 0; r < rows.size(); ++r) {
        QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st, db->prepare(sql));
        // Text binds: SQLite's INTEGER affinity stores the numbers as integers.
        for (int c = 0; c < columns; ++c) {
          if (rows.is_null(r, c)) {
            QUIVER_RETURN_IF_ERROR(st.bind(c + 1, std::nullopt));
          } else {
            QUIVER_RETURN_IF_ERROR(st.bind(c + 1, std::string_view(rows.text_at(r, c))));
          }
        }
        QUIVER_RETURN_IF_ERROR(st.run());
      }
    }
    QUIVER_RETURN_IF_ERROR(db->run("UPDATE registry_state SET revision = ?1 WHERE id = 1", revision));
    QUIVER_RETURN_IF_ERROR(tx.commit());
  }
  // One self-contained file, as VACUUM INTO makes it for SQLite registries.
  return db->exec("PRAGMA journal_mode=DELETE");
}

}  // namespace

Result<ModelPolicy> PgRegistry::model_policy(const std::string& model) const {
  QUIVER_RETURN_IF_ERROR(validate_model_name(model));
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  ModelPolicy policy;
  policy.model = model;
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows rows, db().query("SELECT require_signature, updated_at FROM model_policies WHERE model = $1", model));
  if (!rows.empty()) {
    policy.require_signature = rows.bool_at(0, 0);
    policy.updated_at = rows.text_at(0, 1);
  }
  return policy;
}

Result<ModelPolicy> PgRegistry::set_model_policy(const ModelPolicy& policy, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_model_name(policy.model));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows previous,
                          db().query("SELECT require_signature FROM model_policies WHERE model = $1", policy.model));
  const bool was_required = !previous.empty() && previous.bool_at(0, 0);

  ModelPolicy stored = policy;
  stored.updated_at = now_text();
  QUIVER_RETURN_IF_ERROR(db().query("INSERT INTO model_policies (model, require_signature, updated_at) "
                                    "VALUES ($1, $2, $3) ON CONFLICT (model) DO UPDATE SET "
                                    "require_signature = excluded.require_signature, updated_at = excluded.updated_at",
                                    stored.model, stored.require_signature, stored.updated_at)
                             .status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked(stored.model, "model.policy",
                                             policy_detail(stored.require_signature, was_required), actor,
                                             stored.updated_at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return stored;
}

Status PgRegistry::snapshot_to(const std::filesystem::path& file) const {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return failed_precondition("snapshot target '" + file.string() + "' exists");
  std::vector<pg::Rows> tables;
  int64_t revision = 0;
  {
    std::lock_guard lock(mu_);
    // One REPEATABLE READ transaction: every commit before it, none after, and the
    // replicas' writers are never blocked.
    std::optional<pg::Transaction> tx;
    QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
    for (const TableCopy& t : kTables) {
      QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, db().exec(std::string("SELECT ") + t.pg_select + " FROM " + t.table +
                                                       " ORDER BY " + t.order_by));
      tables.push_back(std::move(rows));
    }
    QUIVER_ASSIGN_OR_RETURN(pg::Rows state, db().exec("SELECT revision FROM registry_state"));
    revision = state.empty() ? 0 : state.int_at(0, 0);
  }
  if (std::filesystem::exists(file, ec)) return failed_precondition("snapshot target '" + file.string() + "' exists");
  if (Status st = write_sqlite_copy(file, tables, revision); !st.is_ok()) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(std::filesystem::path(file.string() + suffix), ec);
    return st.with_context("snapshot into '" + file.string() + "'");
  }
  return Status::ok();
}

}  // namespace quiver::registry
