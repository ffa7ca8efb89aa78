// NEON int8 micro-kernel for AArch64 CPUs without the dot-product extension, and for armv7:
// vmull_s8 widening products (exact in int16: |a b| <= 2^14) pairwise-accumulated into int32 with
// vpadalq_s16. Tile 4x8, k in groups of 4 (the same packing as the SDOT kernel). Scalar epilogue.
#include <arm_neon.h>

#include <cstring>

#include "cpu/simd/q8_impl.h"

namespace tern::cpu::simd {

namespace {

#if !defined(__aarch64__)
// armv7 lacks the AArch64 forms; these give the same lanes.
inline int16x8_t vmull_high_s8(int8x16_t a, int8x16_t b) { return vmull_s8(vget_high_s8(a), vget_high_s8(b)); }
inline int32x4_t vpaddq_s32(int32x4_t a, int32x4_t b) {
  return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)), vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
}
#endif

template <int R>
struct NeonTile {
  static void run(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
    const int8_t* a = static_cast<const int8_t*>(ap);
    const int8_t* b = static_cast<const int8_t*>(bp);
    int32x4_t acc[R][4];  // [row][column pair]: lanes c(e0+e1), c(e2+e3), c'(e0+e1), c'(e2+e3)
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < 4; ++h) acc[r][h] = vdupq_n_s32(0);
    for (int64_t g = 0; g < kgroups; ++g, a += t.a_gstride, b += 32) {
      const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
      for (int r = 0; r < R; ++r) {
        int32_t a4;
        std::memcpy(&a4, a + r * t.a_rstride, 4);
        const int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(a4));
        acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(b0), vget_low_s8(av)));
        acc[r][1] = vpadalq_s16(acc[r][1], vmull_high_s8(b0, av));
        acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(b1), vget_low_s8(av)));
        acc[r][3] = vpadalq_s16(acc[r][3], vmull_high_s8(b1, av));
      }
    }
    int32_t c[R * 8];
    for (int r = 0; r < R; ++r) {
      vst1q_s32(c + r * 8, vpaddq_s32(acc[r][0], acc[r][1]));
      vst1q_s32(c + r * 8 + 4, vpaddq_s32(acc[r][2], acc[r][3]));
    }
    q8impl::epilogue_scalar(c, 8, t);
  }
};

void neon_tile(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  q8impl::by_rows<NeonTile, 4>(kgroups, ap, bp, t);
}

}  // namespace

const Q8Kernels& q8_kernels_neon() {
  static const Q8Kernels k{Isa::Neon, "gemm_q8_4x8__neon", 4, 8, 4, false, false, true, neon_tile,
                           q8_quantize_scalar, q8_dequantize_scalar, q8_requant_row_scalar, q8impl::mac_row,
                           q8impl::mac_cols, q8_requant_cols_scalar, q8impl::dw_row<q8_requant_cols_scalar>,
                           q8impl::copy_u8, q8_att_gemm_scalar,
                           q8_att_softmax_scalar, nullptr};
  return k;
}

}  // namespace tern::cpu::simd
