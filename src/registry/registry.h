// The registry: the single source of desired state. Models, immutable versions,
// aliases, deployments with their revision history, and an audit log of every
// change. Backed by SQLite in WAL mode with versioned schema migrations.
//
// Every mutation runs in one SQLite transaction together with its audit entry, so a
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

// Who made a change and why; recorded in the audit log and in revisions.
struct Actor {
  std::string client = "unknown";  // e.g. "cli", "api 127.0.0.1", "rollout-controller"
  std::string reason;              // free text; may be empty
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
};

struct ModelSummary {
  std::string name;
  std::vector<int64_t> versions;           // ascending
  std::map<std::string, int64_t> aliases;  // alias -> version
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

struct AuditEntry {
  int64_t id = 0;
  std::string at;
  std::string model;
  std::string action;  // "version.create", "alias.set", "deployment.apply", ...
  std::string client;
  std::string reason;
  std::string detail_json;
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
  virtual ~Registry() = default;

  // --- versions ---
  // AlreadyExists when the version number is taken; InvalidArgument on a bad name.
  virtual Result<VersionRecord> create_version(const NewVersion& v, const Actor& actor) = 0;
  virtual Result<VersionRecord> get_version(const std::string& model, int64_t version) const = 0;
  // A decimal version number or an alias -> the version number. NotFound otherwise.
  virtual Result<int64_t> resolve(const std::string& model, const std::string& ref) const = 0;
  virtual Result<std::vector<ModelSummary>> list_models() const = 0;
  virtual Result<ModelSummary> get_model(const std::string& model) const = 0;

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
};

// Model and alias names: 1..128 of [A-Za-z0-9_.-], not starting with '.' or '-';
// an alias must not be all digits (it would read as a version number).
Status validate_model_name(const std::string& name);
Status validate_alias_name(const std::string& alias);

}  // namespace quiver::registry
