// Pointwise Conv (1x1 kernel, stride 1, no padding, one group) on channels-last float32: a fully
// connected layer over the pixels, X [N, H, W, C] as [N*H*W, C] times W^T (W is [M, C, 1, 1] in
// ONNX order, so B's element (c, m) is w[m * C + c]), bias and fused activation per row. It runs on
// Tern's GEMM (create_dense), which is faster than XNNPACK's convolution on these layers; every
// other convolution stays with XNNPACK (xnn_conv.cpp).
#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

KernelResult create_pointwise_conv(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                                   std::span<const uint8_t> is_constant) {
  std::unique_ptr<CpuKernel> none;
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* w = detail::at(in, 1);
  const TensorRef* b = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!x || !w || !y || !node.options || node.options->type != fb::NodeOptions::ConvOptions || !detail::all_f32({x, w, b, y}))
    return none;
  if (!detail::input_constant(node, is_constant, 1) || !w->data || (b && !detail::input_constant(node, is_constant, 2)))
    return none;
  const auto& o = *static_cast<const fb::ConvOptionsT*>(node.options->value);
  if (!o.channels_last || o.group != 1 || x->shape.rank < 3 || w->shape.rank != x->shape.rank) return none;
  for (int32_t k : o.kernel_shape)
    if (k != 1) return none;
  for (int32_t s : o.strides)
    if (s != 1) return none;
  for (int32_t p : o.pads)
    if (p != 0) return none;
  for (int i = 2; i < w->shape.rank; ++i)
    if (w->shape[i] != 1) return none;
  const int64_t c = x->shape[x->shape.rank - 1], m = w->shape[0];
  if (w->shape[1] != c || y->shape[y->shape.rank - 1] != m || c == 0 || (b && b->numel() != m)) return none;
  const int64_t rows = x->numel() / c;
  if (y->numel() != rows * m) return none;
  return create_dense(ctx, node, x, y, rows, c, m, w->as<float>(), 1, c, b ? b->as<float>() : nullptr,
                      static_cast<simd::Act>(static_cast<int>(o.activation)), o.activation_min, o.activation_max);
}

}  // namespace tern::cpu
