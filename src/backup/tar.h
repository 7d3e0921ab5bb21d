// The little of the POSIX tar format (ustar, POSIX.1-1988) that backup archives use:
// regular files only, names under 100 bytes, each file's data padded to 512 bytes,
// two zero blocks at the end. Sizes of 8 GiB and more use the GNU base-256 size
// field, which GNU tar, bsdtar and Python's tarfile all read.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::backup {

inline constexpr size_t kTarBlock = 512;
using TarBlock = std::array<std::byte, kTarBlock>;

// The header block of a regular file (mode 0644, owner 0/0). InvalidArgument when the
// name is empty or 100 bytes or longer.
Result<TarBlock> tar_file_header(std::string_view name, uint64_t size, int64_t mtime_seconds);

// Zero bytes that follow `size` bytes of data up to the next block.
inline uint64_t tar_padding(uint64_t size) { return (kTarBlock - size % kTarBlock) % kTarBlock; }

// The space one file takes in an archive: header, data, padding.
inline uint64_t tar_entry_size(uint64_t size) { return kTarBlock + size + tar_padding(size); }

// Two zero blocks end an archive.
inline constexpr uint64_t kTarTrailerSize = 2 * kTarBlock;

struct TarEntry {
  std::string name;
  uint64_t size = 0;
  char type = '0';  // '0' (or '\0') regular file; anything else is refused by readers
};

// Parses a header block: nullopt for an all-zero block (the end of the archive);
// DataLoss for a bad checksum or malformed field.
Result<std::optional<TarEntry>> parse_tar_header(std::span<const std::byte, kTarBlock> block);

}  // namespace quiver::backup
