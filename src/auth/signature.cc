#include "auth/signature.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cctype>

#include "auth/ec_key.h"

namespace quiver::auth {
namespace detail {

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

Status require_p256(EVP_PKEY* key, std::string_view what) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
    return invalid_argument(std::string(what) + " is not an EC key; artifact signatures use ECDSA P-256 "
                            "(make one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem)");
  std::array<char, 64> group{};
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1)
    return invalid_argument(std::string(what) + ": cannot read the key's curve: " + openssl_error());
  const std::string_view name(group.data(), length);
  if (name != "prime256v1" && name != "P-256")
    return invalid_argument(std::string(what) + " is on curve " + std::string(name) +
                            "; artifact signatures use P-256 (prime256v1)");
  return Status::ok();
}

}  // namespace

Result<PkeyPtr> read_public_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return internal_error("cannot allocate an OpenSSL buffer");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    if (pem.find("PRIVATE KEY") != std::string_view::npos)
      return invalid_argument("it holds a private key; trust only the public half "
                              "(openssl ec -in key.pem -pubout -out key.pub.pem)");
    return invalid_argument("it is not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
  }
  QUIVER_RETURN_IF_ERROR(require_p256(key.get(), "the key"));
  return key;
}

Result<PkeyPtr> read_private_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return internal_error("cannot allocate an OpenSSL buffer");
  // No password callback: OpenSSL's default one asks on the terminal, as openssl does.
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    const std::string why = openssl_error();
    if (pem.find("PUBLIC KEY") != std::string_view::npos)
      return invalid_argument("it holds a public key; signing needs the private key");
    return invalid_argument("it is not a PEM private key (" + why + ")");
  }
  QUIVER_RETURN_IF_ERROR(require_p256(key.get(), "the key"));
  return key;
}

Result<std::string> key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) return internal_error("cannot encode a public key: " + openssl_error());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_length = 0;
  const int ok = EVP_Digest(der, static_cast<size_t>(length), digest.data(), &digest_length, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) return internal_error("sha256 of a public key failed: " + openssl_error());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 8; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0xf]);
  }
  return id;
}

}  // namespace detail

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
  }
  if (const size_t rest = bytes.size() - i; rest == 1) {
    const uint32_t v = uint32_t{bytes[i]} << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (rest == 2) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  uint32_t accumulated = 0;
  int bits = 0;
  size_t padding = 0;
  size_t symbols = 0;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = base64_value(c);
    if (v < 0 || padding > 0)
      return invalid_argument(v < 0 ? std::string("is not base64: unexpected character '") + c + "'"
                                    : std::string("is not base64: text after the '=' padding"));
    ++symbols;
    accumulated = (accumulated << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((accumulated >> bits) & 0xff));
    }
  }
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0))
    return invalid_argument("is not base64: its length is wrong (truncated?)");
  return out;
}

Result<std::vector<uint8_t>> digest_from_hex(std::string_view hex) {
  if (hex.size() != 64) return invalid_argument("a sha256 digest has 64 hex characters");
  std::vector<uint8_t> out(32);
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (char c : {hex[2 * i], hex[2 * i + 1]}) {
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      if (d < 0) return invalid_argument("a sha256 digest is lower-case hex");
      v = v * 16 + d;
    }
    out[i] = static_cast<uint8_t>(v);
  }
  return out;
}

Result<std::vector<uint8_t>> decode_signature(std::string_view signature_base64) {
  if (signature_base64.empty()) return invalid_argument("'signature' is empty");
  if (signature_base64.size() > 1024)
    return invalid_argument("'signature' is too long for an ECDSA P-256 signature (at most ~100 characters)");
  auto der = base64_decode(signature_base64);
  if (!der.is_ok()) return invalid_argument("'signature' " + der.status().message());
  const unsigned char* p = der->data();
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der->size())));
  if (!sig) {
    ERR_clear_error();
    return invalid_argument(
        "'signature' is not a DER-encoded ECDSA signature; give base64 of what "
        "`openssl dgst -sha256 -sign key.pem ARTIFACT` writes (e.g. piped through `openssl base64 -A`)");
  }
  if (p != der->data() + der->size())
    return invalid_argument("'signature' has bytes after its DER-encoded ECDSA signature");
  // Only the canonical encoding is accepted, so one signature has one spelling.
  unsigned char* canonical = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &canonical);
  const bool same = length == static_cast<int>(der->size()) &&
                    std::equal(der->begin(), der->end(), canonical);
  OPENSSL_free(canonical);
  if (!same) return invalid_argument("'signature' is not in canonical DER form");
  return std::move(der).value();
}

Result<std::string> signature_file_to_base64(std::string_view contents) {
  // DER starts with a SEQUENCE tag (0x30, '0'); base64 of one starts with 'M'.
  if (!contents.empty() && static_cast<unsigned char>(contents.front()) == 0x30) {
    const std::vector<uint8_t> bytes(contents.begin(), contents.end());
    const std::string b64 = base64_encode(bytes);
    QUIVER_RETURN_IF_ERROR(decode_signature(b64).status());
    return b64;
  }
  std::string b64;
  for (char c : contents)
    if (!std::isspace(static_cast<unsigned char>(c))) b64.push_back(c);
  QUIVER_RETURN_IF_ERROR(decode_signature(b64).status());
  return b64;
}

Result<std::string> key_id_of_public_pem(std::string_view pem) {
  QUIVER_ASSIGN_OR_RETURN(detail::PkeyPtr key, detail::read_public_pem(pem));
  return detail::key_id(key.get());
}

Result<std::string> key_id_of_private_pem(std::string_view pem) {
  QUIVER_ASSIGN_OR_RETURN(detail::PkeyPtr key, detail::read_private_pem(pem));
  return detail::key_id(key.get());
}

Result<ArtifactSignature> sign_artifact_digest(std::string_view private_key_pem, std::string_view sha256_hex) {
  QUIVER_ASSIGN_OR_RETURN(std::vector<uint8_t> digest, digest_from_hex(sha256_hex));
  QUIVER_ASSIGN_OR_RETURN(detail::PkeyPtr key, detail::read_private_pem(private_key_pem));
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(key.get(), nullptr),
                                                                   &EVP_PKEY_CTX_free);
  // Signing the digest with the digest's algorithm named gives exactly what
  // `openssl dgst -sha256 -sign` gives for the whole file.
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
    return internal_error("cannot set up ECDSA signing: " + detail::openssl_error());
  size_t length = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.data(), digest.size()) != 1)
    return internal_error("ECDSA signing failed: " + detail::openssl_error());
  std::vector<uint8_t> der(length);
  if (EVP_PKEY_sign(ctx.get(), der.data(), &length, digest.data(), digest.size()) != 1)
    return internal_error("ECDSA signing failed: " + detail::openssl_error());
  der.resize(length);
  ArtifactSignature out;
  out.base64 = base64_encode(der);
  QUIVER_ASSIGN_OR_RETURN(out.key_id, detail::key_id(key.get()));
  return out;
}

}  // namespace quiver::auth
