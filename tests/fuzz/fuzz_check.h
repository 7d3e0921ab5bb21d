// Helpers shared by the fuzz targets: an invariant check that aborts (so libFuzzer
// records the input as a crash) and comparisons of the product's value types.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/tensor.h"

// Unlike assert(), active in every build type.
#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "  " __VA_ARGS__);                                          \
      std::fprintf(stderr, "\n");                                                      \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace quiver::fuzz {

inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.byte_size() == b.byte_size() &&
         (a.byte_size() == 0 || std::memcmp(a.bytes().data(), b.bytes().data(), a.byte_size()) == 0);
}

inline bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.name() == b.name() && a.dtype() == b.dtype() && a.shape() == b.shape() && same_bytes(a, b);
}

}  // namespace quiver::fuzz
