// Authorizer: one decision for one call, shared by the HTTP and gRPC frontends.
//
//   1. Auth off (`quiver serve` without --auth): everything is allowed.
//   2. Health is always public. Inference and model metadata are public when the
//      model's deployment says `access: {inference: public}`, or when it says nothing
//      and the server runs with --public-inference; a call without a token is then
//      allowed.
//   3. Otherwise a valid token is required: 401 when missing, malformed, unknown,
//      wrong, expired or revoked (the message says which).
//   4. The key's rate limit (token bucket): 429.
//   5. The key's role must hold the permission, and a call naming a model must be in
//      the key's scope: 403 naming the token, its role and what it may not do.
//
// Thread-safety: authorize() may be called from any thread; the lookup it is given
// must be too.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/roles.h"
#include "core/deployment_spec.h"
#include "core/status.h"

namespace quiver::auth {

// A model's inference access, from its live deployment (`access.inference`).
using InferenceAccessLookup = std::function<InferenceAccess(std::string_view model)>;

struct AuthOptions {
  bool enabled = false;
  bool public_inference = false;  // the default for models whose deployment does not say
  RateLimit rate_limit;
};

struct Decision {
  Status status;                       // ok, or Unauthenticated / PermissionDenied / ResourceExhausted
  std::optional<Principal> principal;  // set when a valid token came with the call
  bool allowed() const { return status.is_ok(); }
};

class Authorizer {
 public:
  // `keys` may be null only when auth is off. Both must outlive the authorizer.
  Authorizer(AuthOptions options, KeyStore* keys, const Clock& clock, InferenceAccessLookup lookup);

  bool enabled() const { return options_.enabled; }
  const AuthOptions& options() const { return options_; }

  // `authorization`: the Authorization header or gRPC metadata value ("" if none).
  // `model`: the model the call names, "" when it names none.
  Decision authorize(std::string_view authorization, Permission permission, std::string_view model);

 private:
  bool inference_is_public(Permission permission, std::string_view model) const;

  const AuthOptions options_;
  KeyStore* const keys_;
  RateLimiter limiter_;
  const InferenceAccessLookup lookup_;
};

}  // namespace quiver::auth
