// The CPU backend's int8 kernels (backends/cpu/ops/q8_*.cpp over the micro-kernels of
// backends/cpu/simd/q8.h), bit-exact with the reference *_q8 kernels. Each factory returns nullptr
// (OK) for a node that is not int8 or a case it leaves to the reference (which then also reports
// any error the node has, with the reference's message).
#pragma once

#include <algorithm>
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/q8.h"
#include "reference/ops/activation.h"

namespace tern::cpu {

KernelResult create_q8_matmul(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_gemm(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_conv(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_quantize(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_dequantize(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_binary(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_unary(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_pool(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);
KernelResult create_q8_attention(const Context&, const NodeView&, TensorSpan in, TensorSpan out, std::span<const uint8_t>);

// True when t is int8 with quantization parameters (what makes the reference dispatch to *_q8).
bool q8_tensor(const TensorRef* t);
// False when TERN_CPU_Q8=reference: every int8 node then runs on the reference kernels (for A/B
// measurements of these kernels; read once per process).
bool q8_kernels_enabled();

namespace detail {  // (input_constant: simd_ops.h)

// Requantization parameters of an int8 product's output columns (per column of B), padded to
// whole panels: multiplier and shift from s_a * s_b[j] / s_y (ref::make_multiplier, computed once
// at prepare), B's zero points (empty when all are 0), bounds of the fused activation.
struct Q8Requant {
  std::vector<int32_t> mult, rsh, zb;
  int32_t z_a = 0, z_y = 0, lo = -128, hi = 127;
};
// Column j uses B's quantization entry ch0 + j (entry 0 when B is per tensor). False when the
// fused activation has no int8 form (the reference reports it).
bool make_q8_requant(const simd::Q8Kernels& kt, int64_t n, const TensorRef& a, const TensorRef& b, const TensorRef& y,
                     const ref::ActivationParams& act, int64_t ch0, Q8Requant* r);
// The column offsets of one packed B (q8.h): bias (may be null), B's column sums, z_a and zb,
// written to col_off (padded to whole panels with zeros).
void q8_col_offsets(const simd::Q8Kernels& kt, int64_t k, int64_t n, const int32_t* colsum, const int32_t* bias,
                    int64_t bias_stride, const Q8Requant& r, int32_t* col_off);

// The constant B of an int8 GEMM kernel: `groups` packed B matrices (q8_pack_b, pack_bytes apart)
// followed by their column offsets (groups x npad int32), in one block: packed at prepare, or the
// node's prepacked copy from the plan (`tern compile --int8 --prepack`), used in place. The layout
// names the packing (micro-kernel table, shape) and `form` (what B is built from: "matmul",
// "conv-nhwc", "conv-nchw"); the column offsets fold the node's bias and zero points, which the
// node's own tensors fix, so they are part of the node's copy.
struct Q8PackedB {
  const uint8_t* packed = nullptr;
  const int32_t* col_off = nullptr;
  bool prepacked = false;
  std::string layout;
  std::vector<uint8_t> own;
  size_t bytes = 0;
  uint8_t* packed_mut() { return own.data(); }
  int32_t* col_off_mut() { return reinterpret_cast<int32_t*>(own.data() + (reinterpret_cast<const uint8_t*>(col_off) - packed)); }
  std::span<const uint8_t> blob() const { return packed ? std::span<const uint8_t>(packed, bytes) : std::span<const uint8_t>{}; }
};
// Points `out` at the node's prepacked copy (returns true: nothing to pack) or at a zeroed block
// of its own for the caller to fill through packed_mut() / col_off_mut() (returns false).
// pack_bytes must be a multiple of 64.
inline bool q8_take_packed(const NodeView& node, const simd::Q8Kernels& kt, const char* form, int64_t k, int64_t n,
                           int64_t groups, size_t pack_bytes, int64_t npad, Q8PackedB* out) {
  out->layout = std::string("q8-panels-v1/") + kt.name + "/" + form + "/k" + std::to_string(k) + "n" + std::to_string(n) +
                "g" + std::to_string(groups);
  const size_t packed_bytes = static_cast<size_t>(groups) * pack_bytes;
  out->bytes = packed_bytes + static_cast<size_t>(groups * npad) * sizeof(int32_t);
  if (const void* p = find_prepacked(node, out->layout, out->bytes)) {
    out->packed = static_cast<const uint8_t*>(p);
    out->col_off = reinterpret_cast<const int32_t*>(out->packed + packed_bytes);
    out->prepacked = true;
    return true;
  }
  out->own.assign(out->bytes, 0);
  out->packed = out->own.data();
  out->col_off = reinterpret_cast<const int32_t*>(out->own.data() + packed_bytes);
  return false;
}

// One NHWC int8 image [H, W, C] as the int16 plane [hp, wp, C] of x - z_x with a zero border of
// pt rows above and pl columns left (and whatever is left below / right), rows split over threads:
// the padded input of the channels-last depthwise conv and average pool (padding reads real 0).
inline void padded_plane_nhwc(Threads* threads, int parts, const int8_t* xn, int16_t* plane, int64_t H, int64_t W,
                              int64_t C, int64_t hp, int64_t wp, int64_t pt, int64_t pl, int32_t z_x) {
  for_parts(threads, parts, hp, [&](int, int64_t lo, int64_t hi) {
    for (int64_t ph = lo; ph < hi; ++ph) {
      int16_t* pr = plane + ph * wp * C;
      const int64_t ih = ph - pt;
      if (ih < 0 || ih >= H) {
        std::fill(pr, pr + wp * C, int16_t{0});
        continue;
      }
      std::fill(pr, pr + pl * C, int16_t{0});
      const int8_t* xr = xn + ih * W * C;
      int16_t* pin = pr + pl * C;
      for (int64_t i = 0; i < W * C; ++i) pin[i] = static_cast<int16_t>(xr[i] - z_x);
      std::fill(pr + (pl + W) * C, pr + wp * C, int16_t{0});
    }
  });
}

}  // namespace detail

}  // namespace tern::cpu
