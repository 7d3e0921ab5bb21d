#include "auth/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace quiver::auth {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string to_hex(const unsigned char* data, size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xf];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const Status& malformed() {
  static const Status kMalformed = unauthenticated(
      "malformed token: expected qv_<key id>_<secret> as printed by `quiver token create` (the token is not "
      "repeated here)");
  return kMalformed;
}

}  // namespace

Result<ParsedToken> parse_token(std::string_view token) {
  if (!token.starts_with(kTokenPrefix)) return malformed();
  token.remove_prefix(kTokenPrefix.size());
  if (token.size() != kKeyIdChars + 1 + kSecretChars || token[kKeyIdChars] != '_') return malformed();
  const std::string_view id = token.substr(0, kKeyIdChars);
  const std::string_view secret = token.substr(kKeyIdChars + 1);
  if (!is_lower_hex(id) || !is_lower_hex(secret)) return malformed();
  return ParsedToken{std::string(id), std::string(secret)};
}

Result<ParsedToken> parse_bearer(std::string_view authorization) {
  while (!authorization.empty() && (authorization.front() == ' ' || authorization.front() == '\t'))
    authorization.remove_prefix(1);
  while (!authorization.empty() && (authorization.back() == ' ' || authorization.back() == '\t'))
    authorization.remove_suffix(1);
  if (authorization.empty()) return unauthenticated("missing token: send 'Authorization: Bearer qv_...'");
  constexpr std::string_view kBearer = "bearer";
  const size_t space = authorization.find(' ');
  std::string scheme(authorization.substr(0, space));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != kBearer || space == std::string_view::npos)
    return unauthenticated("unsupported Authorization scheme '" + scheme.substr(0, 16) +
                           "': send 'Authorization: Bearer qv_...'");
  std::string_view token = authorization.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  return parse_token(token);
}

Result<std::string> random_hex(size_t n) {
  std::vector<unsigned char> bytes(n);
  if (n > 0 && RAND_bytes(bytes.data(), static_cast<int>(n)) != 1)
    return internal_error("the random number generator failed");
  return to_hex(bytes.data(), n);
}

std::string hash_secret(std::string_view salt_hex, std::string_view secret) {
  if (salt_hex.size() % 2 != 0) return {};
  std::string data;
  data.reserve(salt_hex.size() / 2 + secret.size());
  for (size_t i = 0; i < salt_hex.size(); i += 2) {
    const int hi = hex_value(salt_hex[i]);
    const int lo = hex_value(salt_hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    data += static_cast<char>((hi << 4) | lo);
  }
  data += secret;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) return {};
  OPENSSL_cleanse(data.data(), data.size());
  return to_hex(digest.data(), size);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<NewSecret> generate_secret() {
  NewSecret s;
  QUIVER_ASSIGN_OR_RETURN(s.key_id, random_hex(kKeyIdChars / 2));
  QUIVER_ASSIGN_OR_RETURN(s.secret, random_hex(kSecretChars / 2));
  QUIVER_ASSIGN_OR_RETURN(s.salt, random_hex(16));
  s.hash = hash_secret(s.salt, s.secret);
  if (s.hash.empty()) return internal_error("SHA-256 is unavailable");
  return s;
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return invalid_argument("duration '" + std::string(text.substr(0, 32)) +
                            "' must be a positive whole number and a unit: s, m, h, d or w (e.g. \"90d\", \"12h\")");
  };
  if (text.size() < 2) return bad();
  int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return bad();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n <= 0) return bad();
  constexpr int64_t kMaxSeconds = int64_t{100} * 366 * 86400;
  if (n > kMaxSeconds / unit) return invalid_argument("duration '" + std::string(text) + "' is longer than 100 years");
  return std::chrono::seconds(n * unit);
}

}  // namespace quiver::auth
