// The fused activations of ConvOptions / GemmOptions / MatMulOptions (schema `Activation`), for
// any reference kernel that applies one after its own result and bias.
//
// The switch sits outside the loop so each case is a plain loop over contiguous floats that the
// compiler can vectorize (Relu, Clip, HardSwish, HardSigmoid); the transcendental ones call libm.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/tensor.h"

namespace tern::ref {

struct ActivationParams {
  fb::Activation kind = fb::Activation::None;
  float min = 0;  // Clip: lower bound; HardSigmoid: alpha
  float max = 0;  // Clip: upper bound; HardSigmoid: beta
};

template <typename Options>
ActivationParams activation_of(const Options& o) {
  return {o.activation, o.activation_min, o.activation_max};
}

// One element; the same formulas as activate_row, for kernels that finish an element at a time.
inline float activate(const ActivationParams& a, float x) {
  switch (a.kind) {
    case fb::Activation::None: return x;
    case fb::Activation::Relu: return x < 0.0f ? 0.0f : x;  // NaN passes through, as in max(x, 0)
    case fb::Activation::Clip: return std::min(std::max(x, a.min), a.max);
    case fb::Activation::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case fb::Activation::SiLU: return x / (1.0f + std::exp(-x));
    case fb::Activation::GELU: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case fb::Activation::GELUTanh: {
      float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);  // sqrt(2/pi)
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case fb::Activation::HardSwish: return x * std::min(std::max(x * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
    case fb::Activation::HardSigmoid: return std::min(std::max(a.min * x + a.max, 0.0f), 1.0f);
    case fb::Activation::Tanh: return std::tanh(x);
  }
  return x;
}

// Applies `a` in place to y[0, n).
inline void activate_row(const ActivationParams& a, float* y, int64_t n) {
  switch (a.kind) {
    case fb::Activation::None: return;
    case fb::Activation::Relu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];
      return;
    case fb::Activation::Clip:
      for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i], a.min), a.max);
      return;
    case fb::Activation::HardSwish:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] * std::min(std::max(y[i] * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
      return;
    case fb::Activation::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(a.min * y[i] + a.max, 0.0f), 1.0f);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = activate(a, y[i]);
      return;
  }
}

}  // namespace tern::ref
