// Durable remote copies of artifacts, shared by every replica.
//
// Each replica keeps its own local BlobStore, but replicas share one registry, so a
// version row must never name an artifact that only one replica's disk holds. A push
// therefore writes the artifact here (put) BEFORE its version row commits, and a
// replica that lacks the blob fetches it by sha256 into its local store (fetch_into),
// which keeps it only when the bytes hash to that sha256.
//
// Implementations: PostgreSQL (chunked bytea rows, pg_artifacts.h) and any
// S3-compatible object store (s3_artifacts.h).
//
// Thread-safety: every method may be called from several threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"
#include "store/blob_store.h"

namespace quiver::store {

class RemoteArtifacts {
 public:
  virtual ~RemoteArtifacts() = default;

  // Where the copies live, for logs and status pages; never contains a secret.
  // e.g. "postgresql (127.0.0.1:5432/quiver)" or "s3://bucket/prefix at http://host:9000".
  virtual std::string describe() const = 0;

  // Stores `file` as the copy of `sha256`. Idempotent: a copy that is already there
  // is not written again. The file must hash to `sha256` (InvalidArgument otherwise,
  // and nothing is stored), so a remote copy is never stored under the wrong name.
  virtual Status put(const std::string& sha256, const std::filesystem::path& file) = 0;

  // Streams the copy into `blobs` through a BlobWriter and commits it only when its
  // bytes hash to `sha256`: DataLoss otherwise (nothing is kept). NotFound when there
  // is no copy; Unavailable when the remote cannot be reached.
  virtual Status fetch_into(const std::string& sha256, BlobStore& blobs) const = 0;

  virtual Result<bool> exists(const std::string& sha256) const = 0;
};

// Opens the remote copies named by `spec`:
//   "postgresql"  -> tables in the registry's database; `registry_url` must then be a
//                    postgresql:// URL.
//   "s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT&region=REGION"
//                 -> an S3-compatible store, path-style URLs, SigV4; credentials from
//                    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN
//                    when set). endpoint defaults to https://s3.REGION.amazonaws.com,
//                    region to us-east-1.
// InvalidArgument for a malformed spec or missing credentials; Unavailable when the
// PostgreSQL server cannot be reached (S3 is not contacted until the first call).
Result<std::unique_ptr<RemoteArtifacts>> open_remote_artifacts(const std::string& spec,
                                                               const std::string& registry_url);

}  // namespace quiver::store
