#include "backends/backend.h"

#include "backends/onnx/onnx_backend.h"
#include "backends/torchscript/torchscript_backend.h"

namespace quiver::backends {

Result<std::unique_ptr<Backend>> load_backend(const LoadRequest& request) {
  if (request.framework == "torchscript") return load_torchscript(request);
  if (request.framework == "onnx") return load_onnx(request);
  return invalid_argument("unknown framework '" + request.framework + "' (expected \"torchscript\" or \"onnx\")");
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
