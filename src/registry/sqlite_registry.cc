// Registry::open, models, versions and aliases. Deployments and the audit log are in
// sqlite_registry_deployments.cc.
#include "registry/sqlite_registry.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "registry/audit_chain.h"
#include "registry/migrations.h"
#include "registry/registry_common.h"
#include "registry/signature_json.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kVersionColumns =
    "model, version, framework, artifact_sha256, size, created_at, description, metadata, signature, warmup_json, "
    "artifact_signature, signed_by";

Result<VersionRecord> version_from_row(const sqlite::Statement& row) {
  VersionRecord r;
  r.model = row.text_at(0);
  r.version = row.int_at(1);
  r.framework = row.text_at(2);
  r.artifact_sha256 = row.text_at(3);
  r.size = static_cast<uint64_t>(row.int_at(4));
  r.created_at = row.text_at(5);
  r.description = row.text_at(6);
  r.warmup_json = row.text_at(9);
  r.artifact_signature = row.text_at(10);
  r.signed_by = row.text_at(11);
  QUIVER_RETURN_IF_ERROR(decode_version_json(r, row.text_at(7), row.text_at(8)));
  return r;
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::open(const std::filesystem::path& db_path) {
  return open(db_path, std::make_shared<SystemClock>());
}

Result<std::unique_ptr<Registry>> Registry::open(const std::filesystem::path& db_path,
                                                 std::shared_ptr<const Clock> clock) {
  if (!clock) return invalid_argument("Registry::open: clock must not be null");
  if (db_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(db_path.parent_path(), ec);
    if (ec) return internal_error("cannot create '" + db_path.parent_path().string() + "': " + ec.message());
  }
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db, sqlite::Database::open(db_path));
  QUIVER_RETURN_IF_ERROR(apply_migrations(*db));
  QUIVER_RETURN_IF_ERROR(seal_audit_chain(*db));  // rows from before the chain existed
  return std::unique_ptr<Registry>(std::make_unique<SqliteRegistry>(std::move(db), std::move(clock)));
}

// --- helpers shared by both source files ---

Result<int64_t> SqliteRegistry::revision() const {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st, db_->prepare("SELECT revision FROM registry_state WHERE id = 1"));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return data_loss("registry database: the registry_state row is missing");
  return st.int_at(0);
}

std::string SqliteRegistry::now_text() const { return format_utc(clock_->wall_now()); }

Status SqliteRegistry::require_model_locked(const std::string& model) const {
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st, db_->prepare("SELECT 1 FROM models WHERE name = ?1", model));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return not_found("unknown model '" + model + "'");
  return Status::ok();
}

Status SqliteRegistry::append_audit_locked(const std::string& model, std::string_view action,
                                           const std::string& detail_json, const Actor& actor, const std::string& at) {
  // Every audit row joins the hash chain (registry/audit_chain.h).
  return append_audit_row(*db_, change_entry(model, action, detail_json, actor, at));
}

Result<std::optional<VersionRecord>> SqliteRegistry::find_version_locked(const std::string& model,
                                                                         int64_t version) const {
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->prepare(std::string("SELECT ") + kVersionColumns + " FROM versions WHERE model = ?1 AND version = ?2", model,
                   version));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return std::optional<VersionRecord>();
  QUIVER_ASSIGN_OR_RETURN(VersionRecord record, version_from_row(st));
  return std::optional<VersionRecord>(std::move(record));
}

Result<int64_t> SqliteRegistry::resolve_locked(const std::string& model, const std::string& ref) const {
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  if (ref.empty()) return invalid_argument("empty version reference for model '" + model + "'");
  if (const auto number = parse_version_number(ref)) {
    QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, *number));
    if (record) return *number;
    return not_found("model '" + model + "' has no version " + ref);
  }
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare("SELECT version FROM aliases WHERE model = ?1 AND alias = ?2", model, ref));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return not_found("model '" + model + "' has no version or alias '" + ref + "'");
  return st.int_at(0);
}

// --- versions ---

Result<VersionRecord> SqliteRegistry::create_version(const NewVersion& v, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_new_version(v));
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());

  int64_t number = 0;
  if (v.version) {
    number = *v.version;
    QUIVER_ASSIGN_OR_RETURN(auto existing, find_version_locked(v.model, number));
    if (existing) return version_taken_error(v.model, number);
  } else {
    QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                            db_->prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model = ?1", v.model));
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return internal_error("registry database: MAX(version) returned no row");
    number = st.int_at(0);
  }

  const std::string at = now_text();
  QUIVER_RETURN_IF_ERROR(
      db_->run("INSERT INTO models (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING", v.model, at));
  const bool new_model = db_->changes() > 0;

  const VersionRecord record = version_record_of(v, number, at);
  QUIVER_RETURN_IF_ERROR(db_->run(std::string("INSERT INTO versions (") + kVersionColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                  record.model, record.version, record.framework, record.artifact_sha256,
                                  static_cast<int64_t>(record.size), record.created_at, record.description,
                                  metadata_to_json(record.metadata), signature_to_json(record.signature),
                                  record.warmup_json, record.artifact_signature, record.signed_by));

  QUIVER_RETURN_IF_ERROR(append_audit_locked(v.model, "version.create", version_create_detail(record, new_model), actor, at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return record;
}

Result<VersionRecord> SqliteRegistry::get_version(const std::string& model, int64_t version) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  return std::move(*record);
}

Result<int64_t> SqliteRegistry::resolve(const std::string& model, const std::string& ref) const {
  std::lock_guard lock(mu_);
  return resolve_locked(model, ref);
}

Result<std::vector<ModelSummary>> SqliteRegistry::list_models() const {
  std::lock_guard lock(mu_);
  std::map<std::string, ModelSummary> by_name;
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement models, db_->prepare("SELECT name FROM models"));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, models.step());
    if (!row) break;
    by_name[models.text_at(0)].name = models.text_at(0);
  }
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement versions,
                          db_->prepare("SELECT model, version, signed_by FROM versions ORDER BY model, version"));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, versions.step());
    if (!row) break;
    ModelSummary& summary = by_name[versions.text_at(0)];
    summary.versions.push_back(versions.int_at(1));
    if (std::string signer = versions.text_at(2); !signer.empty()) summary.signed_by[versions.int_at(1)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement aliases, db_->prepare("SELECT model, alias, version FROM aliases"));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, aliases.step());
    if (!row) break;
    by_name[aliases.text_at(0)].aliases[aliases.text_at(1)] = aliases.int_at(2);
  }
  std::vector<ModelSummary> out;
  out.reserve(by_name.size());
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

// Fills `summary` (whose name is set) from `versions` (rows of version, signed_by)
// and every alias of the model.
Status SqliteRegistry::read_versions_and_aliases_locked(sqlite::Statement& versions, ModelSummary& summary) const {
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, versions.step());
    if (!row) break;
    summary.versions.push_back(versions.int_at(0));
    if (std::string signer = versions.text_at(1); !signer.empty()) summary.signed_by[versions.int_at(0)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement aliases,
                          db_->prepare("SELECT alias, version FROM aliases WHERE model = ?1", summary.name));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, aliases.step());
    if (!row) break;
    summary.aliases[aliases.text_at(0)] = aliases.int_at(1);
  }
  return Status::ok();
}

Result<ModelSummary> SqliteRegistry::get_model(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  ModelSummary summary;
  summary.name = model;
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement versions,
      db_->prepare("SELECT version, signed_by FROM versions WHERE model = ?1 ORDER BY version", model));
  QUIVER_RETURN_IF_ERROR(read_versions_and_aliases_locked(versions, summary));
  return summary;
}

Result<std::vector<ModelSummary>> SqliteRegistry::list_models_page(const std::string& after_name,
                                                                   size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<ModelSummary> out;
  if (limit == 0) return out;
  std::map<std::string, size_t> index;
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement models,
      db_->prepare("SELECT name FROM models WHERE name > ?1 ORDER BY name LIMIT ?2", after_name,
                   static_cast<int64_t>(limit)));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, models.step());
    if (!row) break;
    index[models.text_at(0)] = out.size();
    out.emplace_back().name = models.text_at(0);
  }
  if (out.empty()) return out;
  // The page's versions and aliases: one range scan each over the primary keys.
  const std::string& last = out.back().name;
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement versions,
                          db_->prepare("SELECT model, version, signed_by FROM versions WHERE model > ?1 AND "
                                       "model <= ?2 ORDER BY model, version",
                                       after_name, last));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, versions.step());
    if (!row) break;
    auto it = index.find(versions.text_at(0));
    if (it == index.end()) continue;
    ModelSummary& summary = out[it->second];
    summary.versions.push_back(versions.int_at(1));
    if (std::string signer = versions.text_at(2); !signer.empty()) summary.signed_by[versions.int_at(1)] = signer;
  }
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement aliases,
      db_->prepare("SELECT model, alias, version FROM aliases WHERE model > ?1 AND model <= ?2", after_name, last));
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, aliases.step());
    if (!row) break;
    if (auto it = index.find(aliases.text_at(0)); it != index.end())
      out[it->second].aliases[aliases.text_at(1)] = aliases.int_at(2);
  }
  return out;
}

Result<ModelSummary> SqliteRegistry::get_model_page(const std::string& model, int64_t after_version,
                                                    size_t limit) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  ModelSummary summary;
  summary.name = model;
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement versions,
                          db_->prepare("SELECT version, signed_by FROM versions WHERE model = ?1 AND version > ?2 "
                                       "ORDER BY version LIMIT ?3",
                                       model, after_version, static_cast<int64_t>(limit)));
  QUIVER_RETURN_IF_ERROR(read_versions_and_aliases_locked(versions, summary));
  return summary;
}

// --- aliases ---

Status SqliteRegistry::set_alias(const std::string& model, const std::string& alias, int64_t version,
                                 const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_alias_name(alias));
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto target, find_version_locked(model, version));
  if (!target)
    return not_found("cannot point alias '" + alias + "' at version " + std::to_string(version) + ": model '" + model +
                     "' has no version " + std::to_string(version));

  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement previous,
                          db_->prepare("SELECT version FROM aliases WHERE model = ?1 AND alias = ?2", model, alias));
  QUIVER_ASSIGN_OR_RETURN(bool had_previous, previous.step());
  const std::string detail =
      alias_set_detail(alias, version, had_previous ? std::optional<int64_t>(previous.int_at(0)) : std::nullopt);

  const std::string at = now_text();
  QUIVER_RETURN_IF_ERROR(db_->run(
      "INSERT INTO aliases (model, alias, version, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
      model, alias, version, at));
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "alias.set", detail, actor, at));
  return tx.commit();
}

Status SqliteRegistry::delete_alias(const std::string& model, const std::string& alias, const Actor& actor) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement current,
                          db_->prepare("SELECT version FROM aliases WHERE model = ?1 AND alias = ?2", model, alias));
  QUIVER_ASSIGN_OR_RETURN(bool found, current.step());
  if (!found) return not_found("model '" + model + "' has no alias '" + alias + "'");
  const std::string detail = alias_delete_detail(alias, current.int_at(0));

  QUIVER_RETURN_IF_ERROR(db_->run("DELETE FROM aliases WHERE model = ?1 AND alias = ?2", model, alias));
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "alias.delete", detail, actor, now_text()));
  return tx.commit();
}

}  // namespace quiver::registry
