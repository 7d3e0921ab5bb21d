// Page tokens for the paginated listings (GET /v1/models, GET /v1/models/{m}).
//
// A token names the last item the previous page returned (keyset paging), so a page
// never repeats or skips items when others are registered meanwhile. It is opaque to
// clients: a kind tag and the key, hex-encoded, so it travels in a query string as
// is and a client cannot mistake it for a name.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::registry {

std::string model_page_token(std::string_view last_model);
std::string version_page_token(int64_t last_version);
// InvalidArgument for a token that is not one of ours (or of the other kind).
Result<std::string> parse_model_page_token(std::string_view token);
Result<int64_t> parse_version_page_token(std::string_view token);

// `limit` from a query string: 1..max, or `fallback` when absent (empty).
Result<size_t> parse_page_limit(std::string_view text, size_t fallback, size_t max);

}  // namespace quiver::registry
