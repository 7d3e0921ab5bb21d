// Deployments (revisions), rollout state and the change audit log of PgRegistry.
// Mirrors sqlite_registry_deployments.cc and the rollout half of
// sqlite_registry_evidence.cc.
#include "registry/deployment_spec_json.h"
#include "registry/pg_registry.h"
#include "registry/registry_common.h"

namespace quiver::registry {
namespace {

constexpr const char* kRevisionColumns = "model, revision, spec_json, deleted, created_at, client, reason";

Revision revision_from_row(const pg::Rows& rows, int i) {
  Revision r;
  r.model = rows.text_at(i, 0);
  r.revision = rows.int_at(i, 1);
  r.spec_json = rows.text_at(i, 2);
  r.deleted = rows.bool_at(i, 3);
  r.created_at = rows.text_at(i, 4);
  r.client = rows.text_at(i, 5);
  r.reason = rows.text_at(i, 6);
  return r;
}

std::vector<Revision> collect_revisions(const pg::Rows& rows) {
  std::vector<Revision> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(revision_from_row(rows, i));
  return out;
}

}  // namespace

Result<std::optional<Revision>> PgRegistry::latest_revision_locked(const std::string& model) const {
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kRevisionColumns +
                                         " FROM deployment_revisions WHERE model = $1 ORDER BY revision DESC LIMIT 1",
                                     model));
  if (rows.empty()) return std::optional<Revision>();
  return std::optional<Revision>(revision_from_row(rows, 0));
}

Result<Revision> PgRegistry::put_deployment(const std::string& model, const std::string& spec_json,
                                            const Actor& actor) {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_ASSIGN_OR_RETURN(Revision revision, append_revision_locked(model, spec_json, actor));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return revision;
}

Result<Revision> PgRegistry::append_revision_locked(const std::string& model, const std::string& spec_json,
                                                    const Actor& actor) {
  // Parse first: a malformed spec is InvalidArgument even for an unknown model, as in
  // the SQLite backend.
  QUIVER_RETURN_IF_ERROR(parse_deployment_spec(spec_json).status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
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
  QUIVER_RETURN_IF_ERROR(db().query(std::string("INSERT INTO deployment_revisions (") + kRevisionColumns +
                                        ") VALUES ($1, $2, $3, false, $4, $5, $6)",
                                    model, revision.revision, revision.spec_json, revision.created_at,
                                    revision.client, revision.reason)
                             .status());
  QUIVER_RETURN_IF_ERROR(
      append_audit_locked(model, "deployment.apply", deployment_apply_detail(revision), actor, revision.created_at));
  return revision;
}

Result<Revision> PgRegistry::delete_deployment(const std::string& model, const Actor& actor) {
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
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
  QUIVER_RETURN_IF_ERROR(db().query(std::string("INSERT INTO deployment_revisions (") + kRevisionColumns +
                                        ") VALUES ($1, $2, '', true, $3, $4, $5)",
                                    model, revision.revision, revision.created_at, revision.client, revision.reason)
                             .status());
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "deployment.delete",
                                             deployment_delete_detail(revision.revision, latest->revision), actor,
                                             revision.created_at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return revision;
}

Result<std::optional<Revision>> PgRegistry::current_deployment(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto latest, latest_revision_locked(model));
  if (!latest || latest->deleted) return std::optional<Revision>();
  return latest;
}

Result<std::vector<Revision>> PgRegistry::live_deployments() const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows rows,
      db().exec("SELECT r.model, r.revision, r.spec_json, r.deleted, r.created_at, r.client, r.reason "
                "FROM deployment_revisions r "
                "JOIN (SELECT model, MAX(revision) AS newest FROM deployment_revisions GROUP BY model) n "
                "  ON r.model = n.model AND r.revision = n.newest "
                "WHERE NOT r.deleted ORDER BY r.model COLLATE \"C\""));
  return collect_revisions(rows);
}

Result<std::vector<Revision>> PgRegistry::history(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kRevisionColumns +
                                         " FROM deployment_revisions WHERE model = $1 ORDER BY revision DESC",
                                     model));
  return collect_revisions(rows);
}

Result<Revision> PgRegistry::get_revision(const std::string& model, int64_t revision) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query(std::string("SELECT ") + kRevisionColumns +
                                         " FROM deployment_revisions WHERE model = $1 AND revision = $2",
                                     model, revision));
  if (rows.empty()) return not_found("model '" + model + "' has no deployment revision " + std::to_string(revision));
  return revision_from_row(rows, 0);
}

// --- rollouts ---

Result<std::optional<Revision>> PgRegistry::commit_rollout(const std::string& model, const RolloutWrite& write,
                                                           const Actor& actor,
                                                           std::optional<int64_t> expected_revision) {
  QUIVER_RETURN_IF_ERROR(validate_rollout_write(write));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  if (expected_revision) {
    QUIVER_ASSIGN_OR_RETURN(auto latest, latest_revision_locked(model));
    const int64_t current = latest ? latest->revision : 0;
    if (current != *expected_revision) return stale_deployment_error(model, current, *expected_revision);
  }
  std::optional<Revision> revision;
  if (write.spec_json) {
    QUIVER_ASSIGN_OR_RETURN(Revision r, append_revision_locked(model, *write.spec_json, actor));
    revision = std::move(r);
  }
  const std::string at = now_text();
  QUIVER_RETURN_IF_ERROR(
      db().query("INSERT INTO rollouts (model, state_json, updated_at) VALUES ($1, $2, $3) "
                 "ON CONFLICT (model) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at",
                 model, write.state_json, at)
          .status());
  if (!write.action.empty())
    QUIVER_RETURN_IF_ERROR(append_audit_locked(model, write.action, write.detail_json, actor, at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return revision;
}

Result<std::optional<RolloutRecord>> PgRegistry::rollout(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query("SELECT state_json, updated_at FROM rollouts WHERE model = $1", model));
  if (rows.empty()) return std::optional<RolloutRecord>();
  return std::optional<RolloutRecord>(RolloutRecord{model, rows.text_at(0, 0), rows.text_at(0, 1)});
}

Result<std::vector<RolloutRecord>> PgRegistry::rollouts() const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().exec("SELECT model, state_json, updated_at FROM rollouts ORDER BY model COLLATE \"C\""));
  std::vector<RolloutRecord> out;
  for (int i = 0; i < rows.size(); ++i)
    out.push_back(RolloutRecord{rows.text_at(i, 0), rows.text_at(i, 1), rows.text_at(i, 2)});
  return out;
}

// --- audit ---

Status PgRegistry::record_event(const std::string& model, const std::string& action, const std::string& detail_json,
                                const Actor& actor) {
  QUIVER_RETURN_IF_ERROR(validate_record_event(action, detail_json));
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, action, detail_json, actor, now_text()));
  return commit_write_locked(*tx);
}

Result<std::vector<AuditEntry>> PgRegistry::audit(const std::string& model, int64_t limit) const {
  QUIVER_RETURN_IF_ERROR(validate_audit_limit(limit));
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  // $1 = '' selects every model.
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query("SELECT id, at, model, action, client, reason, detail_json FROM audit_log "
                                     "WHERE kind = 'change' AND ($1 = '' OR model = $1) ORDER BY id DESC LIMIT $2",
                                     model, limit));
  std::vector<AuditEntry> out;
  for (int i = 0; i < rows.size(); ++i) {
    AuditEntry e;
    e.id = rows.int_at(i, 0);
    e.at = rows.text_at(i, 1);
    e.model = rows.text_at(i, 2);
    e.action = rows.text_at(i, 3);
    e.client = rows.text_at(i, 4);
    e.reason = rows.text_at(i, 5);
    e.detail_json = rows.text_at(i, 6);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace quiver::registry
