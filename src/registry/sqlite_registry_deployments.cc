// Deployments (revisions) and the audit log of SqliteRegistry.
#include <nlohmann/json.hpp>

#include "registry/deployment_spec_json.h"
#include "registry/registry_common.h"
#include "registry/sqlite_registry.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kRevisionColumns = "model, revision, spec_json, deleted, created_at, client, reason";

Revision revision_from_row(const sqlite::Statement& row) {
  Revision r;
  r.model = row.text_at(0);
  r.revision = row.int_at(1);
  r.spec_json = row.text_at(2);
  r.deleted = row.int_at(3) != 0;
  r.created_at = row.text_at(4);
  r.client = row.text_at(5);
  r.reason = row.text_at(6);
  return r;
}

Result<std::vector<Revision>> collect_revisions(sqlite::Statement& st) {
  std::vector<Revision> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    out.push_back(revision_from_row(st));
  }
}

}  // namespace

Result<std::optional<Revision>> SqliteRegistry::latest_revision_locked(const std::string& model) const {
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare(std::string("SELECT ") + kRevisionColumns +
                                           " FROM deployment_revisions WHERE model = ?1 ORDER BY revision DESC LIMIT 1",
                                       model));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return std::optional<Revision>();
  return std::optional<Revision>(revision_from_row(st));
}

Result<Revision> SqliteRegistry::put_deployment(const std::string& model, const std::string& spec_json,
                                                const Actor& actor) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_ASSIGN_OR_RETURN(Revision revision, append_revision_locked(model, spec_json, actor));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return revision;
}

Result<Revision> SqliteRegistry::append_revision_locked(const std::string& model, const std::string& spec_json,
                                                        const Actor& actor) {
  // Parse first: a malformed spec is InvalidArgument even for an unknown model.
  QUIVER_RETURN_IF_ERROR(parse_deployment_spec(spec_json).status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  // Resolve inside the transaction so an alias cannot move between resolving and
  // recording the revision.
  QUIVER_ASSIGN_OR_RETURN(
      DeploymentSpec spec,
      prepare_deployment_spec(
          model, spec_json, [&](const std::string& ref) { return resolve_locked(model, ref); },
          [&](int64_t version) -> Result<bool> {
            QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
            return record.has_value();
          }));
  QUIVER_ASSIGN_OR_RETURN(auto latest, latest_revision_locked(model));
  const Revision revision = next_revision(model, spec, latest, now_text(), actor);
  QUIVER_RETURN_IF_ERROR(db_->run(std::string("INSERT INTO deployment_revisions (") + kRevisionColumns +
                                      ") VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
                                  model, revision.revision, revision.spec_json, revision.created_at, revision.client,
                                  revision.reason));

  QUIVER_RETURN_IF_ERROR(
      append_audit_locked(model, "deployment.apply", deployment_apply_detail(revision), actor, revision.created_at));
  return revision;
}

Result<Revision> SqliteRegistry::delete_deployment(const std::string& model, const Actor& actor) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto latest, latest_revision_locked(model));
  if (!latest || latest->deleted) return not_found("model '" + model + "' has no live deployment");

  Revision revision;
  revision.model = model;
  revision.revision = latest->revision + 1;
  revision.deleted = true;
  revision.created_at = now_text();
  revision.client = client_or_unknown(actor);
  revision.reason = actor.reason;
  QUIVER_RETURN_IF_ERROR(db_->run(std::string("INSERT INTO deployment_revisions (") + kRevisionColumns +
                                      ") VALUES (?1, ?2, '', 1, ?3, ?4, ?5)",
                                  model, revision.revision, revision.created_at, revision.client, revision.reason));
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "deployment.delete",
                                             deployment_delete_detail(revision.revision, latest->revision), actor,
                                             revision.created_at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return revision;
}

Result<std::optional<Revision>> SqliteRegistry::current_deployment(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto latest, latest_revision_locked(model));
  if (!latest || latest->deleted) return std::optional<Revision>();
  return latest;
}

Result<std::vector<Revision>> SqliteRegistry::live_deployments() const {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->prepare("SELECT r.model, r.revision, r.spec_json, r.deleted, r.created_at, r.client, r.reason "
                   "FROM deployment_revisions r "
                   "JOIN (SELECT model, MAX(revision) AS newest FROM deployment_revisions GROUP BY model) n "
                   "  ON r.model = n.model AND r.revision = n.newest "
                   "WHERE r.deleted = 0 ORDER BY r.model"));
  return collect_revisions(st);
}

Result<std::vector<Revision>> SqliteRegistry::history(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare(std::string("SELECT ") + kRevisionColumns +
                                           " FROM deployment_revisions WHERE model = ?1 ORDER BY revision DESC",
                                       model));
  return collect_revisions(st);
}

Result<Revision> SqliteRegistry::get_revision(const std::string& model, int64_t revision) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->prepare(std::string("SELECT ") + kRevisionColumns +
                       " FROM deployment_revisions WHERE model = ?1 AND revision = ?2",
                   model, revision));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return not_found("model '" + model + "' has no deployment revision " + std::to_string(revision));
  return revision_from_row(st);
}

// --- audit ---

Status SqliteRegistry::record_event(const std::string& model, const std::string& action,
                                    const std::string& detail_json, const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_record_event(action, detail_json));
  std::lock_guard lock(mu_);
  return append_audit_locked(model, action, detail_json, actor, now_text());
}

Result<std::vector<AuditEntry>> SqliteRegistry::audit(const std::string& model, int64_t limit) const {
  QUIVER_RETURN_IF_ERROR(validate_audit_limit(limit));
  std::lock_guard lock(mu_);
  // ?1 = '' selects every model.
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare("SELECT id, at, model, action, client, reason, detail_json FROM audit_log "
                                       "WHERE kind = 'change' AND (?1 = '' OR model = ?1) ORDER BY id DESC LIMIT ?2",
                                       model, limit));
  std::vector<AuditEntry> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    AuditEntry e;
    e.id = st.int_at(0);
    e.at = st.text_at(1);
    e.model = st.text_at(2);
    e.action = st.text_at(3);
    e.client = st.text_at(4);
    e.reason = st.text_at(5);
    e.detail_json = st.text_at(6);
    out.push_back(std::move(e));
  }
}

}  // namespace quiver::registry
