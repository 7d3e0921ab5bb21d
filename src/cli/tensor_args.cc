#include "cli/tensor_args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/tensor.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return parts;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

struct ParsedSpec {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;
};

Result<Shape> parse_dims(std::string_view dims, std::string_view arg) {
  dims = trim(dims);
  if (dims.size() >= 2 && dims.front() == '[' && dims.back() == ']') {
    dims = trim(dims.substr(1, dims.size() - 2));
  }
  Shape shape;
  if (dims.empty()) return shape;  // a scalar
  for (std::string_view part : split(dims, ',')) {
    part = trim(part);
    int64_t dim = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), dim);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || dim < -1) {
      return invalid_argument(fmt::format(
          "'{}': dimension '{}' must be a whole number >= 0, or -1 for any size", arg, part));
    }
    shape.push_back(dim);
  }
  return shape;
}

Result<ParsedSpec> parse_spec(std::string_view spec, std::string_view arg) {
  const auto parts = split(spec, ':');
  if (parts.size() != 3) {
    return invalid_argument(fmt::format("'{}' must look like NAME:DTYPE:DIMS (e.g. x:FP32:-1,4)", arg));
  }
  ParsedSpec out;
  out.name = std::string(trim(parts[0]));
  if (out.name.empty()) return invalid_argument(fmt::format("'{}': the tensor name is empty", arg));
  const std::string dtype_name = upper(trim(parts[1]));
  const auto dtype = parse_datatype(dtype_name);
  if (!dtype) {
    return invalid_argument(fmt::format(
        "'{}': unknown datatype '{}' (use BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64 or BYTES)",
        arg, parts[1]));
  }
  out.dtype = *dtype;
  QUIVER_ASSIGN_OR_RETURN(out.shape, parse_dims(parts[2], arg));
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// The inclusive range a signed or unsigned integer datatype holds.
std::pair<int64_t, uint64_t> integer_range(DataType dtype) {
  switch (dtype) {
    case DataType::kInt8: return {INT8_MIN, INT8_MAX};
    case DataType::kInt16: return {INT16_MIN, INT16_MAX};
    case DataType::kInt32: return {INT32_MIN, INT32_MAX};
    case DataType::kInt64: return {INT64_MIN, INT64_MAX};
    case DataType::kUint8: return {0, UINT8_MAX};
    case DataType::kUint16: return {0, UINT16_MAX};
    case DataType::kUint32: return {0, UINT32_MAX};
    default: return {0, UINT64_MAX};
  }
}

Result<json> parse_value(std::string_view raw, DataType dtype, std::string_view arg) {
  if (dtype == DataType::kBytes) return json(std::string(raw));
  const std::string_view text = trim(raw);
  const auto bad = [&](std::string_view what) {
    return invalid_argument(fmt::format("'{}': value '{}' is not {}", arg, text, what));
  };
  switch (dtype) {
    case DataType::kBool: {
      const std::string word = upper(text);
      if (word == "TRUE" || word == "1") return json(true);
      if (word == "FALSE" || word == "0") return json(false);
      return bad("true, false, 1 or 0");
    }
    case DataType::kFp16:
    case DataType::kFp32:
    case DataType::kFp64: {
      double value = 0;
      if (!parse_number(text, value) || !std::isfinite(value)) return bad("a finite number");
      return json(value);
    }
    default:
      break;
  }
  const auto [lo, hi] = integer_range(dtype);
  const std::string type_text(datatype_name(dtype));
  if (!text.empty() && text.front() == '-') {
    int64_t value = 0;
    if (!parse_number(text, value) || value < lo) return bad(fmt::format("a valid {}", type_text));
    return json(value);
  }
  uint64_t value = 0;
  if (!parse_number(text, value) || value > hi) return bad(fmt::format("a valid {}", type_text));
  return json(value);
}

}  // namespace

Result<nlohmann::json> parse_tensor_spec_arg(std::string_view arg) {
  QUIVER_ASSIGN_OR_RETURN(ParsedSpec spec, parse_spec(arg, arg));
  return json{{"name", spec.name}, {"datatype", datatype_name(spec.dtype)}, {"shape", spec.shape}};
}

Result<nlohmann::json> parse_tensor_value_arg(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return invalid_argument(fmt::format(
        "'{}' must look like NAME:DTYPE:DIMS=v1,v2,... (e.g. x:FP32:2,2=1,2,3,4)", arg));
  }
  QUIVER_ASSIGN_OR_RETURN(ParsedSpec spec, parse_spec(arg.substr(0, eq), arg));
  const std::string_view values_text = arg.substr(eq + 1);

  json data = json::array();
  if (!trim(values_text).empty() || spec.dtype == DataType::kBytes) {
    for (std::string_view raw : split(values_text, ',')) {
      QUIVER_ASSIGN_OR_RETURN(json value, parse_value(raw, spec.dtype, arg));
      data.push_back(std::move(value));
    }
  }
  // For BYTES, "=" alone is one empty string: text values may legitimately be empty.
  const auto count = static_cast<int64_t>(data.size());

  const auto wildcards = std::count(spec.shape.begin(), spec.shape.end(), int64_t{-1});
  if (wildcards > 1) {
    return invalid_argument(fmt::format("'{}': at most one dimension may be -1 when values are given", arg));
  }
  int64_t known = 1;
  for (int64_t dim : spec.shape) {
    if (dim < 0) continue;
    if (dim != 0 && known > std::numeric_limits<int64_t>::max() / dim) {
      return invalid_argument(fmt::format("'{}': the shape is too large", arg));
    }
    known *= dim;
  }
  if (wildcards == 1) {
    if (known == 0 || count % known != 0) {
      return invalid_argument(fmt::format("'{}': {} values do not fill shape {}", arg, count,
                                          shape_to_string(spec.shape)));
    }
    std::replace(spec.shape.begin(), spec.shape.end(), int64_t{-1}, count / known);
  } else if (known != count) {
    return invalid_argument(fmt::format("'{}': shape {} needs {} values, got {}", arg,
                                        shape_to_string(spec.shape), known, count));
  }
  return json{{"name", spec.name},
              {"datatype", datatype_name(spec.dtype)},
              {"shape", spec.shape},
              {"data", std::move(data)}};
}

Result<std::pair<std::string, std::string>> parse_key_value_arg(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos || trim(arg.substr(0, eq)).empty()) {
    return invalid_argument(fmt::format("'{}' must look like key=value", arg));
  }
  return std::pair{std::string(trim(arg.substr(0, eq))), std::string(arg.substr(eq + 1))};
}

Result<std::pair<std::string, std::string>> parse_header_arg(std::string_view arg) {
  const size_t colon = arg.find(':');
  if (colon == std::string_view::npos) {
    return invalid_argument(fmt::format("header '{}' must look like name:value", arg));
  }
  const std::string_view name = trim(arg.substr(0, colon));
  const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                  std::string_view::npos;
  });
  if (!token) return invalid_argument(fmt::format("header '{}': '{}' is not a valid header name", arg, name));
  const std::string_view value = trim(arg.substr(colon + 1));
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    return invalid_argument(fmt::format("header '{}': the value must be one line", name));
  }
  return std::pair{std::string(name), std::string(value)};
}

}  // namespace quiver::cli
