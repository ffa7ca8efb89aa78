// channels_last Conv and pools in the reference backend: the node runs through its channels-first
// kernel on transposed copies in scratch ([N, s..., C] -> [N, C, s...] -> kernel -> back). Slow by
// design and obviously right: the ground truth for the CPU backend's channels-last kernels.
#pragma once

#include <cstring>

#include "core/tensor.h"
#include "reference/kernel.h"

namespace tern::ref {

// [N, A, B] -> [N, B, A] per image, for any element size.
inline void transpose_last_two(const uint8_t* x, uint8_t* y, int64_t n, int64_t a, int64_t b, size_t elem) {
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* xi = x + static_cast<size_t>(i * a * b) * elem;
    uint8_t* yi = y + static_cast<size_t>(i * a * b) * elem;
    for (int64_t r = 0; r < a; ++r)
      for (int64_t c = 0; c < b; ++c) std::memcpy(yi + static_cast<size_t>(c * a + r) * elem, xi + static_cast<size_t>(r * b + c) * elem, elem);
  }
}

inline Shape channels_first_shape(const Shape& s) {
  Shape r = s;
  r[1] = s[s.rank - 1];
  for (int i = 2; i < s.rank; ++i) r[i] = s[i - 1];
  return r;
}

inline size_t aligned64(size_t b) { return (b + 63) / 64 * 64; }

// Scratch for a channels_last node: channels-first copies of X and Y.
inline size_t channels_last_scratch(const KernelContext& ctx) {
  const TensorRef* x = ctx.in(0);
  const TensorRef* y = ctx.out(0);
  return (x ? aligned64(x->bytes()) : 0) + (y ? aligned64(y->bytes()) : 0);
}

// Runs `nchw` (a kernel that ignores channels_last) on ctx's node through scratch.
inline Status run_channels_last(const KernelContext& ctx, KernelFn nchw) {
  const TensorRef* x = ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (!ctx.scratch) return ctx.error("a channels_last node needs scratch memory");
  if (x->shape.rank < 3 || y->shape.rank != x->shape.rank) return ctx.error("channels_last X and Y must be [N, spatial..., C]");
  const size_t elem = dtype_size(x->dtype);
  TensorRef xt = *x, yt = *y;
  xt.shape = channels_first_shape(x->shape);
  yt.shape = channels_first_shape(y->shape);
  xt.data = ctx.scratch;
  yt.data = static_cast<uint8_t*>(ctx.scratch) + aligned64(x->bytes());
  const int64_t xc = x->shape[x->shape.rank - 1], yc = y->shape[y->shape.rank - 1];
  int64_t xp = 1, yp = 1;  // spatial sizes
  for (int i = 1; i < x->shape.rank - 1; ++i) xp *= x->shape[i];
  for (int i = 1; i < y->shape.rank - 1; ++i) yp *= y->shape[i];
  transpose_last_two(static_cast<const uint8_t*>(x->data), static_cast<uint8_t*>(xt.data), x->shape[0], xp, xc, elem);
  const TensorRef* ins[8] = {};
  const size_t n_in = ctx.inputs.size() < 8 ? ctx.inputs.size() : 8;
  for (size_t i = 0; i < n_in; ++i) ins[i] = ctx.inputs[i];
  ins[0] = &xt;
  const TensorRef* outs[4] = {};
  const size_t n_out = ctx.outputs.size() < 4 ? ctx.outputs.size() : 4;
  for (size_t i = 0; i < n_out; ++i) outs[i] = ctx.outputs[i];
  outs[0] = &yt;
  if (n_out > 1 && outs[1]) return ctx.unsupported("channels_last with a second output (MaxPool Indices)");
  KernelContext c = ctx;
  c.inputs = std::span<const TensorRef* const>(ins, n_in);
  c.outputs = std::span<const TensorRef* const>(outs, n_out);
  c.scratch = nullptr;
  TERN_RETURN_IF_ERROR(nchw(c));
  transpose_last_two(static_cast<const uint8_t*>(yt.data), static_cast<uint8_t*>(y->data), y->shape[0], yc, yp, elem);
  return Status::ok();
}

}  // namespace tern::ref
