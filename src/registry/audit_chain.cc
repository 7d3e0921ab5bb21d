#include "registry/audit_chain.h"

#include <openssl/evp.h>

#include <array>
#include <vector>

namespace quiver::registry {
namespace {

void put_field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

Result<std::pair<int64_t, std::string>> newest_row(sqlite::Database& db) {
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st, db.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  if (!found) return std::make_pair(int64_t{0}, std::string());
  return std::make_pair(st.int_at(0), st.text_at(1));
}

// AUTOINCREMENT's counter: the largest id ever handed out, deleted rows included.
Result<int64_t> sequence_of_audit_log(sqlite::Database& db) {
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'"));
  QUIVER_ASSIGN_OR_RETURN(bool found, st.step());
  return found ? st.int_at(0) : int64_t{0};
}

}  // namespace

std::string audit_canonical(const AuditEntry& e) {
  std::string out;
  out.reserve(256 + e.detail_json.size() + e.reason.size());
  put_field(out, std::to_string(e.id));
  put_field(out, e.at);
  put_field(out, e.kind);
  put_field(out, e.model);
  put_field(out, e.action);
  put_field(out, e.client);
  put_field(out, e.reason);
  put_field(out, e.detail_json);
  put_field(out, e.actor_key);
  put_field(out, e.actor_role);
  put_field(out, e.source);
  put_field(out, e.tls_identity);
  put_field(out, e.resource);
  put_field(out, e.request_id);
  put_field(out, e.decision);
  put_field(out, std::to_string(e.status));
  put_field(out, std::to_string(e.latency_us));
  return out;
}

std::string audit_hash(std::string_view prev_hash, const AuditEntry& entry) {
  std::string data(prev_hash);
  data += audit_canonical(entry);
  return sha256_hex(data);
}

AuditEntry audit_from_row(const sqlite::Statement& row) {
  AuditEntry e;
  e.id = row.int_at(0);
  e.at = row.text_at(1);
  e.model = row.text_at(2);
  e.action = row.text_at(3);
  e.client = row.text_at(4);
  e.reason = row.text_at(5);
  e.detail_json = row.text_at(6);
  e.kind = row.text_at(7);
  e.actor_key = row.text_at(8);
  e.actor_role = row.text_at(9);
  e.source = row.text_at(10);
  e.tls_identity = row.text_at(11);
  e.resource = row.text_at(12);
  e.request_id = row.text_at(13);
  e.decision = row.text_at(14);
  e.status = row.int_at(15);
  e.latency_us = row.int_at(16);
  e.prev_hash = row.text_at(17);
  e.hash = row.text_at(18);
  return e;
}

Status append_audit_row(sqlite::Database& db, AuditEntry e) {
  QUIVER_ASSIGN_OR_RETURN(auto newest, newest_row(db));
  QUIVER_ASSIGN_OR_RETURN(int64_t seq, sequence_of_audit_log(db));
  // Explicit ids keep the hash computable before the insert (the row is never updated).
  e.id = std::max(newest.first, seq) + 1;
  e.prev_hash = newest.second;
  e.hash = audit_hash(e.prev_hash, e);
  if (e.hash.empty()) return internal_error("audit log: SHA-256 is unavailable");
  return db.run(
      "INSERT INTO audit_log (id, at, model, action, client, reason, detail_json, kind, actor_key, actor_role, "
      "source, tls_identity, resource, request_id, decision, status, latency_us, prev_hash, hash) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
      e.id, e.at, e.model, e.action, e.client, e.reason, e.detail_json, e.kind, e.actor_key, e.actor_role, e.source,
      e.tls_identity, e.resource, e.request_id, e.decision, e.status, e.latency_us, e.prev_hash, e.hash);
}

Status seal_audit_chain(sqlite::Database& db) {
  sqlite::Transaction tx(db);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement hashed, db.prepare("SELECT 1 FROM audit_log WHERE hash != '' LIMIT 1"));
  QUIVER_ASSIGN_OR_RETURN(bool any_hashed, hashed.step());
  if (any_hashed) return Status::ok();  // the chain exists: never rewrite it
  QUIVER_ASSIGN_OR_RETURN(sqlite::Statement rows,
                          db.prepare(std::string("SELECT ") + kAuditColumns + " FROM audit_log ORDER BY id"));
  std::vector<AuditEntry> entries;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, rows.step());
    if (!row) break;
    entries.push_back(audit_from_row(rows));
  }
  if (entries.empty()) return Status::ok();
  std::string prev;
  for (AuditEntry& e : entries) {
    e.prev_hash = prev;
    e.hash = audit_hash(prev, e);
    QUIVER_RETURN_IF_ERROR(
        db.run("UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3", e.prev_hash, e.hash, e.id));
    prev = e.hash;
  }
  return tx.commit();
}

Result<bool> verify_audit_chunk(sqlite::Database& db, int64_t chunk, ChainCursor& cursor, AuditVerification& out) {
  QUIVER_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db.prepare(std::string("SELECT ") + kAuditColumns + " FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
                 cursor.last_id, chunk));
  const auto broken = [&](int64_t id, std::string problem) {
    out.ok = false;
    out.first_broken = id;
    out.problem = std::move(problem);
    return false;
  };
  int64_t rows = 0;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    ++rows;
    const AuditEntry e = audit_from_row(st);
    if (e.id != cursor.last_id + 1) {
      return broken(e.id, "record " + std::to_string(cursor.last_id + 1) +
                              (e.id > cursor.last_id + 2 ? " to " + std::to_string(e.id - 1) : std::string()) +
                              " missing before record " + std::to_string(e.id));
    }
    if (e.prev_hash != cursor.last_hash) {
      return broken(e.id, "record " + std::to_string(e.id) + " does not link to the record before it");
    }
    if (e.hash.empty()) return broken(e.id, "record " + std::to_string(e.id) + " has no hash");
    if (audit_hash(e.prev_hash, e) != e.hash) {
      return broken(e.id, "record " + std::to_string(e.id) + " does not match its hash (it was changed)");
    }
    cursor.last_id = e.id;
    cursor.last_hash = e.hash;
    ++out.records;
  }
  if (rows < chunk) {
    // The end (read under the same lock as writers): rows deleted at the end leave
    // AUTOINCREMENT's counter ahead of the last row.
    QUIVER_ASSIGN_OR_RETURN(int64_t seq, sequence_of_audit_log(db));
    if (seq > cursor.last_id) {
      return broken(cursor.last_id + 1, "records " + std::to_string(cursor.last_id + 1) + " to " +
                                            std::to_string(seq) + " were deleted from the end of the log");
    }
    out.head_hash = cursor.last_hash;
    return false;  // finished, nothing broken (out.ok stays true)
  }
  return true;  // more to read
}

}  // namespace quiver::registry
