// Content-addressed artifact store: blobs named by the sha256 of their bytes under
// <root>/blobs/sha256/<ab>/<hex>. Uploads stream into <root>/tmp, are hashed as they
// arrive, fsynced and renamed into place, so a crash never leaves a visible partial
// blob; stale temporaries are swept on open. The same bytes are stored once.
//
// Thread-safety: all methods may be called concurrently; a BlobWriter is used by
// one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace quiver::store {

struct BlobInfo {
  std::string sha256;  // 64 lower-case hex characters
  uint64_t size = 0;
};

// One upload in progress. Destroying it without commit() removes the temporary file.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status append(std::span<const std::byte> data) = 0;
  // fsyncs, renames into place (or drops the copy when the blob already exists).
  virtual Result<BlobInfo> commit() = 0;
  virtual uint64_t bytes_written() const = 0;
};

// The system calls an upload's bytes go through. Tests replace them to inject the
// faults a real disk gives (ENOSPC, EDQUOT, EIO) on the real write path; the server
// uses the defaults.
struct BlobStoreIo {
  std::function<ssize_t(int fd, const void* data, size_t size)> write;  // default ::write
  std::function<int(int fd)> fsync;                                     // default ::fsync
};

class BlobStore {
 public:
  // Creates the folders if needed, removes temporaries left by a crash, and checks
  // that the store can be written (a read-only data directory is refused here, at
  // start-up, rather than at the first upload).
  //
  // Errors on a full disk or an exhausted quota (ENOSPC, EDQUOT), here or in any
  // later write, are InsufficientStorage (HTTP 507); an upload that meets one removes
  // its temporary file at once, so a full disk never keeps a partial upload.
  static Result<std::unique_ptr<BlobStore>> open(const std::filesystem::path& root, BlobStoreIo io = {});

  virtual ~BlobStore() = default;
  virtual Result<std::unique_ptr<BlobWriter>> begin_upload() = 0;
  // Convenience for small blobs and tests.
  virtual Result<BlobInfo> put(std::span<const std::byte> data) = 0;
  virtual bool exists(const std::string& sha256) const = 0;
  virtual Result<BlobInfo> stat(const std::string& sha256) const = 0;
  // Path of a stored blob (for backends that load from a file); NotFound if absent.
  virtual Result<std::filesystem::path> path_of(const std::string& sha256) const = 0;
  // Re-hashes the stored file; DataLoss when the bytes no longer match the name.
  virtual Status verify(const std::string& sha256) const = 0;
};

// True when `s` is 64 lower-case hex characters.
bool is_valid_sha256(const std::string& s);

}  // namespace quiver::store
