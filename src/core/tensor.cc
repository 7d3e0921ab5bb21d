#include "core/tensor.h"

#include <array>
#include <cstring>
#include <limits>

namespace quiver {
namespace {

struct DtypeInfo {
  DataType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DtypeInfo, 13> kDtypes = {{
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};

}  // namespace

std::string_view datatype_name(DataType dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.name;
  return "UNKNOWN";
}

std::optional<DataType> parse_datatype(std::string_view name) {
  for (const auto& d : kDtypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

size_t datatype_size(DataType dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

std::optional<int64_t> element_count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

Status check_declared_shape(std::string_view label, DataType dtype, const Shape& shape, const TensorLimits& limits) {
  const auto fail = [&](const std::string& what) { return invalid_argument(std::string(label) + " " + what); };
  if (shape.size() > limits.max_dims)
    return fail("has " + std::to_string(shape.size()) + " dimensions; at most " + std::to_string(limits.max_dims) +
                " are allowed");
  const uint64_t width = dtype == DataType::kBytes ? 4 : datatype_size(dtype);
  uint64_t bytes = width;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      return fail("has dimension " + std::to_string(i) + " = " + std::to_string(shape[i]) +
                  "; dimensions must not be negative");
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(shape[i]), &bytes) || bytes > limits.max_tensor_bytes)
      return fail("has shape " + shape_to_string(shape) + " of " + std::string(datatype_name(dtype)) +
                  ", more than the limit of " + std::to_string(limits.max_tensor_bytes) + " bytes");
  }
  return Status::ok();
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor::Tensor(std::string name, DataType dtype, Shape shape, std::vector<std::byte> bytes)
    : name_(std::move(name)), dtype_(dtype), shape_(std::move(shape)) {
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  data_ = owned->data();
  size_ = owned->size();
  owner_ = std::move(owned);
}

Tensor Tensor::view(std::string name, DataType dtype, Shape shape,
                    std::shared_ptr<const void> owner, const std::byte* data, size_t size) {
  Tensor t;
  t.name_ = std::move(name);
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owner_ = std::move(owner);
  t.data_ = data;
  t.size_ = size;
  return t;
}

int64_t Tensor::element_count() const { return quiver::element_count(shape_).value_or(-1); }

Status Tensor::validate() const {
  auto n = quiver::element_count(shape_);
  if (!n) return invalid_argument("tensor '" + name_ + "' has an invalid shape " + shape_to_string(shape_));
  if (dtype_ == DataType::kBytes) {
    // Walks the length prefixes without building a list: a payload of many empty
    // elements must not cost more memory than its own bytes.
    uint64_t count = 0;
    for (size_t pos = 0; pos < size_; ++count) {
      if (size_ - pos < 4) return invalid_argument("tensor '" + name_ + "': truncated BYTES length prefix");
      uint32_t len = 0;
      std::memcpy(&len, data_ + pos, 4);  // little-endian hosts only (x86-64, aarch64)
      pos += 4;
      if (size_ - pos < len) return invalid_argument("tensor '" + name_ + "': BYTES element overruns the data");
      pos += len;
    }
    if (count != static_cast<uint64_t>(*n))
      return invalid_argument("tensor '" + name_ + "' has " + std::to_string(count) + " BYTES elements but shape " +
                              shape_to_string(shape_) + " needs " + std::to_string(*n));
    return Status::ok();
  }
  size_t want = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(*n), static_cast<uint64_t>(datatype_size(dtype_)), &want))
    return invalid_argument("tensor '" + name_ + "' has shape " + shape_to_string(shape_) + " whose byte count overflows");
  if (want != size_)
    return invalid_argument("tensor '" + name_ + "' has " + std::to_string(size_) + " bytes but shape " +
                            shape_to_string(shape_) + " of " + std::string(datatype_name(dtype_)) +
                            " needs " + std::to_string(want));
  return Status::ok();
}

Result<std::vector<std::string_view>> bytes_elements(const Tensor& tensor) {
  std::vector<std::string_view> out;
  auto b = tensor.bytes();
  size_t pos = 0;
  while (pos < b.size()) {
    if (b.size() - pos < 4)
      return invalid_argument("tensor '" + tensor.name() + "': truncated BYTES length prefix");
    uint32_t len = 0;
    std::memcpy(&len, b.data() + pos, 4);  // little-endian hosts only (x86-64, aarch64)
    pos += 4;
    if (b.size() - pos < len)
      return invalid_argument("tensor '" + tensor.name() + "': BYTES element overruns the data");
    out.emplace_back(reinterpret_cast<const char*>(b.data() + pos), len);
    pos += len;
  }
  return out;
}

std::vector<std::byte> encode_bytes_elements(std::span<const std::string> elements) {
  size_t total = 0;
  for (const auto& e : elements) total += 4 + e.size();
  std::vector<std::byte> out(total);
  size_t pos = 0;
  for (const auto& e : elements) {
    const auto len = static_cast<uint32_t>(e.size());
    std::memcpy(out.data() + pos, &len, 4);
    pos += 4;
    if (!e.empty()) std::memcpy(out.data() + pos, e.data(), e.size());
    pos += e.size();
  }
  return out;
}

}  // namespace quiver
