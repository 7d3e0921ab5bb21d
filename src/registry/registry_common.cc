#include "registry/registry_common.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

#include "core/clock.h"
#include "registry/signature_json.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

bool looks_like_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_key_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
         });
}

const std::set<std::string>& roles() {
  static const std::set<std::string> kRoles = {"admin", "deployer", "publisher", "reader", "infer"};
  return kRoles;
}

}  // namespace

// --- versions ---

std::string version_label(const std::string& model, int64_t version) {
  return "model '" + model + "' version " + std::to_string(version);
}

std::string metadata_to_json(const std::map<std::string, std::string>& metadata) {
  json out = json::object();
  for (const auto& [k, v] : metadata) out[k] = v;
  return out.dump();
}

Status validate_new_version(const NewVersion& v) {
  QUIVER_RETURN_IF_ERROR(validate_model_name(v.model));
  if (v.version && *v.version <= 0)
    return invalid_argument("version must be a positive integer, got " + std::to_string(*v.version));
  if (v.framework != "torchscript" && v.framework != "onnx")
    return invalid_argument("framework '" + v.framework + "' is not supported; use \"torchscript\" or \"onnx\"");
  if (!looks_like_sha256(v.artifact_sha256))
    return invalid_argument("artifact '" + v.artifact_sha256 +
                            "' is not a sha256 digest (64 lower-case hex characters)");
  if (v.size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return invalid_argument("artifact size " + std::to_string(v.size) + " is out of range");
  for (const auto& [key, unused] : v.metadata)
    if (key.empty()) return invalid_argument("metadata keys must not be empty");
  QUIVER_RETURN_IF_ERROR(validate_signature(v.signature));
  if (v.artifact_signature.empty() != v.signed_by.empty())
    return invalid_argument("an artifact signature and its signer's key id go together");
  if (!v.warmup_json.empty()) {
    const json warmup = json::parse(v.warmup_json, nullptr, /*allow_exceptions=*/false);
    if (!warmup.is_object()) return invalid_argument("warmup must be a JSON object (an inference request)");
  }
  return Status::ok();
}

std::optional<int64_t> parse_version_number(const std::string& ref) {
  if (ref.empty() || !std::all_of(ref.begin(), ref.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), n);
  if (ec != std::errc() || ptr != ref.data() + ref.size()) return std::nullopt;
  return n;
}

Status decode_version_json(VersionRecord& r, const std::string& metadata, const std::string& signature) {
  // These columns are written only by create_version; a parse failure means the
  // database was damaged or edited by hand.
  try {
    const json parsed = json::parse(metadata);
    for (const auto& [k, v] : parsed.items()) r.metadata[k] = v.get<std::string>();
  } catch (const json::exception& e) {
    return data_loss("registry row for " + version_label(r.model, r.version) + " has corrupt metadata: " + e.what());
  }
  Result<ModelSignature> sig = signature_from_json(signature);
  if (!sig.is_ok())
    return data_loss("registry row for " + version_label(r.model, r.version) +
                     " has a corrupt signature: " + sig.status().message());
  r.signature = std::move(sig).value();
  return Status::ok();
}

VersionRecord version_record_of(const NewVersion& v, int64_t number, const std::string& at) {
  VersionRecord record;
  record.model = v.model;
  record.version = number;
  record.framework = v.framework;
  record.artifact_sha256 = v.artifact_sha256;
  record.size = v.size;
  record.created_at = at;
  record.description = v.description;
  record.metadata = v.metadata;
  record.signature = v.signature;
  record.warmup_json = v.warmup_json;
  record.artifact_signature = v.artifact_signature;
  record.signed_by = v.signed_by;
  return record;
}

Status version_taken_error(const std::string& model, int64_t number) {
  return already_exists(version_label(model, number) +
                        " already exists; versions are immutable, so register a new version number");
}

// --- audit details ---

std::string client_or_unknown(const Actor& actor) { return actor.client.empty() ? "unknown" : actor.client; }

AuditEntry change_entry(const std::string& model, std::string_view action, const std::string& detail_json,
                        const Actor& actor, const std::string& at) {
  AuditEntry entry;
  entry.at = at;
  entry.model = model;
  entry.action = std::string(action);
  entry.client = client_or_unknown(actor);
  entry.reason = actor.reason;
  entry.detail_json = detail_json.empty() ? std::string("{}") : detail_json;
  return entry;
}

AuditEntry access_entry(const AccessRecord& r, const std::string& now) {
  AuditEntry e;
  e.kind = "access";
  e.at = r.at.empty() ? now : r.at;
  e.model = r.model;
  e.action = r.action;
  e.client = r.client;
  e.reason = r.reason;
  e.detail_json = "{}";
  e.actor_key = r.actor_key;
  e.actor_role = r.actor_role;
  e.source = r.source;
  e.tls_identity = r.tls_identity;
  e.resource = r.resource;
  e.request_id = r.request_id;
  e.decision = r.decision;
  e.status = r.status;
  e.latency_us = r.latency_us;
  return e;
}

std::string version_create_detail(const VersionRecord& record, bool new_model) {
  ordered_json detail;
  detail["version"] = record.version;
  detail["framework"] = record.framework;
  detail["artifact"] = record.artifact_sha256;
  detail["size"] = record.size;
  if (!record.signed_by.empty()) detail["signed_by"] = record.signed_by;
  if (new_model) detail["new_model"] = true;
  return detail.dump();
}

std::string alias_set_detail(const std::string& alias, int64_t version, std::optional<int64_t> previous) {
  ordered_json detail;
  detail["alias"] = alias;
  detail["version"] = version;
  detail["previous"] = previous ? json(*previous) : json(nullptr);
  return detail.dump();
}

std::string alias_delete_detail(const std::string& alias, int64_t version) {
  ordered_json detail;
  detail["alias"] = alias;
  detail["version"] = version;
  return detail.dump();
}

std::string deployment_apply_detail(const Revision& revision) {
  ordered_json detail;
  detail["revision"] = revision.revision;
  detail["spec"] = ordered_json::parse(revision.spec_json);
  return detail.dump();
}

std::string deployment_delete_detail(int64_t revision, int64_t replaced) {
  ordered_json detail;
  detail["revision"] = revision;
  detail["replaced_revision"] = replaced;
  return detail.dump();
}

std::string evaluation_detail(int64_t version, int64_t evaluation, const std::string& dataset_sha256) {
  json detail = {{"version", version}, {"evaluation", evaluation}, {"dataset", dataset_sha256}};
  return detail.dump();
}

std::string policy_detail(bool require_signature, bool was_required) {
  ordered_json detail;
  detail["require_signature"] = require_signature;
  detail["previous"] = {{"require_signature", was_required}};
  return detail.dump();
}

// What an audit row says about a key: never its salt or hash.
std::string key_detail(const ApiKeyRecord& k) {
  ordered_json d;
  d["id"] = k.id;
  d["role"] = k.role;
  d["models"] = k.models;
  if (k.expires_at_ms)
    d["expires_at"] =
        format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(*k.expires_at_ms)));
  if (!k.description.empty()) d["description"] = k.description;
  return d.dump(-1, ' ', false, json::error_handler_t::replace);
}

// --- deployments ---

Result<DeploymentSpec> prepare_deployment_spec(const std::string& model, const std::string& spec_json,
                                               const std::function<Result<int64_t>(const std::string&)>& resolve,
                                               const std::function<Result<bool>(int64_t)>& exists) {
  QUIVER_ASSIGN_OR_RETURN(DeploymentSpec spec, parse_deployment_spec(spec_json));
  QUIVER_RETURN_IF_ERROR(resolve_version_refs(spec, [&](const std::string& ref) { return resolve(ref); }));
  for (const DeployedVersion& dv : spec.versions) {
    QUIVER_ASSIGN_OR_RETURN(bool found, exists(dv.version.version));
    if (!found)
      return not_found("deployment names version '" + dv.version.ref + "' (resolved to " +
                       std::to_string(dv.version.version) + "), but model '" + model + "' has no version " +
                       std::to_string(dv.version.version));
  }
  QUIVER_RETURN_IF_ERROR(validate_deployment_spec(spec));  // traffic/rules/shadow name only listed versions
  return spec;
}

Status stale_deployment_error(const std::string& model, int64_t current, int64_t expected) {
  // A person (or another writer) changed the deployment since the controller read it:
  // its decision was made on stale facts, so nothing of it may land.
  return failed_precondition("deployment of '" + model + "' changed (revision " + std::to_string(current) +
                             ", expected " + std::to_string(expected) + ")");
}

// --- input checks ---

Status validate_record_event(const std::string& action, const std::string& detail_json) {
  if (action.empty()) return invalid_argument("audit event: action must not be empty");
  if (!detail_json.empty() && !json::accept(detail_json))
    return invalid_argument("audit event '" + action + "': detail is not valid JSON");
  return Status::ok();
}

Status validate_rollout_write(const RolloutWrite& write) {
  if (!json::accept(write.state_json)) return invalid_argument("rollout state is not valid JSON");
  if (!write.detail_json.empty() && !json::accept(write.detail_json))
    return invalid_argument("rollout audit detail is not valid JSON");
  return Status::ok();
}

Status validate_audit_limit(int64_t limit) {
  if (limit <= 0) return invalid_argument("audit: limit must be positive, got " + std::to_string(limit));
  return Status::ok();
}

Status validate_audit_query(const AuditQuery& q) {
  QUIVER_RETURN_IF_ERROR(validate_audit_limit(q.limit));
  if (!q.kind.empty() && q.kind != "change" && q.kind != "access")
    return invalid_argument("audit: kind must be \"change\", \"access\" or \"all\", not '" + q.kind + "'");
  return Status::ok();
}

Status validate_new_key(const ApiKeyRecord& key) {
  if (!is_key_id(key.id)) return invalid_argument("key id '" + key.id + "' must be 1..64 of [a-z0-9]");
  if (!roles().count(key.role))
    return invalid_argument("unknown role '" + key.role + "'; use admin, deployer, publisher, reader or infer");
  if (key.models.empty()) return invalid_argument("a key's model scope must name at least one glob");
  if (key.salt.empty() || key.secret_hash.empty()) return invalid_argument("a key needs a salt and a secret hash");
  return Status::ok();
}

std::string key_models_to_json(const std::vector<std::string>& models) {
  return json(models).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<std::string>> key_models_from_json(const std::string& id, const std::string& text) {
  const json models = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!models.is_array()) return data_loss("registry row for key '" + id + "' has a corrupt model scope");
  std::vector<std::string> out;
  for (const json& m : models) {
    if (!m.is_string()) return data_loss("registry row for key '" + id + "' has a corrupt model scope");
    out.push_back(m.get<std::string>());
  }
  return out;
}

Revision next_revision(const std::string& model, const DeploymentSpec& spec, const std::optional<Revision>& latest,
                       std::string created_at, const Actor& actor) {
  Revision revision;
  revision.model = model;
  revision.revision = latest ? latest->revision + 1 : 1;
  revision.spec_json = serialize_deployment_spec(spec);
  revision.created_at = std::move(created_at);
  revision.client = client_or_unknown(actor);
  revision.reason = actor.reason;
  return revision;
}

}  // namespace quiver::registry
