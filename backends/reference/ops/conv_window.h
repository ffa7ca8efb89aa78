// Sliding-window geometry shared by the Conv and pooling reference kernels: N, C, then 1 to 3
// spatial dims, normalized to exactly three (d, h, w) by giving missing leading dims size 1 and a
// 1-tap kernel, so one loop nest serves Conv1d/2d/3d and every pool.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/tensor.h"

namespace tern::ref {

struct Window3 {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, dil[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};      // begin pads (end pads only shape the output)
  int64_t pad_end[3] = {0, 0, 0};
  int64_t in_plane = 1, out_plane = 1, taps = 1;
};

// Options: any table with kernel_shape / strides / dilations / pads vectors (already validated by
// shape inference against x's rank).
template <typename Options>
Window3 make_window(const Options& o, const Shape& x, const Shape& y) {
  Window3 w;
  const int spatial = x.rank - 2;
  const int shift = 3 - spatial;
  for (int i = 0; i < spatial; ++i) {
    const size_t si = static_cast<size_t>(i);
    w.in[shift + i] = x[2 + i];
    w.out[shift + i] = y[2 + i];
    w.k[shift + i] = o.kernel_shape[si];
    w.s[shift + i] = o.strides[si];
    w.dil[shift + i] = o.dilations[si];
    w.pad[shift + i] = o.pads[si];
    w.pad_end[shift + i] = o.pads[si + static_cast<size_t>(spatial)];
  }
  w.in_plane = w.in[0] * w.in[1] * w.in[2];
  w.out_plane = w.out[0] * w.out[1] * w.out[2];
  w.taps = w.k[0] * w.k[1] * w.k[2];
  return w;
}

// The taps t in [0, k) whose position start + t * dil lies in [0, in): [*lo, *hi), maybe empty.
inline void tap_range(int64_t start, int64_t in, int64_t k, int64_t dil, int64_t* lo, int64_t* hi) {
  *lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  *hi = in - start <= 0 ? 0 : std::min(k, (in - start + dil - 1) / dil);
  if (*hi < *lo) *hi = *lo;
}

// Output columns [*lo, *hi) whose whole window lies inside the input row:
// ow * s - pad >= 0 and ow * s - pad + (k - 1) * dil <= in - 1. Columns outside it cross padding.
inline void interior_columns(const Window3& w, int64_t* lo, int64_t* hi) {
  const int64_t s = w.s[2];
  *lo = std::min(w.out[2], (w.pad[2] + s - 1) / s);
  const int64_t last = w.in[2] - 1 + w.pad[2] - (w.k[2] - 1) * w.dil[2];
  *hi = last < 0 ? *lo : std::clamp(last / s + 1, *lo, w.out[2]);
}

}  // namespace tern::ref
