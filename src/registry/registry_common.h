// Backend-neutral pieces of the registry implementations (SQLite and PostgreSQL):
// input validation, the JSON columns' encoding, audit details and the deployment
// spec's preparation. Keeping them in one place is what makes both backends answer
// with the same errors and write the same audit rows.
//
// Internal to the registry. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/status.h"
#include "registry/deployment_spec_json.h"
#include "registry/registry.h"

namespace quiver::registry {

// --- versions ---
std::string version_label(const std::string& model, int64_t version);
std::string metadata_to_json(const std::map<std::string, std::string>& metadata);
Status validate_new_version(const NewVersion& v);
// A decimal version number, or nullopt for anything else (an alias).
std::optional<int64_t> parse_version_number(const std::string& ref);
// Decodes the metadata and signature columns into `r` (whose model and version are
// set, for the message); DataLoss when a column was damaged.
Status decode_version_json(VersionRecord& r, const std::string& metadata, const std::string& signature);
// The record create_version stores for `v` as `number`, created at `at`.
VersionRecord version_record_of(const NewVersion& v, int64_t number, const std::string& at);
Status version_taken_error(const std::string& model, int64_t number);

// --- audit details ---
std::string client_or_unknown(const Actor& actor);
// An audit "change" row for `actor` (id and hashes are assigned when appended).
AuditEntry change_entry(const std::string& model, std::string_view action, const std::string& detail_json,
                        const Actor& actor, const std::string& at);
// An audit "access" row; `now` stamps a record without its own time.
AuditEntry access_entry(const AccessRecord& r, const std::string& now);
std::string version_create_detail(const VersionRecord& record, bool new_model);
std::string alias_set_detail(const std::string& alias, int64_t version, std::optional<int64_t> previous);
std::string alias_delete_detail(const std::string& alias, int64_t version);
std::string deployment_apply_detail(const Revision& revision);
std::string deployment_delete_detail(int64_t revision, int64_t replaced);
std::string evaluation_detail(int64_t version, int64_t evaluation, const std::string& dataset_sha256);
std::string policy_detail(bool require_signature, bool was_required);
std::string key_detail(const ApiKeyRecord& k);

// --- deployments ---
// Parses `spec_json`, resolves its refs with `resolve`, checks every version with
// `exists` and validates the result. The caller holds the transaction, so an alias
// cannot move between resolving and recording.
Result<DeploymentSpec> prepare_deployment_spec(const std::string& model, const std::string& spec_json,
                                               const std::function<Result<int64_t>(const std::string&)>& resolve,
                                               const std::function<Result<bool>(int64_t)>& exists);
Status stale_deployment_error(const std::string& model, int64_t current, int64_t expected);
// The revision that follows `latest` (none: the first) for a prepared spec, as both
// backends store it.
Revision next_revision(const std::string& model, const DeploymentSpec& spec, const std::optional<Revision>& latest,
                       std::string created_at, const Actor& actor);

// --- input checks shared by both backends ---
Status validate_record_event(const std::string& action, const std::string& detail_json);
Status validate_rollout_write(const RolloutWrite& write);
Status validate_audit_query(const AuditQuery& q);
Status validate_audit_limit(int64_t limit);
Status validate_new_key(const ApiKeyRecord& key);
// The model scope column of api_keys: a JSON array of globs.
std::string key_models_to_json(const std::vector<std::string>& models);
Result<std::vector<std::string>> key_models_from_json(const std::string& id, const std::string& text);

}  // namespace quiver::registry
