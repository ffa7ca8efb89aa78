// Tern's own CPU kernels (backends/cpu/ops/<op>.cpp, over the micro-kernels of backends/cpu/simd):
// their factories for the kernel table (backends/cpu/kernels.cpp) and the helpers they share.
//
// A factory validates the node at prepare and returns nullptr (with OK) for a case it does not
// specialize (a dtype, a broadcast form), so the reference kernel runs that node instead.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "cpu/simd/isa.h"

namespace tern::cpu {

using KernelResult = Result<std::unique_ptr<CpuKernel>>;
using TensorSpan = std::span<const TensorRef* const>;

KernelResult create_layer_norm(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_rms_norm(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_group_norm(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_softmax(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_activation(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_matmul_batched(const Context&, const NodeView&, TensorSpan in, TensorSpan out,
                                   std::span<const uint8_t> input_is_constant);
// A constant B for Tern's GEMM (simd/gemm.h), packed at prepare: `nb` matrices of [k, n], element
// (kk, j) of matrix i at b[i k n + kk rs + j cs]; or, when the plan carries it (`tern compile
// --prepack`), the node's prepacked copy used in place. The layout string names the packing (panel
// format version, micro-kernel, shape) and `form`, what the kernel packs from the node's constants
// (e.g. "matmul", "conv-hwc"): a kernel that changes what B means must change `form`. With b null
// it only looks for the prepacked copy (out->data stays null without one).
struct PackedB {
  const float* data = nullptr;  // nb matrices, each `floats` floats apart
  size_t floats = 0;            // per matrix (rounded up to 64 bytes)
  int64_t nb = 1;
  bool prepacked = false;
  std::string layout;
  std::vector<float> own;       // when packed here
  std::span<const uint8_t> bytes() const {
    return {reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(nb) * floats * sizeof(float)};
  }
};
void pack_constant_b(const simd::Kernels& kt, const NodeView& node, const char* form, int64_t k, int64_t n, int64_t nb,
                     const float* b, int64_t rs, int64_t cs, PackedB* out);
// Conv (2-D, one group, kernel larger than 1x1) on channels-last float32 with constant weights:
// im2col blocks of output pixels times the packed [kh kw C, M] weights on Tern's GEMM
// (conv_im2col.cpp); nullptr for anything else.
KernelResult create_im2col_conv(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
// Y [m, n] = act(A [m, k] B + bias) with a constant B whose element (kk, j) is b[kk * rs + j * cs],
// packed (and bias [n] copied) now, or taken from the node's prepacked data: Tern's GEMM for fully
// connected layers in other ops' clothes (pointwise channels-last Conv: B = W^T). matmul_batched.cpp.
KernelResult create_dense(const Context& ctx, const NodeView& node, const TensorRef* a, const TensorRef* y, int64_t m,
                          int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, const float* bias, simd::Act act,
                          float p0, float p1);
// Gemm (no trans_a, alpha 1, beta 1) with constant B and a constant per-column C: create_dense;
// nullptr for anything else (XNNPACK's fully connected or the reference take it).
KernelResult create_gemm_dense(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
// Conv 1x1 / stride 1 / no padding / one group on channels-last float32 with constant weights:
// create_dense over [pixels, C] x W^T (pointwise_conv.cpp); nullptr for anything else.
KernelResult create_pointwise_conv(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_attention(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_selective_scan(const Context&, const NodeView&, TensorSpan in, TensorSpan out,
                                   std::span<const uint8_t>);
KernelResult create_lmu(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_lif(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);

namespace detail {

inline const TensorRef* at(TensorSpan s, size_t i) { return i < s.size() ? s[i] : nullptr; }

// Whether node input i is a constant of the plan (is_constant: per plan tensor).
inline bool input_constant(const NodeView& node, std::span<const uint8_t> is_constant, size_t i) {
  return i < node.inputs.size() && node.inputs[i] >= 0 && static_cast<size_t>(node.inputs[i]) < is_constant.size() &&
         is_constant[static_cast<size_t>(node.inputs[i])];
}

inline bool all_f32(std::initializer_list<const TensorRef*> ts) {
  for (const TensorRef* t : ts)
    if (t && t->dtype != DType::Float32) return false;
  return true;
}

inline int thread_count(const Context& ctx) {
  return ctx.threads ? ctx.threads->num_threads() : std::max(1, ctx.num_threads);
}

// How many parts a kernel of about `work` flops splits into: one (no thread hand-off) below
// Threads::kMinParallelWork, where waking a thread costs more than it saves; else thread_count.
inline int parts_for_work(const Context& ctx, double work) {
  return work < Threads::kMinParallelWork ? 1 : thread_count(ctx);
}

// Splits [0, items) into at most thread_count parts and calls fn(part, lo, hi) for each, in
// parallel when the executable has threads. `part` < thread_count indexes per-thread scratch.
template <typename Fn>
void for_parts(Threads* threads, int parts_max, int64_t items, Fn&& fn) {
  if (items <= 0) return;
  const int64_t parts = std::min<int64_t>(std::max(parts_max, 1), items);
  const int64_t per = (items + parts - 1) / parts;
  auto body = [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t b = p * per, e = std::min(items, b + per);
      if (b < e) fn(static_cast<int>(p), b, e);
    }
  };
  if (threads && parts > 1) threads->parallel_for(0, parts, 1, body);
  else body(0, parts);
}

constexpr size_t round_up_floats(size_t n) { return (n + 15) / 16 * 16; }  // 64-byte slices

}  // namespace detail

}  // namespace tern::cpu
