#include "api/grpc/infer_tensors.h"

#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

namespace quiver::grpc_api {
namespace {

using inference::InferTensorContents;

std::string quoted_input(const std::string& name) { return "input '" + name + "'"; }

// The typed field that carries a datatype's values; empty for FP16, which has none.
std::string_view typed_field_for(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return "bool_contents";
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32: return "int_contents";
    case DataType::kInt64: return "int64_contents";
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32: return "uint_contents";
    case DataType::kUint64: return "uint64_contents";
    case DataType::kFp32: return "fp32_contents";
    case DataType::kFp64: return "fp64_contents";
    case DataType::kBytes: return "bytes_contents";
    case DataType::kFp16: return {};
  }
  return {};
}

struct FilledField {
  std::string_view name;
  int count;
};

// The typed fields that hold at least one value.
std::vector<FilledField> filled_fields(const InferTensorContents& c) {
  const FilledField all[] = {
      {"bool_contents", c.bool_contents_size()},   {"int_contents", c.int_contents_size()},
      {"int64_contents", c.int64_contents_size()}, {"uint_contents", c.uint_contents_size()},
      {"uint64_contents", c.uint64_contents_size()}, {"fp32_contents", c.fp32_contents_size()},
      {"fp64_contents", c.fp64_contents_size()},   {"bytes_contents", c.bytes_contents_size()},
  };
  std::vector<FilledField> out;
  for (const auto& f : all)
    if (f.count > 0) out.push_back(f);
  return out;
}

// Packs protobuf values into the tensor's element type, refusing values the element
// type cannot hold (int_contents is int32 for INT8 and INT16 too).
template <typename Out, typename Values>
Result<std::vector<std::byte>> pack_values(const Values& values, const std::string& input, DataType dtype) {
  std::vector<std::byte> bytes(static_cast<size_t>(values.size()) * sizeof(Out));
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    if constexpr (std::is_integral_v<Out> && !std::is_same_v<std::remove_cv_t<decltype(v)>, bool>) {
      if (!std::in_range<Out>(v))
        return invalid_argument(quoted_input(input) + ": value " + std::to_string(v) + " at index " +
                                std::to_string(i) + " is out of range for " + std::string(datatype_name(dtype)));
    }
    const Out element = static_cast<Out>(v);
    std::memcpy(bytes.data() + static_cast<size_t>(i) * sizeof(Out), &element, sizeof(Out));
  }
  return bytes;
}

Result<std::vector<std::byte>> decode_typed(const inference::ModelInferRequest::InferInputTensor& input,
                                            DataType dtype, const Shape& shape, int64_t count) {
  const std::string_view field = typed_field_for(dtype);
  if (field.empty())
    return invalid_argument(quoted_input(input.name()) + " is " + std::string(datatype_name(dtype)) +
                            ", which has no typed contents field; send its bytes in raw_input_contents");
  int given = 0;
  for (const auto& f : filled_fields(input.contents())) {
    if (f.name != field)
      return invalid_argument(quoted_input(input.name()) + " is " + std::string(datatype_name(dtype)) +
                              ", whose values go in contents." + std::string(field) + ", but it has values in contents." +
                              std::string(f.name));
    given = f.count;
  }
  if (given != count)
    return invalid_argument(quoted_input(input.name()) + " has " + std::to_string(given) + " values in contents." +
                            std::string(field) + " but shape " + shape_to_string(shape) + " needs " +
                            std::to_string(count));

  const InferTensorContents& c = input.contents();
  const std::string& name = input.name();
  switch (dtype) {
    case DataType::kBool: return pack_values<uint8_t>(c.bool_contents(), name, dtype);
    case DataType::kInt8: return pack_values<int8_t>(c.int_contents(), name, dtype);
    case DataType::kInt16: return pack_values<int16_t>(c.int_contents(), name, dtype);
    case DataType::kInt32: return pack_values<int32_t>(c.int_contents(), name, dtype);
    case DataType::kInt64: return pack_values<int64_t>(c.int64_contents(), name, dtype);
    case DataType::kUint8: return pack_values<uint8_t>(c.uint_contents(), name, dtype);
    case DataType::kUint16: return pack_values<uint16_t>(c.uint_contents(), name, dtype);
    case DataType::kUint32: return pack_values<uint32_t>(c.uint_contents(), name, dtype);
    case DataType::kUint64: return pack_values<uint64_t>(c.uint64_contents(), name, dtype);
    case DataType::kFp32: return pack_values<float>(c.fp32_contents(), name, dtype);
    case DataType::kFp64: return pack_values<double>(c.fp64_contents(), name, dtype);
    case DataType::kBytes: {
      const std::vector<std::string> elements(c.bytes_contents().begin(), c.bytes_contents().end());
      return encode_bytes_elements(elements);
    }
    case DataType::kFp16: break;  // refused above
  }
  return internal_error("unhandled datatype " + std::string(datatype_name(dtype)));
}

Result<std::vector<std::byte>> decode_raw(const inference::ModelInferRequest& request, int index, DataType dtype,
                                          const Shape& shape, int64_t count) {
  const auto& input = request.inputs(index);
  if (auto filled = filled_fields(input.contents()); !filled.empty())
    return invalid_argument(quoted_input(input.name()) + " has values in contents." + std::string(filled.front().name) +
                            " but the request uses raw_input_contents; use one form for every input");
  const std::string& raw = request.raw_input_contents(index);
  const size_t element_size = datatype_size(dtype);
  // BYTES elements have variable length; Tensor::validate() checks their framing.
  if (element_size > 0 && (raw.size() % element_size != 0 || raw.size() / element_size != static_cast<uint64_t>(count)))
    return invalid_argument(quoted_input(input.name()) + ": raw_input_contents[" + std::to_string(index) + "] has " +
                            std::to_string(raw.size()) + " bytes but " + std::string(datatype_name(dtype)) +
                            " shape " + shape_to_string(shape) + " needs " +
                            std::to_string(static_cast<uint64_t>(count) * element_size));
  std::vector<std::byte> bytes(raw.size());
  if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), raw.size());
  return bytes;
}

template <typename T>
T element_at(const Tensor& t, int64_t i) {
  T v;
  std::memcpy(&v, t.bytes().data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return v;
}

template <typename T, typename Field>
void append_values(const Tensor& t, Field& field) {
  const int64_t n = static_cast<int64_t>(t.byte_size() / sizeof(T));
  field.Reserve(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) field.Add(element_at<T>(t, i));
}

void fill_typed(const Tensor& t, InferTensorContents& c) {
  switch (t.dtype()) {
    case DataType::kBool: {
      for (std::byte b : t.bytes()) c.add_bool_contents(b != std::byte{0});
      return;
    }
    case DataType::kInt8: return append_values<int8_t>(t, *c.mutable_int_contents());
    case DataType::kInt16: return append_values<int16_t>(t, *c.mutable_int_contents());
    case DataType::kInt32: return append_values<int32_t>(t, *c.mutable_int_contents());
    case DataType::kInt64: return append_values<int64_t>(t, *c.mutable_int64_contents());
    case DataType::kUint8: return append_values<uint8_t>(t, *c.mutable_uint_contents());
    case DataType::kUint16: return append_values<uint16_t>(t, *c.mutable_uint_contents());
    case DataType::kUint32: return append_values<uint32_t>(t, *c.mutable_uint_contents());
    case DataType::kUint64: return append_values<uint64_t>(t, *c.mutable_uint64_contents());
    case DataType::kFp32: return append_values<float>(t, *c.mutable_fp32_contents());
    case DataType::kFp64: return append_values<double>(t, *c.mutable_fp64_contents());
    case DataType::kBytes: {
      auto elements = bytes_elements(t);
      if (!elements.is_ok()) return;  // excluded by can_send_typed()
      for (std::string_view e : *elements) c.add_bytes_contents(std::string(e));
      return;
    }
    case DataType::kFp16: return;  // excluded by can_send_typed()
  }
}

// Typed contents need a typed field for every output; otherwise the whole response
// goes raw, because the protocol does not allow mixing the two forms.
bool can_send_typed(const std::vector<Tensor>& outputs) {
  for (const auto& t : outputs) {
    if (t.dtype() == DataType::kFp16) return false;
    if (t.dtype() == DataType::kBytes && !bytes_elements(t).is_ok()) return false;
  }
  return true;
}

}  // namespace

Result<DecodedInputs> decode_inputs(const inference::ModelInferRequest& request, const TensorLimits& limits) {
  DecodedInputs out;
  if (static_cast<size_t>(request.inputs_size()) > limits.max_tensors)
    return invalid_argument("the request has " + std::to_string(request.inputs_size()) + " inputs; at most " +
                            std::to_string(limits.max_tensors) + " are allowed");
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size())
    return invalid_argument("raw_input_contents has " + std::to_string(request.raw_input_contents_size()) +
                            " entries but the request has " + std::to_string(request.inputs_size()) +
                            " inputs; send one entry per input, in input order");
  out.typed = !raw && request.inputs_size() > 0;
  out.tensors.reserve(static_cast<size_t>(request.inputs_size()));
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    if (input.name().empty()) return invalid_argument("input #" + std::to_string(i) + " has no name");
    const auto dtype = parse_datatype(input.datatype());
    if (!dtype)
      return invalid_argument(quoted_input(input.name()) + " has unknown datatype '" + input.datatype() +
                              "'; expected BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64 or BYTES");
    Shape shape(input.shape().begin(), input.shape().end());
    QUIVER_RETURN_IF_ERROR(check_declared_shape(quoted_input(input.name()), *dtype, shape, limits));
    const auto count = element_count(shape);
    if (!count) return invalid_argument(quoted_input(input.name()) + " has an invalid shape " + shape_to_string(shape));
    auto bytes = raw ? decode_raw(request, i, *dtype, shape, *count) : decode_typed(input, *dtype, shape, *count);
    if (!bytes.is_ok()) return bytes.status();
    Tensor tensor(input.name(), *dtype, std::move(shape), std::move(bytes).value());
    QUIVER_RETURN_IF_ERROR(tensor.validate());
    out.tensors.push_back(std::move(tensor));
  }
  return out;
}

void encode_outputs(const std::vector<Tensor>& outputs, bool typed, inference::ModelInferResponse& response) {
  const bool send_typed = typed && can_send_typed(outputs);
  for (const auto& t : outputs) {
    auto* out = response.add_outputs();
    out->set_name(t.name());
    out->set_datatype(std::string(datatype_name(t.dtype())));
    for (int64_t d : t.shape()) out->add_shape(d);
    if (send_typed) {
      fill_typed(t, *out->mutable_contents());
    } else {
      const auto bytes = t.bytes();
      response.add_raw_output_contents(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
  }
}

Params decode_parameters(const ProtoParameters& parameters) {
  Params out;
  for (const auto& [key, p] : parameters) {
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam: out[key] = p.bool_param(); break;
      case inference::InferParameter::kInt64Param: out[key] = p.int64_param(); break;
      case inference::InferParameter::kStringParam: out[key] = p.string_param(); break;
      case inference::InferParameter::kDoubleParam: out[key] = p.double_param(); break;
      case inference::InferParameter::kUint64Param: {
        const uint64_t v = p.uint64_param();
        if (std::in_range<int64_t>(v)) {
          out[key] = static_cast<int64_t>(v);
        } else {
          out[key] = static_cast<double>(v);
        }
        break;
      }
      case inference::InferParameter::PARAMETER_CHOICE_NOT_SET: break;
    }
  }
  return out;
}

}  // namespace quiver::grpc_api
