#include "auth/authorizer.h"

#include <cmath>

namespace quiver::auth {
namespace {

std::string number_text(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  std::string s = std::to_string(d);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

}  // namespace

Authorizer::Authorizer(AuthOptions options, KeyStore* keys, const Clock& clock, InferenceAccessLookup lookup)
    : options_(options), keys_(keys), limiter_(options.rate_limit, clock), lookup_(std::move(lookup)) {}

bool Authorizer::inference_is_public(Permission permission, std::string_view model) const {
  if (permission != Permission::kInfer && permission != Permission::kModelMetadata) return false;
  const InferenceAccess access = lookup_ && !model.empty() ? lookup_(model) : InferenceAccess::kServerDefault;
  if (access == InferenceAccess::kServerDefault) return options_.public_inference;
  return access == InferenceAccess::kPublic;
}

Decision Authorizer::authorize(std::string_view authorization, Permission permission, std::string_view model) {
  if (!options_.enabled || permission == Permission::kHealth) return {};
  const bool is_public = inference_is_public(permission, model);
  const bool has_credentials = authorization.find_first_not_of(" \t") != std::string_view::npos;
  if (!has_credentials) {
    if (is_public) return {};
    return {unauthenticated("missing token: this server requires 'Authorization: Bearer qv_...' to " +
                            std::string(permission_description(permission)) +
                            (model.empty() ? std::string() : " of model '" + std::string(model) + "'")),
            std::nullopt};
  }
  if (keys_ == nullptr) return {internal_error("authentication is on but no key store is configured"), std::nullopt};
  Result<Principal> principal = keys_->authenticate(authorization);
  if (!principal.is_ok()) return {principal.status(), std::nullopt};
  Decision d{Status::ok(), std::move(principal).value()};
  const Principal& who = *d.principal;
  if (!limiter_.try_acquire(who.key_id)) {
    d.status = resource_exhausted(who.describe() + " exceeded its rate limit of " +
                                  number_text(limiter_.per_second()) + " requests/s (burst " +
                                  number_text(limiter_.burst()) + "); slow down and retry");
    return d;
  }
  if (is_public) return d;  // anyone may; the token only names who it was
  if (!role_allows(who.role, permission)) {
    d.status = permission_denied(who.describe() + " may not " + std::string(permission_description(permission)) +
                                 (model.empty() ? std::string() : " of model '" + std::string(model) + "'") +
                                 "; that needs role " + roles_holding(permission));
    return d;
  }
  if (!model.empty() && !who.may_use_model(model)) {
    d.status = permission_denied(who.describe() + " may not " + std::string(permission_description(permission)) +
                                 " of model '" + std::string(model) + "': it is outside the token's model scope");
    return d;
  }
  return d;
}

}  // namespace quiver::auth
