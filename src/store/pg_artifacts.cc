#include "store/pg_artifacts.h"

#include <fstream>
#include <span>
#include <vector>

#include "store/sha256.h"

namespace quiver::store {

namespace {

// Serialises the schema creation of replicas that start together (CREATE TABLE IF NOT
// EXISTS alone can still fail on a concurrent create). Any fixed value of our own.
constexpr const char* kSchemaLockSql = "SELECT pg_advisory_xact_lock(7235019046112834561)";

// The per-sha lock is the two-int4 form (class, hashtext(sha)): a key space apart
// from the one-bigint form used above and elsewhere, so it cannot collide with them.
constexpr int kShaLockClass = 0x51564152;  // "QVAR"

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS artifact_blobs (
  sha256     text PRIMARY KEY,
  size       bigint NOT NULL,
  chunks     int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS artifact_chunks (
  sha256 text,
  seq    int,
  data   bytea NOT NULL,
  PRIMARY KEY (sha256, seq)
);
)sql";

Status create_schema(pg::Connection& conn) {
  pg::Transaction tx(conn);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(conn.exec(kSchemaLockSql).status());
  QUIVER_RETURN_IF_ERROR(conn.exec_script(kSchemaSql));
  return tx.commit();
}

std::string describe_connection(const pg::Connection& conn) {
  PGconn* h = conn.handle();
  const auto text = [](const char* s) { return std::string(s ? s : ""); };
  return "postgresql (" + text(PQhost(h)) + ":" + text(PQport(h)) + "/" + text(PQdb(h)) + ")";
}

Result<bool> row_exists(pg::Connection& conn, const std::string& sha256) {
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, conn.query("SELECT 1 FROM artifact_blobs WHERE sha256 = $1", sha256));
  return !rows.empty();
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

Result<std::unique_ptr<PgArtifacts>> PgArtifacts::open(const std::string& url) {
  if (!pg::is_postgres_url(url))
    return invalid_argument("remote artifacts in postgresql need a postgresql:// URL, not '" + pg::redact_url(url) +
                            "'");
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn, pg::Connection::connect(url));
  QUIVER_RETURN_IF_ERROR(create_schema(*conn).with_context("creating the artifact tables"));
  std::string description = describe_connection(*conn);
  return std::unique_ptr<PgArtifacts>(new PgArtifacts(url, std::move(description), std::move(conn)));
}

Result<pg::Connection*> PgArtifacts::connection() const {
  if (conn_ && conn_->ok()) return conn_.get();
  conn_.reset();
  QUIVER_ASSIGN_OR_RETURN(conn_, pg::Connection::connect(url_));
  return conn_.get();
}

Result<bool> PgArtifacts::exists(const std::string& sha256) const {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  std::lock_guard lock(mutex_);
  QUIVER_ASSIGN_OR_RETURN(pg::Connection * conn, connection());
  return row_exists(*conn, sha256);
}

Status PgArtifacts::put(const std::string& sha256, const std::filesystem::path& file) {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  std::lock_guard lock(mutex_);
  QUIVER_ASSIGN_OR_RETURN(pg::Connection * conn, connection());
  return put_locked(*conn, sha256, file).with_context("storing artifact " + sha256 + " in " + description_);
}

Status PgArtifacts::put_locked(pg::Connection& conn, const std::string& sha256, const std::filesystem::path& file) {
  // The cheap check first: most puts of a known artifact end here without a transaction.
  QUIVER_ASSIGN_OR_RETURN(bool stored, row_exists(conn, sha256));
  if (stored) return Status::ok();

  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found("cannot open '" + file.string() + "'");

  pg::Transaction tx(conn);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  // Another replica pushing the same artifact waits here until it has committed (or
  // rolled back), then sees its row: neither put fails and the bytes are written once.
  QUIVER_RETURN_IF_ERROR(conn.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", kShaLockClass, sha256).status());
  QUIVER_ASSIGN_OR_RETURN(stored, row_exists(conn, sha256));
  if (stored) return Status::ok();  // the transaction rolls back: it wrote nothing
  // Chunks without a blob row cannot come from a put (both commit together), but a
  // clean-up that removed the row first could leave some: replace them.
  QUIVER_RETURN_IF_ERROR(conn.query("DELETE FROM artifact_chunks WHERE sha256 = $1", sha256).status());

  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());
  std::string chunk(kChunkBytes, '\0');
  int64_t size = 0;
  int seq = 0;
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    const std::string_view data(chunk.data(), got);
    QUIVER_RETURN_IF_ERROR(hasher.update(std::as_bytes(std::span(data.data(), data.size()))));
    QUIVER_RETURN_IF_ERROR(conn.query("INSERT INTO artifact_chunks (sha256, seq, data) VALUES ($1, $2, $3)", sha256,
                                      seq, pg::Bytes{data})
                               .status());
    size += static_cast<int64_t>(got);
    ++seq;
  }
  if (in.bad()) return internal_error("cannot read '" + file.string() + "'");
  QUIVER_ASSIGN_OR_RETURN(std::string actual, hasher.finish_hex());
  // Storing bytes under a name they do not hash to would make every replica's fetch
  // fail later; refuse now, while the caller still has the real file.
  if (actual != sha256)
    return invalid_argument("'" + file.string() + "' hashes to " + actual + ", not to the artifact's sha256");

  QUIVER_RETURN_IF_ERROR(conn.query("INSERT INTO artifact_blobs (sha256, size, chunks) VALUES ($1, $2, $3) "
                                    "ON CONFLICT (sha256) DO NOTHING",
                                    sha256, size, seq)
                             .status());
  return tx.commit();
}

Status PgArtifacts::fetch_into(const std::string& sha256, BlobStore& blobs) const {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  std::lock_guard lock(mutex_);
  QUIVER_ASSIGN_OR_RETURN(pg::Connection * conn, connection());
  return fetch_locked(*conn, sha256, blobs).with_context("fetching artifact " + sha256 + " from " + description_);
}

Status PgArtifacts::fetch_locked(pg::Connection& conn, const std::string& sha256, BlobStore& blobs) const {
  QUIVER_ASSIGN_OR_RETURN(pg::Rows head,
                          conn.query("SELECT size, chunks FROM artifact_blobs WHERE sha256 = $1", sha256));
  if (head.empty()) return not_found("there is no remote copy");
  const int64_t size = head.int_at(0, 0);
  const int64_t chunks = head.int_at(0, 1);

  // The writer removes its temporary file when it goes out of scope uncommitted, so
  // every early return below leaves nothing in the blob store.
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, blobs.begin_upload());
  // Hashed here as well as in the writer: the writer's hash is known only after commit,
  // and by then the wrong bytes would already be in the store under their own name.
  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());
  for (int64_t seq = 0; seq < chunks; ++seq) {
    QUIVER_ASSIGN_OR_RETURN(
        pg::Rows rows, conn.query("SELECT data FROM artifact_chunks WHERE sha256 = $1 AND seq = $2", sha256, seq));
    if (rows.empty())
      return data_loss("chunk " + std::to_string(seq) + " of " + std::to_string(chunks) + " is missing");
    const std::string data = rows.bytes_at(0, 0);
    QUIVER_RETURN_IF_ERROR(hasher.update(bytes_of(data)));
    QUIVER_RETURN_IF_ERROR(writer->append(bytes_of(data)));
  }
  if (writer->bytes_written() != static_cast<uint64_t>(size))
    return data_loss("the copy has " + std::to_string(writer->bytes_written()) + " bytes, not " +
                     std::to_string(size));
  QUIVER_ASSIGN_OR_RETURN(std::string actual, hasher.finish_hex());
  if (actual != sha256) return data_loss("the remote copy is corrupt: its bytes hash to " + actual);
  QUIVER_ASSIGN_OR_RETURN(BlobInfo info, writer->commit());
  if (info.sha256 != sha256) return data_loss("the stored blob hashes to " + info.sha256);
  return Status::ok();
}

}  // namespace quiver::store
