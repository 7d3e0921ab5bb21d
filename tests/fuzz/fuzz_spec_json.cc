// Deployment specs in JSON (the body of PUT /v1/deployments/{model} and what every
// revision stores): parse_deployment_spec on arbitrary bytes, then, for what parses,
// the round trip and validation invariants of spec_roundtrip.h.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec_roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = quiver::registry::parse_deployment_spec(std::string_view(reinterpret_cast<const char*>(data), size));
  if (spec.is_ok()) quiver::fuzz::check_spec(std::move(spec).value());
  return 0;
}
