// The public keys an operator trusts to sign artifacts (`quiver serve --trusted-keys
// DIR`): every *.pem file in DIR holding an EC P-256 public key (SubjectPublicKeyInfo,
// "-----BEGIN PUBLIC KEY-----", as `openssl ec -in key.pem -pubout` writes it).
//
// A key is named by its key id (signature.h key_id_of_public_pem: the first 16 hex
// characters of the SHA-256 of its DER encoding), not by its file name, so renaming a
// file changes nothing and the id a client computes matches the server's.
//
// Thread-safety: immutable after construction; verify() may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver::auth {

struct TrustedKeyInfo {
  std::string id;    // 16 hex characters
  std::string name;  // the file's stem ("release-2025" for release-2025.pem), for people
};

class TrustedKeys {
 public:
  TrustedKeys();  // no keys: nothing verifies
  ~TrustedKeys();
  TrustedKeys(TrustedKeys&&) noexcept;
  TrustedKeys& operator=(TrustedKeys&&) noexcept;

  // Loads every *.pem in `dir` (not recursive). Fails, naming the file, when one is
  // not an EC P-256 public key (a private key left there by mistake included), and
  // when `dir` is missing or holds no *.pem at all (an empty trust store is almost
  // certainly a deployment mistake). The same key in two files counts once.
  static Result<TrustedKeys> load_dir(const std::filesystem::path& dir);
  // From PEM texts: (name, pem) pairs. For tests and embedding.
  static Result<TrustedKeys> from_pems(const std::vector<std::pair<std::string, std::string>>& named_pems);

  bool empty() const;
  const std::vector<TrustedKeyInfo>& keys() const;
  bool contains(std::string_view key_id) const;
  // "a1b2... (release), c3d4... (ci)", for messages.
  std::string describe() const;

  // The id of the trusted key under which `der_signature` is a valid ECDSA signature
  // of `digest` (32 bytes); nullopt when none. With `only_key_id`, tries that key alone.
  std::optional<std::string> find_signer(std::span<const uint8_t> digest, std::span<const uint8_t> der_signature,
                                         std::optional<std::string_view> only_key_id = std::nullopt) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver::auth
