#include "backup/tar.h"

#include <algorithm>
#include <cstring>

namespace quiver::backup {
namespace {

// ustar header layout: offset and length of each field we write or read.
constexpr size_t kName = 0, kNameLen = 100;
constexpr size_t kMode = 100, kModeLen = 8;
constexpr size_t kUid = 108, kUidLen = 8;
constexpr size_t kGid = 116, kGidLen = 8;
constexpr size_t kSize = 124, kSizeLen = 12;
constexpr size_t kMtime = 136, kMtimeLen = 12;
constexpr size_t kChksum = 148, kChksumLen = 8;
constexpr size_t kType = 156;
constexpr size_t kMagic = 257;   // "ustar\0" then version "00"
constexpr size_t kPrefix = 345, kPrefixLen = 155;

void put_text(TarBlock& block, size_t offset, std::string_view text) {
  std::memcpy(block.data() + offset, text.data(), text.size());
}

// Octal with a trailing NUL, zero-padded to fill the field: "0000644\0".
void put_octal(TarBlock& block, size_t offset, size_t length, uint64_t value) {
  for (size_t i = length - 1; i-- > 0;) {
    block[offset + i] = static_cast<std::byte>('0' + (value & 7));
    value >>= 3;
  }
  block[offset + length - 1] = std::byte{0};
}

uint64_t checksum(std::span<const std::byte, kTarBlock> block) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i)
    sum += (i >= kChksum && i < kChksum + kChksumLen) ? uint64_t{' '} : std::to_integer<uint64_t>(block[i]);
  return sum;
}

// An octal field (leading spaces or zeros, ending in NUL or space), or a GNU base-256
// number (first byte 0x80).
Result<uint64_t> read_number(std::span<const std::byte, kTarBlock> block, size_t offset, size_t length,
                             std::string_view what) {
  const auto first = std::to_integer<unsigned char>(block[offset]);
  if (first == 0x80) {
    uint64_t value = 0;
    for (size_t i = 1; i < length; ++i) {
      if (value >> 56) return data_loss("tar header: " + std::string(what) + " is out of range");
      value = (value << 8) | std::to_integer<uint64_t>(block[offset + i]);
    }
    return value;
  }
  uint64_t value = 0;
  size_t i = 0;
  while (i < length && std::to_integer<char>(block[offset + i]) == ' ') ++i;
  bool digits = false;
  for (; i < length; ++i) {
    const char c = std::to_integer<char>(block[offset + i]);
    if (c == '\0' || c == ' ') break;
    if (c < '0' || c > '7') return data_loss("tar header: " + std::string(what) + " is not an octal number");
    if (value >> 60) return data_loss("tar header: " + std::string(what) + " is out of range");
    value = value * 8 + static_cast<uint64_t>(c - '0');
    digits = true;
  }
  if (!digits) return data_loss("tar header: " + std::string(what) + " is empty");
  return value;
}

std::string read_text(std::span<const std::byte, kTarBlock> block, size_t offset, size_t length) {
  const char* begin = reinterpret_cast<const char*>(block.data() + offset);
  return std::string(begin, strnlen(begin, length));
}

}  // namespace

Result<TarBlock> tar_file_header(std::string_view name, uint64_t size, int64_t mtime_seconds) {
  if (name.empty() || name.size() >= kNameLen)
    return invalid_argument("tar entry name '" + std::string(name) + "' must have 1 to 99 bytes");
  TarBlock block{};
  put_text(block, kName, name);
  put_octal(block, kMode, kModeLen, 0644);
  put_octal(block, kUid, kUidLen, 0);
  put_octal(block, kGid, kGidLen, 0);
  if (size < (uint64_t{1} << 33)) {
    put_octal(block, kSize, kSizeLen, size);
  } else {
    block[kSize] = std::byte{0x80};  // GNU base-256: big-endian in the remaining 11 bytes
    for (size_t i = kSizeLen - 1; i > 0; --i, size >>= 8) block[kSize + i] = static_cast<std::byte>(size & 0xff);
  }
  put_octal(block, kMtime, kMtimeLen, static_cast<uint64_t>(std::max<int64_t>(mtime_seconds, 0)));
  block[kType] = std::byte{'0'};
  put_text(block, kMagic, std::string_view("ustar\0" "00", 8));
  // The checksum field is 6 octal digits, NUL, space.
  const uint64_t sum = checksum(block);
  put_octal(block, kChksum, 7, sum);
  block[kChksum + 7] = std::byte{' '};
  return block;
}

Result<std::optional<TarEntry>> parse_tar_header(std::span<const std::byte, kTarBlock> block) {
  if (std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; }))
    return std::optional<TarEntry>();
  QUIVER_ASSIGN_OR_RETURN(uint64_t stored, read_number(block, kChksum, kChksumLen, "checksum"));
  if (stored != checksum(block)) return data_loss("tar header checksum mismatch (a damaged or truncated archive?)");
  TarEntry entry;
  entry.name = read_text(block, kName, kNameLen);
  if (read_text(block, kMagic, 5) == "ustar") {
    const std::string prefix = read_text(block, kPrefix, kPrefixLen);
    if (!prefix.empty()) entry.name = prefix + "/" + entry.name;
  }
  QUIVER_ASSIGN_OR_RETURN(entry.size, read_number(block, kSize, kSizeLen, "size"));
  entry.type = std::to_integer<char>(block[kType]);
  return std::optional<TarEntry>(std::move(entry));
}

}  // namespace quiver::backup
