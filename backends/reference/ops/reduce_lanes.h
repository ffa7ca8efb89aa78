// Sums of contiguous float runs for the reductions inside reduce, LayerNorm, GroupNorm and
// average pooling.
//
// A single running float sum is a dependency chain the compiler may not reorder, so it neither
// vectorizes nor stays accurate over long runs. These sum in eight interleaved float lanes (which
// vectorize) within blocks of kBlock elements, and add the block totals in double, so the error
// does not grow with the length of the run (group norms over whole feature maps, global pools).
#pragma once

#include <cstdint>

namespace tern::ref {

namespace lanes_detail {

constexpr int64_t kBlock = 256;

template <typename F>
inline float block_sum(int64_t n, F&& term) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) part[l] += term(i + l);
  for (; i < n; ++i) part[i & 7] += term(i);
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

}  // namespace lanes_detail

// sum of x[0, n)
inline double sum_f32(const float* x, int64_t n) {
  double total = 0;
  for (int64_t i0 = 0; i0 < n; i0 += lanes_detail::kBlock) {
    const float* xb = x + i0;
    int64_t len = n - i0 < lanes_detail::kBlock ? n - i0 : lanes_detail::kBlock;
    total += lanes_detail::block_sum(len, [xb](int64_t i) { return xb[i]; });
  }
  return total;
}

// Mean and variance of x[0, n), n > 0, for the normalizations. Two passes: the first gives an
// approximate mean, the second sums the deviations from it as well as their squares, and that sum
// corrects both the mean and the variance (the corrected two-pass algorithm of Chan, Golub and
// LeVeque). Deviations are small where the data sits far from zero, so the correction is accurate
// even when the first pass's float lanes rounded away a few digits of a large mean.
// The mean is returned as hi + lo so that (x - hi) - lo, which is exact in its first step when x is
// near the mean, keeps the digits that a single float would drop.
struct Moments {
  float mean_hi = 0, mean_lo = 0;
  double var = 0;
};

inline Moments moments_f32(const float* x, int64_t n) {
  Moments m;
  m.mean_hi = static_cast<float>(sum_f32(x, n) / static_cast<double>(n));
  double sum_d = 0, sum_d2 = 0;
  for (int64_t i0 = 0; i0 < n; i0 += lanes_detail::kBlock) {
    const float* xb = x + i0;
    const int64_t len = n - i0 < lanes_detail::kBlock ? n - i0 : lanes_detail::kBlock;
    float d1[8] = {}, d2[8] = {};
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int l = 0; l < 8; ++l) {
        const float d = xb[i + l] - m.mean_hi;
        d1[l] += d;
        d2[l] += d * d;
      }
    for (; i < len; ++i) {
      const float d = xb[i] - m.mean_hi;
      d1[0] += d;
      d2[0] += d * d;
    }
    for (int l = 0; l < 8; ++l) {
      sum_d += d1[l];
      sum_d2 += d2[l];
    }
  }
  const double shift = sum_d / static_cast<double>(n);
  m.mean_lo = static_cast<float>(shift);
  m.var = sum_d2 / static_cast<double>(n) - shift * shift;
  if (m.var < 0) m.var = 0;
  return m;
}

}  // namespace tern::ref
