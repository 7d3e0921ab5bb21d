#include "registry/switchable_registry.h"

namespace quiver::registry {

SwitchableRegistry::SwitchableRegistry(std::shared_ptr<Registry> backend, bool read_only)
    : backend_(std::move(backend)), read_only_(read_only) {}

void SwitchableRegistry::swap(std::shared_ptr<Registry> backend, bool read_only) {
  std::lock_guard lock(mu_);
  backend_ = std::move(backend);
  read_only_ = read_only;
}

bool SwitchableRegistry::read_only() const {
  std::lock_guard lock(mu_);
  return read_only_;
}

std::shared_ptr<Registry> SwitchableRegistry::current() const {
  std::lock_guard lock(mu_);
  return backend_;
}

Status SwitchableRegistry::writable(const Registry& backend) const {
  std::lock_guard lock(mu_);
  if (read_only_ && &backend == backend_.get())
    return unavailable("the registry database is unreachable: this replica serves its last saved read-only snapshot");
  return Status::ok();
}

// A replica serving its snapshot is still a replica of a shared registry.
bool SwitchableRegistry::shared() const { return true; }
std::string SwitchableRegistry::url() const { return current()->url(); }

Result<int64_t> SwitchableRegistry::revision() const { return current()->revision(); }

Result<VersionRecord> SwitchableRegistry::create_version(const NewVersion& v, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->create_version(v, actor);
}

Result<VersionRecord> SwitchableRegistry::get_version(const std::string& model, int64_t version) const { return current()->get_version(model, version); }

Result<int64_t> SwitchableRegistry::resolve(const std::string& model, const std::string& ref) const { return current()->resolve(model, ref); }

Result<std::vector<ModelSummary>> SwitchableRegistry::list_models() const { return current()->list_models(); }

Result<ModelSummary> SwitchableRegistry::get_model(const std::string& model) const { return current()->get_model(model); }

Result<std::vector<ModelSummary>> SwitchableRegistry::list_models_page(const std::string& after_name, size_t limit) const { return current()->list_models_page(after_name, limit); }

Result<ModelSummary> SwitchableRegistry::get_model_page(const std::string& model, int64_t after_version, size_t limit) const { return current()->get_model_page(model, after_version, limit); }

Status SwitchableRegistry::set_alias(const std::string& model, const std::string& alias, int64_t version, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->set_alias(model, alias, version, actor);
}

Status SwitchableRegistry::delete_alias(const std::string& model, const std::string& alias, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->delete_alias(model, alias, actor);
}

Result<Revision> SwitchableRegistry::put_deployment(const std::string& model, const std::string& spec_json, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->put_deployment(model, spec_json, actor);
}

Result<Revision> SwitchableRegistry::delete_deployment(const std::string& model, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->delete_deployment(model, actor);
}

Result<std::optional<Revision>> SwitchableRegistry::current_deployment(const std::string& model) const { return current()->current_deployment(model); }

Result<std::vector<Revision>> SwitchableRegistry::live_deployments() const { return current()->live_deployments(); }

Result<std::vector<Revision>> SwitchableRegistry::history(const std::string& model) const { return current()->history(model); }

Result<Revision> SwitchableRegistry::get_revision(const std::string& model, int64_t revision) const { return current()->get_revision(model, revision); }

Result<EvaluationRecord> SwitchableRegistry::add_evaluation(const std::string& model, int64_t version, const std::string& dataset_sha256, const std::string& report_json, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->add_evaluation(model, version, dataset_sha256, report_json, actor);
}

Result<std::vector<EvaluationRecord>> SwitchableRegistry::evaluations(const std::string& model, int64_t version) const { return current()->evaluations(model, version); }

Result<std::optional<Revision>> SwitchableRegistry::commit_rollout(const std::string& model, const RolloutWrite& write, const Actor& actor, std::optional<int64_t> expected_revision) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->commit_rollout(model, write, actor, expected_revision);
}

Result<std::optional<RolloutRecord>> SwitchableRegistry::rollout(const std::string& model) const { return current()->rollout(model); }

Result<std::vector<RolloutRecord>> SwitchableRegistry::rollouts() const { return current()->rollouts(); }

Status SwitchableRegistry::record_event(const std::string& model, const std::string& action, const std::string& detail_json, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->record_event(model, action, detail_json, actor);
}

Result<std::vector<AuditEntry>> SwitchableRegistry::audit(const std::string& model, int64_t limit) const { return current()->audit(model, limit); }

Result<ModelPolicy> SwitchableRegistry::model_policy(const std::string& model) const { return current()->model_policy(model); }

Result<ModelPolicy> SwitchableRegistry::set_model_policy(const ModelPolicy& policy, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->set_model_policy(policy, actor);
}

Status SwitchableRegistry::snapshot_to(const std::filesystem::path& file) const { return current()->snapshot_to(file); }

Result<std::vector<AuditEntry>> SwitchableRegistry::audit_query(const AuditQuery& query) const { return current()->audit_query(query); }

Status SwitchableRegistry::append_access(const std::vector<AccessRecord>& records) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->append_access(records);
}

Result<AuditVerification> SwitchableRegistry::verify_audit() const { return current()->verify_audit(); }

Result<ApiKeyRecord> SwitchableRegistry::create_key(const ApiKeyRecord& key, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->create_key(key, actor);
}

Result<std::vector<ApiKeyRecord>> SwitchableRegistry::list_keys() const { return current()->list_keys(); }

Result<std::optional<ApiKeyRecord>> SwitchableRegistry::find_key(const std::string& id) const { return current()->find_key(id); }

Result<ApiKeyRecord> SwitchableRegistry::revoke_key(const std::string& id, const Actor& actor) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->revoke_key(id, actor);
}

Status SwitchableRegistry::touch_keys(const std::map<std::string, std::string>& last_used) {
  auto r = current();
  if (Status st = writable(*r); !st.is_ok()) return st;
  return r->touch_keys(last_used);
}

}  // namespace quiver::registry
