// The audit log's hash chain. Every row stores
//
//   hash = hex(sha256(prev_hash || canonical(row)))
//
// where prev_hash is the hash of the row before it ("" for the first row) and
// canonical(row) is each field below, in this order, written as its length in bytes
// in decimal, a ':' and the bytes themselves (numbers as decimal text):
//
//   id, at, kind, model, action, client, reason, detail_json, actor_key, actor_role,
//   source, tls_identity, resource, request_id, decision, status, latency_us
//
// so anyone can recompute it with a few lines of any language (the end-to-end test
// does, in Python). Changing any field of a row, deleting or inserting a row, or
// reordering rows breaks the chain at that row; deleting rows at the end is caught
// by SQLite's AUTOINCREMENT counter. A writer who can rewrite the whole file can
// recompute every hash: keep the head hash (`quiver audit verify` prints it) somewhere
// else to detect that too.
//
// Internal to the registry. Thread-safety: pure functions, except the ones taking a
// Database, which need the caller's serialisation.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "registry/registry.h"
#include "registry/sqlite_db.h"

namespace quiver::registry {

std::string audit_canonical(const AuditEntry& entry);
// hex(sha256(prev_hash || canonical(entry))); entry.prev_hash and entry.hash are ignored.
std::string audit_hash(std::string_view prev_hash, const AuditEntry& entry);

// The columns read by audit_from_row, in order.
inline constexpr const char* kAuditColumns =
    "id, at, model, action, client, reason, detail_json, kind, actor_key, actor_role, source, tls_identity, "
    "resource, request_id, decision, status, latency_us, prev_hash, hash";
AuditEntry audit_from_row(const sqlite::Statement& row);

// Appends `entry` (its id, prev_hash and hash are assigned here) as the newest row.
// The caller holds the transaction.
Status append_audit_row(sqlite::Database& db, AuditEntry entry);

// Chains rows written before the chain existed (a database from an older release):
// only while no row has a hash yet, so a row whose hash was later blanked is never
// re-sealed but reported by verify_audit_chain.
Status seal_audit_chain(sqlite::Database& db);

// Checks up to `chunk` rows after `cursor` (the last checked row's id and hash; start
// with {0, ""}), counting them in `out`. Returns true while there is more to read;
// false at the end (out.head_hash set) or at the first break (out.ok false, with
// first_broken and problem).
struct ChainCursor {
  int64_t last_id = 0;
  std::string last_hash;
};
Result<bool> verify_audit_chunk(sqlite::Database& db, int64_t chunk, ChainCursor& cursor, AuditVerification& out);

}  // namespace quiver::registry
