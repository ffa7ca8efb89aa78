// Conv on int8 (1 to 3 spatial dims, any group count) with Tern's int8 micro-kernels
// (simd/q8.h), bit-exact with the reference (backends/reference/ops/conv_q8.cpp): X int8 per
// tensor, W int8 per output channel (axis 0) or per tensor, B int32, Y int8 per tensor, fused
// Relu/Clip. Both layouts: NCHW, and channels_last ([N, spatial..., C], set by the layout pass).
//
// As a GEMM per (image, group): rows are output pixels, columns the group's output channels,
// k = (input channel, tap). W is packed at prepare (with its column offsets and multipliers). A is
// X itself for a pointwise conv (stride 1, no padding: row p reads X[c][p] with stride P), else an
// im2col matrix [k, P] built in scratch at each run whose padded taps hold z_x (real 0, so they add
// nothing, as the reference's skipped taps). Y[m][p] is written transposed by the epilogue.
//
// Depthwise (one input channel per group, 1-D/2-D) is its own loop: each input plane is copied once
// into an int16 plane of x - z_x with a zero border (the padding), and every tap is a multiply-add
// over a contiguous output row, which the compiler vectorizes; no bounds tests in the inner loop.
//
// channels_last: rows of the GEMM are pixels of [N x P, C] and Y is written row-major (no
// transposed epilogue). Per block of kRowBlock pixels inside its task, a conv builds an im2col
// block [rows, taps x cg] of contiguous channel runs (W is reordered to [M, taps, cg] at prepare to
// match); a pointwise conv's block is X's rows. Where the micro-kernel reads A by rows (q8.h
// rows_a: VNNI, NEON, scalar) the block is written straight in its element form (u8 for VNNI) and
// multiplied without a packing pass (q8_gemm_rows); otherwise q8_gemm packs it. With a table that
// reads segmented rows (q8.h seg_a: VNNI), a 2-D k x k conv skips the im2col copy for the pixels
// whose receptive field lies inside the image (the direct form, run_direct_rows): the input is
// flipped to u8 once per run and each output row's interior pixels are A rows read in place, the
// field's kernel rows (or, for groups and dilation, its taps) the tile's k segments; only the
// border pixels are gathered. (The copy was 40-55 % of Next-ViT's stem and grouped convs.)
// Depthwise converts
// each image once into an int16 padded [H', W', C] copy of x - z_x, then each output row is one
// dw_row call (channels vectorized, accumulators in registers over the taps, per-channel
// multipliers).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/channels_last.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/q8_util.h"

namespace tern::cpu {

namespace {

constexpr int64_t kRowBlock = 96;           // pixels per task: a multiple of every micro-kernel's mr
constexpr int64_t kParallelWork = 1 << 20;  // multiply-adds below which one thread does it all
constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Byte copies / fills of the channels-last im2col: runs are often a few bytes (3 input channels x
// 3 taps in a stem conv), where a memcpy call costs more than the copy; fixed-size (overlapping)
// moves instead.
inline void copy_run(int8_t* d, const int8_t* s, int64_t n) {
  if (n > 16 && n <= 256) {  // 16-byte moves, the last one overlapping
    int64_t i = 0;
    for (; i + 16 < n; i += 16) std::memcpy(d + i, s + i, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8 && n <= 16) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4 && n < 8) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else if (n < 4) {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memcpy(d, s, static_cast<size_t>(n));
  }
}
inline void fill_run(int8_t* d, int8_t v, int64_t n) {
  if (n <= 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = v;
  } else {
    std::memset(d, v, static_cast<size_t>(n));
  }
}

// TERN_Q8_CONV=im2col turns the direct form off (every k x k conv through im2col blocks), for
// comparisons.
bool direct_conv_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("TERN_Q8_CONV");
    return !(e && std::strcmp(e, "im2col") == 0);
  }();
  return on;
}

class Q8ConvKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    if (nhwc_) return depthwise_ ? run_depthwise_nhwc(scratch) : run_gemm_nhwc(scratch);
    return depthwise_ ? run_depthwise(scratch) : run_gemm(scratch);
  }

  // NCHW: the im2col matrix + per part; channels_last: the depthwise padded plane (0 for the GEMM,
  // whose im2col blocks are per part) + per part.
  size_t scratch_bytes() const override {
    return (nhwc_ ? plane_bytes_ : col_bytes_) + static_cast<size_t>(parts_) * part_bytes_;
  }
  bool packed_input(size_t i) const override { return i == 1 || (i == 2 && bias_const_); }
  std::string_view packed_layout() const override { return cb_.layout; }
  std::span<const uint8_t> packed_bytes() const override { return cb_.blob(); }
  bool uses_prepacked() const override { return cb_.prepacked; }

  // Group gi's packed-weight column parameters (offsets, multipliers, B zero points).
  simd::Q8Cols group_cols(int64_t gi) const {
    const detail::Q8Requant& rq = rq_[static_cast<size_t>(gi)];
    simd::Q8Cols cols;
    cols.col_off = cb_.col_off + gi * npad_;
    cols.mult = rq.mult.data();
    cols.rsh = rq.rsh.data();
    cols.zb = rq.zb.empty() ? nullptr : rq.zb.data();
    return cols;
  }

  Status run_gemm(void* scratch) {
    uint8_t* s = static_cast<uint8_t*>(scratch);
    int8_t* col = pointwise_ ? nullptr : reinterpret_cast<int8_t*>(s);
    uint8_t* ws = s + col_bytes_;
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t P = g_.out_plane, K = cg_ * g_.taps;
    const int64_t panels = simd::q8_panels(*kt_, mg_);
    const int64_t per_split = (panels + splits_ - 1) / splits_;
    const int64_t row_blocks = (P + kRowBlock - 1) / kRowBlock;
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t gi = 0; gi < group_; ++gi) {
        const int8_t* xg = px + (n * c_ + gi * cg_) * g_.in_plane;
        const int8_t* a = xg;
        if (!pointwise_) {
          im2col(xg, col);
          a = col;
        }
        const detail::Q8Requant& rq = rq_[static_cast<size_t>(gi)];
        const simd::Q8Cols cols = group_cols(gi);
        const uint8_t* bp = cb_.packed + static_cast<size_t>(gi) * pack_bytes_;
        int8_t* yg = py + (n * cout_ + gi * mg_) * P;
        detail::for_parts(threads_, parts_, row_blocks * splits_, [&](int part, int64_t lo, int64_t hi) {
          for (int64_t t = lo; t < hi; ++t) {
            const int64_t r0 = (t / splits_) * kRowBlock, rows = std::min(kRowBlock, P - r0);
            const int64_t p0 = (t % splits_) * per_split, p1 = std::min(panels, p0 + per_split);
            simd::q8_gemm(*kt_, rows, mg_, K, a + r0, 1, P, bp, p0, p1, cols, rq.z_y, rq.lo, rq.hi, yg + r0, 1, P,
                          ws + static_cast<size_t>(part) * part_bytes_);
          }
        });
      }
    return Status::ok();
  }

  // A run of A's bytes into an im2col block: as they are, or in the u8 form (flip 0x80) through
  // the table's vectorized copy (runs under 16 bytes inline).
  void copy_a(int8_t* d, const int8_t* s, int64_t n, uint8_t flip) const {
    if (!flip) return copy_run(d, s, n);
    if (n >= 16) return kt_->copy_u8(d, s, n);
    if (n >= 8) {  // two 8-byte words, overlapping
      constexpr uint64_t kFlip = 0x8080808080808080ull;
      uint64_t w0, w1;
      std::memcpy(&w0, s, 8);
      std::memcpy(&w1, s + n - 8, 8);
      w0 ^= kFlip;
      w1 ^= kFlip;
      std::memcpy(d, &w0, 8);
      std::memcpy(d + n - 8, &w1, 8);
      return;
    }
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<int8_t>(s[i] ^ static_cast<int8_t>(0x80));
  }

  // channels_last: tasks are (pixel block over all images, group, panel split).
  Status run_gemm_nhwc(void* scratch) {
    uint8_t* s = static_cast<uint8_t*>(scratch) + plane_bytes_;
    const int8_t* px = x_->as<int8_t>();
    // Direct form: the whole input once in the u8 form, read in place by interior tiles.
    uint8_t* xu = static_cast<uint8_t*>(scratch);
    if (direct_) {
      const int64_t bytes = x_->numel();
      detail::for_parts(threads_, parts_, bytes, [&](int, int64_t lo, int64_t hi) {
        kt_->copy_u8(reinterpret_cast<int8_t*>(xu) + lo, px + lo, hi - lo);
      });
    }
    int8_t* py = y_->as<int8_t>();
    const int64_t rows_total = batch_ * g_.out_plane, K = cg_ * g_.taps;
    const int64_t panels = simd::q8_panels(*kt_, mg_);
    const int64_t per_split = (panels + splits_ - 1) / splits_;
    const int64_t row_blocks = (rows_total + kRowBlock - 1) / kRowBlock;
    detail::for_parts(threads_, parts_, row_blocks * group_ * splits_, [&](int part, int64_t lo, int64_t hi) {
      uint8_t* ws = s + static_cast<size_t>(part) * part_bytes_;
      int8_t* col = reinterpret_cast<int8_t*>(ws);
      void* gemm_ws = ws + col_bytes_;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t rb = t / (group_ * splits_), gi = (t / splits_) % group_, sp = t % splits_;
        const int64_t r0 = rb * kRowBlock, rows = std::min(kRowBlock, rows_total - r0);
        const int64_t p0 = sp * per_split, p1 = std::min(panels, p0 + per_split);
        if (p1 <= p0) continue;
        const detail::Q8Requant& rq = rq_[static_cast<size_t>(gi)];
        const simd::Q8Cols cols = group_cols(gi);
        const uint8_t* bp = cb_.packed + static_cast<size_t>(gi) * pack_bytes_;
        int8_t* yb = py + r0 * cout_ + gi * mg_;
        if (rows_a_) {
          // The micro-kernel reads A by rows: im2col (or the pointwise rows) straight into its
          // element form, no packing pass.
          const uint8_t flip = kt_->a_u8 ? 0x80 : 0;
          if (pointwise_) {
            for (int64_t r = 0; r < rows; ++r) {
              int8_t* d = col + r * ld_;
              copy_a(d, px + (r0 + r) * c_ + gi * cg_, cg_, flip);
              for (int64_t e = K; e < ld_; ++e) d[e] = 0;
            }
          } else if (direct_) {
            run_direct_rows(xu, px, r0, rows, gi, col, flip, bp, p0, p1, cols, rq, yb);
            continue;
          } else {
            im2col_nhwc(px, r0, rows, gi, col, ld_, flip);
          }
          simd::q8_gemm_rows(*kt_, rows, mg_, K, reinterpret_cast<const uint8_t*>(col), ld_, bp, p0, p1, cols, rq.z_y, rq.lo,
                             rq.hi, yb, cout_, 1);
          continue;
        }
        const int8_t* a = px + r0 * c_ + gi * cg_;
        int64_t a_rs = c_;
        if (!pointwise_) {
          im2col_nhwc(px, r0, rows, gi, col, K, 0);
          a = col;
          a_rs = K;
        }
        simd::q8_gemm(*kt_, rows, mg_, K, a, a_rs, 1, bp, p0, p1, cols, rq.z_y, rq.lo, rq.hi, yb, cout_, 1, gemm_ws);
      }
    });
    return Status::ok();
  }

  // Direct (implicit GEMM) form of rows r0 .. r0 + rows (2-D, A by rows): each output row's pixels
  // whose receptive field lies inside the image are one strided run of A rows read straight from
  // the u8 copy of the input, the field's kernel rows (or taps) as the tile's k segments (seg_);
  // the pixels that touch the padding go through the im2col block as before.
  void run_direct_rows(const uint8_t* xu, const int8_t* px, int64_t r0, int64_t rows, int64_t gi, int8_t* col, uint8_t flip,
                       const uint8_t* bp, int64_t p0, int64_t p1, const simd::Q8Cols& cols, const detail::Q8Requant& rq,
                       int8_t* yb) const {
    const int64_t K = cg_ * g_.taps, OW = g_.out[2], OH = g_.out[1];
    auto gemm = [&](int64_t first, int64_t count, const uint8_t* a, int64_t a_rs, const int64_t* seg) {
      simd::q8_gemm_rows(*kt_, count, mg_, K, a, a_rs, bp, p0, p1, cols, rq.z_y, rq.lo, rq.hi, yb + (first - r0) * cout_, cout_, 1,
                         seg, seg ? seg_groups_ : 0);
    };
    auto im2col_rows = [&](int64_t first, int64_t count) {
      if (count <= 0) return;
      im2col_nhwc(px, first, count, gi, col, ld_, flip);
      gemm(first, count, reinterpret_cast<const uint8_t*>(col), ld_, nullptr);
    };
    for (int64_t r = r0; r < r0 + rows;) {
      const int64_t pix = r % g_.out_plane, n = r / g_.out_plane;
      const int64_t ow = pix % OW, oh = pix / OW % OH;
      const int64_t end = std::min(r0 + rows, r + (OW - ow));  // the rest of this output row
      const int64_t h0 = oh * g_.s[1] - g_.pad[1];
      const bool rows_inside = h0 >= 0 && h0 + (g_.k[1] - 1) * g_.dil[1] < g_.in[1];
      // interior output columns [ow_in0, ow_in1) of this row, clipped to [ow, ow + end - r)
      const int64_t a0 = rows_inside ? std::max(ow, ow_in0_) : ow + (end - r);
      const int64_t a1 = rows_inside ? std::min(ow + (end - r), ow_in1_) : a0;
      if (a1 <= a0) {
        im2col_rows(r, end - r);
      } else {
        im2col_rows(r, a0 - ow);
        const uint8_t* base = xu + ((n * g_.in[1] + h0) * g_.in[2] + (a0 * g_.s[2] - g_.pad[2])) * c_ + gi * cg_;
        gemm(r + (a0 - ow), a1 - a0, base, g_.s[2] * c_, seg_.data());
        im2col_rows(r + (a1 - ow), ow + (end - r) - a1);
      }
      r = end;
    }
  }

  // Rows r0 .. r0 + rows of the channels-last im2col of group gi: col[r * ld + tap * cg + c] = X at
  // the tap's input pixel of output pixel r, channel gi * cg + c; z_x where the tap is padding; every
  // byte xor flip; bytes K .. ld of a row are 0.
  void im2col_nhwc(const int8_t* px, int64_t r0, int64_t rows, int64_t gi, int8_t* col, int64_t ld, uint8_t flip) const {
    const int64_t P = g_.out_plane, K = cg_ * g_.taps, KW = g_.k[2];
    const int8_t zx = static_cast<int8_t>(z_x_ ^ flip);
    const bool runs = group_ == 1 && g_.dil[2] == 1;  // a kernel row's inside taps are one run of X
    // Output coordinates of row r0, then stepped row by row (no divisions per row).
    int64_t n = r0 / P, pix = r0 % P;
    int64_t ow = pix % g_.out[2], oh = (pix / g_.out[2]) % g_.out[1], od = pix / (g_.out[2] * g_.out[1]);
    for (int64_t r = 0; r < rows; ++r) {
      if (r > 0 && ++ow == g_.out[2]) {
        ow = 0;
        if (++oh == g_.out[1]) {
          oh = 0;
          if (++od == g_.out[0]) od = 0, ++n;
        }
      }
      const int64_t d0 = od * g_.s[0] - g_.pad[0], h0 = oh * g_.s[1] - g_.pad[1], w0 = ow * g_.s[2] - g_.pad[2];
      int64_t kw0, kw1;
      if (g_.dil[2] == 1) {  // tap_range without its divisions (the common case, once per row)
        kw0 = std::min(KW, std::max<int64_t>(0, -w0));
        kw1 = std::max(kw0, std::min(KW, g_.in[2] - w0));
      } else {
        ref::tap_range(w0, g_.in[2], KW, g_.dil[2], &kw0, &kw1);
      }
      int8_t* dst = col + r * ld;
      for (int64_t e = K; e < ld; ++e) dst[e] = 0;
      for (int64_t kd = 0; kd < g_.k[0]; ++kd) {
        const int64_t id = d0 + kd * g_.dil[0];
        for (int64_t kh = 0; kh < g_.k[1]; ++kh, dst += KW * cg_) {
          const int64_t ih = h0 + kh * g_.dil[1];
          if (id < 0 || id >= g_.in[0] || ih < 0 || ih >= g_.in[1]) {
            fill_run(dst, zx, KW * cg_);
            continue;
          }
          const int8_t* xr = px + ((n * g_.in[0] + id) * g_.in[1] + ih) * g_.in[2] * c_ + gi * cg_;
          fill_run(dst, zx, kw0 * cg_);
          if (runs) {
            if (kw1 > kw0) copy_a(dst + kw0 * cg_, xr + (w0 + kw0) * c_, (kw1 - kw0) * cg_, flip);
          } else {
            for (int64_t kw = kw0; kw < kw1; ++kw) copy_a(dst + kw * cg_, xr + (w0 + kw * g_.dil[2]) * c_, cg_, flip);
          }
          fill_run(dst + kw1 * cg_, zx, (KW - kw1) * cg_);
        }
      }
    }
  }

  // channels_last depthwise (one channel per group, 1-D/2-D), per image: the padded int16 copy
  // (split by rows), then output rows (split by rows), each one dw_row call.
  Status run_depthwise_nhwc(void* scratch) {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const detail::Q8Requant& rq = rq_[0];
    const int64_t C = c_, H = g_.in[1], W = g_.in[2], OH = g_.out[1], OW = g_.out[2], KH = g_.k[1], KW = g_.k[2];
    const int64_t pt = g_.pad[1], pl = g_.pad[2];
    int16_t* plane = static_cast<int16_t*>(scratch);
    for (int64_t n = 0; n < batch_; ++n) {
      const int8_t* xn = px + n * H * W * C;
      detail::padded_plane_nhwc(threads_, parts_, xn, plane, H, W, C, hp_, wp_, pt, pl, z_x_);
      int8_t* yn = py + n * OH * OW * C;
      detail::for_parts(threads_, parts_, OH, [&](int, int64_t lo, int64_t hi) {
        simd::Q8DwRow r;
        r.x_rs = g_.dil[1] * wp_ * C;
        r.x_ts = g_.dil[2] * C;
        r.x_ps = g_.s[2] * C;
        r.w = wq_.data();
        r.kh = KH;
        r.kw = KW;
        r.bias = bias_.data();
        r.mult = rq.mult.data();
        r.rsh = rq.rsh.data();
        r.z_y = rq.z_y;
        r.lo = rq.lo;
        r.hi = rq.hi;
        r.pixels = OW;
        r.c = C;
        for (int64_t oh = lo; oh < hi; ++oh) {
          r.x = plane + oh * g_.s[1] * wp_ * C;
          r.y = yn + oh * OW * C;
          kt_->dw_row(r);
        }
      });
    }
    return Status::ok();
  }

  // col[(c * taps + tap) * P + p] = the tap's input value of output pixel p, z_x where it is padding.
  void im2col(const int8_t* xg, int8_t* col) const {
    const int64_t P = g_.out_plane;
    const int8_t zx = static_cast<int8_t>(z_x_);
    for (int64_t c = 0; c < cg_; ++c) {
      const int8_t* xc = xg + c * g_.in_plane;
      for (int64_t kd = 0; kd < g_.k[0]; ++kd)
        for (int64_t kh = 0; kh < g_.k[1]; ++kh)
          for (int64_t kw = 0; kw < g_.k[2]; ++kw) {
            int8_t* row = col + (c * g_.taps + (kd * g_.k[1] + kh) * g_.k[2] + kw) * P;
            for (int64_t od = 0; od < g_.out[0]; ++od) {
              const int64_t id = od * g_.s[0] - g_.pad[0] + kd * g_.dil[0];
              for (int64_t oh = 0; oh < g_.out[1]; ++oh) {
                const int64_t ih = oh * g_.s[1] - g_.pad[1] + kh * g_.dil[1];
                int8_t* r = row + (od * g_.out[1] + oh) * g_.out[2];
                if (id < 0 || id >= g_.in[0] || ih < 0 || ih >= g_.in[1]) {
                  std::memset(r, zx, static_cast<size_t>(g_.out[2]));
                  continue;
                }
                const int8_t* xr = xc + (id * g_.in[1] + ih) * g_.in[2];
                const int64_t w0 = kw * g_.dil[2] - g_.pad[2], sw = g_.s[2], ow_n = g_.out[2];
                // Columns [lo, hi) read inside the row; padding on either side.
                const int64_t lo = std::min(ow_n, w0 >= 0 ? 0 : (-w0 + sw - 1) / sw);
                const int64_t hi = std::max(lo, std::min(ow_n, g_.in[2] - w0 <= 0 ? 0 : (g_.in[2] - w0 + sw - 1) / sw));
                std::memset(r, zx, static_cast<size_t>(lo));
                if (sw == 1) std::memcpy(r + lo, xr + lo + w0, static_cast<size_t>(hi - lo));
                else
                  for (int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * sw + w0];
                std::memset(r + hi, zx, static_cast<size_t>(ow_n - hi));
              }
            }
          }
    }
  }

  Status run_depthwise(void* scratch) {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const detail::Q8Requant& rq = rq_[0];
    const int32_t* bias = bias_.empty() ? nullptr : bias_.data();
    const int64_t H = g_.in[1], W = g_.in[2], OH = g_.out[1], OW = g_.out[2], KH = g_.k[1], KW = g_.k[2];
    const int64_t sh = g_.s[1], sw = g_.s[2], dh = g_.dil[1], dw = g_.dil[2];
    detail::for_parts(threads_, parts_, batch_ * c_, [&](int part, int64_t lo, int64_t hi) {
      uint8_t* ws = static_cast<uint8_t*>(scratch) + static_cast<size_t>(part) * part_bytes_;
      int16_t* plane = reinterpret_cast<int16_t*>(ws);
      int32_t* acc = reinterpret_cast<int32_t*>(ws + round_up(static_cast<size_t>(hp_ * wp_) * 2));
      for (int64_t item = lo; item < hi; ++item) {
        const int64_t n = item / c_, ci = item % c_;
        // x - z_x with a zero border: padding is real 0.
        std::fill(plane, plane + hp_ * wp_, int16_t{0});
        const int8_t* xc = px + (n * c_ + ci) * g_.in_plane;
        for (int64_t ih = 0; ih < H; ++ih) {
          int16_t* pr = plane + (ih + g_.pad[1]) * wp_ + g_.pad[2];
          for (int64_t iw = 0; iw < W; ++iw) pr[iw] = static_cast<int16_t>(xc[ih * W + iw] - z_x_);
        }
        for (int64_t j = 0; j < mg_; ++j) {
          const int64_t m = ci * mg_ + j;
          const int16_t* wm = wq_.data() + m * KH * KW;
          int8_t* ym = py + (n * cout_ + m) * g_.out_plane;
          const int32_t b0 = bias ? bias[m] : 0;
          for (int64_t oh = 0; oh < OH; ++oh) {
            std::fill(acc, acc + OW, b0);
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int16_t* pr = plane + (oh * sh + kh * dh) * wp_;
              for (int64_t kw = 0; kw < KW; ++kw) kt_->mac_row(acc, pr + kw * dw, OW, sw, wm[kh * KW + kw]);
            }
            kt_->requant_row(acc, ym + oh * OW, OW, rq.mult[static_cast<size_t>(m)], rq.rsh[static_cast<size_t>(m)], rq.z_y,
                             rq.lo, rq.hi);
          }
        }
      }
    });
    return Status::ok();
  }

  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  ref::Window3 g_;
  int64_t batch_ = 1, c_ = 0, cout_ = 0, group_ = 1, cg_ = 0, mg_ = 0, npad_ = 0, splits_ = 1;
  int32_t z_x_ = 0;
  bool pointwise_ = false, depthwise_ = false, bias_const_ = false, nhwc_ = false;
  bool rows_a_ = false;  // channels_last GEMM: A by rows (q8_gemm_rows), row stride ld_
  // channels_last 2-D GEMM, direct form (run_direct_rows): k segments of the receptive field (offsets
  // in bytes from its first tap, seg_groups_ groups each) and the interior output columns.
  bool direct_ = false;
  std::vector<int64_t> seg_;
  int64_t seg_groups_ = 0, ow_in0_ = 0, ow_in1_ = 0;
  int64_t ld_ = 0;
  size_t pack_bytes_ = 0, part_bytes_ = 0, col_bytes_ = 0, plane_bytes_ = 0;
  int64_t hp_ = 0, wp_ = 0;                   // depthwise: padded plane
  std::vector<detail::Q8Requant> rq_;         // per group (GEMM), or one over all channels (depthwise)
  detail::Q8PackedB cb_;                      // GEMM: W per group, packed, and the column offsets (group x npad_)
  std::vector<int16_t> wq_;                   // depthwise: w - z_w per channel and tap (channels_last: per tap and channel)
  std::vector<int32_t> bias_;                 // depthwise: the bias, copied (channels_last: zeros without one)
};

}  // namespace

KernelResult create_q8_conv(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                            std::span<const uint8_t> is_constant) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* w = detail::at(in, 1);
  const TensorRef* b = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !x || !w || !y || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  // The reference's acceptance (conv_q8.cpp); anything else goes to it (and its messages).
  for (const TensorRef* t : {x, w, y}) {
    if (!ref::has_quant(t)) return std::unique_ptr<CpuKernel>();
    for (int i = 0; i < t->quant->count; ++i)
      if (t->quant->zero_point[i] < quant::kQMin || t->quant->zero_point[i] > quant::kQMax) return std::unique_ptr<CpuKernel>();
  }
  if (x->quant->count != 1 || y->quant->count != 1) return std::unique_ptr<CpuKernel>();
  if (w->quant->count != 1 && (w->quant->axis != 0 || w->quant->count != w->shape[0])) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::ConvOptionsT*>(node.options->value);
  if (x->shape.rank < 3 || x->shape.rank > 5 || y->shape.rank != x->shape.rank || o.group < 1) return std::unique_ptr<CpuKernel>();
  // Geometry from the channels-first shapes (channels_last only changes where elements live).
  const bool nhwc = o.channels_last;
  const Shape xs = nhwc ? ref::channels_first_shape(x->shape) : x->shape;
  const Shape ys = nhwc ? ref::channels_first_shape(y->shape) : y->shape;
  if (b && (b->dtype != DType::Int32 || b->numel() != ys[1])) return std::unique_ptr<CpuKernel>();
  if (!detail::input_constant(node, is_constant, 1) || !w->data) return std::unique_ptr<CpuKernel>();
  const bool bias_const = b && detail::input_constant(node, is_constant, 2) && b->data;
  if (b && !bias_const) return std::unique_ptr<CpuKernel>();
  if (y->numel() == 0) return std::unique_ptr<CpuKernel>();

  auto k = std::make_unique<Q8ConvKernel>();
  k->kt_ = &simd::q8_kernels();
  const simd::Q8Kernels& kt = *k->kt_;
  k->x_ = x;
  k->y_ = y;
  k->g_ = ref::make_window(o, xs, ys);
  k->batch_ = xs[0];
  k->c_ = xs[1];
  k->cout_ = ys[1];
  k->nhwc_ = nhwc;
  k->group_ = o.group;
  k->cg_ = k->c_ / k->group_;
  k->mg_ = k->cout_ / k->group_;
  k->z_x_ = ref::q_zero(*x);
  k->bias_const_ = bias_const;
  k->threads_ = ctx.threads;
  const ref::Window3& g = k->g_;
  const int threads = detail::thread_count(ctx);
  const int8_t* pw = w->as<int8_t>();
  const int32_t* pb = b ? b->as<int32_t>() : nullptr;
  const ref::ActivationParams act = ref::activation_of(o);
  const int64_t K = k->cg_ * g.taps;

  k->depthwise_ = k->cg_ == 1 && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1 && (!nhwc || k->mg_ == 1);
  if (k->depthwise_ && nhwc) {
    const int64_t C = k->c_;
    k->rq_.resize(1);
    if (!detail::make_q8_requant(kt, C, *x, *w, *y, act, 0, &k->rq_[0])) return std::unique_ptr<CpuKernel>();
    k->wq_.resize(static_cast<size_t>(g.taps * C));
    for (int64_t m = 0; m < C; ++m)
      for (int64_t t = 0; t < g.taps; ++t)
        k->wq_[static_cast<size_t>(t * C + m)] = static_cast<int16_t>(pw[m * g.taps + t] - ref::q_zero(*w, m));
    k->bias_.assign(static_cast<size_t>(C), 0);
    if (pb) k->bias_.assign(pb, pb + C);
    k->hp_ = std::max(g.in[1] + g.pad[1], (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.dil[1] + 1);
    k->wp_ = std::max(g.in[2] + g.pad[2], (g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.dil[2] + 1);
    const int64_t work = k->batch_ * C * g.out_plane * g.taps;
    k->parts_ = work >= kParallelWork / 4 ? threads : 1;
    k->plane_bytes_ = round_up(static_cast<size_t>(k->hp_ * k->wp_ * C) * 2);
    k->part_bytes_ = 0;  // dw_row keeps its accumulators in registers / on the stack
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  if (k->depthwise_) {
    k->rq_.resize(1);
    if (!detail::make_q8_requant(kt, k->cout_, *x, *w, *y, act, 0, &k->rq_[0])) return std::unique_ptr<CpuKernel>();
    k->wq_.resize(static_cast<size_t>(k->cout_ * g.taps));
    for (int64_t m = 0; m < k->cout_; ++m)
      for (int64_t t = 0; t < g.taps; ++t)
        k->wq_[static_cast<size_t>(m * g.taps + t)] = static_cast<int16_t>(pw[m * g.taps + t] - ref::q_zero(*w, m));
    if (pb) k->bias_.assign(pb, pb + k->cout_);
    k->hp_ = std::max(g.in[1] + g.pad[1], (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.dil[1] + 1);
    k->wp_ = std::max(g.in[2] + g.pad[2], (g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.dil[2] + 1);
    const int64_t work = k->batch_ * k->cout_ * g.out_plane * g.taps;
    k->parts_ = work >= kParallelWork / 4 ? threads : 1;  // no packing or hand-off per item: cheaper to split
    k->part_bytes_ = round_up(static_cast<size_t>(k->hp_ * k->wp_) * 2) + round_up(static_cast<size_t>(g.out[2]) * 4);
    return std::unique_ptr<CpuKernel>(std::move(k));
  }

  k->pointwise_ = true;
  for (int i = 0; i < 3; ++i)
    k->pointwise_ &= g.k[i] == 1 && g.s[i] == 1 && g.pad[i] == 0 && g.in[i] == g.out[i];
  k->npad_ = simd::q8_panels(kt, k->mg_) * kt.nr;
  k->pack_bytes_ = round_up(simd::q8_packed_b_bytes(kt, K, k->mg_));
  k->rq_.resize(static_cast<size_t>(k->group_));
  for (int64_t gi = 0; gi < k->group_; ++gi)
    if (!detail::make_q8_requant(kt, k->mg_, *x, *w, *y, act, gi * k->mg_, &k->rq_[static_cast<size_t>(gi)]))
      return std::unique_ptr<CpuKernel>();
  const bool prepacked =
      detail::q8_take_packed(node, kt, nhwc ? "conv-nhwc" : "conv-nchw", K, k->mg_, k->group_, k->pack_bytes_, k->npad_, &k->cb_);
  std::vector<int8_t> wt;  // channels_last: one group's W as [mg, taps, cg]
  for (int64_t gi = 0; gi < k->group_ && !prepacked; ++gi) {
    const detail::Q8Requant& rq = k->rq_[static_cast<size_t>(gi)];
    int32_t* co = k->cb_.col_off_mut() + gi * k->npad_;
    // B[kk, j] = W[gi * mg + j][kk]: column stride K. channels_last: kk = tap * cg + c (the order
    // of the channels-last im2col), so W is reordered to [M, taps, cg] first.
    const int8_t* wg = pw + gi * k->mg_ * K;
    if (nhwc && g.taps > 1) {
      wt.resize(static_cast<size_t>(k->mg_ * K));
      for (int64_t j = 0; j < k->mg_; ++j)
        for (int64_t c = 0; c < k->cg_; ++c)
          for (int64_t t = 0; t < g.taps; ++t) wt[static_cast<size_t>(j * K + t * k->cg_ + c)] = wg[(j * k->cg_ + c) * g.taps + t];
      wg = wt.data();
    }
    simd::q8_pack_b(kt, K, k->mg_, wg, 1, K, k->cb_.packed_mut() + static_cast<size_t>(gi) * k->pack_bytes_, co);
    detail::q8_col_offsets(kt, K, k->mg_, co, pb ? pb + gi * k->mg_ : nullptr, 1, rq, co);
  }
  if (nhwc) {
    // Tasks: (block of kRowBlock pixels over all images, group, panel split); im2col per block.
    const int64_t rows_total = k->batch_ * g.out_plane;
    k->parts_ = rows_total * k->cout_ * K >= kParallelWork ? threads : 1;
    const int64_t row_blocks = (rows_total + kRowBlock - 1) / kRowBlock;
    const int64_t panels = simd::q8_panels(kt, k->mg_);
    while (k->parts_ > 1 && row_blocks * k->group_ * k->splits_ < 2 * k->parts_ && k->splits_ < panels)
      k->splits_ = std::min(panels, k->splits_ * 2);
    // Row-major A for the micro-kernel when it takes it and no B zero point needs A's row sums.
    k->rows_a_ = kt.rows_a;
    for (const detail::Q8Requant& rq : k->rq_) k->rows_a_ &= rq.zb.empty();
    k->ld_ = (K + kt.kg - 1) / kt.kg * kt.kg;
    const int64_t block = std::min(kRowBlock, rows_total);
    if (k->rows_a_) {
      k->col_bytes_ = round_up(static_cast<size_t>(block * k->ld_));
      k->part_bytes_ = k->col_bytes_;
      // Direct form: 2-D, a table whose tile reads segmented rows in the u8 form, segments of whole
      // 4-byte groups (kernel rows when one group's taps along x are contiguous, else single taps).
      const bool two_d = g.k[0] == 1 && g.out[0] == 1 && g.in[0] == 1;
      if (!k->pointwise_ && two_d && kt.seg_a && kt.a_u8 && kt.kg == 4 && direct_conv_enabled()) {
        const int64_t KH = g.k[1], KW = g.k[2], C = k->c_, row_bytes = g.dil[1] * g.in[2] * C;
        if (k->group_ == 1 && g.dil[2] == 1 && (KW * k->cg_) % 4 == 0) {
          for (int64_t kh = 0; kh < KH; ++kh) k->seg_.push_back(kh * row_bytes);
          k->seg_groups_ = KW * k->cg_ / 4;
        } else if (k->cg_ % 4 == 0) {
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) k->seg_.push_back(kh * row_bytes + kw * g.dil[2] * C);
          k->seg_groups_ = k->cg_ / 4;
        }
        if (!k->seg_.empty()) {
          k->direct_ = true;
          // ow with w0 = ow s - pad >= 0 and w0 + (KW - 1) dil < W
          k->ow_in0_ = (g.pad[2] + g.s[2] - 1) / g.s[2];
          const int64_t last = g.in[2] - 1 - (KW - 1) * g.dil[2] + g.pad[2];
          k->ow_in1_ = last < 0 ? 0 : std::min(g.out[2], last / g.s[2] + 1);
          k->plane_bytes_ = round_up(static_cast<size_t>(x->numel()));
        }
      }
    } else {
      k->col_bytes_ = k->pointwise_ ? 0 : round_up(static_cast<size_t>(block * K));
      k->part_bytes_ = k->col_bytes_ + round_up(simd::q8_gemm_scratch_bytes(kt, block, K));
    }
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  const int64_t P = g.out_plane;
  const int64_t work = P * k->mg_ * K;
  k->parts_ = work >= kParallelWork ? threads : 1;
  const int64_t row_blocks = (P + kRowBlock - 1) / kRowBlock;
  const int64_t panels = simd::q8_panels(kt, k->mg_);
  while (k->parts_ > 1 && row_blocks * k->splits_ < 2 * k->parts_ && k->splits_ < panels)
    k->splits_ = std::min(panels, k->splits_ * 2);
  k->col_bytes_ = k->pointwise_ ? 0 : round_up(static_cast<size_t>(K * P));
  k->part_bytes_ = round_up(simd::q8_gemm_scratch_bytes(kt, std::min(kRowBlock, P), K));
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
