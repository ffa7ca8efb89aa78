// Quantized tensors for the int8 kernel tests of every backend (tests/cpu/test_cpu_q8.cpp,
// tests/vulkan/test_vulkan_q8.cpp): one owner of bytes + per-tensor / per-channel quantization,
// viewed as a TensorRef, and the builders the op cases use.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace tern::test::q8 {

struct QTensor {
  DType dtype = DType::Int8;
  Shape shape;
  std::vector<uint8_t> bytes;
  std::vector<float> scale;
  std::vector<int64_t> zp;
  int axis = -1;
  QuantParams qp;
  TensorRef ref;
  bool constant = false;
  // Points `ref` (and its quantization) at this tensor's storage; call after the last edit.
  void finish() {
    ref = TensorRef{dtype, shape, bytes.data(), nullptr};
    if (!scale.empty()) {
      qp = QuantParams{scale.data(), zp.data(), static_cast<int>(scale.size()), scale.size() > 1 ? axis : -1};
      ref.quant = &qp;
    }
  }
};

using QPtr = std::unique_ptr<QTensor>;

// An int8 activation of random bytes, per tensor.
inline QPtr act(std::mt19937& rng, Shape s, float scale, int z) {
  auto t = std::make_unique<QTensor>();
  t->shape = s;
  t->bytes.resize(static_cast<size_t>(s.numel()));
  for (auto& v : t->bytes) v = static_cast<uint8_t>(rng());
  t->scale = {scale};
  t->zp = {z};
  return t;
}

// Constant int8 weights in [-127, 127]: per channel along `axis` (count = s[axis]) with zero point
// 0, or per tensor with `z`; scales log-uniform in [lo, hi].
inline QPtr weights(std::mt19937& rng, Shape s, int axis, bool per_channel, int z = 0, float lo = 0.002f, float hi = 0.03f) {
  auto t = std::make_unique<QTensor>();
  t->shape = s;
  t->constant = true;
  t->bytes.resize(static_cast<size_t>(s.numel()));
  for (auto& v : t->bytes) v = static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(rng() % 255) - 127));
  std::uniform_real_distribution<float> u(std::log2(lo), std::log2(hi));
  if (per_channel) {
    t->axis = axis;
    for (int64_t c = 0; c < s[axis]; ++c) t->scale.push_back(std::exp2(u(rng)));
    t->zp.assign(t->scale.size(), 0);
  } else {
    t->scale = {std::exp2(u(rng))};
    t->zp = {z};
  }
  return t;
}

// A constant int32 bias of n values in [-range, range].
inline QPtr bias32(std::mt19937& rng, int64_t n, int32_t range = 20000) {
  auto t = std::make_unique<QTensor>();
  t->dtype = DType::Int32;
  t->shape = Shape{n};
  t->constant = true;
  t->bytes.resize(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = static_cast<int32_t>(rng() % (2u * static_cast<uint32_t>(range) + 1)) - range;
    std::memcpy(t->bytes.data() + i * 4, &v, 4);
  }
  return t;
}

// A zeroed int8 output, per tensor.
inline QPtr out8(Shape s, float scale, int z) {
  auto t = std::make_unique<QTensor>();
  t->shape = s;
  t->bytes.assign(static_cast<size_t>(s.numel()), 0);
  t->scale = {scale};
  t->zp = {z};
  return t;
}

}  // namespace tern::test::q8
