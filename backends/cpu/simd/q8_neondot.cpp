// NEON SDOT int8 micro-kernel (this file alone is compiled with -march=armv8.2-a+dotprod; chosen at
// run time only when HWCAP_ASIMDDP says the CPU has it). Tile 8x8: 16 accumulators; per group of
// 4 k, two B vectors (4 columns x 4 bytes each) and one vdotq_s32 per row and vector with A's 4
// bytes broadcast (signed x signed: no offset needed). Scalar epilogue.
#include <arm_neon.h>

#include <cstring>

#include "cpu/simd/q8_impl.h"

namespace tern::cpu::simd {

namespace {

template <int R>
struct DotTile {
  static void run(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
    const int8_t* a = static_cast<const int8_t*>(ap);
    const int8_t* b = static_cast<const int8_t*>(bp);
    int32x4_t acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
    for (int64_t g = 0; g < kgroups; ++g, a += t.a_gstride, b += 32) {
      const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
      for (int r = 0; r < R; ++r) {
        int32_t a4;
        std::memcpy(&a4, a + r * t.a_rstride, 4);
        const int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(a4));
        acc[r][0] = vdotq_s32(acc[r][0], b0, av);
        acc[r][1] = vdotq_s32(acc[r][1], b1, av);
      }
    }
    int32_t c[R * 8];
    for (int r = 0; r < R; ++r) {
      vst1q_s32(c + r * 8, acc[r][0]);
      vst1q_s32(c + r * 8 + 4, acc[r][1]);
    }
    q8impl::epilogue_scalar(c, 8, t);
  }
};

void dot_tile(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  q8impl::by_rows<DotTile, 8>(kgroups, ap, bp, t);
}

}  // namespace

const Q8Kernels& q8_kernels_neondot() {
  static const Q8Kernels k{Isa::Neon, "gemm_q8_8x8__neondot", 8, 8, 4, false, false, true, dot_tile,
                           q8_quantize_scalar, q8_dequantize_scalar, q8_requant_row_scalar, q8impl::mac_row,
                           q8impl::mac_cols, q8_requant_cols_scalar, q8impl::dw_row<q8_requant_cols_scalar>,
                           q8impl::copy_u8, q8_att_gemm_scalar,
                           q8_att_softmax_scalar, nullptr};
  return k;
}

}  // namespace tern::cpu::simd
