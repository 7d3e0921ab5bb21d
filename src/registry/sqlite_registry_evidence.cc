// Evaluation reports and rollout state of SqliteRegistry: the registry side of
// deciding by evidence (quality/ and rollout/ own the documents' shapes).
#include <nlohmann/json.hpp>

#include "registry/registry_common.h"
#include "registry/sqlite_registry.h"

namespace quiver::registry {

Result<EvaluationRecord> SqliteRegistry::add_evaluation(const std::string& model, int64_t version,
                                                        const std::string& dataset_sha256,
                                                        const std::string& report_json, const Actor& actor) {
  if (!nlohmann::json::accept(report_json)) return invalid_argument("evaluation report is not valid JSON");
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  EvaluationRecord e;
  e.model = model;
  e.version = version;
  e.created_at = now_text();
  e.dataset_sha256 = dataset_sha256;
  e.report_json = report_json;
  QUIVER_RETURN_IF_ERROR(db_->run(
      "INSERT INTO evaluations (model, version, created_at, dataset_sha256, report_json) VALUES (?1, ?2, ?3, ?4, ?5)",
      model, version, e.created_at, dataset_sha256, report_json));
  e.id = db_->last_insert_rowid();
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "evaluation.create",
                                             evaluation_detail(version, e.id, dataset_sha256), actor, e.created_at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return e;
}

Result<std::vector<EvaluationRecord>> SqliteRegistry::evaluations(const std::string& model, int64_t version) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare("SELECT id, created_at, dataset_sha256, report_json FROM evaluations "
                                       "WHERE model = ?1 AND version = ?2 ORDER BY id DESC",
                                       model, version));
  std::vector<EvaluationRecord> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    EvaluationRecord e;
    e.id = st.int_at(0);
    e.model = model;
    e.version = version;
    e.created_at = st.text_at(1);
    e.dataset_sha256 = st.text_at(2);
    e.report_json = st.text_at(3);
    out.push_back(std::move(e));
  }
}

Result<std::optional<Revision>> SqliteRegistry::commit_rollout(const std::string& model, const RolloutWrite& write,
                                                               const Actor& actor,
                                                               std::optional<int64_t> expected_revision) {
  QUIVER_RETURN_IF_ERROR(validate_rollout_write(write));
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(*db_);
  QUIVER_RETURN_IF_ERROR(tx.begin());
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
  QUIVER_RETURN_IF_ERROR(db_->run(
      "INSERT INTO rollouts (model, state_json, updated_at) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (model) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at",
      model, write.state_json, at));
  if (!write.action.empty())
    QUIVER_RETURN_IF_ERROR(append_audit_locked(model, write.action, write.detail_json, actor, at));
  QUIVER_RETURN_IF_ERROR(tx.commit());
  return revision;
}

Result<std::optional<RolloutRecord>> SqliteRegistry::rollout(const std::string& model) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare("SELECT state_json, updated_at FROM rollouts WHERE model = ?1", model));
  QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<RolloutRecord>();
  return std::optional<RolloutRecord>(RolloutRecord{model, st.text_at(0), st.text_at(1)});
}

Result<std::vector<RolloutRecord>> SqliteRegistry::rollouts() const {
  std::lock_guard lock(mu_);
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db_->prepare("SELECT model, state_json, updated_at FROM rollouts ORDER BY model"));
  std::vector<RolloutRecord> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    out.push_back(RolloutRecord{st.text_at(0), st.text_at(1), st.text_at(2)});
  }
}

}  // namespace quiver::registry
