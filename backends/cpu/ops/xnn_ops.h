// The XNNPACK-backed CPU kernels (backends/cpu/ops/xnn_*.cpp): their factories for the kernel table
// and the helpers they share. Every factory returns nullptr (with OK) for a case XNNPACK does not
// cover (a dtype, a non-constant weight, an unsupported window, a failed operator creation), so
// the reference kernel runs that node instead: correctness never depends on coverage.
//
// XNNPACK operators are created at prepare (weights packed then, into XNNPACK's own buffers); run()
// only sets up pointers (cheap and allocation-free once the operator has seen its shapes, which
// create does by setting it up once) and runs the operator on the executable's pthreadpool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "cpu/cpu_kernel.h"
#include "reference/ops/activation.h"

struct xnn_operator;

namespace tern::cpu {

using XnnKernelResult = Result<std::unique_ptr<CpuKernel>>;
using XnnTensors = std::span<const TensorRef* const>;

// False in a build without XNNPACK or when xnn_initialize fails (e.g. an unsupported CPU); then
// every factory below returns nullptr.
bool xnn_available();

XnnKernelResult create_xnn_conv(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                std::span<const uint8_t> is_constant);
XnnKernelResult create_xnn_fully_connected(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                           std::span<const uint8_t> is_constant);  // Gemm, MatMul
XnnKernelResult create_xnn_pool(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                std::span<const uint8_t> is_constant);  // Average/Max/GlobalAveragePool,
                                                                        // ReduceMean over H, W of NHWC
// Transpose [0, 2, 3, 1] / [0, 3, 1, 2] of 4-D and [0, 2, 1] of 3-D float32 (backends/cpu/ops/transpose.cpp; no XNNPACK).
XnnKernelResult create_channel_transpose(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                         std::span<const uint8_t> is_constant);
XnnKernelResult create_xnn_binary(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                  std::span<const uint8_t> is_constant);  // Add Sub Mul Div Min Max
XnnKernelResult create_xnn_unary(const Context&, const NodeView&, XnnTensors in, XnnTensors out,
                                 std::span<const uint8_t> is_constant);  // Relu Clip Sigmoid HardSwish Abs Neg ...

namespace xnn {

// Creation flags of every XNNPACK operator here. XNN_FLAG_YIELD_WORKERS (0x10) puts pthreadpool's
// workers to sleep when an operator finishes instead of spinning: the next node is often one of
// Tern's own kernels on the oneTBB arena, and on a machine with as many cores as threads, spinning
// pool workers would steal those cores from it.
constexpr uint32_t kOpFlags = 0x10;

// Owns one xnn_operator_t.
class Op {
 public:
  Op() = default;
  explicit Op(xnn_operator* op) : op_(op) {}
  ~Op();
  Op(Op&& o) noexcept : op_(o.op_) { o.op_ = nullptr; }
  Op& operator=(Op&& o) noexcept;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  xnn_operator* get() const { return op_; }
  xnn_operator** out() { return &op_; }
  explicit operator bool() const { return op_ != nullptr; }

 private:
  xnn_operator* op_ = nullptr;
};

// Whether tensor input `i` of `node` is a constant with data.
bool input_is_constant(const NodeView& node, XnnTensors in, std::span<const uint8_t> is_constant, size_t i);

// [N, C, P] <-> [N, P, C] transposes (P = spatial size), tiled for cache and split over threads.
void nchw_to_nhwc(Threads* threads, const float* x, float* y, int64_t n, int64_t c, int64_t p);
void nhwc_to_nchw(Threads* threads, const float* x, float* y, int64_t n, int64_t c, int64_t p);

// A fused activation split into what XNNPACK's output clamp does (Relu, Clip) and what must run
// as a separate pass over the output (everything else, with the reference's formulas).
struct Activation {
  float lo = -INFINITY, hi = INFINITY;  // the operator's output_min / output_max
  ref::ActivationParams post;           // kind None when the clamp is all there is
};
Activation split_activation(fb::Activation kind, float min, float max);
// Applies `post` to y[0, n), split over threads.
void apply_post(Threads* threads, const ref::ActivationParams& post, float* y, int64_t n);

}  // namespace xnn
}  // namespace tern::cpu
