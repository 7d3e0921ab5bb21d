// Output selection and FP16 conversion; parsing and encoding live in
// oip_codec_parse.cc and oip_codec_encode.cc.
#include "api/http/oip_codec.h"

#include <bit>
#include <cmath>

namespace quiver::http {

uint16_t fp16_from_double(double value) {
  const auto bits = std::bit_cast<uint64_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 48) & 0x8000);
  const uint64_t magnitude = bits & 0x7FFF'FFFF'FFFF'FFFFull;
  constexpr uint64_t kDoubleInf = 0x7FF0'0000'0000'0000ull;
  if (magnitude >= kDoubleInf) return sign | (magnitude > kDoubleInf ? 0x7E00 : 0x7C00);

  const int exponent = static_cast<int>(magnitude >> 52) - 1023;
  const uint64_t mantissa = magnitude & ((uint64_t{1} << 52) - 1);
  if (exponent > 15) return sign | 0x7C00;  // >= 65536: beyond every finite half
  if (exponent >= -14) {
    // Normal half: keep the top 10 of 52 mantissa bits, round the 42 dropped ones.
    uint32_t result = static_cast<uint32_t>(exponent + 15) << 10 | static_cast<uint32_t>(mantissa >> 42);
    const uint64_t rest = mantissa & ((uint64_t{1} << 42) - 1);
    constexpr uint64_t kHalfway = uint64_t{1} << 41;
    // A carry out of the mantissa bumps the exponent, which is exactly right (up to Inf).
    if (rest > kHalfway || (rest == kHalfway && (result & 1))) ++result;
    return static_cast<uint16_t>(sign | result);
  }
  if (exponent < -25) return sign;  // below half the smallest subnormal (2^-25): zero
  // Subnormal half: count units of 2^-24 in (1.mantissa) * 2^exponent.
  const uint64_t full = mantissa | (uint64_t{1} << 52);
  const int shift = 28 - exponent;  // 43..53
  uint64_t units = full >> shift;
  const uint64_t rest = full & ((uint64_t{1} << shift) - 1);
  const uint64_t halfway = uint64_t{1} << (shift - 1);
  if (rest > halfway || (rest == halfway && (units & 1))) ++units;  // 0x400 is the smallest normal
  return static_cast<uint16_t>(sign | units);
}

float fp16_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exponent = (half >> 10) & 0x1F;
  const uint32_t mantissa = half & 0x3FF;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F80'0000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

}  // namespace quiver::http
