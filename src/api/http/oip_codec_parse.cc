// Parsing of Open Inference Protocol bodies (requests and responses) with simdjson's
// DOM API in its error-code form, so nothing throws.
#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "api/http/oip_codec.h"

namespace quiver::http {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// A parser keeps its buffers between parses; one per thread avoids a lock and an
// allocation per request. After an unusually large body it is replaced so that a
// single big request does not pin its memory in every worker thread for good.
constexpr size_t kKeepParserCapacity = size_t{64} << 20;

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

void release_large_parser() {
  auto& parser = thread_parser();
  if (parser.capacity() > kKeepParserCapacity) parser = simdjson::dom::parser();
}

std::string_view type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

// Where a tensor's problem lies, for messages: "input 'x'" or "output 3".
struct TensorContext {
  std::string_view kind;  // "input" or "output"
  std::string label;
  DataType dtype = DataType::kFp32;

  Status error(std::string_view what) const { return invalid_argument(fmt::format("{} {}: {}", kind, label, what)); }
  Status element_error(size_t index, std::string_view what) const {
    return invalid_argument(fmt::format("{} {} element {}: {}", kind, label, index, what));
  }
};

// ---- Scalar conversion, one overload set per destination type. ----

std::string json_number_text(element e) {
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  if (!e.get(i)) return fmt::format("{}", i);
  if (!e.get(u)) return fmt::format("{}", u);
  if (!e.get(d)) return fmt::format("{}", d);
  return "value";
}

template <typename T>
Status convert_integer(element e, size_t index, const TensorContext& ctx, T& out) {
  using Limits = std::numeric_limits<T>;
  const element_type t = e.type();
  bool in_range = false;
  if (t == element_type::INT64) {
    const int64_t v = e.get_int64().value_unsafe();
    if constexpr (Limits::is_signed) in_range = v >= Limits::min() && v <= Limits::max();
    else in_range = v >= 0 && static_cast<uint64_t>(v) <= Limits::max();
    if (in_range) out = static_cast<T>(v);
  } else if (t == element_type::UINT64) {
    const uint64_t v = e.get_uint64().value_unsafe();
    in_range = v <= static_cast<uint64_t>(Limits::max());
    if (in_range) out = static_cast<T>(v);
  } else if (t == element_type::DOUBLE) {
    const double v = e.get_double().value_unsafe();
    if (v != std::trunc(v))  // also true for NaN, which JSON cannot hold anyway
      return ctx.element_error(index, fmt::format("{} is not an integer, as {} needs", v, datatype_name(ctx.dtype)));
    // The bounds as doubles: min() is exact (a power of two); max()+1 is too.
    const double lo = static_cast<double>(Limits::min());
    const double hi_exclusive = std::ldexp(1.0, Limits::digits);
    in_range = v >= lo && v < hi_exclusive;
    if (in_range) out = static_cast<T>(v);
  } else {
    return ctx.element_error(index, fmt::format("expected a number for {}, got {}", datatype_name(ctx.dtype),
                                                type_name(t)));
  }
  if (!in_range)
    return ctx.element_error(index, fmt::format("{} is out of range for {}", json_number_text(e),
                                                datatype_name(ctx.dtype)));
  return Status::ok();
}

// Reads any JSON number (or null as NaN) as a double for the floating-point types.
Status read_float(element e, size_t index, const TensorContext& ctx, double& out) {
  switch (e.type()) {
    case element_type::DOUBLE: out = e.get_double().value_unsafe(); return Status::ok();
    case element_type::INT64: out = static_cast<double>(e.get_int64().value_unsafe()); return Status::ok();
    case element_type::UINT64: out = static_cast<double>(e.get_uint64().value_unsafe()); return Status::ok();
    case element_type::NULL_VALUE: out = std::numeric_limits<double>::quiet_NaN(); return Status::ok();
    default:
      return ctx.element_error(index, fmt::format("expected a number for {}, got {}", datatype_name(ctx.dtype),
                                                  type_name(e.type())));
  }
}

Status convert(element e, size_t index, const TensorContext& ctx, double& out) { return read_float(e, index, ctx, out); }

Status convert(element e, size_t index, const TensorContext& ctx, float& out) {
  double v = 0;
  QUIVER_RETURN_IF_ERROR(read_float(e, index, ctx, v));
  // Values from FLT_MAX up to half an ulp above it still round to FLT_MAX; beyond
  // that the float would be Inf, which the sender cannot have meant.
  constexpr double kOverflow = 0x1.ffffffp127;  // 2^128 - 2^103
  if (std::fabs(v) >= kOverflow)
    return ctx.element_error(index, fmt::format("{} is out of range for FP32", v));
  out = static_cast<float>(v);
  return Status::ok();
}

// FP16 travels as uint16_t bits.
struct Half {
  uint16_t bits;
};
Status convert(element e, size_t index, const TensorContext& ctx, Half& out) {
  double v = 0;
  QUIVER_RETURN_IF_ERROR(read_float(e, index, ctx, v));
  out.bits = fp16_from_double(v);
  if (std::isfinite(v) && (out.bits & 0x7FFF) == 0x7C00)
    return ctx.element_error(index, fmt::format("{} is out of range for FP16", v));
  return Status::ok();
}

// BOOL is one byte, 0 or 1.
struct Bool {
  uint8_t value;
};
Status convert(element e, size_t index, const TensorContext& ctx, Bool& out) {
  bool b = false;
  int64_t i = 0;
  if (!e.get(b)) {
    out.value = b ? 1 : 0;
  } else if (!e.get(i) && (i == 0 || i == 1)) {
    out.value = static_cast<uint8_t>(i);
  } else {
    const std::string got = e.is_number() ? json_number_text(e) : std::string(type_name(e.type()));
    return ctx.element_error(index, fmt::format("expected true, false, 0 or 1 for BOOL, got {}", got));
  }
  return Status::ok();
}

template <typename T>
  requires std::is_integral_v<T>
Status convert(element e, size_t index, const TensorContext& ctx, T& out) {
  return convert_integer(e, index, ctx, out);
}

Status convert(element e, size_t index, const TensorContext& ctx, std::string_view& out) {
  if (e.get(out)) return ctx.element_error(index, fmt::format("expected a string for BYTES, got {}", type_name(e.type())));
  return Status::ok();
}

// ---- Walking "data": nested arrays are flattened in row-major order. ----

void count_leaves(array a, uint64_t& count) {
  for (element e : a) {
    array inner;
    if (!e.get(inner)) count_leaves(inner, count);
    else ++count;
  }
}

// Preconditions: `out` holds exactly as many slots as `a` has leaves.
template <typename T>
Status fill(array a, size_t& index, const TensorContext& ctx, T* out) {
  for (element e : a) {
    array inner;
    if (!e.get(inner)) {
      QUIVER_RETURN_IF_ERROR(fill(inner, index, ctx, out));
      continue;
    }
    QUIVER_RETURN_IF_ERROR(convert(e, index, ctx, out[index]));
    ++index;
  }
  return Status::ok();
}

template <typename T>
Result<std::vector<std::byte>> convert_all(array data, size_t count, const TensorContext& ctx) {
  std::vector<T> values(count);
  size_t index = 0;
  QUIVER_RETURN_IF_ERROR(fill(data, index, ctx, values.data()));
  std::vector<std::byte> bytes(count * sizeof(T));
  if (count) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

Result<std::vector<std::byte>> convert_bytes(array data, size_t count, const TensorContext& ctx) {
  std::vector<std::string_view> views(count);
  size_t index = 0;
  QUIVER_RETURN_IF_ERROR(fill(data, index, ctx, views.data()));
  size_t total = 0;
  for (auto v : views) {
    if (v.size() > std::numeric_limits<uint32_t>::max())
      return ctx.error("a BYTES element is longer than 4 GiB");
    total += 4 + v.size();
  }
  std::vector<std::byte> bytes(total);
  std::byte* p = bytes.data();
  for (auto v : views) {
    const auto len = static_cast<uint32_t>(v.size());
    std::memcpy(p, &len, 4);  // little-endian hosts only, as core/tensor.h
    if (len) std::memcpy(p + 4, v.data(), len);
    p += 4 + len;
  }
  return bytes;
}

Result<std::vector<std::byte>> convert_data(array data, size_t count, const TensorContext& ctx) {
  switch (ctx.dtype) {
    case DataType::kBool: return convert_all<Bool>(data, count, ctx);
    case DataType::kUint8: return convert_all<uint8_t>(data, count, ctx);
    case DataType::kUint16: return convert_all<uint16_t>(data, count, ctx);
    case DataType::kUint32: return convert_all<uint32_t>(data, count, ctx);
    case DataType::kUint64: return convert_all<uint64_t>(data, count, ctx);
    case DataType::kInt8: return convert_all<int8_t>(data, count, ctx);
    case DataType::kInt16: return convert_all<int16_t>(data, count, ctx);
    case DataType::kInt32: return convert_all<int32_t>(data, count, ctx);
    case DataType::kInt64: return convert_all<int64_t>(data, count, ctx);
    case DataType::kFp16: return convert_all<Half>(data, count, ctx);
    case DataType::kFp32: return convert_all<float>(data, count, ctx);
    case DataType::kFp64: return convert_all<double>(data, count, ctx);
    case DataType::kBytes: return convert_bytes(data, count, ctx);
  }
  return ctx.error("unsupported datatype");
}

// ---- Tensors and the binary section. ----

// A tensor whose bytes come from the binary section, resolved once all are known.
struct PendingBinary {
  size_t tensor_index;
  size_t size;
};

std::string datatype_list() {
  std::string s;
  for (int i = 0; i <= static_cast<int>(DataType::kBytes); ++i)
    s += (i ? ", " : "") + std::string(datatype_name(static_cast<DataType>(i)));
  return s;
}

Result<Shape> parse_shape(element e, const TensorContext& ctx, const TensorLimits& limits) {
  array a;
  if (e.get(a)) return ctx.error(fmt::format("'shape' must be an array of integers, got {}", type_name(e.type())));
  if (a.size() > limits.max_dims)
    return ctx.error(fmt::format("shape has {} dimensions; at most {} are allowed", a.size(), limits.max_dims));
  Shape shape;
  for (element d : a) {
    int64_t v = 0;
    if (d.get(v))
      return ctx.error(fmt::format("shape dimension {} must be an integer, got {}", shape.size(),
                                   d.is_number() ? json_number_text(d) : std::string(type_name(d.type()))));
    if (v < 0) return ctx.error(fmt::format("shape dimension {} is {}; dimensions must not be negative", shape.size(), v));
    shape.push_back(v);
  }
  return shape;
}

// Parses one entry of "inputs" (or "outputs" of a response) into `tensors`; a binary
// one is left empty and recorded in `pending`.
Status parse_tensor(element e, size_t position, std::string_view kind, const TensorLimits& limits,
                    std::vector<Tensor>& tensors, std::vector<PendingBinary>& pending) {
  TensorContext ctx{kind, std::to_string(position)};
  object obj;
  if (e.get(obj)) return ctx.error(fmt::format("must be an object, got {}", type_name(e.type())));

  std::string_view name;
  element field;
  if (obj["name"].get(field)) return ctx.error("has no 'name'");
  if (field.get(name)) return ctx.error(fmt::format("'name' must be a string, got {}", type_name(field.type())));
  ctx.label = fmt::format("'{}'", name);
  for (const auto& t : tensors)
    if (t.name() == name) return ctx.error(fmt::format("appears more than once in '{}s'", kind));

  std::string_view dtype_text;
  if (obj["datatype"].get(field)) return ctx.error("has no 'datatype'");
  if (field.get(dtype_text)) return ctx.error(fmt::format("'datatype' must be a string, got {}", type_name(field.type())));
  const auto dtype = parse_datatype(dtype_text);
  if (!dtype) return ctx.error(fmt::format("unknown datatype '{}'; expected one of {}", dtype_text, datatype_list()));
  ctx.dtype = *dtype;

  if (obj["shape"].get(field)) return ctx.error("has no 'shape'");
  QUIVER_ASSIGN_OR_RETURN(Shape shape, parse_shape(field, ctx, limits));
  QUIVER_RETURN_IF_ERROR(check_declared_shape(fmt::format("{} {}", kind, ctx.label), *dtype, shape, limits));
  const auto count = element_count(shape);  // cannot overflow: checked above
  if (!count) return ctx.error(fmt::format("shape {} has too many elements", shape_to_string(shape)));

  std::optional<size_t> binary_size;
  if (!obj["parameters"].get(field)) {
    object params;
    if (field.get(params)) return ctx.error(fmt::format("'parameters' must be an object, got {}", type_name(field.type())));
    element size_field;
    if (!params["binary_data_size"].get(size_field)) {
      uint64_t size = 0;
      if (size_field.get(size))
        return ctx.error("parameter 'binary_data_size' must be a non-negative integer");
      binary_size = static_cast<size_t>(size);
    }
  }

  element data;
  const bool has_data = !obj["data"].get(data);
  if (binary_size) {
    if (has_data) return ctx.error("has both 'data' and the binary_data_size parameter");
    pending.push_back({tensors.size(), *binary_size});
    tensors.push_back(Tensor::view(std::string(name), *dtype, std::move(shape), nullptr, nullptr, 0));
    return Status::ok();
  }
  if (!has_data) return ctx.error("has no 'data' (and no binary_data_size parameter)");
  array values;
  if (data.get(values)) return ctx.error(fmt::format("'data' must be an array, got {}", type_name(data.type())));
  uint64_t leaves = 0;
  count_leaves(values, leaves);
  if (leaves != static_cast<uint64_t>(*count))
    return ctx.error(fmt::format("'data' has {} elements but shape {} needs {}", leaves, shape_to_string(shape), *count));
  QUIVER_ASSIGN_OR_RETURN(auto bytes, convert_data(values, static_cast<size_t>(*count), ctx));
  tensors.emplace_back(std::string(name), *dtype, std::move(shape), std::move(bytes));
  return Status::ok();
}

// Points every binary tensor at its slice of the section after the JSON header.
Status resolve_binary(const std::shared_ptr<const std::string>& body, std::optional<size_t> json_length,
                      std::string_view kind, std::vector<Tensor>& tensors, const std::vector<PendingBinary>& pending) {
  const size_t section = json_length ? body->size() - *json_length : 0;
  if (pending.empty()) {
    if (section)
      return invalid_argument(fmt::format("the body has {} bytes after the JSON header but no {} has a "
                                          "binary_data_size parameter", section, kind));
    return Status::ok();
  }
  if (!json_length)
    return invalid_argument(fmt::format("{} '{}' has binary_data_size but the request has no "
                                        "Inference-Header-Content-Length header", kind,
                                        tensors[pending.front().tensor_index].name()));
  uint64_t total = 0;
  for (const auto& p : pending) {
    if (p.size > section || total > section - p.size)
      return invalid_argument(fmt::format("the binary_data_size parameters add up to more than the {} bytes "
                                          "after the JSON header", section));
    total += p.size;
  }
  if (total != section)
    return invalid_argument(fmt::format("the binary_data_size parameters add up to {} bytes but {} bytes follow "
                                        "the JSON header", total, section));
  const auto* base = reinterpret_cast<const std::byte*>(body->data()) + *json_length;
  size_t offset = 0;
  for (const auto& p : pending) {
    Tensor& t = tensors[p.tensor_index];
    t = Tensor::view(t.name(), t.dtype(), t.shape(), body, base + offset, p.size);
    offset += p.size;
    QUIVER_RETURN_IF_ERROR(t.validate().with_context(fmt::format("binary {} '{}'", kind, t.name())));
  }
  return Status::ok();
}

// ---- Whole documents. ----

Status parse_parameters(element e, std::string_view where, Params& out) {
  object obj;
  if (e.get(obj)) return invalid_argument(fmt::format("{}'parameters' must be an object, got {}", where, type_name(e.type())));
  for (auto [key, value] : obj) {
    switch (value.type()) {
      case element_type::BOOL: out[std::string(key)] = value.get_bool().value_unsafe(); break;
      case element_type::INT64: out[std::string(key)] = value.get_int64().value_unsafe(); break;
      case element_type::UINT64: {
        const uint64_t u = value.get_uint64().value_unsafe();
        if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          out[std::string(key)] = static_cast<int64_t>(u);
        else
          out[std::string(key)] = static_cast<double>(u);
        break;
      }
      case element_type::DOUBLE: out[std::string(key)] = value.get_double().value_unsafe(); break;
      case element_type::STRING: out[std::string(key)] = std::string(value.get_string().value_unsafe()); break;
      case element_type::ARRAY:
      case element_type::OBJECT: out[std::string(key)] = simdjson::minify(value); break;
      case element_type::NULL_VALUE: break;
    }
  }
  return Status::ok();
}

Status read_optional_string(object obj, std::string_view key, std::string& out) {
  element e;
  if (obj[key].get(e)) return Status::ok();
  std::string_view s;
  if (e.get(s)) return invalid_argument(fmt::format("'{}' must be a string, got {}", key, type_name(e.type())));
  out = std::string(s);
  return Status::ok();
}

Status parse_requested_outputs(element e, InferRequestData& req) {
  array list;
  if (e.get(list)) return invalid_argument(fmt::format("'outputs' must be an array, got {}", type_name(e.type())));
  for (element item : list) {
    const size_t position = req.outputs.size();
    object obj;
    if (item.get(obj)) return invalid_argument(fmt::format("requested output {} must be an object", position));
    RequestedOutput out;
    std::string_view name;
    element field;
    if (obj["name"].get(field) || field.get(name))
      return invalid_argument(fmt::format("requested output {} needs a string 'name'", position));
    out.name = std::string(name);
    if (!obj["parameters"].get(field)) {
      object params;
      if (field.get(params))
        return invalid_argument(fmt::format("requested output '{}': 'parameters' must be an object", name));
      element binary;
      if (!params["binary_data"].get(binary) && binary.get(out.binary))
        return invalid_argument(fmt::format("requested output '{}': 'binary_data' must be a boolean", name));
    }
    req.outputs.push_back(std::move(out));
  }
  return Status::ok();
}

// Parses the JSON header and hands its root object to `visit`; converts every failure
// (including an unexpected exception) into InvalidArgument / Internal.
template <typename Visit>
Status with_json_root(const std::shared_ptr<const std::string>& body, std::optional<size_t> json_length, Visit&& visit) {
  if (!body || body->empty()) return invalid_argument("the body is empty; expected a JSON object");
  if (json_length && *json_length > body->size())
    return invalid_argument(fmt::format("Inference-Header-Content-Length is {} but the body has only {} bytes",
                                        *json_length, body->size()));
  const size_t length = json_length.value_or(body->size());
  try {
    auto& parser = thread_parser();
    element root;
    if (auto err = parser.parse(body->data(), length).get(root)) {
      release_large_parser();
      return invalid_argument(fmt::format("the body is not valid JSON: {}", simdjson::error_message(err)));
    }
    object obj;
    Status st = root.get(obj) ? invalid_argument(fmt::format("the body must be a JSON object, got {}", type_name(root.type())))
                              : visit(obj);
    release_large_parser();
    return st;
  } catch (const std::bad_alloc&) {
    return payload_too_large("not enough memory to parse the body");
  } catch (const std::exception& e) {
    return internal_error(fmt::format("parsing the body failed: {}", e.what()));
  }
}

Status parse_tensor_list(object root, std::string_view key, std::string_view kind, bool require_non_empty,
                         const std::shared_ptr<const std::string>& body, std::optional<size_t> json_length,
                         const TensorLimits& limits, std::vector<Tensor>& tensors) {
  element field;
  if (root[key].get(field)) return invalid_argument(fmt::format("the body has no '{}' array", key));
  array list;
  if (field.get(list)) return invalid_argument(fmt::format("'{}' must be an array, got {}", key, type_name(field.type())));
  if (require_non_empty && list.size() == 0) return invalid_argument(fmt::format("'{}' must not be empty", key));
  if (list.size() > limits.max_tensors)
    return invalid_argument(fmt::format("'{}' has {} tensors; at most {} are allowed", key, list.size(), limits.max_tensors));
  std::vector<PendingBinary> pending;
  size_t position = 0;
  for (element item : list) QUIVER_RETURN_IF_ERROR(parse_tensor(item, position++, kind, limits, tensors, pending));
  return resolve_binary(body, json_length, kind, tensors, pending);
}

}  // namespace

Result<InferRequestData> parse_infer_request(std::shared_ptr<const std::string> body,
                                             std::optional<size_t> json_length, const TensorLimits& limits) {
  InferRequestData req;
  Status st = with_json_root(body, json_length, [&](object root) -> Status {
    QUIVER_RETURN_IF_ERROR(read_optional_string(root, "id", req.id));
    element field;
    if (!root["parameters"].get(field)) {
      QUIVER_RETURN_IF_ERROR(parse_parameters(field, "", req.parameters));
      auto it = req.parameters.find("binary_data_output");
      if (it != req.parameters.end()) {
        const bool* flag = std::get_if<bool>(&it->second);
        if (!flag) return invalid_argument("request parameter 'binary_data_output' must be a boolean");
        req.binary_output_all = *flag;
      }
    }
    if (!root["outputs"].get(field)) QUIVER_RETURN_IF_ERROR(parse_requested_outputs(field, req));
    return parse_tensor_list(root, "inputs", "input", true, body, json_length, limits, req.inputs);
  });
  if (!st.is_ok()) return st;
  return req;
}

Result<InferResponseData> parse_infer_response(std::shared_ptr<const std::string> body,
                                               std::optional<size_t> json_length) {
  InferResponseData resp;
  Status st = with_json_root(body, json_length, [&](object root) -> Status {
    QUIVER_RETURN_IF_ERROR(read_optional_string(root, "model_name", resp.model_name));
    QUIVER_RETURN_IF_ERROR(read_optional_string(root, "model_version", resp.model_version));
    QUIVER_RETURN_IF_ERROR(read_optional_string(root, "id", resp.id));
    element field;
    if (!root["parameters"].get(field)) QUIVER_RETURN_IF_ERROR(parse_parameters(field, "", resp.parameters));
    // A client takes what the server sends: only overflow is refused.
    constexpr TensorLimits kUnlimited{std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max(),
                                      std::numeric_limits<uint64_t>::max()};
    return parse_tensor_list(root, "outputs", "output", false, body, json_length, kUnlimited, resp.outputs);
  });
  if (!st.is_ok()) return st;
  return resp;
}

}  // namespace quiver::http
