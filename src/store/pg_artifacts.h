// Remote artifact copies in PostgreSQL: the registry's own database, so a cluster that
// already runs PostgreSQL needs no object store.
//
// An artifact is stored as 1 MiB bytea chunks (artifact_chunks) plus one row in
// artifact_blobs written last, in the same transaction: readers look at artifact_blobs
// first, so a half-written copy is never visible. Fetching reads one chunk per query,
// so a large artifact never sits in memory whole.
//
// Thread-safety: all methods may be called concurrently; they share one connection
// under a mutex (a fetch holds it until its last chunk). A connection that breaks
// fails the call that meets it with Unavailable and is replaced at the next call.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "pg/connection.h"
#include "store/remote_artifacts.h"

namespace quiver::store {

class PgArtifacts final : public RemoteArtifacts {
 public:
  static constexpr size_t kChunkBytes = size_t{1} << 20;

  // Connects to `url` (postgresql://...) and creates the two tables if they are
  // missing. Unavailable when the server cannot be reached.
  static Result<std::unique_ptr<PgArtifacts>> open(const std::string& url);

  std::string describe() const override { return description_; }
  Status put(const std::string& sha256, const std::filesystem::path& file) override;
  Status fetch_into(const std::string& sha256, BlobStore& blobs) const override;
  Result<bool> exists(const std::string& sha256) const override;

 private:
  PgArtifacts(std::string url, std::string description, std::unique_ptr<pg::Connection> conn)
      : url_(std::move(url)), description_(std::move(description)), conn_(std::move(conn)) {}

  // The live connection, reconnecting first when the previous one broke. Call with
  // mutex_ held.
  Result<pg::Connection*> connection() const;
  Status put_locked(pg::Connection& conn, const std::string& sha256, const std::filesystem::path& file);
  Status fetch_locked(pg::Connection& conn, const std::string& sha256, BlobStore& blobs) const;

  const std::string url_;
  const std::string description_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<pg::Connection> conn_;  // guarded by mutex_
};

}  // namespace quiver::store
