// What the XNNPACK kernels share: initialization, operator ownership, layout transposes, the
// activation split.
#include <algorithm>

#include "cpu/ops/xnn_ops.h"
#include "cpu/simd/isa.h"

#if TERN_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace tern::cpu {

#if TERN_HAVE_XNNPACK
static_assert(xnn::kOpFlags == XNN_FLAG_YIELD_WORKERS, "xnn_ops.h spells XNN_FLAG_YIELD_WORKERS as a number");
#endif

bool xnn_available() {
#if TERN_HAVE_XNNPACK
  // xnn_initialize is idempotent and thread-safe; the static makes it run once per process.
  static const bool ok = xnn_initialize(nullptr) == xnn_status_success;
  return ok;
#else
  return false;
#endif
}

namespace xnn {

Op::~Op() {
#if TERN_HAVE_XNNPACK
  if (op_) xnn_delete_operator(op_);
#endif
}

Op& Op::operator=(Op&& o) noexcept {
  if (this != &o) {
    Op tmp(std::move(*this));
    op_ = o.op_;
    o.op_ = nullptr;
  }
  return *this;
}

bool input_is_constant(const NodeView& node, XnnTensors in, std::span<const uint8_t> is_constant, size_t i) {
  if (i >= in.size() || !in[i] || !in[i]->data || i >= node.inputs.size()) return false;
  const int32_t t = node.inputs[i];
  return t >= 0 && static_cast<size_t>(t) < is_constant.size() && is_constant[static_cast<size_t>(t)];
}

namespace {

// y[c * rows + r] = x[r * cols + c] for r < rows, c < cols, in 32x32 tiles. Inside a tile the
// stores run along r (contiguous) and the loads down a column: with r outer, each store of a tile
// row lands rows * 4 bytes from the previous one, and for the usual power-of-two pixel counts those
// addresses share an L1 set (8x slower on the layout pass's NHWC -> NCHW edges: 3.8 vs 0.45 ns per
// element for 16384 x 32); strided loads do not have that problem, the tile's source rows stay in L1.
void transpose_block(const float* x, float* y, int64_t rows, int64_t cols, int64_t r0, int64_t r1) {
  constexpr int64_t T = 32;
  for (int64_t rb = r0; rb < r1; rb += T) {
    const int64_t re = std::min(r1, rb + T);
    for (int64_t cb = 0; cb < cols; cb += T) {
      const int64_t ce = std::min(cols, cb + T);
      for (int64_t c = cb; c < ce; ++c)
        for (int64_t r = rb; r < re; ++r) y[c * rows + r] = x[r * cols + c];
    }
  }
}

// Per image: [rows, cols] -> [cols, rows]; the work is split over rows of the source.
void transpose_images(Threads* threads, const float* x, float* y, int64_t n, int64_t rows, int64_t cols) {
  const int64_t per_image = rows * cols;
  const int64_t grain = std::max<int64_t>(32, (rows + 7) / 8 / 32 * 32);
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * per_image;
    float* yi = y + i * per_image;
    if (threads && threads->num_threads() > 1 && per_image >= 16384)
      threads->parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) { transpose_block(xi, yi, rows, cols, lo, hi); });
    else
      transpose_block(xi, yi, rows, cols, 0, rows);
  }
}

}  // namespace

void nchw_to_nhwc(Threads* threads, const float* x, float* y, int64_t n, int64_t c, int64_t p) {
  transpose_images(threads, x, y, n, c, p);
}

void nhwc_to_nchw(Threads* threads, const float* x, float* y, int64_t n, int64_t c, int64_t p) {
  transpose_images(threads, x, y, n, p, c);
}

Activation split_activation(fb::Activation kind, float min, float max) {
  Activation a;
  switch (kind) {
    case fb::Activation::None: break;
    case fb::Activation::Relu: a.lo = 0.0f; break;
    case fb::Activation::Clip:
      a.lo = min;
      a.hi = max;
      break;
    default: a.post = {kind, min, max}; break;
  }
  return a;
}

// The activation micro-kernel of backends/cpu/simd (vectorized exp / erf / tanh; simd::Act has
// fb::Activation's numbering), in place.
void apply_post(Threads* threads, const ref::ActivationParams& post, float* y, int64_t n) {
  if (post.kind == fb::Activation::None || n <= 0) return;
  const simd::Kernels& kt = simd::kernels();
  const auto kind = static_cast<simd::Act>(static_cast<int>(post.kind));
  auto body = [&](int64_t lo, int64_t hi) { kt.activation(kind, y + lo, y + lo, hi - lo, post.min, post.max); };
  if (threads && threads->num_threads() > 1 && n >= 8192) threads->parallel_for(0, n, 4096, body);
  else body(0, n);
}

}  // namespace xnn
}  // namespace tern::cpu
