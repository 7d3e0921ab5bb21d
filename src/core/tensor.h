// Tensor: a named, typed, shaped block of contiguous row-major little-endian bytes.
//
// The bytes are shared and immutable once built, so a tensor can be handed from the
// HTTP body to a backend and to shadow copies without copying: a Tensor may *view*
// memory owned by another object (the request body) and keeps that owner alive.
// BYTES tensors hold each element as a 4-byte little-endian length then its bytes
// (the Open Inference Protocol's binary layout).
//
// Thread-safety: a const Tensor may be read from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver {

enum class DataType {
  kBool, kUint8, kUint16, kUint32, kUint64,
  kInt8, kInt16, kInt32, kInt64,
  kFp16, kFp32, kFp64, kBytes,
};

using Shape = std::vector<int64_t>;

// "FP32", "INT64", ... as the Open Inference Protocol spells them.
std::string_view datatype_name(DataType dtype);
std::optional<DataType> parse_datatype(std::string_view name);
// Bytes per element; 0 for BYTES (variable length).
size_t datatype_size(DataType dtype);

// Product of dims; nullopt when a dim is negative or the product overflows.
std::optional<int64_t> element_count(const Shape& shape);
std::string shape_to_string(const Shape& shape);  // "[2, 4]"

// Bounds on what a request may declare, checked before anything is allocated for it
// (the HTTP and gRPC frontends share them; docs/security.md lists the defaults).
struct TensorLimits {
  size_t max_tensors = 256;                // inputs in one request
  size_t max_dims = 32;                    // dimensions of one tensor
  uint64_t max_tensor_bytes = 1ull << 30;  // one tensor's bytes, from its shape and datatype
};

// Checks a declared shape against `limits` with overflow-safe arithmetic: no negative
// dimension, at most max_dims of them, and elements x element size (4 bytes, the
// length prefix, for BYTES) within max_tensor_bytes. The error message starts with
// `label`, e.g. "input 'x'".
Status check_declared_shape(std::string_view label, DataType dtype, const Shape& shape, const TensorLimits& limits);

class Tensor {
 public:
  Tensor() = default;
  // Owns `bytes`.
  Tensor(std::string name, DataType dtype, Shape shape, std::vector<std::byte> bytes);
  // Views [data, data+size) inside memory kept alive by `owner` (zero-copy).
  static Tensor view(std::string name, DataType dtype, Shape shape,
                     std::shared_ptr<const void> owner, const std::byte* data, size_t size);
  // Copies a typed array; sizeof(T) must match the dtype.
  template <typename T>
  static Tensor from_values(std::string name, DataType dtype, Shape shape, std::span<const T> values) {
    std::vector<std::byte> b(values.size_bytes());
    if (!b.empty()) std::memcpy(b.data(), values.data(), b.size());
    return Tensor(std::move(name), dtype, std::move(shape), std::move(b));
  }

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t element_count() const;
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t byte_size() const { return size_; }

  // Typed view of the data; T's size must equal datatype_size(dtype()).
  template <typename T>
  std::span<const T> values() const {
    return {reinterpret_cast<const T*>(data_), size_ / sizeof(T)};
  }

  // Byte size agrees with shape and dtype; BYTES elements are well formed.
  Status validate() const;

 private:
  std::string name_;
  DataType dtype_ = DataType::kFp32;
  Shape shape_;
  std::shared_ptr<const void> owner_;  // keeps data_ alive
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Splits a BYTES tensor's payload into its elements (views into the tensor).
Result<std::vector<std::string_view>> bytes_elements(const Tensor& tensor);
// Builds the BYTES payload for the given strings.
std::vector<std::byte> encode_bytes_elements(std::span<const std::string> elements);

}  // namespace quiver
