#include "backends/onnx/onnx_backend.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backends/onnx/onnx_signature.h"

namespace quiver::backends {
namespace {

// cv::Exception::what() carries the source path and line of OpenCV's own code; the
// description and the function are what a user can act on. A failed CV_Assert has
// only the asserted expression as its description, so say that it is one.
std::string describe(const cv::Exception& e) {
  if (e.err.empty()) return e.what();
  std::string message = e.code == cv::Error::StsAssert ? "OpenCV assertion failed: " + e.err : e.err;
  if (!e.func.empty()) message += " (in " + e.func + ")";
  return message;
}

void set_opencv_threads_once(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] { cv::setNumThreads(std::max(1, threads)); });
}

Result<std::vector<uchar>> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open the ONNX artifact " + path.string());
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return data_loss("cannot read the ONNX artifact " + path.string());
  return bytes;
}

// OpenCV returns float blobs whose rank may differ from the model's (it has no 1-d
// Mat, for one). When the model states a rank with at most one unknown dimension,
// that shape is rebuilt from the element count; otherwise the Mat's own dims stand.
Shape output_shape(const cv::Mat& mat, const Shape& model_shape) {
  Shape mat_shape(mat.size.p, mat.size.p + mat.dims);
  if (model_shape.empty() || model_shape.size() == mat_shape.size()) return mat_shape;
  const auto total = static_cast<int64_t>(mat.total());
  int64_t fixed = 1;
  int unknown = -1;
  for (size_t i = 0; i < model_shape.size(); ++i) {
    if (model_shape[i] >= 0) {
      fixed *= model_shape[i];
    } else if (unknown >= 0) {
      return mat_shape;  // two unknown dims: the split is ambiguous
    } else {
      unknown = static_cast<int>(i);
    }
  }
  Shape shape = model_shape;
  if (unknown >= 0) {
    if (fixed == 0 || total % fixed != 0) return mat_shape;
    shape[unknown] = total / fixed;
  } else if (fixed != total) {
    return mat_shape;
  }
  return shape;
}

template <typename T>
std::vector<std::byte> cast_floats(const float* src, size_t n) {
  std::vector<std::byte> bytes(n * sizeof(T));
  auto* dst = reinterpret_cast<T*>(bytes.data());
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
  return bytes;
}

// OpenCV DNN computes in float; the model's declared output dtype is restored here
// (exact for the integer indices that ops such as ArgMax produce).
Result<std::vector<std::byte>> float_bytes_as(DataType dtype, const float* src, size_t n) {
  switch (dtype) {
    case DataType::kFp32: {
      std::vector<std::byte> bytes(n * sizeof(float));
      if (n) std::memcpy(bytes.data(), src, bytes.size());
      return bytes;
    }
    case DataType::kFp64: return cast_floats<double>(src, n);
    case DataType::kFp16: return cast_floats<cv::float16_t>(src, n);
    case DataType::kInt8: return cast_floats<int8_t>(src, n);
    case DataType::kInt16: return cast_floats<int16_t>(src, n);
    case DataType::kInt32: return cast_floats<int32_t>(src, n);
    case DataType::kInt64: return cast_floats<int64_t>(src, n);
    case DataType::kUint8: return cast_floats<uint8_t>(src, n);
    case DataType::kUint16: return cast_floats<uint16_t>(src, n);
    case DataType::kUint32: return cast_floats<uint32_t>(src, n);
    case DataType::kUint64: return cast_floats<uint64_t>(src, n);
    case DataType::kBool: {
      std::vector<std::byte> bytes(n);
      for (size_t i = 0; i < n; ++i) bytes[i] = std::byte{src[i] != 0.0f};
      return bytes;
    }
    case DataType::kBytes: break;
  }
  return internal_error("the onnx backend cannot produce " + std::string(datatype_name(dtype)) + " outputs");
}

class OnnxBackend final : public Backend {
 public:
  OnnxBackend(cv::dnn::Net net, ModelSignature signature, std::vector<cv::String> output_layers)
      : net_(std::move(net)), signature_(std::move(signature)), output_layers_(std::move(output_layers)) {}

  const ModelSignature& signature() const override { return signature_; }

  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override {
    std::vector<cv::Mat> blobs;
    try {
      for (const auto& spec : signature_.inputs) {
        auto it = std::find_if(inputs.begin(), inputs.end(),
                               [&](const Tensor& t) { return t.name() == spec.name; });
        if (it == inputs.end()) return invalid_argument("missing input '" + spec.name + "'");
        QUIVER_ASSIGN_OR_RETURN(cv::Mat blob, to_mat(*it));
        net_.setInput(blob, spec.name);
      }
      net_.forward(blobs, output_layers_);
    } catch (const cv::Exception& e) {
      return internal_error("model raised: " + describe(e));
    } catch (const std::exception& e) {
      return internal_error("model raised: " + std::string(e.what()));
    }
    if (blobs.size() != signature_.outputs.size()) {
      return internal_error("OpenCV DNN returned " + std::to_string(blobs.size()) + " outputs, the model has " +
                            std::to_string(signature_.outputs.size()));
    }
    std::vector<Tensor> outputs;
    outputs.reserve(blobs.size());
    for (size_t i = 0; i < blobs.size(); ++i) {
      QUIVER_ASSIGN_OR_RETURN(Tensor t, to_tensor(blobs[i], signature_.outputs[i]));
      outputs.push_back(std::move(t));
    }
    return outputs;
  }

 private:
  // Wraps the tensor's bytes without a copy. The const_cast is safe: Net::setInput
  // only reads the Mat (it copies it into the network's own input blob), and the
  // tensor outlives the call.
  static Result<cv::Mat> to_mat(const Tensor& t) {
    if (t.dtype() != DataType::kFp32) {
      return invalid_argument("the onnx backend supports FP32 inputs only; input '" + t.name() + "' is " +
                              std::string(datatype_name(t.dtype())));
    }
    if (t.shape().empty()) return invalid_argument("the onnx backend does not take scalar input '" + t.name() + "'");
    std::vector<int> sizes;
    for (int64_t d : t.shape()) {
      if (d < 0 || d > INT_MAX) return invalid_argument("input '" + t.name() + "' has a dimension OpenCV cannot hold");
      sizes.push_back(static_cast<int>(d));
    }
    if (t.byte_size() != static_cast<size_t>(t.element_count()) * sizeof(float)) {
      return invalid_argument("input '" + t.name() + "' has " + std::to_string(t.byte_size()) +
                              " bytes, its shape needs " + std::to_string(t.element_count() * 4));
    }
    if (t.element_count() == 0) return cv::Mat(static_cast<int>(sizes.size()), sizes.data(), CV_32F);
    auto* data = const_cast<std::byte*>(t.bytes().data());
    return cv::Mat(static_cast<int>(sizes.size()), sizes.data(), CV_32F, data);
  }

  static Result<Tensor> to_tensor(const cv::Mat& blob, const TensorSpec& spec) {
    cv::Mat floats;
    if (blob.depth() == CV_32F && blob.isContinuous()) {
      floats = blob;
    } else {
      blob.convertTo(floats, CV_32F);  // produces a continuous Mat
    }
    const auto n = static_cast<size_t>(floats.total());
    QUIVER_ASSIGN_OR_RETURN(auto bytes, float_bytes_as(spec.dtype, floats.ptr<float>(), n));
    return Tensor(spec.name, spec.dtype, output_shape(floats, spec.shape), std::move(bytes));
  }

  cv::dnn::Net net_;
  ModelSignature signature_;
  std::vector<cv::String> output_layers_;
};

// The OpenCV layer that produces each graph output. OpenCV's ONNX importer names a
// layer after its node's first output, so a graph output is usually a layer of the
// same name; when one is not, fall back to the network's unconnected outputs, which
// are the graph outputs in order.
Result<std::vector<cv::String>> output_layers(cv::dnn::Net& net, const ModelSignature& signature) {
  std::vector<cv::String> names;
  bool all_found = true;
  for (const auto& spec : signature.outputs) {
    all_found = all_found && net.getLayerId(spec.name) >= 0;
    names.push_back(spec.name);
  }
  if (all_found) return names;
  auto unconnected = net.getUnconnectedOutLayersNames();
  if (unconnected.size() != signature.outputs.size()) {
    return data_loss("OpenCV DNN cannot find the ONNX model's outputs in the network it built");
  }
  return std::vector<cv::String>(unconnected.begin(), unconnected.end());
}

}  // namespace

Result<std::unique_ptr<Backend>> load_onnx(const LoadRequest& request) {
  QUIVER_ASSIGN_OR_RETURN(auto bytes, read_file(request.artifact_path));
  QUIVER_ASSIGN_OR_RETURN(auto io, onnx::parse_onnx_graph_io(std::as_bytes(std::span(bytes))));
  QUIVER_ASSIGN_OR_RETURN(auto signature, onnx::effective_onnx_signature(io, request.declared));
  for (const auto& spec : signature.inputs) {
    if (spec.dtype != DataType::kFp32) {
      return invalid_argument("the onnx backend supports FP32 inputs only; input '" + spec.name + "' is " +
                              std::string(datatype_name(spec.dtype)));
    }
  }
  set_opencv_threads_once(request.intra_op_threads);
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes);
    if (net.empty()) return data_loss("OpenCV DNN built an empty network from the ONNX model");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    QUIVER_ASSIGN_OR_RETURN(auto layers, output_layers(net, signature));
    return std::unique_ptr<Backend>(new OnnxBackend(std::move(net), std::move(signature), std::move(layers)));
  } catch (const cv::Exception& e) {
    return data_loss("OpenCV DNN cannot load the ONNX model: " + describe(e));
  } catch (const std::exception& e) {
    return data_loss("OpenCV DNN cannot load the ONNX model: " + std::string(e.what()));
  }
}

}  // namespace quiver::backends
