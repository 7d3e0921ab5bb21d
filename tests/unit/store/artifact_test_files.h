// Test helpers shared by the remote artifact tests: random files and a look inside a
// blob store's folders.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <string>

#include "store/sha256.h"

namespace quiver::testing {

// `size` pseudo-random bytes; the same seed gives the same bytes.
inline std::string random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(engine() & 0xff);
  return out;
}

inline std::string sha_of(const std::string& bytes) {
  return store::sha256_hex(std::as_bytes(std::span(bytes.data(), bytes.size()))).value();
}

inline std::filesystem::path write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Regular files anywhere under `dir`: committed blobs and leftover temporaries alike.
inline size_t count_files(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) ++n;
  return n;
}

}  // namespace quiver::testing
