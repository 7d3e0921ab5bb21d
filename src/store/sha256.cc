#include "store/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace quiver::store {

void Sha256::CtxDeleter::operator()(void* ctx) const { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx)); }

Result<Sha256> Sha256::create() {
  std::unique_ptr<void, CtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx) return internal_error("sha256: cannot allocate a digest context");
  if (EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx.get()), EVP_sha256(), nullptr) != 1)
    return internal_error("sha256: cannot initialise the digest");
  return Sha256(std::move(ctx));
}

Status Sha256::update(std::span<const std::byte> data) {
  if (finished_) return failed_precondition("sha256: update after finish");
  if (data.empty()) return Status::ok();
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_.get()), data.data(), data.size()) != 1)
    return internal_error("sha256: digest update failed");
  return Status::ok();
}

Result<std::string> Sha256::finish_hex() {
  if (finished_) return failed_precondition("sha256: finish called twice");
  finished_ = true;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_.get()), digest.data(), &length) != 1 || length != 32)
    return internal_error("sha256: digest finalisation failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

Result<std::string> sha256_hex(std::span<const std::byte> data) {
  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());
  QUIVER_RETURN_IF_ERROR(hasher.update(data));
  return hasher.finish_hex();
}

Result<std::string> sha256_file_hex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open '" + path.string() + "': " + std::strerror(errno));
  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    const auto got = static_cast<size_t>(in.gcount());
    if (got > 0)
      QUIVER_RETURN_IF_ERROR(hasher.update(std::as_bytes(std::span(buffer.data(), got))));
  }
  if (in.bad()) return internal_error("reading '" + path.string() + "' failed");
  return hasher.finish_hex();
}

}  // namespace quiver::store
