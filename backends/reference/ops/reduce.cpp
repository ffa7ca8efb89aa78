// ReduceMean / ReduceSum / ReduceMax / ReduceMin / ReduceProd over a set of axes (ONNX opset-18
// semantics with the axes already resolved: empty = all; keepdims only changes the output's shape,
// never its memory layout), and ArgMax / ArgMin (int64 indices, select_last_index).
//
// Dims of size 1 are dropped and neighbouring dims that are both reduced or both kept are merged,
// so e.g. a reduction over H and W of NCHW becomes [N*C kept, H*W reduced]. Then:
//  - last merged dim reduced: each output element reduces contiguous runs of the input;
//  - last merged dim kept (float only): the input is streamed once, each contiguous run folded
//    elementwise into a row of the output, which vectorizes;
//  - integers whose last dim is kept use the first form with a strided run (rare: shape math).
// Float sums and means of contiguous runs are accumulated as in reduce_lanes.h (float lanes, double
// block totals); the elementwise form accumulates in float, like PyTorch. Integer sums, means and
// products accumulate in int64 and wrap to the output type; means truncate toward zero.
// Max and Min propagate NaN (numpy). Over an empty set: Sum 0, Prod 1, Mean NaN (integers: 0),
// Max -inf / lowest integer, Min +inf / highest integer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "reference/kernel.h"
#include "reference/ops/reduce_lanes.h"
#include "reference/ops/util.h"

namespace tern::ref {

namespace {

enum class Kind { kSum, kMean, kMax, kMin, kProd };

Kind kind_of(OpType op) {
  switch (op) {
    case OpType::ReduceSum: return Kind::kSum;
    case OpType::ReduceMean: return Kind::kMean;
    case OpType::ReduceMax: return Kind::kMax;
    case OpType::ReduceMin: return Kind::kMin;
    default: return Kind::kProd;
  }
}

// Accumulator: double for float (exact for float inputs to max/min), int64 for integers.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename A>
A identity(Kind k) {
  switch (k) {
    case Kind::kMax:
      if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
      else return std::numeric_limits<A>::lowest();
    case Kind::kMin:
      if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
      else return std::numeric_limits<A>::max();
    case Kind::kProd: return A(1);
    default: return A(0);
  }
}

template <typename A>
A combine(Kind k, A a, A v) {
  switch (k) {
    case Kind::kMax:
      if constexpr (std::is_floating_point_v<A>) return (v > a || v != v) ? v : a;
      else return v > a ? v : a;
    case Kind::kMin:
      if constexpr (std::is_floating_point_v<A>) return (v < a || v != v) ? v : a;
      else return v < a ? v : a;
    case Kind::kProd:
      if constexpr (std::is_floating_point_v<A>) return a * v;
      else return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(v));  // wraps, no UB
    default:
      if constexpr (std::is_floating_point_v<A>) return a + v;
      else return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(v));
  }
}

// The output value of an accumulator over `count` elements (narrowing wraps for integers).
template <typename T>
T finish(Kind k, Acc<T> a, int64_t count) {
  if (k == Kind::kMean) {
    if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a / static_cast<double>(count));
    else return static_cast<T>(count == 0 ? 0 : a / count);
  }
  return static_cast<T>(a);
}

// Coalesced view of the input: dims, whether each is reduced, and row-major strides in x.
struct Coalesced {
  int rank = 0;
  int64_t dim[kMaxRank] = {};
  bool reduced[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};
};

Coalesced coalesce(const Shape& s, const bool* reduced) {
  Coalesced c;
  for (int i = 0; i < s.rank; ++i) {
    if (s[i] == 1) continue;
    if (c.rank > 0 && c.reduced[c.rank - 1] == reduced[i]) {
      c.dim[c.rank - 1] *= s[i];
    } else {
      c.dim[c.rank] = s[i];
      c.reduced[c.rank] = reduced[i];
      ++c.rank;
    }
  }
  int64_t st = 1;
  for (int i = c.rank - 1; i >= 0; --i) {
    c.stride[i] = st;
    st *= c.dim[i];
  }
  return c;
}

// Row-major walk over `n` dims keeping two offsets (strides sa / sb per dim).
struct Odometer {
  int n = 0;
  int64_t dim[kMaxRank] = {}, sa[kMaxRank] = {}, sb[kMaxRank] = {}, idx[kMaxRank] = {};
  int64_t a = 0, b = 0;
  void add(int64_t d, int64_t stride_a, int64_t stride_b) {
    dim[n] = d;
    sa[n] = stride_a;
    sb[n] = stride_b;
    ++n;
  }
  void next() {
    for (int d = n - 1; d >= 0; --d) {
      a += sa[d];
      b += sb[d];
      if (++idx[d] < dim[d]) return;
      a -= sa[d] * dim[d];
      b -= sb[d] * dim[d];
      idx[d] = 0;
    }
  }
};

// Each output element reduces its own elements; the last reduced dim is one run (stride rs).
template <typename T>
void reduce_per_output(Kind k, const Coalesced& c, const T* x, T* y, int64_t out_n, int64_t count) {
  Odometer kept, red;
  int last = -1;
  for (int i = 0; i < c.rank; ++i)
    if (c.reduced[i]) last = i;
  for (int i = 0; i < c.rank; ++i) {
    if (!c.reduced[i]) kept.add(c.dim[i], c.stride[i], 0);
    else if (i != last) red.add(c.dim[i], c.stride[i], 0);
  }
  const int64_t run = last >= 0 ? c.dim[last] : 1, rs = last >= 0 ? c.stride[last] : 1;
  int64_t outer_runs = 1;
  for (int i = 0; i < red.n; ++i) outer_runs *= red.dim[i];
  using A = Acc<T>;
  for (int64_t o = 0; o < out_n; ++o, kept.next()) {
    A acc = identity<A>(k);
    red.a = 0;
    std::fill(red.idx, red.idx + red.n, 0);
    for (int64_t r = 0; r < outer_runs; ++r, red.next()) {
      const T* xr = x + kept.a + red.a;
      if constexpr (std::is_floating_point_v<T>) {
        if ((k == Kind::kSum || k == Kind::kMean) && rs == 1) {
          acc += sum_f32(xr, run);
          continue;
        }
      }
      for (int64_t i = 0; i < run; ++i) acc = combine(k, acc, static_cast<A>(xr[i * rs]));
    }
    y[o] = finish<T>(k, acc, count);
  }
}

// Float, last merged dim kept: stream x once, folding each run into its output row.
void reduce_into_rows(Kind k, const Coalesced& c, const float* x, float* y, int64_t out_n, int64_t count) {
  std::fill(y, y + out_n, static_cast<float>(identity<double>(k)));
  const int64_t run = c.dim[c.rank - 1];
  Odometer it;
  int64_t ys = 1;
  int64_t y_stride[kMaxRank] = {};
  for (int i = c.rank - 1; i >= 0; --i) {
    if (c.reduced[i]) continue;
    y_stride[i] = ys;
    ys *= c.dim[i];
  }
  for (int i = 0; i < c.rank - 1; ++i) it.add(c.dim[i], c.stride[i], y_stride[i]);
  int64_t runs = 1;  // x is not empty here, so neither is any run
  for (int i = 0; i < it.n; ++i) runs *= it.dim[i];
  for (int64_t r = 0; r < runs; ++r, it.next()) {
    const float* xr = x + it.a;
    float* yr = y + it.b;
    switch (k) {
      case Kind::kSum:
      case Kind::kMean:
        for (int64_t j = 0; j < run; ++j) yr[j] += xr[j];
        break;
      case Kind::kProd:
        for (int64_t j = 0; j < run; ++j) yr[j] *= xr[j];
        break;
      case Kind::kMax:
        for (int64_t j = 0; j < run; ++j) yr[j] = (xr[j] > yr[j] || xr[j] != xr[j]) ? xr[j] : yr[j];
        break;
      case Kind::kMin:
        for (int64_t j = 0; j < run; ++j) yr[j] = (xr[j] < yr[j] || xr[j] != xr[j]) ? xr[j] : yr[j];
        break;
    }
  }
  if (k == Kind::kMean) {
    const float inv = static_cast<float>(1.0 / static_cast<double>(count));
    for (int64_t i = 0; i < out_n; ++i) y[i] *= inv;
  }
}

}  // namespace

Status reduce(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const auto& o = ctx.opts<fb::ReduceOptionsT>();
  bool reduced[kMaxRank] = {};
  for (int i = 0; i < x.shape.rank; ++i) reduced[i] = o.axes.empty();
  for (int32_t a : o.axes) reduced[a] = true;
  int64_t count = 1;
  for (int i = 0; i < x.shape.rank; ++i)
    if (reduced[i]) count *= x.shape[i];
  const Kind k = kind_of(ctx.op);
  const int64_t out_n = y->numel();
  bool ok = dispatch_numeric(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.as<T>();
    T* py = y->as<T>();
    if (x.numel() == 0) {
      std::fill(py, py + out_n, finish<T>(k, identity<Acc<T>>(k), count));
      return;
    }
    const Coalesced c = coalesce(x.shape, reduced);
    if constexpr (std::is_same_v<T, float>) {
      if (c.rank > 0 && !c.reduced[c.rank - 1]) {
        reduce_into_rows(k, c, px, py, out_n, count);
        return;
      }
    }
    reduce_per_output<T>(k, c, px, py, out_n, count);
  });
  return ok ? Status::ok() : ctx.unsupported("X is %s; reductions take numeric tensors", dtype_name(x.dtype));
}

namespace {

// Whether v replaces the current best. NaN ranks above every number for both ArgMax and ArgMin
// (numpy's argmax / argmin return the first NaN); ties go to the first or, with
// select_last_index, the last position.
template <bool kMax, typename T>
bool better(T v, T best, bool last) {
  if constexpr (std::is_floating_point_v<T>) {
    if (v != v) return last || best == best;
    if (best != best) return false;
  }
  if (kMax) return last ? v >= best : v > best;
  return last ? v <= best : v < best;
}

constexpr int64_t kArgChunk = 256;

template <bool kMax, typename T>
void arg_reduce_typed(const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner, bool last) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * n * inner;
    int64_t* yo = y + o * inner;
    if (inner == 1) {
      T best = xo[0];
      int64_t at = 0;
      for (int64_t i = 1; i < n; ++i)
        if (better<kMax>(xo[i], best, last)) {
          best = xo[i];
          at = i;
        }
      yo[0] = at;
      continue;
    }
    // Several columns at once: a contiguous slice of each row along the axis per step.
    T best[kArgChunk];
    for (int64_t j0 = 0; j0 < inner; j0 += kArgChunk) {
      const int64_t len = std::min(kArgChunk, inner - j0);
      for (int64_t j = 0; j < len; ++j) {
        best[j] = xo[j0 + j];
        yo[j0 + j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const T* xi = xo + i * inner + j0;
        for (int64_t j = 0; j < len; ++j)
          if (better<kMax>(xi[j], best[j], last)) {
            best[j] = xi[j];
            yo[j0 + j] = i;
          }
      }
    }
  }
}

}  // namespace

Status arg_reduce(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const auto& o = ctx.opts<fb::ArgOptionsT>();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < o.axis; ++i) outer *= x.shape[i];
  for (int i = o.axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const int64_t n = x.shape[o.axis];  // >= 1 (shape inference rejects an empty axis)
  int64_t* py = y->as<int64_t>();
  if (n == 0 || outer == 0 || inner == 0) return Status::ok();
  const bool is_max = ctx.op == OpType::ArgMax;
  bool ok = dispatch_numeric(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (is_max) arg_reduce_typed<true>(x.as<T>(), py, outer, n, inner, o.select_last_index);
    else arg_reduce_typed<false>(x.as<T>(), py, outer, n, inner, o.select_last_index);
  });
  return ok ? Status::ok() : ctx.unsupported("X is %s; ArgMax/ArgMin take numeric tensors", dtype_name(x.dtype));
}

}  // namespace tern::ref
