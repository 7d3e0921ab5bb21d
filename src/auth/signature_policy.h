// When a model version must be signed, and whether its signature holds: at
// registration (POST /v1/models/{m}/versions) and again before every load, so a policy
// turned on later, or a key taken out of the trust store, covers versions registered
// before.
//
// A signature is required when the server runs with --require-signature, or when the
// model's policy says so (PUT /v1/models/{m}/policy {"require_signature": true}).
// A version that carries a signature has it verified whether or not one is required:
// the record then names its signer ("signed_by"), and an unverifiable claim is refused.
//
// Errors, all with messages that say which case it is:
//   400 (InvalidArgument)   required but missing; not base64; not a DER ECDSA signature
//   403 (PermissionDenied)  no trusted key verifies it (untrusted key, other bytes or
//                           an altered signature); the named key is not trusted; the
//                           server has no trusted keys
//
// The trusted keys can be replaced while serving (SIGHUP re-reads --trusted-keys):
// each check reads one snapshot of them, so a check never sees half a key set.
//
// Thread-safety: every method may be called from any thread; the key set is an
// atomically swapped immutable snapshot, and the registry is thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "auth/trusted_keys.h"
#include "core/status.h"
#include "registry/registry.h"

namespace quiver::auth {

class SignaturePolicy {
 public:
  // `registry` must outlive this object.
  SignaturePolicy(std::shared_ptr<const TrustedKeys> keys, bool require_signature_globally,
                  registry::Registry& registry);

  // The keys trusted now (never null).
  std::shared_ptr<const TrustedKeys> keys() const { return keys_.load(); }
  // Trusts `keys` from now on. Refused (and the old set kept) when it is empty while
  // --require-signature is on: that would refuse every load.
  Status replace_keys(std::shared_ptr<const TrustedKeys> keys);
  bool required_globally() const { return require_globally_; }
  // Global flag or the model's policy.
  Result<bool> required_for(const std::string& model) const;

  // Checks a version about to be registered. `signature_base64` and `claimed_key_id`
  // may be empty. Returns the id of the key that verified the signature, or "" for an
  // unsigned version that no policy requires to be signed.
  Result<std::string> verify_new_version(const std::string& model, const std::string& artifact_sha256,
                                         const std::string& signature_base64,
                                         const std::string& claimed_key_id) const;

  // Checks a registered version before it loads: when a signature is required now, it
  // must be present and verify with a key trusted now.
  Status verify_before_load(const registry::VersionRecord& version) const;

 private:
  // The id of the trusted key that verifies `signature_base64` over `artifact_sha256`.
  Result<std::string> verify(const std::string& artifact_sha256, const std::string& signature_base64,
                             const std::string& claimed_key_id) const;

  std::atomic<std::shared_ptr<const TrustedKeys>> keys_;
  bool require_globally_;
  registry::Registry& registry_;
};

}  // namespace quiver::auth
