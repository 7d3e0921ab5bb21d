// The binary tensor extension: a body of `json_length` bytes of JSON (the
// Inference-Header-Content-Length header) followed by raw tensor bytes that the
// inputs' binary_data_size parameters split up (resolve_binary in oip_codec_parse.cc).
//
// Input layout: 2 bytes little-endian header length (0xFFFF: no header, i.e. plain
// JSON), then the body. A length past the body's end is a case too (a lying header).
// Invariants on success: every tensor validates; the binary tensors are zero-copy
// views that lie inside the section after the JSON, in order, without gaps or
// overlaps, and cover all of it; the binary round trip gives the same tensors.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/http/oip_codec.h"
#include "fuzz_check.h"

using namespace quiver;
using namespace quiver::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t declared = static_cast<size_t>(data[0]) | (static_cast<size_t>(data[1]) << 8);
  std::optional<size_t> json_length;
  if (declared != 0xFFFF) json_length = declared;
  auto body = std::make_shared<const std::string>(reinterpret_cast<const char*>(data + 2), size - 2);

  auto request = parse_infer_request(body, json_length);
  if (!request.is_ok()) return 0;
  FUZZ_CHECK(!json_length || *json_length <= body->size(), "a header length past the body was accepted");

  const std::byte* begin = reinterpret_cast<const std::byte*>(body->data());
  const std::byte* section = begin + json_length.value_or(body->size());
  const std::byte* end = begin + body->size();
  const std::byte* next = section;  // where the next binary tensor must start
  for (const Tensor& t : request->inputs) {
    FUZZ_CHECK(t.validate().is_ok(), "input '%s' does not validate", t.name().c_str());
    const std::byte* p = t.bytes().data();
    const bool in_body = p != nullptr && p >= begin && p <= end;
    if (!in_body) continue;  // a tensor from "data": owns its bytes
    FUZZ_CHECK(p == next, "binary input '%s' does not start where the previous one ended", t.name().c_str());
    FUZZ_CHECK(t.byte_size() <= static_cast<size_t>(end - p), "binary input '%s' runs past the body", t.name().c_str());
    next = p + t.byte_size();
  }
  FUZZ_CHECK(next == end,
             "the binary inputs leave %zu bytes of the section unused", static_cast<size_t>(end - next));

  EncodedRequest encoded = encode_infer_request(*request, /*binary_inputs=*/true);
  auto again = parse_infer_request(std::make_shared<const std::string>(std::move(encoded.body)), encoded.json_length);
  FUZZ_CHECK(again.is_ok(), "re-encoded request does not parse: %s", again.status().message().c_str());
  FUZZ_CHECK(again->inputs.size() == request->inputs.size(), "input count changed in the round trip");
  for (size_t i = 0; i < request->inputs.size(); ++i)
    FUZZ_CHECK(fuzz::same_tensor(again->inputs[i], request->inputs[i]), "input %zu changed in the round trip", i);
  return 0;
}
