#include "cli/bench_inputs.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/tensor_args.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

Result<BenchInputSpec> spec_from_json(const json& entry, int64_t batch) {
  const auto where = [&] { return entry.dump(); };
  if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
      !entry.contains("datatype") || !entry["datatype"].is_string()) {
    return invalid_argument(fmt::format("input spec {} needs a string \"name\" and \"datatype\"", where()));
  }
  BenchInputSpec spec;
  spec.name = entry["name"].get<std::string>();
  const auto dtype = parse_datatype(entry["datatype"].get<std::string>());
  if (!dtype) {
    return invalid_argument(fmt::format("input '{}' has an unknown datatype {}", spec.name,
                                        entry["datatype"].dump()));
  }
  spec.dtype = *dtype;
  Shape declared;
  if (entry.contains("shape")) {
    if (!entry["shape"].is_array()) {
      return invalid_argument(fmt::format("input '{}': \"shape\" must be an array of integers", spec.name));
    }
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < -1) {
        return invalid_argument(fmt::format("input '{}': bad dimension {} in its shape", spec.name, dim.dump()));
      }
      declared.push_back(dim.get<int64_t>());
    }
  }
  spec.shape = concrete_shape(declared, batch);
  return spec;
}

// Random IEEE half in [-1, 1): a random sign, a biased exponent from 10 to 14
// (magnitudes 2^-5 to just under 1) and a random mantissa.
uint16_t random_half(std::mt19937_64& rng) {
  const uint64_t bits = rng();
  const auto sign = static_cast<uint16_t>((bits & 1u) << 15);
  const auto exponent = static_cast<uint16_t>((10 + (bits >> 1) % 5) << 10);
  const auto mantissa = static_cast<uint16_t>((bits >> 8) & 0x3ffu);
  return static_cast<uint16_t>(sign | exponent | mantissa);
}

// Only normal halves are produced above, so no subnormal or NaN case is needed.
float half_to_float(uint16_t half) {
  const int exponent = (half >> 10) & 0x1f;
  const float magnitude = std::ldexp(1.0f + static_cast<float>(half & 0x3ffu) / 1024.0f, exponent - 15);
  return (half & 0x8000u) ? -magnitude : magnitude;
}

template <typename T>
void fill(std::vector<std::byte>& bytes, int64_t count, T (*next)(std::mt19937_64&), std::mt19937_64& rng) {
  bytes.resize(static_cast<size_t>(count) * sizeof(T));
  for (int64_t i = 0; i < count; ++i) {
    const T value = next(rng);
    std::memcpy(bytes.data() + static_cast<size_t>(i) * sizeof(T), &value, sizeof(T));
  }
}

template <typename T>
T random_integer(std::mt19937_64& rng) {
  return static_cast<T>(rng() % 100);
}

template <typename T>
T random_real(std::mt19937_64& rng) {
  return static_cast<T>(std::uniform_real_distribution<double>(-1.0, 1.0)(rng));
}

uint8_t random_bool(std::mt19937_64& rng) { return static_cast<uint8_t>(rng() & 1u); }

template <typename T>
T read_value(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Appends the flat "data" array of `t` as JSON text. Values were made by
// random_tensor, so every float is finite.
void append_json_data(std::string& out, const Tensor& t) {
  out += '[';
  const std::byte* p = t.bytes().data();
  const size_t size = datatype_size(t.dtype());
  const int64_t count = t.element_count();
  if (t.dtype() == DataType::kBytes) {
    size_t offset = 0;
    for (int64_t i = 0; i < count; ++i) {
      const auto length = read_value<uint32_t>(p + offset);
      if (i > 0) out += ',';
      // Random letters only: nothing to escape.
      out += '"';
      out.append(reinterpret_cast<const char*>(p + offset + 4), length);
      out += '"';
      offset += 4 + length;
    }
    out += ']';
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    const std::byte* v = p + static_cast<size_t>(i) * size;
    switch (t.dtype()) {
      case DataType::kBool: out += read_value<uint8_t>(v) ? "true" : "false"; break;
      case DataType::kUint8: out += fmt::format("{}", read_value<uint8_t>(v)); break;
      case DataType::kUint16: out += fmt::format("{}", read_value<uint16_t>(v)); break;
      case DataType::kUint32: out += fmt::format("{}", read_value<uint32_t>(v)); break;
      case DataType::kUint64: out += fmt::format("{}", read_value<uint64_t>(v)); break;
      case DataType::kInt8: out += fmt::format("{}", read_value<int8_t>(v)); break;
      case DataType::kInt16: out += fmt::format("{}", read_value<int16_t>(v)); break;
      case DataType::kInt32: out += fmt::format("{}", read_value<int32_t>(v)); break;
      case DataType::kInt64: out += fmt::format("{}", read_value<int64_t>(v)); break;
      case DataType::kFp16: out += fmt::format("{}", half_to_float(read_value<uint16_t>(v))); break;
      case DataType::kFp32: out += fmt::format("{}", read_value<float>(v)); break;
      case DataType::kFp64: out += fmt::format("{}", read_value<double>(v)); break;
      case DataType::kBytes: break;  // handled above
    }
  }
  out += ']';
}

std::string shape_json(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

}  // namespace

Shape concrete_shape(const Shape& declared, int64_t batch) {
  Shape out = declared;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] < 0) out[i] = i == 0 ? batch : 1;
  }
  return out;
}

Result<std::vector<BenchInputSpec>> bench_inputs_from_specs(const json& specs, int64_t batch) {
  if (!specs.is_array() || specs.empty()) {
    return invalid_argument(
        "the model declares no inputs; describe them with --input NAME:DTYPE:DIMS (e.g. input:FP32:-1,4)");
  }
  std::vector<BenchInputSpec> out;
  for (const auto& entry : specs) {
    QUIVER_ASSIGN_OR_RETURN(BenchInputSpec spec, spec_from_json(entry, batch));
    out.push_back(std::move(spec));
  }
  return out;
}

Result<std::vector<BenchInputSpec>> bench_inputs_from_args(const std::vector<std::string>& args,
                                                           int64_t batch) {
  json specs = json::array();
  for (const auto& arg : args) {
    QUIVER_ASSIGN_OR_RETURN(json spec, parse_tensor_spec_arg(arg));
    specs.push_back(std::move(spec));
  }
  return bench_inputs_from_specs(specs, batch);
}

Tensor random_tensor(const BenchInputSpec& spec, std::mt19937_64& rng) {
  int64_t count = 1;
  for (int64_t dim : spec.shape) count *= dim;
  std::vector<std::byte> bytes;
  switch (spec.dtype) {
    case DataType::kBool: fill<uint8_t>(bytes, count, random_bool, rng); break;
    case DataType::kUint8: fill<uint8_t>(bytes, count, random_integer<uint8_t>, rng); break;
    case DataType::kUint16: fill<uint16_t>(bytes, count, random_integer<uint16_t>, rng); break;
    case DataType::kUint32: fill<uint32_t>(bytes, count, random_integer<uint32_t>, rng); break;
    case DataType::kUint64: fill<uint64_t>(bytes, count, random_integer<uint64_t>, rng); break;
    case DataType::kInt8: fill<int8_t>(bytes, count, random_integer<int8_t>, rng); break;
    case DataType::kInt16: fill<int16_t>(bytes, count, random_integer<int16_t>, rng); break;
    case DataType::kInt32: fill<int32_t>(bytes, count, random_integer<int32_t>, rng); break;
    case DataType::kInt64: fill<int64_t>(bytes, count, random_integer<int64_t>, rng); break;
    case DataType::kFp16: fill<uint16_t>(bytes, count, random_half, rng); break;
    case DataType::kFp32: fill<float>(bytes, count, random_real<float>, rng); break;
    case DataType::kFp64: fill<double>(bytes, count, random_real<double>, rng); break;
    case DataType::kBytes: {
      constexpr uint32_t kLength = 8;
      for (int64_t i = 0; i < count; ++i) {
        const auto* length = reinterpret_cast<const std::byte*>(&kLength);
        bytes.insert(bytes.end(), length, length + 4);  // little-endian on every supported host
        for (uint32_t j = 0; j < kLength; ++j) bytes.push_back(static_cast<std::byte>('a' + rng() % 26));
      }
      break;
    }
  }
  return Tensor(spec.name, spec.dtype, spec.shape, std::move(bytes));
}

BenchRequestBody encode_bench_request(const std::vector<Tensor>& inputs, bool binary) {
  std::string header = "{\"inputs\":[";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (i > 0) header += ',';
    header += fmt::format(R"({{"name":{},"shape":{},"datatype":"{}")", json(t.name()).dump(),
                          shape_json(t.shape()), datatype_name(t.dtype()));
    if (binary) {
      header += fmt::format(R"(,"parameters":{{"binary_data_size":{}}}}})", t.byte_size());
    } else {
      header += ",\"data\":";
      append_json_data(header, t);
      header += '}';
    }
  }
  header += ']';
  if (binary) header += R"(,"parameters":{"binary_data_output":true})";
  header += '}';

  BenchRequestBody out;
  if (!binary) {
    out.body = std::move(header);
    return out;
  }
  out.json_length = header.size();
  out.body = std::move(header);
  for (const Tensor& t : inputs) {
    out.body.append(reinterpret_cast<const char*>(t.bytes().data()), t.byte_size());
  }
  return out;
}

}  // namespace quiver::cli
