// Artifact signatures: ECDSA P-256 over the artifact's SHA-256, DER-encoded, carried
// as base64. That is byte for byte what `openssl dgst -sha256 -sign key.pem FILE`
// writes (base64 it with `openssl base64 -A`) and what `cosign sign-blob --key`
// prints, so users sign with the tools they already have.
//
// This file holds the primitives (base64, DER checks, signing for the CLI);
// trusted_keys.h verifies, signature_policy.h decides when a signature is required.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver::auth {

// RFC 4648 base64, standard alphabet, with padding.
std::string base64_encode(std::span<const uint8_t> bytes);
// Accepts the standard alphabet with or without padding and ignores ASCII white space
// (`openssl base64` wraps lines). InvalidArgument for anything else.
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

// 64 lower-case hex characters -> the 32 digest bytes. InvalidArgument otherwise.
Result<std::vector<uint8_t>> digest_from_hex(std::string_view sha256_hex);

// The signature bytes of a "signature" field: base64 of a DER ECDSA-Sig-Value
// (SEQUENCE of two INTEGERs, canonical encoding, nothing after it). InvalidArgument
// with a message that says which part is wrong.
Result<std::vector<uint8_t>> decode_signature(std::string_view signature_base64);

// Reads a signature file as users produce it: raw DER (`openssl dgst -sign -out f`)
// or base64 text (`cosign sign-blob`, `openssl base64`). Returns the base64 form.
Result<std::string> signature_file_to_base64(std::string_view file_contents);

// The key id of a public key: the first 16 hex characters of the SHA-256 of its DER
// SubjectPublicKeyInfo, i.e.
//   openssl pkey -pubin -in pub.pem -outform DER | sha256sum | cut -c1-16
// (for a private key PEM, the id of its public half). InvalidArgument when `pem` holds
// no EC P-256 key.
Result<std::string> key_id_of_public_pem(std::string_view pem);
Result<std::string> key_id_of_private_pem(std::string_view pem);

struct ArtifactSignature {
  std::string base64;  // the "signature" field
  std::string key_id;  // the signer, as the server will name it
};

// Signs an artifact digest (64 hex characters) with an EC P-256 private key in PEM
// (PKCS#8 or SEC1 "EC PRIVATE KEY"). An encrypted key asks for its passphrase on the
// terminal, as openssl does.
Result<ArtifactSignature> sign_artifact_digest(std::string_view private_key_pem, std::string_view sha256_hex);

}  // namespace quiver::auth
