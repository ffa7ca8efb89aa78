// Pooling (ONNX semantics): GlobalAveragePool / GlobalMaxPool over all spatial dims, and
// AveragePool / MaxPool with kernel_shape, strides, dilations, asymmetric pads and ceil_mode (the
// output shape, including ceil_mode's rule that a window may not start in the end padding, comes
// from shape inference).
//
// MaxPool never sees padding: it takes the max over the taps inside the input. AveragePool divides
// by the taps inside the input, or with count_include_pad by the taps inside the padded input
// [-pad_begin, in + pad_end): an extra window that ceil_mode adds past the end padding does not
// count the overhang (PyTorch's and onnxruntime's rule). A window with no tap to count gives NaN
// (average) or the lowest value of the type (max). Max propagates NaN like numpy and PyTorch.
//
// Average pooling is float32; max pooling also runs on int8 / uint8, as ONNX allows. Rows are
// processed a tap at a time across the output columns whose window is inside the input, so those
// inner loops are contiguous (stride 1) and vectorize; border columns take the clipped taps.
#include <cmath>
#include <limits>

#include "reference/kernel.h"
#include "reference/ops/channels_last.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/reduce_lanes.h"

namespace tern::ref {

namespace {

template <typename T>
T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

template <typename T>
T max_nan(T m, T v) {
  if constexpr (std::is_floating_point_v<T>) return (v > m || v != v) ? v : m;
  else return v > m ? v : m;
}

template <typename F>
bool dispatch_max_types(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); return true;
    case DType::Int8: f(int8_t{}); return true;
    case DType::UInt8: f(uint8_t{}); return true;
    default: return false;
  }
}

// One (n, c) plane. kMax: max pooling of T; otherwise average pooling (T = float).
template <typename T, bool kMax>
void pool_plane(const Window3& w, bool include_pad, const T* x, T* y) {
  const int64_t in_w = w.in[2], sw = w.s[2], dw = w.dil[2], kw = w.k[2], pw = w.pad[2];
  int64_t lo, hi;
  interior_columns(w, &lo, &hi);
  for (int64_t od = 0; od < w.out[0]; ++od) {
    for (int64_t oh = 0; oh < w.out[1]; ++oh) {
      const int64_t id0 = od * w.s[0] - w.pad[0], ih0 = oh * w.s[1] - w.pad[1];
      int64_t kd0, kd1, kh0, kh1;
      tap_range(id0, w.in[0], w.k[0], w.dil[0], &kd0, &kd1);
      tap_range(ih0, w.in[1], w.k[1], w.dil[1], &kh0, &kh1);
      // Divisor factors in d and h (and w for border columns) under count_include_pad: the taps
      // inside the padded extent, found as the taps inside [0, in + both pads) shifted by the pad.
      int64_t pd0, pd1, ph0, ph1;
      tap_range(id0 + w.pad[0], w.in[0] + w.pad[0] + w.pad_end[0], w.k[0], w.dil[0], &pd0, &pd1);
      tap_range(ih0 + w.pad[1], w.in[1] + w.pad[1] + w.pad_end[1], w.k[1], w.dil[1], &ph0, &ph1);
      const int64_t dh_count = include_pad ? (pd1 - pd0) * (ph1 - ph0) : (kd1 - kd0) * (kh1 - kh0);
      T* yr = y + (od * w.out[1] + oh) * w.out[2];
      auto row_of = [&](int64_t kd, int64_t kh) {
        return x + ((id0 + kd * w.dil[0]) * w.in[1] + (ih0 + kh * w.dil[1])) * in_w;
      };

      auto border = [&](int64_t ow) {
        const int64_t iw0 = ow * sw - pw;
        int64_t k0, k1;
        tap_range(iw0, in_w, kw, dw, &k0, &k1);
        T acc = kMax ? lowest<T>() : T(0);
        for (int64_t kd = kd0; kd < kd1; ++kd)
          for (int64_t kh = kh0; kh < kh1; ++kh) {
            const T* xr = row_of(kd, kh);
            for (int64_t k = k0; k < k1; ++k) {
              if constexpr (kMax) acc = max_nan(acc, xr[iw0 + k * dw]);
              else acc += xr[iw0 + k * dw];
            }
          }
        if constexpr (kMax) {
          yr[ow] = acc;
        } else {
          int64_t q0, q1;
          tap_range(iw0 + pw, in_w + pw + w.pad_end[2], kw, dw, &q0, &q1);
          yr[ow] = acc / static_cast<float>(dh_count * (include_pad ? q1 - q0 : k1 - k0));
        }
      };

      for (int64_t ow = 0; ow < lo; ++ow) border(ow);
      for (int64_t ow = lo; ow < hi; ++ow) yr[ow] = kMax ? lowest<T>() : T(0);
      for (int64_t kd = kd0; kd < kd1; ++kd)
        for (int64_t kh = kh0; kh < kh1; ++kh) {
          const T* xr = row_of(kd, kh);
          for (int64_t k = 0; k < kw; ++k) {
            const int64_t off = k * dw - pw;  // column ow reads xr[ow * sw + off], inside the row on [lo, hi)
            if (sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) {
                if constexpr (kMax) yr[ow] = max_nan(yr[ow], xr[ow + off]);
                else yr[ow] += xr[ow + off];
              }
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) {
                if constexpr (kMax) yr[ow] = max_nan(yr[ow], xr[ow * sw + off]);
                else yr[ow] += xr[ow * sw + off];
              }
            }
          }
        }
      if constexpr (!kMax) {
        const float count = static_cast<float>(dh_count * kw);
        for (int64_t ow = lo; ow < hi; ++ow) yr[ow] /= count;
      }
      for (int64_t ow = hi; ow < w.out[2]; ++ow) border(ow);
    }
  }
}

}  // namespace

Status global_pool(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const int64_t planes = x.shape[0] * x.shape[1];
  const int64_t plane = planes == 0 ? 0 : x.numel() / planes;
  if (ctx.op == OpType::GlobalAveragePool) {
    if (x.dtype != DType::Float32)
      return ctx.unsupported("X is %s; the reference GlobalAveragePool computes float32 only", dtype_name(x.dtype));
    const float* px = x.as<float>();
    float* py = y->as<float>();
    // An empty plane averages to NaN (0 / 0), as numpy's mean of nothing.
    for (int64_t p = 0; p < planes; ++p)
      py[p] = static_cast<float>(sum_f32(px + p * plane, plane) / static_cast<double>(plane));
    return Status::ok();
  }
  bool ok = dispatch_max_types(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.as<T>();
    T* py = y->as<T>();
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = px + p * plane;
      T m = lowest<T>();
      for (int64_t i = 0; i < plane; ++i) m = max_nan(m, xp[i]);
      py[p] = m;
    }
  });
  return ok ? Status::ok()
            : ctx.unsupported("X is %s; GlobalMaxPool takes float32, int8 or uint8", dtype_name(x.dtype));
}

Status pool_nchw(const KernelContext& ctx);

// channels_last (set by the layout pass): the same kernel on channels-first copies in scratch.
size_t pool_scratch(const KernelContext& ctx) {
  return ctx.opts<fb::PoolOptionsT>().channels_last ? channels_last_scratch(ctx) : 0;
}

Status pool(const KernelContext& ctx) {
  if (ctx.opts<fb::PoolOptionsT>().channels_last) return run_channels_last(ctx, pool_nchw);
  return pool_nchw(ctx);
}

Status pool_nchw(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const auto& o = ctx.opts<fb::PoolOptionsT>();
  const Window3 w = make_window(o, x.shape, y->shape);
  const int64_t planes = x.shape[0] * x.shape[1];
  if (ctx.op == OpType::AveragePool) {
    if (x.dtype != DType::Float32)
      return ctx.unsupported("X is %s; the reference AveragePool computes float32 only", dtype_name(x.dtype));
    for (int64_t p = 0; p < planes; ++p)
      pool_plane<float, false>(w, o.count_include_pad, x.as<float>() + p * w.in_plane,
                               y->as<float>() + p * w.out_plane);
    return Status::ok();
  }
  bool ok = dispatch_max_types(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t p = 0; p < planes; ++p)
      pool_plane<T, true>(w, false, x.as<T>() + p * w.in_plane, y->as<T>() + p * w.out_plane);
  });
  return ok ? Status::ok() : ctx.unsupported("X is %s; MaxPool takes float32, int8 or uint8", dtype_name(x.dtype));
}

}  // namespace tern::ref
