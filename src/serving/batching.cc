#include "serving/batching.h"

#include <cstring>
#include <memory>
#include <numeric>
#include <string>

namespace quiver::serving {
namespace {

// Elements in one row: the product of the dims after the first.
std::optional<int64_t> row_elements(const Shape& shape) {
  return element_count(Shape(shape.begin() + 1, shape.end()));
}

// Byte offset of every row boundary of a BYTES tensor (rows + 1 entries), walking
// the 4-byte little-endian length prefixes.
Result<std::vector<size_t>> bytes_row_offsets(const Tensor& t, int64_t rows, int64_t per_row) {
  std::vector<size_t> offsets{0};
  const auto data = t.bytes();
  size_t at = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < per_row; ++e) {
      if (at + 4 > data.size()) return internal_error("output '" + t.name() + "' has truncated BYTES data");
      uint32_t len = 0;
      for (int b = 3; b >= 0; --b) len = (len << 8) | static_cast<uint32_t>(data[at + static_cast<size_t>(b)]);
      at += 4 + len;
      if (at > data.size()) return internal_error("output '" + t.name() + "' has truncated BYTES data");
    }
    offsets.push_back(at);
  }
  return offsets;
}

}  // namespace

std::optional<int64_t> batch_rows(const std::vector<Tensor>& inputs) {
  if (inputs.empty()) return std::nullopt;
  std::optional<int64_t> rows;
  for (const Tensor& t : inputs) {
    if (t.dtype() == DataType::kBytes || t.shape().empty()) return std::nullopt;
    if (rows && *rows != t.shape().front()) return std::nullopt;
    rows = t.shape().front();
  }
  return rows;
}

bool compatible_for_batching(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Tensor& x = a[i];
    const Tensor& y = b[i];
    if (x.name() != y.name() || x.dtype() != y.dtype() || x.shape().size() != y.shape().size() ||
        x.shape().empty())
      return false;
    if (!std::equal(x.shape().begin() + 1, x.shape().end(), y.shape().begin() + 1)) return false;
  }
  return true;
}

Result<std::vector<Tensor>> concat_rows(std::span<const std::vector<Tensor>* const> requests) {
  if (requests.empty()) return invalid_argument("cannot concatenate an empty batch");
  const std::vector<Tensor>& first = *requests.front();
  for (const auto* r : requests) {
    if (!batch_rows(*r)) return invalid_argument("a request in the batch is not batchable");
    if (!compatible_for_batching(first, *r)) return invalid_argument("requests in the batch are not compatible");
  }
  std::vector<Tensor> merged;
  merged.reserve(first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    size_t total_bytes = 0;
    int64_t total_rows = 0;
    for (const auto* r : requests) {
      total_bytes += (*r)[i].byte_size();
      total_rows += (*r)[i].shape().front();
    }
    std::vector<std::byte> buffer(total_bytes);
    size_t at = 0;
    for (const auto* r : requests) {
      const auto bytes = (*r)[i].bytes();
      if (!bytes.empty()) std::memcpy(buffer.data() + at, bytes.data(), bytes.size());
      at += bytes.size();
    }
    Shape shape = first[i].shape();
    shape.front() = total_rows;
    merged.emplace_back(first[i].name(), first[i].dtype(), std::move(shape), std::move(buffer));
  }
  return merged;
}

Result<std::vector<std::vector<Tensor>>> split_rows(const std::vector<Tensor>& outputs,
                                                    std::span<const int64_t> rows) {
  const int64_t total = std::accumulate(rows.begin(), rows.end(), int64_t{0});
  std::vector<std::vector<Tensor>> parts(rows.size());
  for (auto& p : parts) p.reserve(outputs.size());
  for (const Tensor& out : outputs) {
    if (out.shape().empty() || out.shape().front() != total)
      return internal_error("output '" + out.name() + "' has shape " + shape_to_string(out.shape()) +
                            " for a batch of " + std::to_string(total) +
                            " rows; it cannot be split back into the batched requests (its first dimension "
                            "must equal the batch's rows)");
    const auto per_row = row_elements(out.shape());
    if (!per_row) return internal_error("output '" + out.name() + "' has an invalid shape");
    // The parts view the batch output; a shared copy of the tensor keeps its bytes alive.
    auto owner = std::make_shared<const Tensor>(out);
    const std::byte* base = out.bytes().data();

    std::vector<size_t> offsets;  // byte offset of each request's first row, plus the end
    if (out.dtype() == DataType::kBytes) {
      QUIVER_ASSIGN_OR_RETURN(auto row_offsets, bytes_row_offsets(out, total, *per_row));
      int64_t row = 0;
      offsets.push_back(0);
      for (int64_t n : rows) offsets.push_back(row_offsets[static_cast<size_t>(row += n)]);
    } else {
      const size_t row_bytes = static_cast<size_t>(*per_row) * datatype_size(out.dtype());
      size_t at = 0;
      offsets.push_back(0);
      for (int64_t n : rows) offsets.push_back(at += static_cast<size_t>(n) * row_bytes);
      if (offsets.back() != out.byte_size())
        return internal_error("output '" + out.name() + "' holds " + std::to_string(out.byte_size()) +
                              " bytes, not the " + std::to_string(offsets.back()) + " its shape says");
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      Shape shape = out.shape();
      shape.front() = rows[i];
      parts[i].push_back(Tensor::view(out.name(), out.dtype(), std::move(shape), owner, base + offsets[i],
                                      offsets[i + 1] - offsets[i]));
    }
  }
  return parts;
}

}  // namespace quiver::serving
