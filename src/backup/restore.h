// Reading backup archives (backup/archive.h): checking one completely, and restoring
// one into a new data directory (`quiver restore FILE --data-dir DIR`, offline).
//
// Both read the archive once, front to back (a pipe works), and check everything:
// the manifest, the registry file's sha256, every blob's sha256 against its name and
// the manifest, that nothing listed is missing, nothing unlisted is present, and that
// the archive ends with its end marker (so a truncated download is caught). Entry
// names are matched against the three fixed forms; nothing in an archive can name a
// path outside the data directory.
//
// Thread-safety: free functions; do not restore into one directory twice at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>

#include "backup/archive.h"
#include "core/status.h"

namespace quiver::backup {

struct ArchiveReport {
  Manifest manifest;
  uint64_t archive_bytes = 0;  // bytes read from the stream
};

// Checks an archive without writing anything. DataLoss names the first problem.
Result<ArchiveReport> verify_archive(std::istream& in);

// Restores into `data_dir`, which must not exist or be an empty directory
// (FailedPrecondition otherwise: a restore never mixes with or overwrites live data).
// Blobs go through the blob store (hashed, fsynced, renamed into place), the registry
// file is fsynced, then opened with Registry::open (which checks it and applies any
// newer schema migrations) and checked to name only restored blobs. On any failure,
// everything written is removed again, so `data_dir` is as it was.
Result<ArchiveReport> restore_archive(std::istream& in, const std::filesystem::path& data_dir);

}  // namespace quiver::backup
