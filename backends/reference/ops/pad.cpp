// Pad, any dtype, in constant, reflect, edge and wrap modes; negative pads crop (constant mode).
//
// The output is walked row by row (a row is the last axis). Each output coordinate maps to an
// input coordinate c - pad_begin; what happens outside [0, n) is the mode: the constant, a mirror
// without repeating the edge (reflect), the edge (edge), or the opposite side (wrap). Mapping is
// repeated as often as needed, so pads wider than the axis behave as numpy.pad does. Inside a row
// the part that maps straight onto the input is one memcpy; only pad elements are mapped one by
// one.
#include <cstring>

#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

namespace {

// Input coordinate for i = output coordinate - pad_begin on an axis of size n > 0 (not Constant).
int64_t map_coord(int64_t i, int64_t n, fb::PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case fb::PadMode::Edge: return i < 0 ? 0 : n - 1;
    case fb::PadMode::Wrap: {
      int64_t m = i % n;
      return m < 0 ? m + n : m;
    }
    default: {  // Reflect: period 2(n-1), the edges appear once per period
      if (n == 1) return 0;
      int64_t period = 2 * (n - 1);
      int64_t m = i % period;
      if (m < 0) m += period;
      return m < n ? m : period - m;
    }
  }
}

}  // namespace

Status pad(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const auto& o = ctx.opts<fb::PadOptionsT>();
  const int r = x.shape.rank;
  const size_t e = dtype_size(x.dtype);
  const uint8_t* src = x.as<const uint8_t>();
  uint8_t* dst = y->as<uint8_t>();
  if (r == 0) {
    std::memcpy(dst, src, e);
    return Status::ok();
  }
  uint8_t value[8] = {};
  if (!encode_scalar(o.value, x.dtype, value)) return ctx.unsupported("dtype %s", dtype_name(x.dtype));
  const bool constant = o.mode == fb::PadMode::Constant;
  // Shape inference refuses this; map_coord would divide by the empty axis's size.
  if (!constant && x.numel() == 0) return ctx.error("cannot pad the empty X %s in %s mode", x.shape.str().c_str(),
                                                    fb::EnumNamePadMode(o.mode));
  int64_t in_strides[kMaxRank];
  row_major_strides(x.shape, in_strides);
  const int64_t* begin = o.pads.data();
  const int last = r - 1;
  const int64_t n_last = x.shape[last], out_last = y->shape[last], b_last = begin[last];
  // Output columns [lo, hi) of each row copy input columns [lo - b, hi - b) directly.
  const int64_t lo = std::max<int64_t>(0, b_last), hi = std::min(out_last, b_last + n_last);
  const size_t row_bytes = static_cast<size_t>(out_last) * e;
  const int64_t rows = y->numel() / out_last;

  int64_t idx[kMaxRank] = {};
  for (int64_t row = 0; row < rows; ++row, dst += row_bytes) {
    // Source row for this output row, or none (constant mode, outside the input).
    const uint8_t* s = src;
    bool inside = true;
    for (int d = 0; d < last; ++d) {
      int64_t i = idx[d] - begin[d];
      if (i < 0 || i >= x.shape[d]) {
        if (constant) {
          inside = false;
          break;
        }
        i = map_coord(i, x.shape[d], o.mode);
      }
      s += static_cast<size_t>(i * in_strides[d]) * e;
    }
    if (!inside || (constant && lo >= hi)) {
      fill_elements(dst, out_last, value, e);
    } else if (constant) {
      fill_elements(dst, lo, value, e);
      std::memcpy(dst + static_cast<size_t>(lo) * e, s + static_cast<size_t>(lo - b_last) * e,
                  static_cast<size_t>(hi - lo) * e);
      fill_elements(dst + static_cast<size_t>(hi) * e, out_last - hi, value, e);
    } else {
      for (int64_t c = 0; c < out_last; ++c) {
        if (c == lo && lo < hi) {
          std::memcpy(dst + static_cast<size_t>(lo) * e, s + static_cast<size_t>(lo - b_last) * e,
                      static_cast<size_t>(hi - lo) * e);
          c = hi - 1;
          continue;
        }
        int64_t i = map_coord(c - b_last, n_last, o.mode);
        std::memcpy(dst + static_cast<size_t>(c) * e, s + static_cast<size_t>(i) * e, e);
      }
    }
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < y->shape[d]) break;
      idx[d] = 0;
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
