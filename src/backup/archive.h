// The backup archive: a plain tar file (backup/tar.h) that any tar tool can list or
// unpack, holding, in this order:
//
//   quiver-backup.json           the manifest (below)
//   registry.db                  a consistent SQLite snapshot of the registry
//   blobs/sha256/<hex>           every blob the snapshot names, by its sha256
//
// Manifest:
//   {"format": "quiver-backup", "format_version": 1, "created_at": "<UTC>",
//    "registry": {"file": "registry.db", "sha256": "<hex>", "size": n},
//    "blobs": [{"sha256": "<hex>", "size": n}, ...], "blob_count": n, "blob_bytes": n}
//
// Consistency: the registry is snapshotted first (one read transaction), then the
// blobs it names are copied. Blobs are immutable and content-addressed, and never
// deleted, so copying them later gives exactly the bytes the snapshot refers to, while
// the server keeps accepting writes (which the snapshot simply does not contain).
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver::backup {

inline constexpr std::string_view kManifestName = "quiver-backup.json";
inline constexpr std::string_view kRegistryName = "registry.db";
inline constexpr std::string_view kBlobPrefix = "blobs/sha256/";
inline constexpr std::string_view kFormatName = "quiver-backup";
inline constexpr int kFormatVersion = 1;
// A manifest lists one line per blob; this bounds what a reader will buffer.
inline constexpr uint64_t kMaxManifestBytes = 64ull << 20;

struct BlobRef {
  std::string sha256;
  uint64_t size = 0;
};

struct Manifest {
  int format_version = kFormatVersion;
  std::string created_at;
  std::string registry_sha256;
  uint64_t registry_size = 0;
  std::vector<BlobRef> blobs;  // sorted by sha256, unique

  uint64_t blob_bytes() const;
  std::string to_json() const;
  // Checks the format name and version, that every digest is a sha256, and that blob
  // digests are unique. DataLoss (a damaged archive) or FailedPrecondition (a newer
  // format) otherwise.
  static Result<Manifest> from_json(std::string_view text);
};

}  // namespace quiver::backup
