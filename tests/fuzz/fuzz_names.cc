// Name validation and the path-segment decoding in front of it: every model name,
// alias and path parameter reaches the registry, metric labels and file names only
// after these. The fuzz bytes are one path segment as a client would send it.
//
// Invariants:
//   - percent_decode agrees with an independent reference decoder, in both modes;
//   - RouteTable::match splits before decoding: a segment without '/' lands whole
//     in its {param}, decoded ("%2F" stays inside the segment), or the path is
//     refused as malformed exactly when the reference decoder refuses it;
//   - a name that validate_model_name / validate_alias_name accept is 1..128
//     characters of [A-Za-z0-9_.-], does not start with '.' or '-', so it can never
//     be ".", "..", contain a separator or a NUL; an accepted alias is not all digits.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/http/route_table.h"
#include "fuzz_check.h"
#include "registry/registry.h"

using namespace quiver;

namespace {

std::optional<std::string> reference_decode(std::string_view s, bool plus_as_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (s.size() - i < 3 || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return std::nullopt;
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += (plus_as_space && s[i] == '+') ? ' ' : s[i];
    }
  }
  return out;
}

bool safe_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || n.front() == '.' || n.front() == '-') return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return n != "." && n != "..";
}

const http::RouteTable& table() {
  static const http::RouteTable t = [] {
    http::RouteTable r;
    http::RouteTarget target;
    target.handler = [](const auto&, http::Responder) {};
    (void)r.add("GET", "/v1/models/{model}", target);
    (void)r.add("PUT", "/v1/models/{model}/aliases/{alias}", target);
    (void)r.add("POST", "/v2/models/{model}/versions/{version}/infer", target);
    (void)r.add("POST", "/v1/blobs/upload", target);
    (void)r.add("GET", "/v1/blobs/{sha256}", target);
    return r;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);

  for (bool plus : {false, true}) {
    auto decoded = http::percent_decode(raw, plus);
    auto expected = reference_decode(raw, plus);
    FUZZ_CHECK(decoded.is_ok() == expected.has_value(), "percent_decode accepts/refuses differently (plus=%d)", plus);
    if (decoded.is_ok()) FUZZ_CHECK(*decoded == *expected, "percent_decode decodes differently (plus=%d)", plus);
  }
  (void)http::parse_query(raw);

  // The raw bytes as the {model} segment of real route shapes.
  const bool one_segment = !raw.empty() && raw.find('/') == std::string::npos;
  const auto expected = reference_decode(raw, false);
  auto m = table().match("PUT", "/v1/models/" + raw + "/aliases/" + raw);
  if (one_segment) {
    FUZZ_CHECK(m.is_ok() == expected.has_value(), "match accepts/refuses a segment unlike the decoder");
    if (m.is_ok()) {
      FUZZ_CHECK(m->kind == http::RouteMatch::Kind::kFound, "a one-segment model name did not match its route");
      FUZZ_CHECK(m->path_params.at("model") == *expected && m->path_params.at("alias") == *expected,
                 "path parameter is not the decoded segment");
    }
  }
  (void)table().match("POST", "/v2/models/" + raw + "/versions/" + raw + "/infer");
  (void)table().match("GET", raw);

  // The validators, on the raw bytes and on what a client's encoding decodes to.
  for (const std::string* name : {&raw, expected ? &*expected : nullptr}) {
    if (name == nullptr) continue;
    if (registry::validate_model_name(*name).is_ok()) FUZZ_CHECK(safe_name(*name), "unsafe model name accepted");
    if (registry::validate_alias_name(*name).is_ok()) {
      FUZZ_CHECK(safe_name(*name), "unsafe alias accepted");
      FUZZ_CHECK(name->find_first_not_of("0123456789") != std::string::npos, "all-digit alias accepted");
    }
  }
  return 0;
}
