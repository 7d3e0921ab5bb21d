#include "auth/signature_policy.h"

#include "auth/signature.h"

namespace quiver::auth {

SignaturePolicy::SignaturePolicy(std::shared_ptr<const TrustedKeys> keys, bool require_signature_globally,
                                 registry::Registry& registry)
    : keys_(keys ? std::move(keys) : std::make_shared<const TrustedKeys>()),
      require_globally_(require_signature_globally),
      registry_(registry) {}

Status SignaturePolicy::replace_keys(std::shared_ptr<const TrustedKeys> keys) {
  if (!keys) keys = std::make_shared<const TrustedKeys>();
  if (require_globally_ && keys->empty())
    return failed_precondition("the new trusted key set is empty while --require-signature is on; kept the old one");
  keys_.store(std::move(keys));
  return Status::ok();
}

Result<bool> SignaturePolicy::required_for(const std::string& model) const {
  if (require_globally_) return true;
  QUIVER_ASSIGN_OR_RETURN(registry::ModelPolicy policy, registry_.model_policy(model));
  return policy.require_signature;
}

Result<std::string> SignaturePolicy::verify(const std::string& artifact_sha256, const std::string& signature_base64,
                                            const std::string& claimed_key_id) const {
  QUIVER_ASSIGN_OR_RETURN(std::vector<uint8_t> signature, decode_signature(signature_base64));
  QUIVER_ASSIGN_OR_RETURN(std::vector<uint8_t> digest, digest_from_hex(artifact_sha256));
  const std::shared_ptr<const TrustedKeys> keys = keys_.load();  // one snapshot for the whole check
  if (keys->empty())
    return permission_denied(
        "the artifact is signed, but this server trusts no signing keys, so the signature cannot be verified; "
        "start it with --trusted-keys DIR (a folder of PEM public keys)");
  if (!claimed_key_id.empty()) {
    if (!keys->contains(claimed_key_id))
      return permission_denied("the artifact was signed with key " + claimed_key_id +
                               ", which this server does not trust (trusted keys: " + keys->describe() + ")");
    if (auto signer = keys->find_signer(digest, signature, claimed_key_id)) return *signer;
    return permission_denied("the signature does not match artifact " + artifact_sha256 + " under trusted key " +
                             claimed_key_id + ": it was made over other bytes, or it was altered");
  }
  if (auto signer = keys->find_signer(digest, signature)) return *signer;
  return permission_denied("the signature does not verify for artifact " + artifact_sha256 +
                           " with any trusted key (" + keys->describe() +
                           "): it was made with an untrusted key, over other bytes, or it was altered");
}

Result<std::string> SignaturePolicy::verify_new_version(const std::string& model, const std::string& artifact_sha256,
                                                        const std::string& signature_base64,
                                                        const std::string& claimed_key_id) const {
  if (signature_base64.empty()) {
    if (!claimed_key_id.empty())
      return invalid_argument("'signed_by' names a key, but the version carries no 'signature'");
    QUIVER_ASSIGN_OR_RETURN(bool required, required_for(model));
    if (required)
      return invalid_argument(
          "model '" + model + "' accepts only signed artifacts (" +
          (require_globally_ ? std::string("the server runs with --require-signature")
                             : std::string("its policy has require_signature")) +
          "), and this version carries no 'signature': give base64 of `openssl dgst -sha256 -sign key.pem "
          "ARTIFACT`, or push with `quiver push --sign key.pem`");
    return std::string();
  }
  return verify(artifact_sha256, signature_base64, claimed_key_id);
}

Status SignaturePolicy::verify_before_load(const registry::VersionRecord& version) const {
  QUIVER_ASSIGN_OR_RETURN(bool required, required_for(version.model));
  if (!required) return Status::ok();
  const std::string what = "model '" + version.model + "' version " + std::to_string(version.version);
  if (version.artifact_signature.empty())
    return permission_denied("refusing to load " + what +
                             ": it is unsigned, and the model now accepts only signed artifacts");
  auto signer = verify(version.artifact_sha256, version.artifact_signature, version.signed_by);
  if (!signer.is_ok())
    return Status(signer.status().code(), "refusing to load " + what + ": " + signer.status().message());
  return Status::ok();
}

}  // namespace quiver::auth
