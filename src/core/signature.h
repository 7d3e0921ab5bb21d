// A model's declared inputs and outputs, and the check every request passes before
// a model runs (so a wrong shape or dtype is a precise 400, never a runtime crash).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quiver {

struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;  // -1 marks a variable dimension
  bool operator==(const TensorSpec&) const = default;
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  bool empty() const { return inputs.empty() && outputs.empty(); }
  bool operator==(const ModelSignature&) const = default;
};

// True when `shape` fits `pattern` (same rank; -1 in the pattern matches any size).
bool shape_matches(const Shape& pattern, const Shape& shape);

// Checks that `inputs` are exactly the signature's inputs (any order), each with the
// declared dtype and a matching shape, and that each tensor's bytes agree with it.
// An empty signature.inputs accepts anything that validates on its own.
Status check_inputs(const ModelSignature& signature, const std::vector<Tensor>& inputs);

}  // namespace quiver
