#include "registry/migrations.h"

#include <array>
#include <string>

namespace quiver::registry {
namespace {

// Timestamps are ISO 8601 UTC text (core/clock.h format_utc). JSON columns hold
// documents the registry writes itself (metadata, signature, specs, audit detail).
constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE models (
  name        TEXT PRIMARY KEY NOT NULL,
  created_at  TEXT NOT NULL
);

CREATE TABLE versions (
  model            TEXT NOT NULL REFERENCES models(name),
  version          INTEGER NOT NULL CHECK (version > 0),
  framework        TEXT NOT NULL CHECK (framework IN ('torchscript', 'onnx')),
  artifact_sha256  TEXT NOT NULL,
  size             INTEGER NOT NULL CHECK (size >= 0),
  created_at       TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  metadata         TEXT NOT NULL DEFAULT '{}',
  signature        TEXT NOT NULL DEFAULT '{}',
  warmup_json      TEXT NOT NULL DEFAULT '',
  UNIQUE (model, version)
);

-- Versions are immutable once registered; enforce it below the API as well.
CREATE TRIGGER versions_are_immutable BEFORE UPDATE ON versions
BEGIN
  SELECT RAISE(ABORT, 'model versions are immutable');
END;

CREATE TABLE aliases (
  model       TEXT NOT NULL,
  alias       TEXT NOT NULL,
  version     INTEGER NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);

CREATE TABLE deployment_revisions (
  model       TEXT NOT NULL REFERENCES models(name),
  revision    INTEGER NOT NULL CHECK (revision > 0),
  spec_json   TEXT NOT NULL,
  deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  created_at  TEXT NOT NULL,
  client      TEXT NOT NULL,
  reason      TEXT NOT NULL,
  PRIMARY KEY (model, revision)
);

CREATE TABLE audit_log (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  at           TEXT NOT NULL,
  model        TEXT NOT NULL,
  action       TEXT NOT NULL,
  client       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  detail_json  TEXT NOT NULL
);
CREATE INDEX audit_log_by_model ON audit_log (model, id);
)sql";

// Decisions by evidence: offline evaluation reports (permanent) and the state of each
// model's progressive rollout (one row per model, replaced by the next rollout).
constexpr std::string_view kEvaluationsAndRollouts = R"sql(
CREATE TABLE evaluations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  model           TEXT NOT NULL,
  version         INTEGER NOT NULL,
  created_at      TEXT NOT NULL,
  dataset_sha256  TEXT NOT NULL,
  report_json     TEXT NOT NULL,
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE INDEX evaluations_by_version ON evaluations (model, version, id);

CREATE TABLE rollouts (
  model       TEXT PRIMARY KEY NOT NULL REFERENCES models(name),
  state_json  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
)sql";

// Access tokens (only a salted hash of each secret is kept) and the tamper-evident
// audit log: every row stores sha256(prev_hash || canonical row) (registry/audit_chain.h),
// and the new columns describe management calls (who, from where, what, the decision).
// Rows written before this step are chained once, on the first open (seal_audit_chain).
// Triggers keep the log append-only for the server; someone editing the file directly
// can drop them, which the chain then reveals.
constexpr std::string_view kKeysAndAuditChain = R"sql(
CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY NOT NULL,
  role           TEXT NOT NULL CHECK (role IN ('admin', 'deployer', 'publisher', 'reader', 'infer')),
  models         TEXT NOT NULL DEFAULT '["*"]',
  salt           TEXT NOT NULL,
  secret_hash    TEXT NOT NULL,
  description    TEXT NOT NULL DEFAULT '',
  created_at     TEXT NOT NULL,
  created_by     TEXT NOT NULL DEFAULT '',
  expires_at_ms  INTEGER,
  revoked_at     TEXT,
  last_used      TEXT
);

ALTER TABLE audit_log ADD COLUMN kind         TEXT NOT NULL DEFAULT 'change';
ALTER TABLE audit_log ADD COLUMN actor_key    TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN actor_role   TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN source       TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN tls_identity TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN resource     TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN request_id   TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN decision     TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN status       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN latency_us   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN prev_hash    TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash         TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_by_kind ON audit_log (kind, id);

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- Only sealing may write a row after its insert: it fills in the chain of a row
-- written before the chain existed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash != ''
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
)sql";

// Signed artifacts: each version keeps the signature it was registered with and the
// id of the trusted key that verified it (immutable like the rest of the row: adding
// columns is no UPDATE, so the immutability trigger stays as it is). Per-model
// policies need no registered model: a policy set first covers version 1 too.
constexpr std::string_view kSignaturesAndPolicies = R"sql(
ALTER TABLE versions ADD COLUMN artifact_signature TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN signed_by          TEXT NOT NULL DEFAULT '';

CREATE TABLE model_policies (
  model              TEXT PRIMARY KEY NOT NULL,
  require_signature  INTEGER NOT NULL DEFAULT 0 CHECK (require_signature IN (0, 1)),
  updated_at         TEXT NOT NULL
);
)sql";

// The registry revision (Registry::revision): a counter that every change of desired
// state bumps inside its own transaction. Triggers do it, so no write path can forget;
// a write that touches several tables bumps it more than once, which keeps it
// monotonic all the same. Key bookkeeping (last_used) and access records do not count.
constexpr std::string_view kRegistryRevision = R"sql(
CREATE TABLE registry_state (
  id        INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
  revision  INTEGER NOT NULL
);
INSERT INTO registry_state (id, revision) VALUES (1, 0);

CREATE TRIGGER revision_models AFTER INSERT ON models
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_versions AFTER INSERT ON versions
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_aliases_insert AFTER INSERT ON aliases
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_aliases_update AFTER UPDATE ON aliases
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_aliases_delete AFTER DELETE ON aliases
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_deployments AFTER INSERT ON deployment_revisions
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_evaluations AFTER INSERT ON evaluations
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_rollouts_insert AFTER INSERT ON rollouts
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_rollouts_update AFTER UPDATE ON rollouts
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_keys_insert AFTER INSERT ON api_keys
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_keys_revoke AFTER UPDATE OF revoked_at ON api_keys
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_policies_insert AFTER INSERT ON model_policies
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_policies_update AFTER UPDATE ON model_policies
BEGIN UPDATE registry_state SET revision = revision + 1; END;
CREATE TRIGGER revision_events AFTER INSERT ON audit_log WHEN NEW.kind = 'change'
BEGIN UPDATE registry_state SET revision = revision + 1; END;
)sql";

constexpr std::array kMigrations = {
    Migration{1, "initial schema: models, versions, aliases, deployment revisions, audit log", kInitialSchema},
    Migration{2, "evaluation reports and rollout state", kEvaluationsAndRollouts},
    Migration{3, "access tokens; hash-chained audit log with access records", kKeysAndAuditChain},
    Migration{4, "artifact signatures on versions; per-model policies", kSignaturesAndPolicies},
    Migration{5, "the registry revision, bumped by every change", kRegistryRevision},
};

Result<int> current_user_version(sqlite::Database& db) {
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st, db.prepare("PRAGMA user_version"));
  QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return internal_error("registry database: PRAGMA user_version returned nothing");
  return static_cast<int>(st.int_at(0));
}

}  // namespace

std::span<const Migration> schema_migrations() { return kMigrations; }

int latest_schema_version() { return static_cast<int>(kMigrations.size()); }

Status apply_migrations(sqlite::Database& db) {
  QUIVER_ASSIGN_OR_RETURN(int applied, current_user_version(db));
  if (applied > latest_schema_version())
    return failed_precondition("registry database has schema version " + std::to_string(applied) +
                               ", newer than this release supports (" + std::to_string(latest_schema_version()) +
                               "); upgrade quiver");
  for (const Migration& m : kMigrations) {
    if (m.version <= applied) continue;
    sqlite::Transaction tx(db);
    QUIVER_RETURN_IF_ERROR(tx.begin());
    // Re-read inside the write lock: another process may have migrated meanwhile.
    QUIVER_ASSIGN_OR_RETURN(int now_applied, current_user_version(db));
    if (m.version <= now_applied) continue;
    const std::string context = "schema migration " + std::to_string(m.version) + " (" + std::string(m.description) + ")";
    if (Status st = db.exec(m.sql); !st.is_ok()) return st.with_context(context);
    if (Status st = db.exec("PRAGMA user_version = " + std::to_string(m.version)); !st.is_ok())
      return st.with_context(context);
    QUIVER_RETURN_IF_ERROR(tx.commit());
  }
  return Status::ok();
}

}  // namespace quiver::registry
