// Data-movement reference kernels that rearrange elements without changing them: Transpose,
// Concat, Split, Slice, Expand, Tile. Each runs on random shapes (odd sizes, zero-sized dims,
// scalars) and random dtypes and is compared bytewise with a direct formulation from the ONNX
// spec: for every output element, compute its source multi-index by division/modulo.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "data_test_util.h"
#include "reference/kernel.h"
#include "support/harness.h"

namespace tern::test {

namespace {

HostTensor naive_transpose(const HostTensor& x, const std::vector<int32_t>& perm) {
  Shape out;
  out.rank = x.shape.rank;
  for (int i = 0; i < out.rank; ++i) out[i] = x.shape[perm[static_cast<size_t>(i)]];
  HostTensor y(x.dtype, out);
  int64_t oi[kMaxRank], ii[kMaxRank];
  for (int64_t f = 0; f < y.numel(); ++f) {
    unravel(f, out, oi);
    for (int i = 0; i < out.rank; ++i) ii[perm[static_cast<size_t>(i)]] = oi[i];
    copy_element(x, ravel(ii, x.shape), y, f);
  }
  return y;
}

void check_transpose(const HostTensor& x, const std::vector<int32_t>& perm) {
  fb::TransposeOptionsT o;
  o.perm = perm;
  auto out = run_reference({OpType::Transpose, make_options(o), {&x}});
  REQUIRE(out.size() == 1);
  check_bytes(out[0], naive_transpose(x, perm),
              std::string("Transpose ") + dtype_name(x.dtype) + " X " + x.shape.str() + " perm " + list_str(perm));
}

}  // namespace

TEST_CASE("Transpose: random ranks 0-8, perms and dtypes") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    int rank = static_cast<int>(rng() % 9);
    int64_t hi = rank <= 3 ? 13 : (rank <= 5 ? 6 : 3);
    Shape s = random_shape(rng, rank, trial % 10 == 0 ? 0 : 1, hi);
    std::vector<int32_t> perm(static_cast<size_t>(rank));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    check_transpose(random_tensor(rng, random_dtype(rng), s), perm);
  }
}

TEST_CASE("Transpose: MobileViT rank-6 unfold/fold permutes, tiled 2-D and size-1 dims") {
  std::mt19937 rng(12);
  // [B, C, H/p, p, W/p, p] -> [B, C, p, p, H/p, W/p] and back
  check_transpose(random_tensor(rng, DType::Float32, {1, 5, 3, 2, 7, 2}), {0, 1, 3, 5, 2, 4});
  check_transpose(random_tensor(rng, DType::Float32, {1, 5, 2, 2, 3, 7}), {0, 1, 4, 2, 5, 3});
  check_transpose(random_tensor(rng, DType::Int8, {2, 3, 4, 5, 6, 7}), {5, 4, 3, 2, 1, 0});
  // large enough for the tiled path, with sizes that are not multiples of the tile
  check_transpose(random_tensor(rng, DType::Float32, {67, 45}), {1, 0});
  check_transpose(random_tensor(rng, DType::Int64, {3, 37, 41}), {0, 2, 1});
  check_transpose(random_tensor(rng, DType::Float16, {33, 5, 70}), {2, 1, 0});
  check_transpose(random_tensor(rng, DType::UInt8, {1, 1, 9, 1, 11}), {4, 3, 0, 2, 1});
  check_transpose(random_tensor(rng, DType::Int32, {4, 0, 3}), {2, 0, 1});
  check_transpose(random_tensor(rng, DType::Float32, {}), {});
}

TEST_CASE("Concat: random axes, input counts (with empty inputs) and dtypes") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 100; ++trial) {
    int rank = 1 + static_cast<int>(rng() % 5);
    Shape base = random_shape(rng, rank, trial % 8 == 0 ? 0 : 1, 6);
    int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    DType dt = random_dtype(rng);
    int n = 1 + static_cast<int>(rng() % 4);
    std::vector<HostTensor> xs;
    std::vector<int64_t> sizes;
    for (int i = 0; i < n; ++i) {
      Shape s = base;
      s[axis] = random_dim(rng, 0, 5);
      sizes.push_back(s[axis]);
      xs.push_back(random_tensor(rng, dt, s));
    }
    std::vector<const HostTensor*> ins;
    for (auto& x : xs) ins.push_back(&x);
    fb::AxisOptionsT o;
    o.axis = axis;
    auto out = run_reference({OpType::Concat, make_options(o), ins});
    REQUIRE(out.size() == 1);
    Shape os = base;
    os[axis] = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
    HostTensor want(dt, os);
    int64_t idx[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, idx);
      int k = 0;
      while (idx[axis] >= sizes[static_cast<size_t>(k)]) idx[axis] -= sizes[static_cast<size_t>(k++)];
      copy_element(xs[static_cast<size_t>(k)], ravel(idx, xs[static_cast<size_t>(k)].shape), want, f);
    }
    check_bytes(out[0], want,
                std::string("Concat ") + dtype_name(dt) + " axis " + std::to_string(axis) + " of " + std::to_string(n) +
                    " inputs, base " + base.str() + " sizes " + list_str(sizes));
  }
}

TEST_CASE("Split: random sizes (some empty) along random axes") {
  std::mt19937 rng(31);
  for (int trial = 0; trial < 100; ++trial) {
    int rank = 1 + static_cast<int>(rng() % 5);
    Shape s = random_shape(rng, rank, 1, 6);
    int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    s[axis] = random_dim(rng, 0, 12);
    int n = 1 + static_cast<int>(rng() % 4);
    std::vector<int64_t> sizes(static_cast<size_t>(n), 0);
    for (int64_t left = s[axis]; left > 0;) {  // random composition of the axis
      int64_t take = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(left));
      sizes[rng() % sizes.size()] += take;
      left -= take;
    }
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, s);
    fb::SplitOptionsT o;
    o.axis = axis;
    o.split = sizes;
    auto out = run_reference({OpType::Split, make_options(o), {&x}, n});
    REQUIRE(out.size() == static_cast<size_t>(n));
    int64_t offset = 0;
    for (int k = 0; k < n; ++k) {
      Shape ps = s;
      ps[axis] = sizes[static_cast<size_t>(k)];
      HostTensor want(dt, ps);
      int64_t idx[kMaxRank];
      for (int64_t f = 0; f < want.numel(); ++f) {
        unravel(f, ps, idx);
        idx[axis] += offset;
        copy_element(x, ravel(idx, s), want, f);
      }
      offset += sizes[static_cast<size_t>(k)];
      check_bytes(out[static_cast<size_t>(k)], want,
                  std::string("Split ") + dtype_name(dt) + " X " + s.str() + " axis " + std::to_string(axis) + " sizes " +
                      list_str(sizes) + ", output " + std::to_string(k));
    }
  }
}

namespace {

// ONNX Slice's clamping of raw starts/ends (what the compiler stores in SliceOptions).
void clamp_slice(int64_t dim, int64_t step, int64_t* start, int64_t* end) {
  auto fix = [&](int64_t v, bool is_end) {
    if (v < 0) v += dim;
    int64_t lo = step > 0 ? 0 : (is_end ? -1 : 0), hi = step > 0 ? dim : dim - 1;
    return std::min(std::max(v, lo), hi);  // an empty axis gives -1 for a negative step
  };
  // very negative values must not overflow when dim is added
  *start = fix(std::max<int64_t>(*start, -dim - 1), false);
  *end = fix(std::max<int64_t>(*end, -dim - 1), true);
}

HostTensor run_slice(const HostTensor& x, const fb::SliceOptionsT& o) {
  auto out = run_reference({OpType::Slice, make_options(o), {&x}});
  REQUIRE(out.size() == 1);
  return out[0];
}

std::string slice_what(const HostTensor& x, const fb::SliceOptionsT& o) {
  return std::string("Slice ") + dtype_name(x.dtype) + " X " + x.shape.str() + " starts " + list_str(o.starts) + " ends " +
         list_str(o.ends) + " axes " + list_str(o.axes) + " steps " + list_str(o.steps);
}

}  // namespace

TEST_CASE("Slice: random axes, bounds and positive/negative steps against index enumeration") {
  std::mt19937 rng(41);
  for (int trial = 0; trial < 300; ++trial) {
    int rank = 1 + static_cast<int>(rng() % 5);
    Shape s = random_shape(rng, rank, trial % 12 == 0 ? 0 : 1, 8);
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, s);
    fb::SliceOptionsT o;
    std::vector<int> axes(static_cast<size_t>(rank));
    std::iota(axes.begin(), axes.end(), 0);
    std::shuffle(axes.begin(), axes.end(), rng);
    axes.resize(1 + rng() % static_cast<unsigned>(rank));
    // per axis: the list of selected input indices, by the spec's loop
    std::vector<std::vector<int64_t>> picks(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a)
      for (int64_t i = 0; i < s[a]; ++i) picks[static_cast<size_t>(a)].push_back(i);
    for (int a : axes) {
      int64_t dim = s[a];
      int64_t step = static_cast<int64_t>(1 + rng() % 3) * ((rng() & 1) ? -1 : 1);
      std::uniform_int_distribution<int64_t> b(-dim - 3, dim + 3);
      int64_t st = b(rng), en = b(rng);
      if (rng() % 10 == 0) (step > 0 ? en : st) = std::numeric_limits<int64_t>::max();
      if (rng() % 10 == 0) (step > 0 ? st : en) = std::numeric_limits<int64_t>::min();
      clamp_slice(dim, step, &st, &en);
      o.axes.push_back(a);
      o.starts.push_back(st);
      o.ends.push_back(en);
      o.steps.push_back(step);
      auto& p = picks[static_cast<size_t>(a)];
      p.clear();
      for (int64_t i = st; step > 0 ? i < en : i > en; i += step) p.push_back(i);
    }
    Shape os;
    os.rank = rank;
    for (int a = 0; a < rank; ++a) os[a] = static_cast<int64_t>(picks[static_cast<size_t>(a)].size());
    HostTensor want(dt, os);
    int64_t oi[kMaxRank], ii[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, oi);
      for (int a = 0; a < rank; ++a) ii[a] = picks[static_cast<size_t>(a)][static_cast<size_t>(oi[a])];
      copy_element(x, ravel(ii, s), want, f);
    }
    check_bytes(run_slice(x, o), want, slice_what(x, o));
  }
}

TEST_CASE("Slice: the ONNX operator examples, full reversal, and unclamped bounds are refused") {
  HostTensor x = HostTensor::f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  fb::SliceOptionsT o;
  o.axes = {0, 1};
  o.starts = {1, 0};
  o.ends = {2, 3};
  o.steps = {1, 2};
  check_equal(run_slice(x, o), HostTensor::f32({1, 2}, {5, 7}), slice_what(x, o));
  // starts [0, 1], ends [-1, 1000]: clamped to [0, 1) and [1, 4)
  o.starts = {0, 1};
  o.ends = {1, 4};
  o.steps = {1, 1};
  check_equal(run_slice(x, o), HostTensor::f32({1, 3}, {2, 3, 4}), slice_what(x, o));
  // both axes reversed: starts -1 -> dim-1, ends INT_MIN -> -1
  o.starts = {1, 3};
  o.ends = {-1, -1};
  o.steps = {-1, -1};
  check_equal(run_slice(x, o), HostTensor::f32({2, 4}, {8, 7, 6, 5, 4, 3, 2, 1}), slice_what(x, o));
  o.axes = {1};
  o.starts = {3};
  o.ends = {0};
  o.steps = {-2};
  check_equal(run_slice(x, o), HostTensor::f32({2, 2}, {4, 2, 8, 6}), slice_what(x, o));

  std::vector<HostTensor> out;
  o.starts = {4};  // not clamped for a negative step
  Status st = try_run_reference({OpType::Slice, make_options(o), {&x}}, &out);
  CHECK(st.code() == StatusCode::kInvalidArgument);

  // The kernel's own check, for a plan whose output shape and options disagree (shape inference
  // would refuse it; the kernel must still not read outside X).
  o.starts = {3};
  HostTensor y(DType::Float32, {2, 3});  // 3 elements from index 3 with step -2 would reach -1
  TensorRef xr = x.ref(), yr = y.ref();
  const TensorRef* ins[] = {&xr};
  const TensorRef* outs[] = {&yr};
  fb::NodeOptionsUnion opts = make_options(o);
  ref::KernelContext kc;
  kc.op = OpType::Slice;
  kc.options = &opts;
  kc.inputs = ins;
  kc.outputs = outs;
  st = ref::slice(kc);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("leaves X [2x4]") != std::string::npos);
}

TEST_CASE("Expand: random broadcasts (higher target rank, 1s on either side, zero dims)") {
  std::mt19937 rng(51);
  for (int trial = 0; trial < 150; ++trial) {
    int out_rank = static_cast<int>(rng() % 6);
    Shape full = random_shape(rng, out_rank, trial % 10 == 0 ? 0 : 1, 7);
    int in_rank = out_rank ? static_cast<int>(rng() % static_cast<unsigned>(out_rank + 1)) : 0;
    Shape in;
    in.rank = in_rank;
    for (int d = 0; d < in_rank; ++d) in[d] = (rng() % 3 == 0) ? 1 : full[out_rank - in_rank + d];
    // the target shape may say 1 where the input has the full size
    std::vector<int64_t> target(full.dims, full.dims + out_rank);
    for (int d = 0; d < in_rank; ++d)
      if (in[d] != 1 && rng() % 3 == 0) target[static_cast<size_t>(out_rank - in_rank + d)] = 1;
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, in);
    fb::ShapeListOptionsT o;
    o.values = target;
    auto out = run_reference({OpType::Expand, make_options(o), {&x}});
    REQUIRE(out.size() == 1);
    HostTensor want(dt, full);
    int64_t oi[kMaxRank], ii[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, full, oi);
      for (int d = 0; d < in_rank; ++d) ii[d] = in[d] == 1 ? 0 : oi[out_rank - in_rank + d];
      copy_element(x, ravel(ii, in), want, f);
    }
    check_bytes(out[0], want, std::string("Expand ") + dtype_name(dt) + " X " + in.str() + " to " + list_str(target));
  }
}

TEST_CASE("Tile: random repeats (including 0) on random shapes") {
  std::mt19937 rng(61);
  for (int trial = 0; trial < 150; ++trial) {
    int rank = static_cast<int>(rng() % 6);
    Shape s = random_shape(rng, rank, trial % 10 == 0 ? 0 : 1, 6);
    std::vector<int64_t> reps;
    Shape os = s;
    for (int d = 0; d < rank; ++d) {
      reps.push_back(static_cast<int64_t>(rng() % 4 == 0 ? rng() % 2 : 1 + rng() % 3));
      os[d] *= reps.back();
    }
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, s);
    fb::ShapeListOptionsT o;
    o.values = reps;
    auto out = run_reference({OpType::Tile, make_options(o), {&x}});
    REQUIRE(out.size() == 1);
    HostTensor want(dt, os);
    int64_t oi[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, oi);
      for (int d = 0; d < rank; ++d) oi[d] %= s[d];
      copy_element(x, ravel(oi, s), want, f);
    }
    check_bytes(out[0], want, std::string("Tile ") + dtype_name(dt) + " X " + s.str() + " repeats " + list_str(reps));
  }
  // the ONNX example: [[0, 1], [2, 3]] tiled [2, 2]
  HostTensor x = HostTensor::f32({2, 2}, {0, 1, 2, 3});
  fb::ShapeListOptionsT o;
  o.values = {2, 2};
  auto out = run_reference({OpType::Tile, make_options(o), {&x}});
  REQUIRE(out.size() == 1);
  check_equal(out[0], HostTensor::f32({4, 4}, {0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3}), "Tile [2x2] repeats [2,2]");
}

}  // namespace tern::test
