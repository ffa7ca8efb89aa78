// Resize, float32, Nearest and (n-)Linear, every coordinate transformation mode of the schema.
//
// Output coordinate -> input coordinate follows the ONNX spec per axis with the node's `scales`
// (the output shape is `sizes`); coordinates are computed in double so that rounding for Nearest
// does not depend on float error. An axis whose size and scale are both unchanged maps every
// coordinate to itself in every mode, so it is treated as a plain index and never interpolated:
// in practice only the last two axes are, and Linear touches 2^k input elements per output for k
// resized axes.
//
// The plan has no ROI input, so tf_crop_and_resize uses the full ROI [0, 1]: coordinates then stay
// inside the input and extrapolation_value appears only through rounding at the edges.
//
// Coefficients of the last axis live in a fixed-size table on the stack, filled once per chunk of
// columns and shared by all rows; the outer axes' coefficients are computed once per row.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

using fb::CoordinateTransform;
using fb::NearestMode;

struct Axis {
  int64_t in = 0, out = 0;
  double scale = 1;
  bool identity = false;
  int64_t stride = 0;  // input stride in elements
};

double original_coord(const Axis& a, CoordinateTransform ct, int64_t xr) {
  const double x = static_cast<double>(xr);
  switch (ct) {
    case CoordinateTransform::HalfPixel: return (x + 0.5) / a.scale - 0.5;
    case CoordinateTransform::HalfPixelSymmetric: {
      double adjustment = static_cast<double>(a.out) / (a.scale * static_cast<double>(a.in));
      double center = static_cast<double>(a.in) / 2;
      return center * (1 - adjustment) + (x + 0.5) / a.scale - 0.5;
    }
    case CoordinateTransform::PytorchHalfPixel: return a.out > 1 ? (x + 0.5) / a.scale - 0.5 : 0.0;
    case CoordinateTransform::AlignCorners:
      // length_resized is the output length, as the operator text and PyTorch have it (ONNX's
      // numpy reference uses the fractional in * scale instead when `scales` are given).
      return a.out == 1 ? 0.0 : x * static_cast<double>(a.in - 1) / static_cast<double>(a.out - 1);
    case CoordinateTransform::Asymmetric: return x / a.scale;
    case CoordinateTransform::TfCropAndResize:
      return a.out > 1 ? x * static_cast<double>(a.in - 1) / static_cast<double>(a.out - 1)
                       : 0.5 * static_cast<double>(a.in - 1);
  }
  return x;
}

struct Ctx {
  const Axis* axes;
  CoordinateTransform ct;
  NearestMode nm;
  bool extrapolate;  // tf_crop_and_resize: coordinates outside the input give extrapolation_value
};

// Whether an original coordinate falls outside the input (only meaningful with c.extrapolate).
inline bool outside(const Ctx& c, const Axis& a, double xo) {
  return c.extrapolate && (xo < 0 || xo > static_cast<double>(a.in - 1));
}

// Clamping before rounding gives the same index as rounding then clamping (the bounds are
// integers) and keeps the double -> int64 conversion defined for any scale.
int64_t nearest_index(const Ctx& c, const Axis& a, int64_t xr, bool* out_of_range) {
  if (a.identity) return xr;
  double xo = original_coord(a, c.ct, xr);
  if (outside(c, a, xo)) *out_of_range = true;
  double hi = static_cast<double>(a.in - 1);
  xo = xo > 0 ? (xo < hi ? xo : hi) : 0.0;
  double f = std::floor(xo);
  double v;
  switch (c.nm) {
    case NearestMode::RoundPreferFloor: v = xo - f == 0.5 ? f : std::round(xo); break;
    case NearestMode::RoundPreferCeil: v = xo - f == 0.5 ? f + 1 : std::round(xo); break;
    case NearestMode::Floor: v = f; break;
    default: v = std::ceil(xo); break;
  }
  return static_cast<int64_t>(v);
}

// Linear neighbours: out-of-range coordinates clamp to the edge, which is what the spec's edge
// padding of the input amounts to.
struct Linear {
  int64_t i0, i1;
  double w;  // weight of i1
};
Linear linear_coeffs(const Ctx& c, const Axis& a, int64_t xr, bool* out_of_range) {
  if (a.identity) return {xr, xr, 0.0};
  double xo = original_coord(a, c.ct, xr);
  if (outside(c, a, xo)) *out_of_range = true;
  double hi = static_cast<double>(a.in - 1);
  xo = xo > 0 ? (xo < hi ? xo : hi) : 0.0;
  int64_t i0 = static_cast<int64_t>(xo);
  return {i0, std::min(i0 + 1, a.in - 1), xo - static_cast<double>(i0)};
}

void fill(float* p, int64_t n, float v) {
  for (int64_t i = 0; i < n; ++i) p[i] = v;
}

}  // namespace

Status resize(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  if (x.dtype != DType::Float32) return ctx.unsupported("X is %s; the reference Resize takes float32", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::ResizeOptionsT>();
  if (o.mode != fb::ResizeMode::Nearest && o.mode != fb::ResizeMode::Linear)
    return ctx.unsupported("mode %s", fb::EnumNameResizeMode(o.mode));
  const int r = x.shape.rank;
  const float* src = x.as<const float>();
  float* dst = y->as<float>();
  if (r == 0) {
    dst[0] = src[0];
    return Status::ok();
  }
  Axis axes[kMaxRank];
  int64_t strides[kMaxRank];
  row_major_strides(x.shape, strides);
  for (int d = 0; d < r; ++d) {
    Axis& a = axes[d];
    a.in = x.shape[d];
    a.out = y->shape[d];
    a.scale = static_cast<double>(o.scales[static_cast<size_t>(d)]);
    a.identity = a.in == a.out && o.scales[static_cast<size_t>(d)] == 1.0f;
    a.stride = strides[d];
  }
  const Ctx c{axes, o.coordinate_transformation_mode, o.nearest_mode,
              o.coordinate_transformation_mode == CoordinateTransform::TfCropAndResize};
  const float ext = o.extrapolation_value;
  const int last = r - 1;
  const Axis& al = axes[last];
  const int64_t row_len = al.out, rows = y->numel() / row_len;
  const bool linear = o.mode == fb::ResizeMode::Linear;

  // The last axis's coefficients do not depend on the row: they are computed once per chunk of
  // columns into a fixed-size stack table (no allocation), then every row uses them. Most widths
  // fit one chunk.
  constexpr int64_t kChunk = 512;
  Linear cols[kChunk];
  bool col_out[kChunk];
  // Corner offsets and weights of the current row: 2^k for k resized outer axes (k < kMaxRank).
  int64_t corner_off[1 << (kMaxRank - 1)];
  double corner_w[1 << (kMaxRank - 1)];
  for (int64_t j0 = 0; j0 < row_len; j0 += kChunk) {
    const int64_t jn = std::min(kChunk, row_len - j0);
    for (int64_t j = 0; j < jn; ++j) {
      col_out[j] = false;
      if (linear) cols[j] = linear_coeffs(c, al, j0 + j, &col_out[j]);
      else cols[j].i0 = nearest_index(c, al, j0 + j, &col_out[j]);
    }
    float* out_row = dst + j0;
    int64_t idx[kMaxRank] = {};
    for (int64_t row = 0; row < rows; ++row, out_row += row_len) {
      bool oor = false;
      int n_corners = 1;
      corner_off[0] = 0;
      corner_w[0] = 1.0;
      for (int d = 0; d < last; ++d) {
        const Axis& a = axes[d];
        if (!linear) {
          corner_off[0] += nearest_index(c, a, idx[d], &oor) * a.stride;
          continue;
        }
        Linear l = linear_coeffs(c, a, idx[d], &oor);
        // A zero weight adds nothing: integer coordinates (identity axes included) keep one corner.
        if (l.w == 0) {
          for (int k = 0; k < n_corners; ++k) corner_off[k] += l.i0 * a.stride;
          continue;
        }
        for (int k = 0; k < n_corners; ++k) {
          corner_off[n_corners + k] = corner_off[k] + l.i1 * a.stride;
          corner_w[n_corners + k] = corner_w[k] * l.w;
          corner_off[k] += l.i0 * a.stride;
          corner_w[k] *= 1.0 - l.w;
        }
        n_corners *= 2;
      }
      if (oor) {
        fill(out_row, jn, ext);
      } else if (al.identity && n_corners == 1) {
        std::memcpy(out_row, src + corner_off[0] + j0, static_cast<size_t>(jn) * sizeof(float));
      } else if (!linear) {
        const float* s = src + corner_off[0];
        for (int64_t j = 0; j < jn; ++j) out_row[j] = col_out[j] ? ext : s[cols[j].i0];
      } else if (n_corners == 1) {
        const float* s = src + corner_off[0];
        for (int64_t j = 0; j < jn; ++j) {
          const Linear& l = cols[j];
          // Skipping a zero-weight neighbour keeps an infinity there from turning into NaN.
          double v = l.w == 0 ? static_cast<double>(s[l.i0]) : (1.0 - l.w) * s[l.i0] + l.w * s[l.i1];
          out_row[j] = col_out[j] ? ext : static_cast<float>(v);
        }
      } else {
        for (int64_t j = 0; j < jn; ++j) {
          const Linear& l = cols[j];
          double acc = 0;
          for (int k = 0; k < n_corners; ++k) {
            const float* s = src + corner_off[k];
            acc += corner_w[k] * (l.w == 0 ? static_cast<double>(s[l.i0]) : (1.0 - l.w) * s[l.i0] + l.w * s[l.i1]);
          }
          out_row[j] = col_out[j] ? ext : static_cast<float>(acc);
        }
      }
      for (int d = last - 1; d >= 0; --d) {
        if (++idx[d] < axes[d].out) break;
        idx[d] = 0;
      }
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
