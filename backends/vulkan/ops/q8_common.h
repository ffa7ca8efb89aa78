// Shared by the int8 Vulkan op files (ops/q8_*.cpp): dtype checks for `supports` and the host-side
// numerics the shaders read as constants. Every multiplier, table and bound comes from the
// reference's own helpers (backends/reference/ops/q8_util.h, runtime/core/quant.h), so the int8
// arithmetic has one definition; the shaders only add, multiply and requantize (shaders/q8.glsl).
#pragma once

#include <string>

#include "reference/ops/q8_util.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

inline bool is_i8(const TensorInfo* t) { return t && t->dtype == DType::Int8; }

// Common checks of an int8 node: float32-storage partitions only (the int8 nodes' float edges,
// Quantize/DequantizeLinear, read and write float32), the given inputs and output 0 int8.
inline bool q8_common(const NodeQuery& q, std::string* why, std::initializer_list<size_t> int8_inputs) {
  if (q.fp16_storage) return decline(why, "int8 nodes run in float32-storage partitions");
  for (size_t i : int8_inputs)
    if (!is_i8(qin(q, i))) return decline(why, "int8 kernel: input " + std::to_string(i) + " is not int8");
  if (!is_i8(qout(q, 0))) return decline(why, "int8 kernel: output is not int8");
  return true;
}

// Whether a tensor carries int8 quantization parameters (the reference's has_quant).
inline bool q8_has(const TensorRef* t) { return ref::has_quant(t); }

// A quant::Multiplier as the shaders read it.
inline void put_multiplier(std::vector<int32_t>* v, const quant::Multiplier& m) {
  v->push_back(m.mult);
  v->push_back(m.shift);
}

}  // namespace tern::vk
