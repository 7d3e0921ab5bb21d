// JSON form of a model signature, as stored by the registry and shown by the API:
//   {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": [...]}
// Datatype names are the Open Inference Protocol's (core/tensor.h datatype_name).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/signature.h"
#include "core/status.h"

namespace quiver::registry {

std::string signature_to_json(const ModelSignature& signature);

// Strict: unknown fields, unknown datatypes and bad dimensions are InvalidArgument,
// with the offending field named ("inputs[1].datatype: ...").
Result<ModelSignature> signature_from_json(std::string_view json_text);

// Tensor names non-empty and unique per side; dimensions >= -1 (-1: variable).
Status validate_signature(const ModelSignature& signature);

}  // namespace quiver::registry
