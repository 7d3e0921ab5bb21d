// Safe defaults at start-up: where the server may listen without authentication,
// and the first admin token.
//
// Thread-safety: free functions; call them while the server starts.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "auth/key_store.h"
#include "core/status.h"

namespace quiver::auth {

// The file the first admin token is written to, inside the data directory.
inline constexpr std::string_view kAdminTokenFile = "admin.token";

// True for "localhost" and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
bool is_loopback_host(std::string_view host);

// FailedPrecondition, saying what to do, when `host` is not a loopback address, auth
// is off and the operator did not pass --insecure-no-auth. `what` names the listener
// in the message ("HTTP and gRPC").
Status check_bind_policy(std::string_view host, bool auth_enabled, bool insecure_no_auth, std::string_view what);

// With auth on: when no usable admin key exists (the first start, or every admin key
// was revoked or has expired), creates one and writes its token to
// <data_dir>/admin.token with mode 0600 (written to a temporary file first, then
// renamed, so the file never exists with wider permissions or half-written). Returns
// the path written, or nullopt when an admin key exists.
Result<std::optional<std::filesystem::path>> ensure_admin_token(KeyStore& keys, const std::filesystem::path& data_dir,
                                                                const Clock& clock);

}  // namespace quiver::auth
