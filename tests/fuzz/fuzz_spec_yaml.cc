// Deployment specs in YAML, as `quiver apply -f` reads them: yaml_to_json, then
// split_deployment_document (the top-level "model" key, with and without --model),
// then the server's parse_deployment_spec on the JSON the CLI would send, and the
// round trip and validation invariants of spec_roundtrip.h on what parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/spec_yaml.h"
#include "spec_roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quiver;
  auto doc = cli::yaml_to_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  if (!doc.is_ok()) return 0;
  (void)cli::split_deployment_document(*doc, "iris");
  auto split = cli::split_deployment_document(std::move(doc).value(), "");
  if (!split.is_ok()) return 0;
  FUZZ_CHECK(!split->model.empty(), "a document without a model name was accepted");
  auto spec = registry::parse_deployment_spec(split->spec.dump());
  if (spec.is_ok()) fuzz::check_spec(std::move(spec).value());
  return 0;
}
