// Transpose between channels-first and channels-last 4-D float tensors (perm [0, 2, 3, 1] and
// [0, 3, 1, 2]) and 3-D ones ([0, 2, 1], 1-D Conv regions): the edges of the layout pass's regions. Tiled and split over threads (the
// reference transposes element by element through generic index arithmetic). int8 tensors (int8
// plans' region edges) take the same perms through a byte-tiled copy. Other perms and dtypes stay
// with the reference.
#include <algorithm>
#include <cstring>

#include "cpu/ops/xnn_ops.h"

namespace tern::cpu {

namespace {

// An 8 x 8 block of bytes transposed in three 64-bit swap stages (1-, 2-, then 4-byte elements
// between rows 1, 2, then 4 apart): 8 loads, 24 shifts/xors/ands, 8 stores per 64 bytes. Portable
// (no intrinsics); little-endian byte order of the words, as on every target Tern builds for.
inline void transpose8x8(const int8_t* x, int64_t xs, int8_t* y, int64_t ys) {
  uint64_t r[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], x + i * xs, 8);
  auto swap = [&](int a, int b, int shift, uint64_t mask) {
    const uint64_t t = ((r[a] >> shift) ^ r[b]) & mask;
    r[b] ^= t;
    r[a] ^= t << shift;
  };
  for (int i = 0; i < 8; i += 2) swap(i, i + 1, 8, 0x00FF00FF00FF00FFull);
  for (int i = 0; i < 8; i += 4) swap(i, i + 2, 16, 0x0000FFFF0000FFFFull), swap(i + 1, i + 3, 16, 0x0000FFFF0000FFFFull);
  for (int i = 0; i < 4; ++i) swap(i, i + 4, 32, 0x00000000FFFFFFFFull);
  for (int i = 0; i < 8; ++i) std::memcpy(y + i * ys, &r[i], 8);
}

// Per image [rows, cols] -> [cols, rows] of bytes, in 64 x 64 tiles of 8 x 8 blocks (the edges
// element by element); split over source row tiles.
void transpose_bytes(Threads* threads, const int8_t* x, int8_t* y, int64_t n, int64_t rows, int64_t cols) {
  constexpr int64_t T = 64;
  const int64_t tiles = (rows + T - 1) / T;
  for (int64_t i = 0; i < n; ++i) {
    const int8_t* xi = x + i * rows * cols;
    int8_t* yi = y + i * rows * cols;
    auto body = [&](int64_t t0, int64_t t1) {
      for (int64_t rb = t0 * T; rb < std::min(rows, t1 * T); rb += T) {
        const int64_t re = std::min(rows, rb + T), re8 = rb + (re - rb) / 8 * 8;
        for (int64_t cb = 0; cb < cols; cb += T) {
          const int64_t ce = std::min(cols, cb + T), ce8 = cb + (ce - cb) / 8 * 8;
          for (int64_t c = cb; c < ce8; c += 8)
            for (int64_t r = rb; r < re8; r += 8) transpose8x8(xi + r * cols + c, cols, yi + c * rows + r, rows);
          for (int64_t c = cb; c < ce; ++c)  // the edges: columns past ce8, rows past re8
            for (int64_t r = c < ce8 ? re8 : rb; r < re; ++r) yi[c * rows + r] = xi[r * cols + c];
        }
      }
    };
    if (threads && threads->num_threads() > 1 && rows * cols >= 65536) threads->parallel_for(0, tiles, 1, body);
    else body(0, tiles);
  }
}

class ChannelTranspose final : public CpuKernel {
 public:
  Status run(void*) override {
    if (bytes_) {
      if (to_nhwc_) transpose_bytes(threads_, x_->as<int8_t>(), y_->as<int8_t>(), n_, c_, p_);
      else transpose_bytes(threads_, x_->as<int8_t>(), y_->as<int8_t>(), n_, p_, c_);
    } else if (to_nhwc_) {
      xnn::nchw_to_nhwc(threads_, x_->as<float>(), y_->as<float>(), n_, c_, p_);
    } else {
      xnn::nhwc_to_nchw(threads_, x_->as<float>(), y_->as<float>(), n_, c_, p_);
    }
    return Status::ok();
  }
  Threads* threads_ = nullptr;
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  bool to_nhwc_ = true, bytes_ = false;
  int64_t n_ = 0, c_ = 0, p_ = 0;
};

}  // namespace

XnnKernelResult create_channel_transpose(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                         std::span<const uint8_t>) {
  std::unique_ptr<CpuKernel> none;
  if (!node.options || node.options->type != fb::NodeOptions::TransposeOptions || in.empty() || out.empty()) return none;
  const TensorRef* x = in[0];
  const TensorRef* y = out[0];
  const bool f32 = x && y && x->dtype == DType::Float32 && y->dtype == DType::Float32;
  const bool i8 = x && y && x->dtype == DType::Int8 && y->dtype == DType::Int8;  // int8 plans (any quantization)
  if (!(f32 || i8) || (x->shape.rank != 4 && x->shape.rank != 3) || x->numel() == 0) return none;
  const auto& perm = static_cast<const fb::TransposeOptionsT*>(node.options->value)->perm;
  if (perm.size() != static_cast<size_t>(x->shape.rank) || perm[0] != 0) return none;
  auto k = std::make_unique<ChannelTranspose>();
  const Shape& s = x->shape;
  if (s.rank == 3) {
    if (perm[1] != 2 || perm[2] != 1) return none;
    k->to_nhwc_ = true;  // [N, A, B] -> [N, B, A]
    k->c_ = s[1];
    k->p_ = s[2];
  } else if (perm[1] == 2 && perm[2] == 3 && perm[3] == 1) {
    k->to_nhwc_ = true;
    k->c_ = s[1];
    k->p_ = s[2] * s[3];
  } else if (perm[1] == 3 && perm[2] == 1 && perm[3] == 2) {
    k->to_nhwc_ = false;
    k->c_ = s[3];
    k->p_ = s[1] * s[2];
  } else {
    return none;
  }
  k->n_ = s[0];
  k->bytes_ = i8;
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
