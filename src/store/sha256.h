// Incremental SHA-256 (OpenSSL EVP) with a lower-case hex digest, so uploads are
// hashed while they stream instead of being read a second time.
//
// Thread-safety: a Sha256 is used by one thread at a time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace quiver::store {

class Sha256 {
 public:
  static Result<Sha256> create();

  Status update(std::span<const std::byte> data);
  // 64 lower-case hex characters. The hasher cannot be updated afterwards.
  Result<std::string> finish_hex();

 private:
  struct CtxDeleter {
    void operator()(void* ctx) const;
  };
  explicit Sha256(std::unique_ptr<void, CtxDeleter> ctx) : ctx_(std::move(ctx)) {}

  std::unique_ptr<void, CtxDeleter> ctx_;  // EVP_MD_CTX*, kept opaque to keep OpenSSL out of headers
  bool finished_ = false;
};

// The digest of a byte range in one call.
Result<std::string> sha256_hex(std::span<const std::byte> data);

// The digest of a file's contents, read in chunks; NotFound when it cannot be opened.
Result<std::string> sha256_file_hex(const std::filesystem::path& path);

}  // namespace quiver::store
