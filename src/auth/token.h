// Access tokens: `qv_<key id>_<secret>`.
//
// The key id (16 lower-case hex characters) names the key in lists, audit records and
// error messages; it is not secret. The secret (64 lower-case hex characters, 256
// random bits) is shown once, when the key is made, and never stored: the registry
// keeps a random per-key salt and hex(sha256(salt bytes || secret)). A plain salted
// SHA-256 suffices because the secret is a random 256-bit value, not a password, so
// there is nothing to guess faster; comparison of the hashes is constant-time
// (CRYPTO_memcmp), so an attacker learns nothing from how long a refusal takes.
//
// Thread-safety: free functions without shared state (OpenSSL's RNG is thread-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::auth {

inline constexpr std::string_view kTokenPrefix = "qv_";
inline constexpr size_t kKeyIdChars = 16;
inline constexpr size_t kSecretChars = 64;

struct ParsedToken {
  std::string key_id;
  std::string secret;
};

// Splits a token. Unauthenticated (never echoing the text: it may be a real secret
// with a typo) when it is not `qv_<16 hex>_<64 hex>`.
Result<ParsedToken> parse_token(std::string_view token);

// The token in an "Authorization: Bearer <token>" value. Unauthenticated when the
// value is empty, not a Bearer credential, or not a well-formed token.
Result<ParsedToken> parse_bearer(std::string_view authorization);

// A fresh key: id, secret, salt and the salted hash to store.
struct NewSecret {
  std::string key_id;
  std::string secret;
  std::string salt;  // hex, 16 random bytes
  std::string hash;  // hash_secret(salt, secret)
  std::string token() const { return std::string(kTokenPrefix) + key_id + "_" + secret; }
};
Result<NewSecret> generate_secret();

// hex(sha256(unhex(salt_hex) || secret)); "" when salt_hex is not hex.
std::string hash_secret(std::string_view salt_hex, std::string_view secret);

// Constant-time for equal lengths (CRYPTO_memcmp); different lengths compare unequal
// at once, which reveals only the length (hashes all have the same one).
bool constant_time_equal(std::string_view a, std::string_view b);

// `n` random bytes from OpenSSL's CSPRNG, as 2n lower-case hex characters.
Result<std::string> random_hex(size_t n);

// "90d", "12h", "30m", "45s", "2w" -> a duration. InvalidArgument otherwise (a
// positive integer and one unit; at most 100 years).
Result<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace quiver::auth
