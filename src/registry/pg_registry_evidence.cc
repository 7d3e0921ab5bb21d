// Evaluation reports of PgRegistry (quality/ owns the report's shape). Mirrors
// sqlite_registry_evidence.cc; rollouts are in pg_registry_deployments.cc.
#include <nlohmann/json.hpp>

#include "registry/pg_registry.h"
#include "registry/registry_common.h"

namespace quiver::registry {

Result<EvaluationRecord> PgRegistry::add_evaluation(const std::string& model, int64_t version,
                                                    const std::string& dataset_sha256, const std::string& report_json,
                                                    const Actor& actor) {
  if (!nlohmann::json::accept(report_json)) return invalid_argument("evaluation report is not valid JSON");
  std::lock_guard lock(mu_);
  std::optional<pg::Transaction> tx;
  QUIVER_RETURN_IF_ERROR(begin_write_locked(tx, actor.fence));
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  EvaluationRecord e;
  e.model = model;
  e.version = version;
  e.created_at = now_text();
  e.dataset_sha256 = dataset_sha256;
  e.report_json = report_json;
  // Ids are max + 1 under the write lock: gap-free like SQLite's, whatever rolled back.
  QUIVER_ASSIGN_OR_RETURN(
      pg::Rows inserted,
      db().query("INSERT INTO evaluations (id, model, version, created_at, dataset_sha256, report_json) "
                 "SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5 FROM evaluations RETURNING id",
                 model, version, e.created_at, dataset_sha256, report_json));
  e.id = inserted.int_at(0, 0);
  QUIVER_RETURN_IF_ERROR(append_audit_locked(model, "evaluation.create",
                                             evaluation_detail(version, e.id, dataset_sha256), actor, e.created_at));
  QUIVER_RETURN_IF_ERROR(commit_write_locked(*tx));
  return e;
}

Result<std::vector<EvaluationRecord>> PgRegistry::evaluations(const std::string& model, int64_t version) const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_RETURN_IF_ERROR(require_model_locked(model));
  QUIVER_ASSIGN_OR_RETURN(auto record, find_version_locked(model, version));
  if (!record) return not_found("model '" + model + "' has no version " + std::to_string(version));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows,
                          db().query("SELECT id, created_at, dataset_sha256, report_json FROM evaluations "
                                     "WHERE model = $1 AND version = $2 ORDER BY id DESC",
                                     model, version));
  std::vector<EvaluationRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    EvaluationRecord e;
    e.id = rows.int_at(i, 0);
    e.model = model;
    e.version = version;
    e.created_at = rows.text_at(i, 1);
    e.dataset_sha256 = rows.text_at(i, 2);
    e.report_json = rows.text_at(i, 3);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace quiver::registry
