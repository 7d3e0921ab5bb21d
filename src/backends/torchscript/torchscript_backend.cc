#include "backends/torchscript/torchscript_backend.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace quiver::backends {
namespace {

// libtorch messages run over many lines (a TorchScript traceback, then the error).
// The line that names the error ("RuntimeError: mat1 and mat2 shapes cannot be
// multiplied ...") is the last one of that form; without one, the first line is
// the message.
std::string summarize_torch_error(std::string_view message) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const size_t colon = it->find(": ");
    if (colon == std::string_view::npos || colon == 0) continue;
    const std::string_view kind = it->substr(0, colon);
    const bool is_identifier = std::all_of(kind.begin(), kind.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    });
    if (is_identifier && (kind.ends_with("Error") || kind.ends_with("Exception"))) return std::string(*it);
  }
  return lines.empty() ? std::string("(no message)") : std::string(lines.front());
}

void set_torch_threads_once(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] { at::set_num_threads(std::max(1, threads)); });
}

std::optional<at::ScalarType> torch_dtype(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return at::kBool;
    case DataType::kUint8: return at::kByte;
    case DataType::kInt8: return at::kChar;
    case DataType::kInt16: return at::kShort;
    case DataType::kInt32: return at::kInt;
    case DataType::kInt64: return at::kLong;
    case DataType::kFp16: return at::kHalf;
    case DataType::kFp32: return at::kFloat;
    case DataType::kFp64: return at::kDouble;
    default: return std::nullopt;  // torch 1.13 has no UINT16/32/64; BYTES is not numeric
  }
}

std::optional<DataType> quiver_dtype(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBool: return DataType::kBool;
    case at::kByte: return DataType::kUint8;
    case at::kChar: return DataType::kInt8;
    case at::kShort: return DataType::kInt16;
    case at::kInt: return DataType::kInt32;
    case at::kLong: return DataType::kInt64;
    case at::kHalf: return DataType::kFp16;
    case at::kFloat: return DataType::kFp32;
    case at::kDouble: return DataType::kFp64;
    default: return std::nullopt;
  }
}

Status unsupported_dtype(const std::string& name, DataType dtype) {
  return invalid_argument("the torchscript backend does not support " + std::string(datatype_name(dtype)) +
                          " (tensor '" + name + "')");
}

// Copies the tensor's bytes into a tensor libtorch owns. Wrapping them with
// from_blob would save a copy, but a model may modify its input in place (x.clamp_(),
// x /= 255), and the bytes are shared with shadow copies of the same request.
Result<at::Tensor> to_torch(const Tensor& t) {
  auto dtype = torch_dtype(t.dtype());
  if (!dtype) return unsupported_dtype(t.name(), t.dtype());
  auto count = quiver::element_count(t.shape());
  if (!count || t.byte_size() != static_cast<size_t>(*count) * datatype_size(t.dtype())) {
    return invalid_argument("input '" + t.name() + "' has " + std::to_string(t.byte_size()) +
                            " bytes, which does not fit shape " + shape_to_string(t.shape()));
  }
  at::Tensor out = at::empty(t.shape(), at::TensorOptions().dtype(*dtype));
  if (t.byte_size() != 0) std::memcpy(out.data_ptr(), t.bytes().data(), t.byte_size());
  return out;
}

Result<Tensor> from_torch(std::string name, const at::Tensor& value) {
  at::Tensor t = value.detach();
  if (!t.device().is_cpu()) t = t.cpu();
  t = t.contiguous();
  auto dtype = quiver_dtype(t.scalar_type());
  if (!dtype) {
    return internal_error("output '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
                          ", which Quiver cannot return");
  }
  const size_t size = static_cast<size_t>(t.numel()) * t.element_size();
  std::vector<std::byte> bytes(size);
  if (size != 0) std::memcpy(bytes.data(), t.data_ptr(), size);
  return Tensor(std::move(name), *dtype, Shape(t.sizes().begin(), t.sizes().end()), std::move(bytes));
}

class TorchScriptBackend final : public Backend {
 public:
  TorchScriptBackend(torch::jit::Module module, ModelSignature signature)
      : module_(std::move(module)), signature_(std::move(signature)) {}

  const ModelSignature& signature() const override { return signature_; }

  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override {
    try {
      QUIVER_ASSIGN_OR_RETURN(auto args, forward_arguments(inputs));
      c10::IValue result;
      {
        c10::InferenceMode inference_mode;
        result = module_.forward(std::move(args));
      }
      return name_outputs(result);
    } catch (const c10::Error& e) {
      return internal_error("model raised: " + summarize_torch_error(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      return internal_error("model raised: " + summarize_torch_error(e.what()));
    }
  }

 private:
  Result<std::vector<c10::IValue>> forward_arguments(const std::vector<Tensor>& inputs) const {
    std::vector<c10::IValue> args;
    if (signature_.inputs.empty()) {
      for (const auto& t : inputs) {
        QUIVER_ASSIGN_OR_RETURN(auto value, to_torch(t));
        args.emplace_back(std::move(value));
      }
      return args;
    }
    for (const auto& spec : signature_.inputs) {
      auto it = std::find_if(inputs.begin(), inputs.end(), [&](const Tensor& t) { return t.name() == spec.name; });
      if (it == inputs.end()) return invalid_argument("missing input '" + spec.name + "'");
      QUIVER_ASSIGN_OR_RETURN(auto value, to_torch(*it));
      args.emplace_back(std::move(value));
    }
    return args;
  }

  Result<std::vector<Tensor>> name_outputs(const c10::IValue& result) const {
    const auto& declared = signature_.outputs;
    std::vector<Tensor> outputs;
    if (result.isGenericDict()) {
      // Keys name the outputs; declared outputs pick and order them.
      std::vector<std::pair<std::string, at::Tensor>> entries;
      for (const auto& entry : result.toGenericDict()) {
        if (!entry.key().isString() || !entry.value().isTensor()) {
          return internal_error("model returned a dict that is not str -> Tensor");
        }
        entries.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
      }
      if (declared.empty()) {
        for (auto& [key, value] : entries) {
          QUIVER_ASSIGN_OR_RETURN(auto t, from_torch(key, value));
          outputs.push_back(std::move(t));
        }
        return outputs;
      }
      for (const auto& spec : declared) {
        auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == spec.name; });
        if (it == entries.end()) return internal_error("model's output dict has no key '" + spec.name + "'");
        QUIVER_ASSIGN_OR_RETURN(auto t, from_torch(spec.name, it->second));
        outputs.push_back(std::move(t));
      }
      return outputs;
    }

    std::vector<at::Tensor> values;
    if (result.isTensor()) {
      values.push_back(result.toTensor());
    } else if (result.isTuple() || result.isList()) {
      const auto elements = result.isTuple() ? result.toTupleRef().elements().vec() : result.toListRef().vec();
      for (const auto& e : elements) {
        if (!e.isTensor()) return internal_error("model returned a " + e.tagKind() + " where a Tensor was expected");
        values.push_back(e.toTensor());
      }
    } else {
      return internal_error("model returned a " + result.tagKind() +
                            "; expected a Tensor, a tuple or list of Tensors, or a dict of str -> Tensor");
    }
    if (!declared.empty() && declared.size() != values.size()) {
      return internal_error("model returned " + std::to_string(values.size()) + " tensors but the signature declares " +
                            std::to_string(declared.size()) + " outputs");
    }
    for (size_t i = 0; i < values.size(); ++i) {
      std::string name = declared.empty() ? "output__" + std::to_string(i) : declared[i].name;
      QUIVER_ASSIGN_OR_RETURN(auto t, from_torch(std::move(name), values[i]));
      outputs.push_back(std::move(t));
    }
    return outputs;
  }

  torch::jit::Module module_;
  ModelSignature signature_;
};

// forward()'s parameters bound the number of declared inputs. The first parameter of a
// method's schema is the module itself, whatever the source called it (self, this, m).
Status check_forward_arity(const torch::jit::Module& module, const ModelSignature& declared) {
  if (declared.inputs.empty()) return Status::ok();
  auto method = module.find_method("forward");
  if (!method) return data_loss("artifact is not a loadable TorchScript module: it has no forward() method");
  const auto& arguments = method->function().getSchema().arguments();
  size_t total = 0;
  size_t required = 0;
  for (size_t i = 1; i < arguments.size(); ++i) {
    const auto& arg = arguments[i];
    ++total;
    if (!arg.default_value()) ++required;
  }
  const size_t n = declared.inputs.size();
  if (n < required || n > total) {
    return invalid_argument("the model's forward() takes " +
                            (required == total ? std::to_string(total)
                                               : std::to_string(required) + " to " + std::to_string(total)) +
                            " tensors but the signature declares " + std::to_string(n) + " inputs");
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Backend>> load_torchscript(const LoadRequest& request) {
  for (const auto* specs : {&request.declared.inputs, &request.declared.outputs}) {
    for (const auto& spec : *specs) {
      if (!torch_dtype(spec.dtype)) return unsupported_dtype(spec.name, spec.dtype);
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(request.artifact_path, ec)) {
    return not_found("cannot open the TorchScript artifact " + request.artifact_path.string());
  }
  set_torch_threads_once(request.intra_op_threads);
  try {
    torch::jit::Module module = torch::jit::load(request.artifact_path.string(), torch::kCPU);
    module.eval();
    QUIVER_RETURN_IF_ERROR(check_forward_arity(module, request.declared));
    return std::unique_ptr<Backend>(new TorchScriptBackend(std::move(module), request.declared));
  } catch (const c10::Error& e) {
    return data_loss("artifact is not a loadable TorchScript module: " +
                     summarize_torch_error(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return data_loss("artifact is not a loadable TorchScript module: " + summarize_torch_error(e.what()));
  }
}

}  // namespace quiver::backends
