// The registry: the single source of desired state. Models, immutable versions,
// aliases, deployments with their revision history, and an audit log of every
// change. Backed by SQLite in WAL mode (one server) or by PostgreSQL (replicas that
// share it), each with versioned schema migrations.
//
// Every mutation runs in one transaction together with its audit entry, so a
// crash (even kill -9) leaves either both or neither.
//
// Thread-safety: all methods may be called from any thread (one connection guarded
// by a mutex; the registry is on the control plane only, never on a request's path).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/signature.h"
#include "core/status.h"

namespace quiver::registry {

// Leader fencing (cluster/leader_lease.h). A write made by the leader's control loops
// (rollouts, bandits, the objective) carries the lease it holds; the PostgreSQL
// registry commits it only while that lease row still names this holder and epoch and
// has not expired by the database's clock, checked inside the write's transaction. So
// a leader that was paused past its lease and then resumed can write nothing.
// FailedPrecondition "fenced: ..." otherwise. SQLite (one server) has no lease and
// ignores it.
struct Fence {
  std::string holder;  // the replica id that holds the lease
  int64_t epoch = 0;   // the lease's epoch when it was taken
};

// Who made a change and why; recorded in the audit log and in revisions.
struct Actor {
  std::string client = "unknown";  // e.g. "cli", "api 127.0.0.1", "rollout-controller"
  std::string reason;              // free text; may be empty
  std::optional<Fence> fence{};    // set on the leader's control-loop writes
};

struct NewVersion {
  std::string model;
  std::optional<int64_t> version;  // assigned (max + 1) when absent
  std::string framework;           // "torchscript" | "onnx"
  std::string artifact_sha256;
  uint64_t size = 0;
  std::string description;
  std::map<std::string, std::string> metadata;
  ModelSignature signature;
  std::string warmup_json;  // an OIP infer request, or empty
  // Artifact signature (auth/signature.h), verified by the caller before registering:
  // base64 of a DER ECDSA P-256 signature over the artifact's sha256, and the id of
  // the trusted key it verified with. Both empty for an unsigned version.
  std::string artifact_signature;
  std::string signed_by;
};

struct VersionRecord {
  std::string model;
  int64_t version = 0;
  std::string framework;
  std::string artifact_sha256;
  uint64_t size = 0;
  std::string created_at;  // UTC, ISO 8601
  std::string description;
  std::map<std::string, std::string> metadata;
  ModelSignature signature;
  std::string warmup_json;
  std::string artifact_signature;  // see NewVersion; empty when unsigned
  std::string signed_by;
};

struct ModelSummary {
  std::string name;
  std::vector<int64_t> versions;           // ascending
  std::map<std::string, int64_t> aliases;  // alias -> version
  std::map<int64_t, std::string> signed_by;  // signed versions -> signer key id
};

// Per-model security policy (PUT /v1/models/{m}/policy). A model may have a policy
// before its first version is registered, so that version 1 is already covered.
struct ModelPolicy {
  std::string model;
  bool require_signature = false;
  std::string updated_at;  // empty when never set (the defaults apply)
};

struct Revision {
  std::string model;
  int64_t revision = 0;    // 1, 2, ... per model
  std::string spec_json;   // the normalized spec (registry/deployment_spec_json.h)
  bool deleted = false;    // this revision removed the deployment
  std::string created_at;
  std::string client;
  std::string reason;
};

// One row of the audit log. Two kinds share one hash chain (registry/audit_chain.h):
// "change" rows record a change of state (a version, an alias, a deployment, a key, a
// rollout step, a load failure) and are written with the change in one transaction;
// "access" rows record one management call, allowed or denied, with who made it.
// No token secret and no tensor ever appears in either.
struct AuditEntry {
  int64_t id = 0;
  std::string at;
  std::string model;
  std::string action;  // "version.create", "alias.set", ...; access rows: "PUT /v1/deployments/{model}"
  std::string client;
  std::string reason;
  std::string detail_json;
  std::string kind = "change";  // "change" | "access"
  // Set on access rows (empty or 0 on change rows):
  std::string actor_key;     // key id of the token that made the call; "" when none
  std::string actor_role;    // that key's role
  std::string source;        // the peer address
  std::string tls_identity;  // the TLS client certificate's subject, when one was presented
  std::string resource;      // the request path
  std::string request_id;
  std::string decision;      // "allow" | "deny"
  int64_t status = 0;        // the HTTP status answered
  int64_t latency_us = 0;
  std::string prev_hash;     // hex; "" for the first record
  std::string hash;          // hex sha256(prev_hash || canonical row)
};

// A management call to record (Registry::append_access). `at` is when it arrived.
struct AccessRecord {
  std::string at;
  std::string model;  // the model the route names, or ""
  std::string action;
  std::string client;
  std::string reason;  // why it was denied, or the error of a failed call
  std::string actor_key;
  std::string actor_role;
  std::string source;
  std::string tls_identity;
  std::string resource;
  std::string request_id;
  std::string decision;  // "allow" | "deny"
  int64_t status = 0;
  int64_t latency_us = 0;
};

struct AuditQuery {
  std::string model;            // "" for all models
  std::string kind = "change";  // "change", "access", or "" for both
  int64_t limit = 1000;
  int64_t before_id = 0;        // > 0: only records with a smaller id (paging)
};

// The result of walking the whole chain.
struct AuditVerification {
  bool ok = true;
  int64_t records = 0;                  // records checked
  std::optional<int64_t> first_broken;  // the first record whose link or content does not verify
  std::string problem;                  // what is wrong there, for people
  std::string head_hash;                // the newest record's hash: kept elsewhere, it also reveals a rewrite
};

// An access token's stored form (auth/ owns the token format and the checks). Only a
// salted hash of the secret is kept.
struct ApiKeyRecord {
  std::string id;
  std::string role;                      // admin | deployer | publisher | reader | infer
  std::vector<std::string> models;       // model-name globs; {"*"}: every model
  std::string salt;                      // hex
  std::string secret_hash;               // hex
  std::string description;
  std::string created_at;                // set by create_key
  std::string created_by;
  std::optional<int64_t> expires_at_ms;  // Unix time in ms; none: never expires
  std::optional<std::string> revoked_at;
  std::optional<std::string> last_used;
};

// A stored offline evaluation of one version on one dataset (quality/ builds the report).
struct EvaluationRecord {
  int64_t id = 0;
  std::string model;
  int64_t version = 0;
  std::string created_at;
  std::string dataset_sha256;
  std::string report_json;  // the report document, as the API returns it
};

// The persisted state of a model's progressive rollout (rollout/ owns the document's
// shape). One row per model: a new rollout replaces the finished one.
struct RolloutRecord {
  std::string model;
  std::string state_json;
  std::string updated_at;
};

// One rollout transition, committed atomically: the new rollout state, an optional new
// deployment revision (the traffic the new state implies), and the audit entry that
// names the evidence.
struct RolloutWrite {
  std::string state_json;
  std::optional<std::string> spec_json;  // set: append this normalized spec as a revision
  std::string action;                    // audit action, e.g. "rollout.rolled_back"
  std::string detail_json;               // audit detail: metric, value, limit, ...
};

class Registry {
 public:
  // Opens (creating if needed) the database file and applies pending migrations.
  static Result<std::unique_ptr<Registry>> open(const std::filesystem::path& db_path);
  // As above, with the clock that stamps created_at and audit times (tests pass a
  // FakeClock). `clock` must not be null.
  static Result<std::unique_ptr<Registry>> open(const std::filesystem::path& db_path,
                                                std::shared_ptr<const Clock> clock);
  // The PostgreSQL backend shared by replicas (`serve --registry postgresql://...`).
  // Connects, migrates under a transaction-level advisory lock (two replicas that start
  // at once migrate once) and refuses a schema newer than this binary knows
  // (FailedPrecondition). Unavailable when the database cannot be reached.
  static Result<std::unique_ptr<Registry>> open_postgres(const std::string& url,
                                                         std::shared_ptr<const Clock> clock);
  virtual ~Registry() = default;

  // --- propagation (scale-out) ---
  // The registry revision: a number that every write bumps inside its own transaction
  // (PostgreSQL also sends NOTIFY quiver_registry with it on commit). A replica that
  // has applied revision r has seen every write up to r.
  virtual Result<int64_t> revision() const = 0;
  // True for a registry that replicas share (PostgreSQL): control loops that write
  // then need the leader's lease, and artifacts need a durable remote copy.
  virtual bool shared() const { return false; }
  // The URL a shared registry was opened with (password redacted); "" for SQLite.
  virtual std::string url() const { return ""; }

  // --- versions ---
  // AlreadyExists when the version number is taken; InvalidArgument on a bad name.
  virtual Result<VersionRecord> create_version(const NewVersion& v, const Actor& actor) = 0;
  virtual Result<VersionRecord> get_version(const std::string& model, int64_t version) const = 0;
  // A decimal version number or an alias -> the version number. NotFound otherwise.
  virtual Result<int64_t> resolve(const std::string& model, const std::string& ref) const = 0;
  virtual Result<std::vector<ModelSummary>> list_models() const = 0;
  virtual Result<ModelSummary> get_model(const std::string& model) const = 0;
  // Keyset pages of the two listings above, for registries with many models or
  // versions: the models named after `after_name` (empty: from the first), in name
  // order, at most `limit` of them; and one model's versions above `after_version`,
  // at most `limit` (its aliases all come with every page). A page starts after the
  // last item the previous one returned, so inserts never shift or repeat items.
  virtual Result<std::vector<ModelSummary>> list_models_page(const std::string& after_name, size_t limit) const = 0;
  virtual Result<ModelSummary> get_model_page(const std::string& model, int64_t after_version, size_t limit) const = 0;

  // --- aliases ---
  virtual Status set_alias(const std::string& model, const std::string& alias, int64_t version,
                           const Actor& actor) = 0;
  virtual Status delete_alias(const std::string& model, const std::string& alias, const Actor& actor) = 0;

  // --- deployments ---
  // Appends a revision and makes it current. The spec (deployment_spec_json.h) is
  // parsed, refs not yet resolved are resolved against this model now, every version
  // is checked to exist, the spec is validated, and its normalized form is stored
  // (Revision.spec_json). NotFound for an unknown model or version; InvalidArgument
  // for a bad spec.
  virtual Result<Revision> put_deployment(const std::string& model, const std::string& spec_json,
                                          const Actor& actor) = 0;
  // Appends a "deleted" revision (its spec_json is empty); NotFound when there is no
  // live deployment.
  virtual Result<Revision> delete_deployment(const std::string& model, const Actor& actor) = 0;
  // The newest revision when it is not a deletion; nullopt when there is none or the
  // deployment was deleted; NotFound for an unknown model.
  virtual Result<std::optional<Revision>> current_deployment(const std::string& model) const = 0;
  virtual Result<std::vector<Revision>> live_deployments() const = 0;
  virtual Result<std::vector<Revision>> history(const std::string& model) const = 0;  // newest first
  virtual Result<Revision> get_revision(const std::string& model, int64_t revision) const = 0;

  // --- evaluations ---
  // NotFound for an unknown model or version.
  virtual Result<EvaluationRecord> add_evaluation(const std::string& model, int64_t version,
                                                  const std::string& dataset_sha256, const std::string& report_json,
                                                  const Actor& actor) = 0;
  // Newest first.
  virtual Result<std::vector<EvaluationRecord>> evaluations(const std::string& model, int64_t version) const = 0;

  // --- rollouts ---
  // Writes the state, the optional revision and the audit entry in one transaction;
  // returns the revision when one was appended. When `expected_revision` is set and
  // the model's current revision differs (someone else changed the deployment), the
  // write is refused with Aborted-like FailedPrecondition and nothing changes.
  virtual Result<std::optional<Revision>> commit_rollout(const std::string& model, const RolloutWrite& write,
                                                         const Actor& actor,
                                                         std::optional<int64_t> expected_revision = {}) = 0;
  virtual Result<std::optional<RolloutRecord>> rollout(const std::string& model) const = 0;
  virtual Result<std::vector<RolloutRecord>> rollouts() const = 0;

  // --- audit ---
  // Records an event that changes nothing in the registry (e.g. a load failure).
  virtual Status record_event(const std::string& model, const std::string& action,
                              const std::string& detail_json, const Actor& actor) = 0;
  // Newest first; all models when `model` is empty.
  virtual Result<std::vector<AuditEntry>> audit(const std::string& model, int64_t limit = 1000) const = 0;

  // --- model policies and backups (signed artifacts, backups: issue 9) ---
  // The model's policy; the defaults (nothing required) when none was set. The model
  // need not be registered yet. InvalidArgument on a bad name.
  virtual Result<ModelPolicy> model_policy(const std::string& model) const = 0;
  // Sets it and audits "model.policy"; returns the stored policy.
  virtual Result<ModelPolicy> set_model_policy(const ModelPolicy& policy, const Actor& actor) = 0;
  // A consistent copy of the whole registry in `file` (which must not exist), taken
  // while writers keep writing: they are neither blocked nor seen half-done.
  virtual Status snapshot_to(const std::filesystem::path& file) const = 0;

  // --- tamper-evident audit: access records and the chain (sqlite_registry_keys.cc) ---
  // Newest first, filtered by `query`.
  virtual Result<std::vector<AuditEntry>> audit_query(const AuditQuery& query) const = 0;
  // Appends management-call records to the chain, in order, in one transaction.
  virtual Status append_access(const std::vector<AccessRecord>& records) = 0;
  // Walks the whole chain (in chunks, so writers wait for one chunk at most).
  virtual Result<AuditVerification> verify_audit() const = 0;

  // --- access tokens (sqlite_registry_keys.cc) ---
  // Stores a new key and audits "key.create" (never the salt or hash). AlreadyExists
  // when the id is taken; InvalidArgument for a bad role or an empty scope.
  virtual Result<ApiKeyRecord> create_key(const ApiKeyRecord& key, const Actor& actor) = 0;
  // Every key, revoked and expired ones included, oldest first.
  virtual Result<std::vector<ApiKeyRecord>> list_keys() const = 0;
  virtual Result<std::optional<ApiKeyRecord>> find_key(const std::string& id) const = 0;
  // Marks the key revoked and audits "key.revoke". NotFound for an unknown id;
  // revoking a revoked key changes nothing and returns it.
  virtual Result<ApiKeyRecord> revoke_key(const std::string& id, const Actor& actor) = 0;
  // Records when keys were last used (id -> UTC time); bookkeeping, not audited.
  virtual Status touch_keys(const std::map<std::string, std::string>& last_used) = 0;
};

// Model and alias names: 1..128 of [A-Za-z0-9_.-], not starting with '.' or '-';
// an alias must not be all digits (it would read as a version number).
Status validate_model_name(const std::string& name);
Status validate_alias_name(const std::string& alias);

// The sha256 of every blob a registry database file names (version artifacts,
// evaluation datasets), sorted and unique. Opens `registry_file` read-only; used on a
// snapshot (snapshot_to) by backups and restores.
Result<std::vector<std::string>> blobs_named_in(const std::filesystem::path& registry_file);

}  // namespace quiver::registry
