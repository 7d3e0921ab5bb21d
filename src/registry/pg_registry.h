// The PostgreSQL implementation of Registry (registry.h), shared by the replicas of
// a scaled-out server. Internal to the module; users go through
// Registry::open_postgres (pg_registry_open.cc).
//
// It answers exactly as the SQLite backend does (same errors, ordering, audit rows and
// hash chain: registry_common.h and audit_chain.h hold what both share). What differs
// is what several processes sharing one database need:
//  - every write is one transaction that first checks the actor's fence (the leader
//    lease), then takes one cluster-wide transaction-level advisory lock. Writers are
//    therefore serialised across replicas: version and revision numbers (max + 1) stay
//    gap-free and the audit chain stays linear. Registry writes are rare control-plane
//    events, so one lock costs nothing that matters.
//  - every write bumps registry_state.revision and sends NOTIFY quiver_registry with the
//    new revision, delivered on commit (touch_keys and access records do not: they
//    change no desired state).
//  - a broken connection is replaced at the next call (at most once per call and every
//    200 ms), so a database restart heals by itself; meanwhile calls answer Unavailable
//    quickly.
//
// Thread-safety: every public method takes mu_ (one connection); *_locked helpers
// expect it held.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "pg/connection.h"
#include "registry/registry.h"

namespace quiver::registry {

class PgRegistry final : public Registry {
 public:
  PgRegistry(std::string url, std::unique_ptr<pg::Connection> conn, std::shared_ptr<const Clock> clock)
      : url_(std::move(url)), conn_(std::move(conn)), clock_(std::move(clock)) {}

  Result<int64_t> revision() const override;
  bool shared() const override { return true; }
  std::string url() const override;

  // pg_registry.cc: versions, models, aliases, pages
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

  // pg_registry_deployments.cc: deployments, rollouts, events
  Result<Revision> put_deployment(const std::string& model, const std::string& spec_json,
                                  const Actor& actor) override;
  Result<Revision> delete_deployment(const std::string& model, const Actor& actor) override;
  Result<std::optional<Revision>> current_deployment(const std::string& model) const override;
  Result<std::vector<Revision>> live_deployments() const override;
  Result<std::vector<Revision>> history(const std::string& model) const override;
  Result<Revision> get_revision(const std::string& model, int64_t revision) const override;
  Result<std::optional<Revision>> commit_rollout(const std::string& model, const RolloutWrite& write,
                                                 const Actor& actor,
                                                 std::optional<int64_t> expected_revision) override;
  Result<std::optional<RolloutRecord>> rollout(const std::string& model) const override;
  Result<std::vector<RolloutRecord>> rollouts() const override;
  Status record_event(const std::string& model, const std::string& action, const std::string& detail_json,
                      const Actor& actor) override;
  Result<std::vector<AuditEntry>> audit(const std::string& model, int64_t limit) const override;

  // pg_registry_evidence.cc
  Result<EvaluationRecord> add_evaluation(const std::string& model, int64_t version, const std::string& dataset_sha256,
                                          const std::string& report_json, const Actor& actor) override;
  Result<std::vector<EvaluationRecord>> evaluations(const std::string& model, int64_t version) const override;

  // pg_registry_policy.cc: policies and SQLite-format snapshots
  Result<ModelPolicy> model_policy(const std::string& model) const override;
  Result<ModelPolicy> set_model_policy(const ModelPolicy& policy, const Actor& actor) override;
  Status snapshot_to(const std::filesystem::path& file) const override;

  // pg_registry_keys.cc: access records, the audit chain, access tokens
  Result<std::vector<AuditEntry>> audit_query(const AuditQuery& query) const override;
  Status append_access(const std::vector<AccessRecord>& records) override;
  Result<AuditVerification> verify_audit() const override;
  Result<ApiKeyRecord> create_key(const ApiKeyRecord& key, const Actor& actor) override;
  Result<std::vector<ApiKeyRecord>> list_keys() const override;
  Result<std::optional<ApiKeyRecord>> find_key(const std::string& id) const override;
  Result<ApiKeyRecord> revoke_key(const std::string& id, const Actor& actor) override;
  Status touch_keys(const std::map<std::string, std::string>& last_used) override;

 private:
  // pg_registry_connection.cc
  // The live connection, replaced first when it broke (see the class comment).
  Result<pg::Connection*> connection_locked() const;
  // Makes sure of the connection, then (in `tx`) BEGIN; the fence check when `fence`
  // is set; the cluster-wide write lock. `tx` is created here because a reconnect
  // replaces the connection it must belong to.
  Status begin_write_locked(std::optional<pg::Transaction>& tx, const std::optional<Fence>& fence) const;
  // Bumps the registry revision, queues its NOTIFY and commits.
  Status commit_write_locked(pg::Transaction& tx) const;
  // BEGIN a read-only REPEATABLE READ transaction: several statements, one view.
  Status begin_read_locked(std::optional<pg::Transaction>& tx) const;
  pg::Connection& db() const { return *conn_; }

  // pg_registry.cc
  std::string now_text() const;
  // NotFound "unknown model 'x'" unless the model has been registered.
  Status require_model_locked(const std::string& model) const;
  Result<std::optional<VersionRecord>> find_version_locked(const std::string& model, int64_t version) const;
  Result<int64_t> resolve_locked(const std::string& model, const std::string& ref) const;
  // Fills `summary` (whose name is set) from rows of (version, signed_by) and every
  // alias of the model.
  Status read_versions_and_aliases_locked(const pg::Rows& versions, ModelSummary& summary) const;
  // Appends one record to the audit chain; the caller holds the write transaction.
  Status append_audit_entry_locked(AuditEntry entry) const;
  Status append_audit_locked(const std::string& model, std::string_view action, const std::string& detail_json,
                             const Actor& actor, const std::string& at) const;

  // pg_registry_deployments.cc
  Result<std::optional<Revision>> latest_revision_locked(const std::string& model) const;
  Result<Revision> append_revision_locked(const std::string& model, const std::string& spec_json, const Actor& actor);

  const std::string url_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<pg::Connection> conn_;
  mutable std::chrono::steady_clock::time_point last_connect_{};
  std::shared_ptr<const Clock> clock_;
};

}  // namespace quiver::registry
