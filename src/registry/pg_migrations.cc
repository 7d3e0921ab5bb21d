#include "registry/pg_migrations.h"

#include <array>
#include <string>

namespace quiver::registry {
namespace {

// The SQLite schema's final state (migrations.cc, steps 1-4), in PostgreSQL types.
// Timestamps stay ISO 8601 UTC text stamped by the registry's own clock, so both
// backends return identical strings; JSON columns stay text for the same reason.
// Names and ids compare byte by byte (COLLATE "C"), as SQLite compares text, so
// listings and pages come in the same order on both and the keys' indexes serve them.
constexpr std::string_view kRegistrySchema = R"sql(
CREATE TABLE models (
  name        text COLLATE "C" PRIMARY KEY,
  created_at  text NOT NULL
);

CREATE TABLE versions (
  model               text COLLATE "C" NOT NULL REFERENCES models(name),
  version             bigint NOT NULL CHECK (version > 0),
  framework           text NOT NULL CHECK (framework IN ('torchscript', 'onnx')),
  artifact_sha256     text NOT NULL,
  size                bigint NOT NULL CHECK (size >= 0),
  created_at          text NOT NULL,
  description         text NOT NULL DEFAULT '',
  metadata            text NOT NULL DEFAULT '{}',
  signature           text NOT NULL DEFAULT '{}',
  warmup_json         text NOT NULL DEFAULT '',
  artifact_signature  text NOT NULL DEFAULT '',
  signed_by           text NOT NULL DEFAULT '',
  PRIMARY KEY (model, version)
);

-- Versions are immutable once registered; enforce it below the API as well.
CREATE FUNCTION quiver_versions_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'model versions are immutable';
END $$;
CREATE TRIGGER versions_are_immutable BEFORE UPDATE ON versions
  FOR EACH ROW EXECUTE FUNCTION quiver_versions_are_immutable();

CREATE TABLE aliases (
  model       text COLLATE "C" NOT NULL,
  alias       text COLLATE "C" NOT NULL,
  version     bigint NOT NULL,
  updated_at  text NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);

CREATE TABLE deployment_revisions (
  model       text COLLATE "C" NOT NULL REFERENCES models(name),
  revision    bigint NOT NULL CHECK (revision > 0),
  spec_json   text NOT NULL,
  deleted     boolean NOT NULL DEFAULT false,
  created_at  text NOT NULL,
  client      text NOT NULL,
  reason      text NOT NULL,
  PRIMARY KEY (model, revision)
);

-- Ids are assigned by the registry under its write lock (max + 1), so the chain has
-- no gaps; audit_log_head keeps the largest id ever handed out, which reveals rows
-- deleted from the end (SQLite's AUTOINCREMENT counter plays that part there).
CREATE TABLE audit_log (
  id            bigint PRIMARY KEY,
  at            text NOT NULL,
  model         text COLLATE "C" NOT NULL,
  action        text NOT NULL,
  client        text NOT NULL,
  reason        text NOT NULL,
  detail_json   text NOT NULL,
  kind          text NOT NULL DEFAULT 'change',
  actor_key     text NOT NULL DEFAULT '',
  actor_role    text NOT NULL DEFAULT '',
  source        text NOT NULL DEFAULT '',
  tls_identity  text NOT NULL DEFAULT '',
  resource      text NOT NULL DEFAULT '',
  request_id    text NOT NULL DEFAULT '',
  decision      text NOT NULL DEFAULT '',
  status        bigint NOT NULL DEFAULT 0,
  latency_us    bigint NOT NULL DEFAULT 0,
  prev_hash     text NOT NULL DEFAULT '',
  hash          text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_model ON audit_log (model, id);
CREATE INDEX audit_log_by_kind ON audit_log (kind, id);
CREATE TABLE audit_log_head (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  last_id  bigint NOT NULL
);
INSERT INTO audit_log_head (last_id) VALUES (0);

CREATE FUNCTION quiver_audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION quiver_audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION quiver_audit_log_is_append_only();

CREATE TABLE evaluations (
  id              bigint PRIMARY KEY,
  model           text COLLATE "C" NOT NULL,
  version         bigint NOT NULL,
  created_at      text NOT NULL,
  dataset_sha256  text NOT NULL,
  report_json     text NOT NULL,
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE INDEX evaluations_by_version ON evaluations (model, version, id);

CREATE TABLE rollouts (
  model       text COLLATE "C" PRIMARY KEY REFERENCES models(name),
  state_json  text NOT NULL,
  updated_at  text NOT NULL
);

CREATE TABLE api_keys (
  id             text COLLATE "C" PRIMARY KEY,
  role           text NOT NULL CHECK (role IN ('admin', 'deployer', 'publisher', 'reader', 'infer')),
  models         text NOT NULL DEFAULT '["*"]',
  salt           text NOT NULL,
  secret_hash    text NOT NULL,
  description    text NOT NULL DEFAULT '',
  created_at     text COLLATE "C" NOT NULL,
  created_by     text NOT NULL DEFAULT '',
  expires_at_ms  bigint,
  revoked_at     text,
  last_used      text
);

CREATE TABLE model_policies (
  model              text COLLATE "C" PRIMARY KEY,
  require_signature  boolean NOT NULL DEFAULT false,
  updated_at         text NOT NULL
);

-- The registry revision (Registry::revision): every write transaction bumps it and
-- sends NOTIFY quiver_registry with the new value, delivered on commit.
CREATE TABLE registry_state (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  revision  bigint NOT NULL
);
INSERT INTO registry_state (revision) VALUES (0);
)sql";

// Scale-out coordination, used by the cluster module: the leader lease (fencing
// checks it inside registry writes), the replicas' heartbeats and their counters.
constexpr std::string_view kClusterTables = R"sql(
CREATE TABLE cluster_lease (name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
                            expires_at timestamptz NOT NULL, acquired_at timestamptz NOT NULL);
CREATE TABLE cluster_replicas (id text PRIMARY KEY, address text NOT NULL, started_at timestamptz NOT NULL,
                               heartbeat_at timestamptz NOT NULL, applied_revision bigint NOT NULL,
                               state_json text NOT NULL);
CREATE TABLE cluster_counters (replica text NOT NULL, model text NOT NULL, version bigint NOT NULL,
                               shadow_of bigint NOT NULL, counters_json text NOT NULL,
                               updated_at timestamptz NOT NULL, PRIMARY KEY (replica, model, version, shadow_of));
)sql";

// Feedback a replica could not join, for the replica that logged the prediction
// (cluster/feedback_relay.h).
constexpr std::string_view kClusterFeedback = R"sql(
CREATE TABLE cluster_feedback (id bigserial PRIMARY KEY, origin text NOT NULL, model text NOT NULL,
                               item_json text NOT NULL, posted_at timestamptz NOT NULL DEFAULT clock_timestamp());
)sql";

constexpr std::array kPgMigrations = {
    Migration{1, "registry schema: models, versions, aliases, deployments, audit chain, evidence, keys, policies, "
                 "revision",
              kRegistrySchema},
    Migration{2, "cluster coordination: leader lease, replicas, counters", kClusterTables},
    Migration{3, "feedback forwarded between replicas", kClusterFeedback},
};

// Held for the whole migrating transaction; any fixed 64-bit value ("quiver.migrate").
constexpr int64_t kMigrationLock = 0x717569766572'4d47;

}  // namespace

std::span<const Migration> pg_schema_migrations() { return kPgMigrations; }

int pg_latest_schema_version() { return static_cast<int>(kPgMigrations.size()); }

Status apply_pg_migrations(pg::Connection& conn) {
  pg::Transaction tx(conn);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(conn.query("SELECT pg_advisory_xact_lock($1)", kMigrationLock).status());
  QUIVER_RETURN_IF_ERROR(conn.exec_script(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, description text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())"));
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, conn.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  const int applied = static_cast<int>(rows.int_at(0, 0));
  const int latest = pg_latest_schema_version();
  if (applied > latest)
    return failed_precondition("the registry database has schema version " + std::to_string(applied) +
                               ", newer than this binary knows (" + std::to_string(latest) + "): upgrade quiver");
  for (const Migration& m : kPgMigrations) {
    if (m.version <= applied) continue;
    const std::string context = "schema migration " + std::to_string(m.version) + " (" + std::string(m.description) + ")";
    if (Status st = conn.exec_script(m.sql); !st.is_ok()) return st.with_context(context);
    if (Status st = conn.query("INSERT INTO schema_migrations (version, description, applied_at) "
                               "VALUES ($1, $2, clock_timestamp())",
                               m.version, std::string(m.description))
                        .status();
        !st.is_ok())
      return st.with_context(context);
  }
  return tx.commit();
}

}  // namespace quiver::registry
