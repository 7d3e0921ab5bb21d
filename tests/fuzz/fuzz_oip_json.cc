// The Open Inference Protocol JSON parser (HTTP infer bodies without binary data):
// parse_infer_request / parse_infer_response on arbitrary bytes must return a Status,
// never crash. Invariants on success:
//   - every tensor passes Tensor::validate() (its bytes agree with dtype and shape);
//   - re-encoding the request with binary inputs and parsing it again gives the same
//     id and tensors, byte for byte (binary mode carries the exact bytes, whereas
//     JSON would turn NaN payloads and invalid UTF-8 into canonical forms).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/http/oip_codec.h"
#include "fuzz_check.h"

using namespace quiver;
using namespace quiver::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto body = std::make_shared<const std::string>(reinterpret_cast<const char*>(data), size);

  auto request = parse_infer_request(body, std::nullopt);
  if (request.is_ok()) {
    FUZZ_CHECK(!request->inputs.empty(), "a request without inputs was accepted");
    for (const Tensor& t : request->inputs)
      FUZZ_CHECK(t.validate().is_ok(), "input '%s' does not validate: %s", t.name().c_str(),
                 t.validate().message().c_str());

    EncodedRequest encoded = encode_infer_request(*request, /*binary_inputs=*/true);
    auto again = parse_infer_request(std::make_shared<const std::string>(std::move(encoded.body)), encoded.json_length);
    FUZZ_CHECK(again.is_ok(), "re-encoded request does not parse: %s", again.status().message().c_str());
    FUZZ_CHECK(again->id == request->id, "id changed in the round trip");
    FUZZ_CHECK(again->inputs.size() == request->inputs.size(), "input count changed in the round trip");
    for (size_t i = 0; i < request->inputs.size(); ++i)
      FUZZ_CHECK(fuzz::same_tensor(again->inputs[i], request->inputs[i]), "input %zu changed in the round trip", i);
    FUZZ_CHECK(again->binary_output_all == request->binary_output_all, "binary_data_output changed");

    // Also the JSON form (lossy for NaN payloads and invalid UTF-8): must stay parseable.
    EncodedRequest as_json = encode_infer_request(*request, /*binary_inputs=*/false);
    auto reparsed = parse_infer_request(std::make_shared<const std::string>(std::move(as_json.body)), as_json.json_length);
    FUZZ_CHECK(reparsed.is_ok(), "JSON re-encoding does not parse: %s", reparsed.status().message().c_str());
  }

  auto response = parse_infer_response(body, std::nullopt);
  if (response.is_ok()) {
    for (const Tensor& t : response->outputs) FUZZ_CHECK(t.validate().is_ok(), "output does not validate");
  }
  return 0;
}
