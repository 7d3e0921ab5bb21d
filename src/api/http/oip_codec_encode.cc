// Writing Open Inference Protocol bodies with {fmt}: numbers in their shortest
// round-trip form, straight into the body string.
#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <type_traits>

#include "api/http/http_types.h"
#include "api/http/oip_codec.h"

namespace quiver::http {
namespace {

// One JSON escaper for the whole HTTP layer (http_types.h): invalid UTF-8 becomes
// U+FFFD, because JSON text must be UTF-8.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  out += json_escape(s);
  out += '"';
}

template <typename T>
void append_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {
      out += "null";  // JSON has no NaN or Infinity; see oip_codec.h
      return;
    }
    if (v == 0 && std::signbit(v)) {
      out += "-0.0";  // "-0" could read back as the integer 0 and lose the sign
      return;
    }
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), v);
  } else if constexpr (sizeof(T) == 1) {
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), static_cast<int>(v));
  } else {
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), v);
  }
}

// Writes the elements the bytes hold (count from the byte size, so a malformed
// tensor still gives valid JSON); `write` writes one element.
template <typename Stored, typename Write>
void append_elements(std::string& out, const Tensor& t, Write write) {
  const auto bytes = t.bytes();
  const size_t n = bytes.size() / sizeof(Stored);
  out.reserve(out.size() + n * (sizeof(Stored) <= 2 ? 6 : 14));
  for (size_t i = 0; i < n; ++i) {
    Stored v;
    std::memcpy(&v, bytes.data() + i * sizeof(Stored), sizeof(Stored));
    if (i) out += ',';
    write(v);
  }
}

template <typename T>
void append_typed(std::string& out, const Tensor& t) {
  append_elements<T>(out, t, [&](T v) { append_number(out, v); });
}

void append_bytes_elements(std::string& out, const Tensor& t) {
  const auto b = t.bytes();
  size_t pos = 0;
  bool first = true;
  while (b.size() - pos >= 4) {
    uint32_t len = 0;
    std::memcpy(&len, b.data() + pos, 4);
    pos += 4;
    if (b.size() - pos < len) break;
    if (!first) out += ',';
    first = false;
    append_json_string(out, {reinterpret_cast<const char*>(b.data() + pos), len});
    pos += len;
  }
}

void append_data(std::string& out, const Tensor& t) {
  out += '[';
  switch (t.dtype()) {
    case DataType::kBool:
      append_elements<uint8_t>(out, t, [&](uint8_t v) { out += v ? "true" : "false"; });
      break;
    case DataType::kUint8: append_typed<uint8_t>(out, t); break;
    case DataType::kUint16: append_typed<uint16_t>(out, t); break;
    case DataType::kUint32: append_typed<uint32_t>(out, t); break;
    case DataType::kUint64: append_typed<uint64_t>(out, t); break;
    case DataType::kInt8: append_typed<int8_t>(out, t); break;
    case DataType::kInt16: append_typed<int16_t>(out, t); break;
    case DataType::kInt32: append_typed<int32_t>(out, t); break;
    case DataType::kInt64: append_typed<int64_t>(out, t); break;
    case DataType::kFp16:
      append_elements<uint16_t>(out, t, [&](uint16_t h) { append_number(out, fp16_to_float(h)); });
      break;
    case DataType::kFp32: append_typed<float>(out, t); break;
    case DataType::kFp64: append_typed<double>(out, t); break;
    case DataType::kBytes: append_bytes_elements(out, t); break;
  }
  out += ']';
}

// {"name":..,"datatype":..,"shape":[..], then "data":[..] or the binary size.
void append_tensor(std::string& out, const Tensor& t, bool binary) {
  out += "{\"name\":";
  append_json_string(out, t.name());
  out += ",\"datatype\":\"";
  out += datatype_name(t.dtype());
  out += "\",\"shape\":[";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i) out += ',';
    append_number(out, t.shape()[i]);
  }
  out += ']';
  if (binary) {
    out += ",\"parameters\":{\"binary_data_size\":";
    append_number(out, t.byte_size());
    out += "}}";
    return;
  }
  out += ",\"data\":";
  append_data(out, t);
  out += '}';
}

void append_param(std::string& out, const ParamValue& v) {
  if (const bool* b = std::get_if<bool>(&v)) out += *b ? "true" : "false";
  else if (const int64_t* i = std::get_if<int64_t>(&v)) append_number(out, *i);
  else if (const double* d = std::get_if<double>(&v)) append_number(out, *d);
  else append_json_string(out, std::get<std::string>(v));
}

// Writes the tensor list and appends binary payloads after the closing brace.
EncodedBody finish(std::string json, const std::vector<const Tensor*>& binary) {
  EncodedBody result;
  if (binary.empty()) {
    result.body = std::move(json);
    return result;
  }
  size_t extra = 0;
  for (const Tensor* t : binary) extra += t->byte_size();
  result.json_length = json.size();
  json.reserve(json.size() + extra);
  for (const Tensor* t : binary) json.append(reinterpret_cast<const char*>(t->bytes().data()), t->byte_size());
  result.body = std::move(json);
  return result;
}

}  // namespace

EncodedResponse encode_infer_response(std::string_view model, std::string_view version, std::string_view id,
                                      const std::vector<Tensor>& outputs,
                                      const std::vector<RequestedOutput>& requested, bool binary_output_all) {
  std::string out;
  out.reserve(256);
  out += "{\"model_name\":";
  append_json_string(out, model);
  out += ",\"model_version\":";
  append_json_string(out, version);
  if (!id.empty()) {
    out += ",\"id\":";
    append_json_string(out, id);
  }
  out += ",\"outputs\":[";
  std::vector<const Tensor*> binary;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    bool as_binary = binary_output_all;
    for (const auto& r : requested) as_binary = as_binary || (r.binary && r.name == t.name());
    if (i) out += ',';
    append_tensor(out, t, as_binary);
    if (as_binary) binary.push_back(&t);
  }
  out += "]}";
  return finish(std::move(out), binary);
}

EncodedRequest encode_infer_request(const InferRequestData& request, bool binary_inputs) {
  std::string out = "{";
  if (!request.id.empty()) {
    out += "\"id\":";
    append_json_string(out, request.id);
    out += ',';
  }
  Params params = request.parameters;
  if (request.binary_output_all) params["binary_data_output"] = true;
  if (!params.empty()) {
    out += "\"parameters\":{";
    bool first = true;
    for (const auto& [key, value] : params) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, key);
      out += ':';
      append_param(out, value);
    }
    out += "},";
  }
  out += "\"inputs\":[";
  std::vector<const Tensor*> binary;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (i) out += ',';
    append_tensor(out, request.inputs[i], binary_inputs);
    if (binary_inputs) binary.push_back(&request.inputs[i]);
  }
  out += ']';
  if (!request.outputs.empty()) {
    out += ",\"outputs\":[";
    for (size_t i = 0; i < request.outputs.size(); ++i) {
      if (i) out += ',';
      out += "{\"name\":";
      append_json_string(out, request.outputs[i].name);
      if (request.outputs[i].binary) out += ",\"parameters\":{\"binary_data\":true}";
      out += '}';
    }
    out += ']';
  }
  out += '}';
  return finish(std::move(out), binary);
}

}  // namespace quiver::http
