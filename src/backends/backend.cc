#include "backends/backend.h"

#include "backends/onnx/onnx_backend.h"
#include "backends/process/remote_backend.h"
#include "backends/torchscript/torchscript_backend.h"

namespace quiver::backends {

Result<std::unique_ptr<Backend>> load_backend(const LoadRequest& request) {
  if (!is_known_framework(request.framework)) {
    return invalid_argument("unknown framework '" + request.framework + "' (expected \"torchscript\" or \"onnx\")");
  }
  // The worker process loads the model through this same function, with isolated off.
  if (request.isolated) return process::load_remote(request);
  if (request.framework == "torchscript") return load_torchscript(request);
  return load_onnx(request);
}

std::string platform_name(const std::string& framework) {
  if (framework == "torchscript") return "pytorch_torchscript";
  if (framework == "onnx") return "onnx_opencv_dnn";
  return "unknown";
}

bool is_known_framework(const std::string& framework) {
  return framework == "torchscript" || framework == "onnx";
}

}  // namespace quiver::backends
