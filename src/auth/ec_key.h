// OpenSSL helpers shared by signature.cc and trusted_keys.cc: reading EC P-256 keys
// from PEM and naming them by key id. Internal to the auth module (it exposes OpenSSL
// types, which the public headers keep out).
//
// Thread-safety: free functions; OpenSSL 3 keys may be used from several threads.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::auth::detail {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// The oldest error on OpenSSL's queue (which is then cleared), or "unknown error".
std::string openssl_error();

// A SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") holding an EC P-256 key.
Result<PkeyPtr> read_public_pem(std::string_view pem);
// A private key PEM (PKCS#8, or SEC1 "BEGIN EC PRIVATE KEY") holding an EC P-256 key.
Result<PkeyPtr> read_private_pem(std::string_view pem);

// First 16 hex characters of SHA-256(DER SubjectPublicKeyInfo of `key`).
Result<std::string> key_id(EVP_PKEY* key);

}  // namespace quiver::auth::detail
