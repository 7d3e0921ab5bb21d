// Produces a backup archive (backup/archive.h) of a live server as a byte stream, for
// GET /v1/backup: the registry snapshot is taken when the stream is created, and the
// blobs it names are read from the store as the stream is consumed, so an archive of
// any size is sent without being built on disk or in memory (only the registry
// snapshot sits in a temporary file, removed with the stream).
//
// Every file's bytes are hashed as they are read; a blob whose bytes no longer match
// its name fails the read (the connection then ends early, and the client's archive is
// incomplete) rather than putting corrupt bytes into a backup.
//
// Thread-safety: create() may run concurrently with anything, including registry
// writes and uploads; one stream is read by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "backup/archive.h"
#include "core/status.h"
#include "registry/registry.h"
#include "store/blob_store.h"

namespace quiver::backup {

class BackupStream {
 public:
  // Snapshots `registry` into a temporary file under `tmp_dir` and plans the archive.
  // `created_at` (UTC text) goes into the manifest, `mtime` (Unix seconds) into every
  // tar header. NotFound when a blob the registry names is missing from the store.
  static Result<std::unique_ptr<BackupStream>> create(const registry::Registry& registry,
                                                      const store::BlobStore& blobs,
                                                      const std::filesystem::path& tmp_dir, std::string created_at,
                                                      int64_t mtime);
  ~BackupStream();
  BackupStream(const BackupStream&) = delete;
  BackupStream& operator=(const BackupStream&) = delete;

  // The archive's exact size in bytes.
  uint64_t size() const;
  const Manifest& manifest() const;

  // The next bytes of the archive, at most out.size(); 0 once it is complete.
  // DataLoss when a file changed under it (its size or its sha256).
  Result<size_t> read(std::span<std::byte> out);

 private:
  struct Impl;
  explicit BackupStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver::backup
