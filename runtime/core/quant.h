// The int8 quantization scheme's arithmetic, shared by the compiler (which chooses scales and
// folds weights) and every backend's int8 kernels (which must agree bit for bit with the reference
// kernels). docs/quantization-scheme.md states the scheme; this header is its executable form.
//
//   real = scale * (q - zero_point)          q in [-128, 127]
//   weights: symmetric (zero_point 0) per output channel; activations: per tensor, asymmetric;
//   bias: int32, scale = s_in * s_w[c], zero_point 0.
//
// Requantization is integer-only: an int32 accumulator times a real multiplier r (e.g.
// s_in * s_w / s_out, computed in double from the float scales the plan stores) is evaluated as
//   (acc * mult) >> (31 + shift), rounded half away from zero,
// with mult a Q31 fixed-point value in [2^30, 2^31) and shift in [-30, 31] (r = mult * 2^-(31+shift)).
// Then the output zero point is added and the result saturates to [-128, 127].
//
// All functions are pure, allocation-free and thread-safe.
#pragma once

#include <cstdint>

namespace tern::quant {

constexpr int32_t kQMin = -128;
constexpr int32_t kQMax = 127;

// A real multiplier r ~= mult * 2^-(31 + shift).
struct Multiplier {
  int32_t mult = 0;  // Q31 in [2^30, 2^31), or 0 for r == 0 (or r below 2^-62: every result rounds to 0)
  int32_t shift = 0; // right shift beyond Q31, in [-30, 31]; negative means a left shift (r >= 1)
};

// Decomposes r (>= 0, finite, < 2^30). Returns false for a negative, non-finite or too large r.
// Rounding of the mantissa: to nearest (mult = round(frac * 2^31)); a mantissa that rounds up to
// 2^31 is halved and the exponent bumped, so mult always fits int32.
bool quantize_multiplier(double r, Multiplier* out);

// round_half_away((x * m.mult) / 2^(31 + m.shift)), without saturation. Exact in int64 for any
// int32 x (|x * mult| < 2^62).
int64_t multiply_by_multiplier(int64_t x, Multiplier m);

// The requantization step of every int8 kernel: saturate(multiply_by_multiplier(acc, m) + zero_point)
// to [qmin, qmax] (default: the int8 range; fused Relu/Clip narrow it).
int8_t requantize(int32_t acc, Multiplier m, int32_t zero_point, int32_t qmin = kQMin, int32_t qmax = kQMax);

// Float -> int8, the QuantizeLinear rule (as ONNX): saturate(round_half_to_even(x / scale) + zero_point).
// NaN maps to the zero point.
int8_t quantize_value(float x, float scale, int32_t zero_point);
inline float dequantize_value(int8_t q, float scale, int32_t zero_point) {
  return scale * static_cast<float>(static_cast<int32_t>(q) - zero_point);
}

// Activation parameters for a calibrated range [lo, hi]: the range is first widened to include 0
// (so that real 0, i.e. padding and Relu's floor, is exact and the zero point never overflows the
// int8 range instead of being clamped), then scale = (hi - lo) / 255 and
// zero_point = round(-128 - lo / scale), clamped to [-128, 127] only against float rounding.
// An empty or zero range gets scale 1, zero point 0.
void choose_activation_params(float lo, float hi, float* scale, int32_t* zero_point);

// Symmetric weight scale for a channel whose largest magnitude is `absmax`: absmax / 127
// (1 for an all-zero channel, so that every scale stays positive).
float symmetric_scale(float absmax);

// Fused activation bounds in the quantized domain: real [lo, hi] (-inf/+inf for none) -> [qmin, qmax].
void activation_bounds(float lo, float hi, float scale, int32_t zero_point, int32_t* qmin, int32_t* qmax);

}  // namespace tern::quant
