// The ONNX backend: runs an ONNX graph on the CPU with OpenCV DNN.
//
// This header deliberately includes no OpenCV header, so that only
// backends/onnx/*.cc pay for (and see the warnings of) OpenCV.
//
// What it serves:
//   - The signature is read from the model file (onnx_signature.h); a declared one
//     is only checked against it.
//   - Inputs must be FP32 (OpenCV DNN computes in float); a model with another input
//     type is refused at load. Outputs come back in the dtype the model states,
//     converted from OpenCV's float results.
//   - The batch dimension may change from call to call.
//
// Thread-safety: an OpenCV Net is not thread-safe, so each instance owns its own Net
// and must be used by one thread at a time (Backend's contract). Loading is safe from
// several threads. OpenCV's thread count is process-wide: the first load sets it from
// LoadRequest::intra_op_threads and later loads leave it alone.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace quiver::backends {

// DataLoss when the file is not a valid ONNX model or OpenCV cannot build a network
// from it; InvalidArgument when the declared signature conflicts with the model's or
// the model needs a non-FP32 input; NotFound when the file cannot be opened.
Result<std::unique_ptr<Backend>> load_onnx(const LoadRequest& request);

}  // namespace quiver::backends
