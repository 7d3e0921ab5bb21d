// Which outputs a client asked for, and picking them out of a model's outputs. The
// HTTP and gRPC frontends share it so both answer an unknown output name alike.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quiver::api {

struct RequestedOutput {
  std::string name;
  bool binary = false;  // HTTP: "parameters": {"binary_data": true}
};

// Keeps the requested outputs, in the requested order (a repeated name once). With
// no request, leaves `outputs` as they are. Unknown name: InvalidArgument
// "unknown output 'x'; the model has 'a', 'b'".
Status select_outputs(const std::vector<RequestedOutput>& requested, std::vector<Tensor>& outputs);

}  // namespace quiver::api
