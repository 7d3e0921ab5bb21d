#include "registry/page_token.h"

#include <charconv>

namespace quiver::registry {
namespace {

constexpr std::string_view kModelTag = "m1:";
constexpr std::string_view kVersionTag = "v1:";

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  const auto bad = invalid_argument("page_token is not one this server issued; start again without it");
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 4096) return bad;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (ec != std::errc() || end != hex.data() + i + 2) return bad;
    out += static_cast<char>(value);
  }
  return out;
}

Result<std::string> payload(std::string_view token, std::string_view tag) {
  QUIVER_ASSIGN_OR_RETURN(std::string raw, from_hex(token));
  if (raw.rfind(tag, 0) != 0) return invalid_argument("page_token belongs to another listing; start again without it");
  return raw.substr(tag.size());
}

}  // namespace

std::string model_page_token(std::string_view last_model) { return to_hex(std::string(kModelTag) + std::string(last_model)); }

std::string version_page_token(int64_t last_version) {
  return to_hex(std::string(kVersionTag) + std::to_string(last_version));
}

Result<std::string> parse_model_page_token(std::string_view token) { return payload(token, kModelTag); }

Result<int64_t> parse_version_page_token(std::string_view token) {
  QUIVER_ASSIGN_OR_RETURN(std::string text, payload(token, kVersionTag));
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0)
    return invalid_argument("page_token is not one this server issued; start again without it");
  return v;
}

Result<size_t> parse_page_limit(std::string_view text, size_t fallback, size_t max) {
  if (text.empty()) return fallback;
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > max)
    return invalid_argument("limit must be an integer from 1 to " + std::to_string(max) + ", not '" +
                            std::string(text) + "'");
  return n;
}

}  // namespace quiver::registry
