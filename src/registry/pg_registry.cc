// Models, versions, aliases and their pages of PgRegistry, and the helpers the other
// pg_registry_*.cc files share. Mirrors sqlite_registry.cc statement for statement.
#include "registry/pg_registry.h"

#include <map>

#include "registry/audit_chain.h"
#include "registry/registry_common.h"
#include "registry/signature_json.h"

namespace quiver::registry {
namespace {

constexpr const char* kVersionColumns =
    "model, version, framework, artifact_sha256, size, created_at, description, metadata, signature, warmup_json, "
    "artifact_signature, signed_by";

Result<VersionRecord> version_from_row(const pg::Rows& rows, int i) {
  VersionRecord r;
  r.model = rows.text_at(i, 0);
  r.version = rows.int_at(i, 1);
  r.framework = rows.text_at(i, 2);
  r.artifact_sha256 = rows.text_at(i, 3);
  r.size = static_cast<uint64_t>(rows.int_at(i, 4));
  r.created_at = rows.text_at(i, 5);
  r.description = rows.text_at(i, 6);
  r.warmup_json = rows.text_at(i, 9);
  r.artifact_signature = rows.text_at(i, 10);
  r.signed_by = rows.text_at(i, 11);
  QUIVER_RETURN_IF_ERROR(decode_version_json(r, rows.text_at(i, 7), rows.text_at(i, 8)));
  return r;
}

}  // namespace

// --- helpers shared by the pg_registry_*.cc files ---

std::string PgRegistry::now_text() const { return format_utc(clock_->wall_now()); }

Status PgRegistry::require_model_locked(const std::string& model) const {
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, db().query("SELECT 1 FROM models WHERE name = $1", model));
  if (rows.empty()) return not_found("unknown model '" + model + "'");
  return Status::ok();
}

Status PgRegistry::append_audit_entry_locked(AuditEntry e) const {
  // The write lock is held, so the newest row and the head cannot move under us and
  // the chain stays linear across replicas.
  QUIVER_ASSIGN_OR_RETURN(pg::Rows head,
                          db().exec("UPDATE audit_log_head SET last_id = GREATEST(last_id, "
                                    "(SELECT COALESCE(MAX(id), 0) FROM audit_log)) + 1 RETURNING last_id"));
  if (head.empty()) return data_loss("registry database: the audit_log_head row is missing");
  QUIVER_ASSIGN_OR_RETURN(pg::Rows newest, db().exec("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1"));
  e.id = head.int_at(0, 0);
  e.prev_hash = newest.empty() ? std::string() : newest.text_at(0, 0);
  e.hash = audit_hash(e.prev_hash, e);
  if (e.hash.empty()) return internal_error("audit log: SHA-256 is unavailable");
  return db()
      .query("INSERT INTO audit_log (id, at, model, action, client, reason, detail_json, kind, actor_key, actor_role, "
             "source, tls_identity, resource, request_id, decision, status, latency_us, prev_hash, hash) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
             e.id, e.at, e.model, e.action, e.client, e.reason, e.detail_json, e.kind, e.actor_key, e.actor_role,
             e.source, e.tls_identity, e.resource, e.request_id, e.decision, e.status, e.latency_us, e.prev_hash,
             e.hash)
      .status();
}

Status PgRegistry::append_audit_locked(const std::string& model, std::string_view action,
                                       const std::string& detail_json, const Actor& actor,
                                       const std::string& at) const {
  return append_audit_entry_locked(change_entry(model, action, detail_json, actor, at));
}

Result<std::optional<VersionRecord>> PgRegistry::find_version_locked(const std::string& model,
                                                                     int64_t version) const {
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows rows,
      db().query(std::string("SELECT ") + kVersionColumns + " FROM versions WHERE model = $1 AND version = $2", model,
                 version));
  if (rows.empty()) return std::optional<VersionRecord>();
  QUIVER_ASSIGN_OR_RETURN(VersionRecord record, version_from_row(rows, 0));
  return std::optional<VersionRecord>(std::move(record));
}

Result<int64_t> PgRegistry::resolve_locked(const std::string& model, const std::string& ref) const {
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  if (ref.empty()) return invalid_argument("empty version reference for model '" + model + "'");
  if (const auto number = parse_version_number(ref)) {
    QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, *number));
    if (record) return *number;
    return not_found("model '" + model + "' has no version " + ref);
  }
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query("SELECT version FROM aliases WHERE model = $1 AND alias = $2", model, ref));
  if (rows.empty()) return not_found("model '" + model + "' has no version or alias '" + ref + "'");
  return rows.int_at(0, 0);
}

// --- versions ---

Result<VersionRecord> PgRegistry::create_version(const NewVersion& v, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_new_version(v));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;  // begun once the connection is known good
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));

  int64_t number = 0;
  if (v.version) {
    number = *v.version;
    QUIVER_ASSIGN_OR_RETURN(auto existing, find_version_locked(v.model, number));
    if (existing) return version_taken_error(v.model, number);
  } else {
    // Under the write lock: concurrent creators on other replicas wait, so 1..N.
    QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                            db().query("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model = $1", v.model));
    number = rows.int_at(0, 0);
  }

  const std::string at = now_text();
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows inserted,
      db().query("INSERT INTO models (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", v.model, at));
  const bool new_model = inserted.affected() > 0;

  const VersionRecord record = version_record_of(v, number, at);
  QUIVER_RETURN_IF_ERROR(db().query(std::string("INSERT INTO versions (") + kVersionColumns +
                                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                                    record.model, record.version, record.framework, record.artifact_sha256,
                                    static_cast<int64_t>(record.size), record.created_at, record.description,
                                    metadata_to_json(record.metadata), signature_to_json(record.signature),
                                    record.warmup_json, record.artifact_signature, record.signed_by)
                             .status());
  QUIVER_RETURN_IF_ERROR(
      append_audit_locked(v.model, "version.create", version_create_detail(record, new_model), actor, at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return record;
}

Result<VersionRecord> PgRegistry::get_version(const std::string& model, int64_t version) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  return std::move(*record);
}

Result<int64_t> PgRegistry::resolve(const std::string& model, const std::string& ref) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  return resolve_locked(model, ref);
}

Result<std::vector<ModelSummary>> PgRegistry::list_models() const {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
  std::map<std::string, ModelSummary> by_name;
  QUIVER_ASSIGN_OR_RETURN(pg::Rows models, db().exec("SELECT name FROM models"));
  for (int i = 0; i < models.size(); ++i) by_name[models.text_at(i, 0)].name = models.text_at(i, 0);
  QUIVER_ASSIGN_OR_RETURN(pg::Rows versions,
                          db().exec("SELECT model, version, signed_by FROM versions ORDER BY model, version"));
  for (int i = 0; i < versions.size(); ++i) {
    ModelSummary& summary = by_name[versions.text_at(i, 0)];
    summary.versions.push_back(versions.int_at(i, 1));
    if (std::string signer = versions.text_at(i, 2); !signer.empty())
      summary.signed_by[versions.int_at(i, 1)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(pg::Rows aliases, db().exec("SELECT model, alias, version FROM aliases"));
  for (int i = 0; i < aliases.size(); ++i)
    by_name[aliases.text_at(i, 0)].aliases[aliases.text_at(i, 1)] = aliases.int_at(i, 2);
  std::vector<ModelSummary> out;
  out.reserve(by_name.size());
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

Status PgRegistry::read_versions_and_aliases_locked(const pg::Rows& versions, ModelSummary& summary) const {
  for (int i = 0; i < versions.size(); ++i) {
    summary.versions.push_back(versions.int_at(i, 0));
    if (std::string signer = versions.text_at(i, 1); !signer.empty()) summary.signed_by[versions.int_at(i, 0)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(pg::Rows aliases,
                          db().query("SELECT alias, version FROM aliases WHERE model = $1", summary.name));
  for (int i = 0; i < aliases.size(); ++i) summary.aliases[aliases.text_at(i, 0)] = aliases.int_at(i, 1);
  return Status::ok();
}

Result<ModelSummary> PgRegistry::get_model(const std::string& model) const {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  ModelSummary summary;
  summary.name = model;
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows versions,
      db().query("SELECT version, signed_by FROM versions WHERE model = $1 ORDER BY version", model));
  QUIVER_RETURN_IF_ERROR(read_versions_and_aliases_locked(versions, summary));
  return summary;
}

Result<std::vector<ModelSummary>> PgRegistry::list_models_page(const std::string& after_name, size_t limit) const {
  std::vector<ModelSummary> out;
  if (limit == 0) return out;
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
  std::map<std::string, size_t> index;
  // COLLATE "C": byte order, as SQLite compares text, so pages split where they do there.
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows models, db().query("SELECT name FROM models WHERE name COLLATE \"C\" > $1 ORDER BY name COLLATE \"C\" "
                                  "LIMIT $2",
                                  after_name, static_cast<int64_t>(limit)));
  for (int i = 0; i < models.size(); ++i) {
    index[models.text_at(i, 0)] = out.size();
    out.emplace_back().name = models.text_at(i, 0);
  }
  if (out.empty()) return out;
  const std::string& last = out.back().name;
  QUIVER_ASSIGN_OR_RETURN(pg::Rows versions,
                          db().query("SELECT model, version, signed_by FROM versions WHERE model COLLATE \"C\" > $1 "
                                     "AND model COLLATE \"C\" <= $2 ORDER BY model COLLATE \"C\", version",
                                     after_name, last));
  for (int i = 0; i < versions.size(); ++i) {
    auto it = index.find(versions.text_at(i, 0));
    if (it == index.end()) continue;
    ModelSummary& summary = out[it->second];
    summary.versions.push_back(versions.int_at(i, 1));
    if (std::string signer = versions.text_at(i, 2); !signer.empty())
      summary.signed_by[versions.int_at(i, 1)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(pg::Rows aliases,
                          db().query("SELECT model, alias, version FROM aliases WHERE model COLLATE \"C\" > $1 AND "
                                     "model COLLATE \"C\" <= $2",
                                     after_name, last));
  for (int i = 0; i < aliases.size(); ++i)
    if (auto it = index.find(aliases.text_at(i, 0)); it != index.end())
      out[it->second].aliases[aliases.text_at(i, 1)] = aliases.int_at(i, 2);
  return out;
}

Result<ModelSummary> PgRegistry::get_model_page(const std::string& model, int64_t after_version,
                                                size_t limit) const {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_read_locked(tx));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  ModelSummary summary;
  summary.name = model;
  QUIVER_ASSIGN_OR_RETURN(pg::Rows versions,
                          db().query("SELECT version, signed_by FROM versions WHERE model = $1 AND version > $2 "
                                     "ORDER BY version LIMIT $3",
                                     model, after_version, static_cast<int64_t>(limit)));
  QUIVER_RETURN_IF_ERROR(read_versions_and_aliases_locked(versions, summary));
  return summary;
}

// --- aliases ---

Status PgRegistry::set_alias(const std::string& model, const std::string& alias, int64_t version,
                             const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_alias_name(alias));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto target, find_version_locked(model, version));
  if (!target)
    return not_found("cannot point alias '" + alias + "' at version " + std::to_string(version) + ": model '" + model +
                     "' has no version " + std::to_string(version));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows previous,
                          db().query("SELECT version FROM aliases WHERE model = $1 AND alias = $2", model, alias));
  const std::string detail = alias_set_detail(
      alias, version, previous.empty() ? std::nullopt : std::optional<int64_t>(previous.int_at(0, 0)));
  const std::string at = now_text();
  QUIVER_RETURN_IF_ERROR(
      db().query("INSERT INTO aliases (model, alias, version, updated_at) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                 model, alias, version, at)
          .status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "alias.set", detail, actor, at));
  return commit_write_locked(*tx);
}

Status PgRegistry::delete_alias(const std::string& model, const std::string& alias, const Actor& actor) {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows current,
                          db().query("SELECT version FROM aliases WHERE model = $1 AND alias = $2", model, alias));
  if (current.empty()) return not_found("model '" + model + "' has no alias '" + alias + "'");
  const std::string detail = alias_delete_detail(alias, current.int_at(0, 0));
  QUIVER_RETURN_IF_ERROR(db().query("DELETE FROM aliases WHERE model = $1 AND alias = $2", model, alias).status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "alias.delete", detail, actor, now_text()));
  return commit_write_locked(*tx);
}

}  // namespace quiver::registry
