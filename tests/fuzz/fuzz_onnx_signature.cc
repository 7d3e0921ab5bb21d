// The ONNX signature reader (backends/onnx/onnx_signature.cc), Quiver's own protobuf
// wire-format reader: it runs on every uploaded .onnx artifact before OpenCV sees it,
// so it must only read, never crash, on any bytes. Invariants on success: the graph
// has an output; when the model's own signature is effective, declaring exactly that
// signature is accepted and gives it back unchanged.
#include <cstddef>
#include <cstdint>
#include <span>

#include "backends/onnx/onnx_signature.h"
#include "fuzz_check.h"

using namespace quiver;
using namespace quiver::backends::onnx;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto io = parse_onnx_graph_io(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  if (!io.is_ok()) {
    FUZZ_CHECK(io.status().code() == StatusCode::kDataLoss, "a malformed model is not DataLoss: %s",
               io.status().message().c_str());
    return 0;
  }
  FUZZ_CHECK(!io->outputs.empty(), "a graph without outputs was accepted");
  for (const auto* side : {&io->inputs, &io->outputs})
    for (const OnnxValueInfo& v : *side) {
      FUZZ_CHECK(v.has_shape || v.shape.empty(), "a value without shape has dimensions");
      for (int64_t d : v.shape) FUZZ_CHECK(d >= -1, "dimension %lld below -1", static_cast<long long>(d));
    }

  auto own = effective_onnx_signature(*io, ModelSignature{});
  if (!own.is_ok()) return 0;
  auto declared = effective_onnx_signature(*io, *own);
  FUZZ_CHECK(declared.is_ok(), "declaring the model's own signature is refused: %s", declared.status().message().c_str());
  FUZZ_CHECK(*declared == *own, "declaring the model's own signature changes it");
  return 0;
}
