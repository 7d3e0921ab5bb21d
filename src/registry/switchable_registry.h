// SwitchableRegistry: the registry a replica uses, which can change under it.
//
// A replica that starts while the shared database is down opens the last registry
// snapshot it saved (a SQLite copy in its data directory) and serves from it read-only:
// every write answers Unavailable "... read-only snapshot ...". When the database is
// back, the server swaps the PostgreSQL registry in; every component that holds this
// object then reads the live registry, without restarting anything.
//
// Thread-safety: every method may be called from any thread; each call uses one
// backend from start to end (a swap affects only the calls that start after it).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "registry/registry.h"

namespace quiver::registry {

class SwitchableRegistry final : public Registry {
 public:
  // `read_only`: the backend is a saved snapshot; writes are refused.
  SwitchableRegistry(std::shared_ptr<Registry> backend, bool read_only);

  // Makes `backend` the registry for every call that starts from now on.
  void swap(std::shared_ptr<Registry> backend, bool read_only);
  bool read_only() const;

  bool shared() const override;
  std::string url() const override;
  Result<int64_t> revision() const override;
  Result<VersionRecord> create_version(const NewVersion& v, const Actor& actor) override;
  Result<VersionRecord> get_version(const std::string& model, int64_t version) const override;
  Result<int64_t> resolve(const std::string& model, const std::string& ref) const override;
  Result<std::vector<ModelSummary>> list_models() const override;
  Result<ModelSummary> get_model(const std::string& model) const override;
  Result<std::vector<ModelSummary>> list_models_page(const std::string& after_name, size_t limit) const override;
  Result<ModelSummary> get_model_page(const std::string& model, int64_t after_version, size_t limit) const override;
  Status set_alias(const std::string& model, const std::string& alias, int64_t version, const Actor& actor) override;
  Status delete_alias(const std::string& model, const std::string& alias, const Actor& actor) override;
  Result<Revision> put_deployment(const std::string& model, const std::string& spec_json, const Actor& actor) override;
  Result<Revision> delete_deployment(const std::string& model, const Actor& actor) override;
  Result<std::optional<Revision>> current_deployment(const std::string& model) const override;
  Result<std::vector<Revision>> live_deployments() const override;
  Result<std::vector<Revision>> history(const std::string& model) const override;
  Result<Revision> get_revision(const std::string& model, int64_t revision) const override;
  Result<EvaluationRecord> add_evaluation(const std::string& model, int64_t version, const std::string& dataset_sha256, const std::string& report_json, const Actor& actor) override;
  Result<std::vector<EvaluationRecord>> evaluations(const std::string& model, int64_t version) const override;
  Result<std::optional<Revision>> commit_rollout(const std::string& model, const RolloutWrite& write, const Actor& actor, std::optional<int64_t> expected_revision) override;
  Result<std::optional<RolloutRecord>> rollout(const std::string& model) const override;
  Result<std::vector<RolloutRecord>> rollouts() const override;
  Status record_event(const std::string& model, const std::string& action, const std::string& detail_json, const Actor& actor) override;
  Result<std::vector<AuditEntry>> audit(const std::string& model, int64_t limit) const override;
  Result<ModelPolicy> model_policy(const std::string& model) const override;
  Result<ModelPolicy> set_model_policy(const ModelPolicy& policy, const Actor& actor) override;
  Status snapshot_to(const std::filesystem::path& file) const override;
  Result<std::vector<AuditEntry>> audit_query(const AuditQuery& query) const override;
  Status append_access(const std::vector<AccessRecord>& records) override;
  Result<AuditVerification> verify_audit() const override;
  Result<ApiKeyRecord> create_key(const ApiKeyRecord& key, const Actor& actor) override;
  Result<std::vector<ApiKeyRecord>> list_keys() const override;
  Result<std::optional<ApiKeyRecord>> find_key(const std::string& id) const override;
  Result<ApiKeyRecord> revoke_key(const std::string& id, const Actor& actor) override;
  Status touch_keys(const std::map<std::string, std::string>& last_used) override;

 private:
  std::shared_ptr<Registry> current() const;
  Status writable(const Registry& backend) const;

  mutable std::mutex mu_;
  std::shared_ptr<Registry> backend_;
  bool read_only_ = false;
};

}  // namespace quiver::registry
