// The SQLite implementation of Registry (registry.h). Internal to the module; users
// go through Registry::open.
//
// Thread-safety: every public method takes mu_; the *_locked helpers expect it held.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "registry/registry.h"
#include "registry/sqlite_db.h"

namespace quiver::registry {

class SqliteRegistry final : public Registry {
 public:
  SqliteRegistry(std::unique_ptr<sqlite::Database> db, std::shared_ptr<const Clock> clock)
      : db_(std::move(db)), clock_(std::move(clock)) {}

  // Bumped by triggers (migration 5); fences are ignored: one server has no lease.
  Result<int64_t> revision() const override;

  Result<VersionRecord> create_version(const NewVersion& v, const Actor& actor) override;
  Result<VersionRecord> get_version(const std::string& model, int64_t version) const override;
  Result<int64_t> resolve(const std::string& model, const std::string& ref) const override;
  Result<std::vector<ModelSummary>> list_models() const override;
  Result<ModelSummary> get_model(const std::string& model) const override;
  Result<std::vector<ModelSummary>> list_models_page(const std::string& after_name, size_t limit) const override;
  Result<ModelSummary> get_model_page(const std::string& model, int64_t after_version, size_t limit) const override;

  Status set_alias(const std::string& model, const std::string& alias, int64_t version,
                   const Actor& actor) override;
  Status delete_alias(const std::string& model, const std::string& alias, const Actor& actor) override;

  Result<Revision> put_deployment(const std::string& model, const std::string& spec_json,
                                  const Actor& actor) override;
  Result<Revision> delete_deployment(const std::string& model, const Actor& actor) override;
  Result<std::optional<Revision>> current_deployment(const std::string& model) const override;
  Result<std::vector<Revision>> live_deployments() const override;
  Result<std::vector<Revision>> history(const std::string& model) const override;
  Result<Revision> get_revision(const std::string& model, int64_t revision) const override;

  Result<EvaluationRecord> add_evaluation(const std::string& model, int64_t version, const std::string& dataset_sha256,
                                          const std::string& report_json, const Actor& actor) override;
  Result<std::vector<EvaluationRecord>> evaluations(const std::string& model, int64_t version) const override;

  Result<std::optional<Revision>> commit_rollout(const std::string& model, const RolloutWrite& write,
                                                 const Actor& actor,
                                                 std::optional<int64_t> expected_revision) override;
  Result<std::optional<RolloutRecord>> rollout(const std::string& model) const override;
  Result<std::vector<RolloutRecord>> rollouts() const override;

  Status record_event(const std::string& model, const std::string& action, const std::string& detail_json,
                      const Actor& actor) override;
  Result<std::vector<AuditEntry>> audit(const std::string& model, int64_t limit) const override;

  // sqlite_registry_policy.cc
  Result<ModelPolicy> model_policy(const std::string& model) const override;
  Result<ModelPolicy> set_model_policy(const ModelPolicy& policy, const Actor& actor) override;
  Status snapshot_to(const std::filesystem::path& file) const override;

  // sqlite_registry_keys.cc: access records, the audit chain, access tokens
  Result<std::vector<AuditEntry>> audit_query(const AuditQuery& query) const override;
  Status append_access(const std::vector<AccessRecord>& records) override;
  Result<AuditVerification> verify_audit() const override;
  Result<ApiKeyRecord> create_key(const ApiKeyRecord& key, const Actor& actor) override;
  Result<std::vector<ApiKeyRecord>> list_keys() const override;
  Result<std::optional<ApiKeyRecord>> find_key(const std::string& id) const override;
  Result<ApiKeyRecord> revoke_key(const std::string& id, const Actor& actor) override;
  Status touch_keys(const std::map<std::string, std::string>& last_used) override;

 private:
  std::string now_text() const;
  // NotFound "unknown model 'x'" unless the model has been registered.
  Status read_versions_and_aliases_locked(sqlite::Statement& versions, ModelSummary& summary) const;
  Status require_model_locked(const std::string& model) const;
  Result<std::optional<VersionRecord>> find_version_locked(const std::string& model, int64_t version) const;
  Result<int64_t> resolve_locked(const std::string& model, const std::string& ref) const;
  Result<std::optional<Revision>> latest_revision_locked(const std::string& model) const;
  // Parses, resolves and validates `spec_json`, appends it as the next revision and
  // audits it as "deployment.apply"; the caller owns the transaction.
  Result<Revision> append_revision_locked(const std::string& model, const std::string& spec_json, const Actor& actor);
  // Appends one record to the audit chain (registry/audit_chain.h); every audit row,
  // change or access, goes through here. The caller owns the transaction.
  Status append_audit_locked(const std::string& model, std::string_view action, const std::string& detail_json,
                             const Actor& actor, const std::string& at);

  mutable std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;
  std::shared_ptr<const Clock> clock_;
};

}  // namespace quiver::registry
