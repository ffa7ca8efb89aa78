// Gather and Pad reference kernels: random shapes and dtypes against per-element formulations of
// the ONNX spec, the operator documentation's examples, and the error paths (an out-of-range
// Gather index is a clean error naming it).
#include <doctest/doctest.h>

#include <limits>

#include "data_test_util.h"
#include "support/harness.h"

namespace tern::test {

namespace {

HostTensor make_indices(std::mt19937& rng, DType t, Shape s, int64_t dim) {
  HostTensor h(t, s);
  std::uniform_int_distribution<int64_t> d(-dim, dim - 1);  // negative ones count from the end
  for (int64_t i = 0; i < h.numel(); ++i) {
    int64_t v = dim ? d(rng) : 0;
    if (t == DType::Int64) h.data<int64_t>()[i] = v;
    else h.data<int32_t>()[i] = static_cast<int32_t>(v);
  }
  return h;
}

int64_t index_at(const HostTensor& idx, int64_t i) {
  return idx.dtype == DType::Int64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i];
}

HostTensor run_gather(const HostTensor& x, const HostTensor& idx, int axis) {
  fb::AxisOptionsT o;
  o.axis = axis;
  auto out = run_reference({OpType::Gather, make_options(o), {&x, &idx}});
  REQUIRE(out.size() == 1);
  return out[0];
}

}  // namespace

TEST_CASE("Gather: random data, axes and int32/int64 indices of rank 0-3") {
  std::mt19937 rng(71);
  for (int trial = 0; trial < 200; ++trial) {
    int rank = 1 + static_cast<int>(rng() % 4);
    Shape s = random_shape(rng, rank, trial % 15 == 0 ? 0 : 1, 7);
    int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    if (s[axis] == 0) s[axis] = 3;  // indices need something to point at
    Shape is = random_shape(rng, static_cast<int>(rng() % 4), trial % 20 == 1 ? 0 : 1, 5);
    DType it = (rng() & 1) ? DType::Int64 : DType::Int32;
    HostTensor idx = make_indices(rng, it, is, s[axis]);
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, s);
    // output = data[outer..., indices[j...], inner...]
    Shape os;
    for (int d = 0; d < axis; ++d) os.dims[os.rank++] = s[d];
    for (int d = 0; d < is.rank; ++d) os.dims[os.rank++] = is[d];
    for (int d = axis + 1; d < rank; ++d) os.dims[os.rank++] = s[d];
    HostTensor want(dt, os);
    int64_t oi[kMaxRank], xi[kMaxRank], ii[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, oi);
      for (int d = 0; d < is.rank; ++d) ii[d] = oi[axis + d];
      int64_t k = index_at(idx, ravel(ii, is));
      for (int d = 0; d < rank; ++d)
        xi[d] = d < axis ? oi[d] : (d == axis ? (k < 0 ? k + s[axis] : k) : oi[d - 1 + is.rank]);
      copy_element(x, ravel(xi, s), want, f);
    }
    check_bytes(run_gather(x, idx, axis), want,
                std::string("Gather ") + dtype_name(dt) + " data " + s.str() + " axis " + std::to_string(axis) + " " +
                    dtype_name(it) + " indices " + is.str());
  }
}

TEST_CASE("Gather: ONNX examples (axis 0, axis 1, negative indices)") {
  HostTensor d0 = HostTensor::f32({3, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  HostTensor i0 = HostTensor::i64({2, 2}, {0, 1, 1, 2});
  check_equal(run_gather(d0, i0, 0), HostTensor::f32({2, 2, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f}),
              "Gather [3x2] indices [[0,1],[1,2]] axis 0");
  HostTensor d1 = HostTensor::f32({3, 3}, {1.0f, 1.2f, 1.9f, 2.3f, 3.4f, 3.9f, 4.5f, 5.7f, 5.9f});
  HostTensor i1 = HostTensor::of<int32_t>(DType::Int32, {1, 2}, {0, 2});
  check_equal(run_gather(d1, i1, 1), HostTensor::f32({3, 1, 2}, {1.0f, 1.9f, 2.3f, 3.9f, 4.5f, 5.9f}),
              "Gather [3x3] indices [[0,2]] axis 1");
  HostTensor d2 = HostTensor::f32({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  HostTensor i2 = HostTensor::i64({3}, {0, -9, -10});
  check_equal(run_gather(d2, i2, 0), HostTensor::f32({3}, {0, 1, 0}), "Gather [10] indices [0,-9,-10]");
  HostTensor scalar_idx = HostTensor::i64({}, {-1});
  check_equal(run_gather(d1, scalar_idx, 0), HostTensor::f32({3}, {4.5f, 5.7f, 5.9f}), "Gather [3x3] scalar index -1");
}

TEST_CASE("Gather: an out-of-range index is a clean error naming it") {
  HostTensor x = HostTensor::f32({3, 2}, {1, 2, 3, 4, 5, 6});
  struct Bad {
    HostTensor idx;
    int axis;
    const char* needle;
  } cases[] = {
      {HostTensor::i64({2}, {0, 3}), 0, "index 3 (at flat position 1"},
      {HostTensor::i64({2}, {-4, 0}), 0, "index -4 (at flat position 0"},
      {HostTensor::of<int32_t>(DType::Int32, {1, 2}, {1, 2}), 1, "index 2 (at flat position 1"},
      {HostTensor::i64({1}, {std::numeric_limits<int64_t>::max()}), 0, "index 9223372036854775807"},
      {HostTensor::i64({1}, {std::numeric_limits<int64_t>::min()}), 1, "index -9223372036854775808"},
  };
  for (const Bad& b : cases) {
    fb::AxisOptionsT o;
    o.axis = b.axis;
    std::vector<HostTensor> out;
    Status st = try_run_reference({OpType::Gather, make_options(o), {&x, &b.idx}}, &out);
    INFO("Gather data [3x2] axis ", b.axis, ": ", st.message());
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(st.message().find(b.needle) != std::string::npos);
    CHECK(st.message().find("out of range for axis " + std::to_string(b.axis)) != std::string::npos);
  }
  // an empty axis has no valid index at all
  HostTensor empty(DType::Float32, {0, 2});
  HostTensor zero = HostTensor::i64({1}, {0});
  fb::AxisOptionsT o;
  std::vector<HostTensor> out;
  CHECK(try_run_reference({OpType::Gather, make_options(o), {&empty, &zero}}, &out).code() ==
        StatusCode::kInvalidArgument);
}

namespace {

// Source coordinate on an axis of size n for output coordinate c, by the modes' definitions
// (repeated reflection / wrapping, as numpy.pad); -1 means "the constant".
int64_t pad_source(int64_t c, int64_t begin, int64_t n, fb::PadMode mode) {
  int64_t i = c - begin;
  switch (mode) {
    case fb::PadMode::Constant: return i >= 0 && i < n ? i : -1;
    case fb::PadMode::Edge: return i < 0 ? 0 : (i >= n ? n - 1 : i);
    case fb::PadMode::Wrap:
      while (i < 0) i += n;
      while (i >= n) i -= n;
      return i;
    case fb::PadMode::Reflect:
      if (n == 1) return 0;
      while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
      return i;
  }
  return -1;
}

HostTensor run_pad(const HostTensor& x, const std::vector<int64_t>& pads, fb::PadMode mode, float value) {
  fb::PadOptionsT o;
  o.pads = pads;
  o.mode = mode;
  o.value = value;
  auto out = run_reference({OpType::Pad, make_options(o), {&x}});
  REQUIRE(out.size() == 1);
  return out[0];
}

}  // namespace

TEST_CASE("Pad: every mode on random shapes, pads and dtypes (negative pads crop)") {
  std::mt19937 rng(81);
  const fb::PadMode modes[] = {fb::PadMode::Constant, fb::PadMode::Reflect, fb::PadMode::Edge, fb::PadMode::Wrap};
  for (int trial = 0; trial < 240; ++trial) {
    fb::PadMode mode = modes[trial % 4];
    int rank = 1 + static_cast<int>(rng() % 4);
    Shape s = random_shape(rng, rank, mode == fb::PadMode::Constant && trial % 16 == 0 ? 0 : 1, 6);
    std::vector<int64_t> pads(static_cast<size_t>(2 * rank));
    Shape os = s;
    for (int d = 0; d < rank; ++d) {
      for (int side = 0; side < 2; ++side) {
        int64_t p;
        switch (mode) {
          case fb::PadMode::Constant: p = static_cast<int64_t>(rng() % 7) - 3; break;  // [-3, 3]
          default: p = static_cast<int64_t>(rng() % static_cast<unsigned>(2 * s[d] + 3)); break;  // past the dim
        }
        if (rng() % 4 == 0) p = 0;
        pads[static_cast<size_t>(d + side * rank)] = p;
      }
      // negative pads may not remove more than the axis holds
      int64_t& b = pads[static_cast<size_t>(d)];
      int64_t& e = pads[static_cast<size_t>(d + rank)];
      if (s[d] + b + e < 0) b = e = 0;
      os[d] = s[d] + b + e;
    }
    DType dt = random_dtype(rng);
    HostTensor x = random_tensor(rng, dt, s);
    float value = dt == DType::Bool ? 1.0f : (dt == DType::UInt8 ? 7.0f : -3.0f);
    HostTensor want(dt, os);
    uint8_t fill[8] = {};
    switch (dt) {
      case DType::Float32: { float v = value; std::memcpy(fill, &v, 4); break; }
      case DType::Float16: { uint16_t v = 0xC200; std::memcpy(fill, &v, 2); break; }  // -3.0 in binary16
      case DType::Int8: { int8_t v = -3; std::memcpy(fill, &v, 1); break; }
      case DType::UInt8: fill[0] = 7; break;
      case DType::Int16: { int16_t v = -3; std::memcpy(fill, &v, 2); break; }
      case DType::Int32: { int32_t v = -3; std::memcpy(fill, &v, 4); break; }
      case DType::Int64: { int64_t v = -3; std::memcpy(fill, &v, 8); break; }
      case DType::Bool: fill[0] = 1; break;
    }
    const size_t e = dtype_size(dt);
    int64_t oi[kMaxRank], xi[kMaxRank];
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, oi);
      bool constant = false;
      for (int d = 0; d < rank; ++d) {
        xi[d] = pad_source(oi[d], pads[static_cast<size_t>(d)], s[d], mode);
        constant = constant || xi[d] < 0;
      }
      if (constant) std::memcpy(want.bytes.data() + static_cast<size_t>(f) * e, fill, e);
      else copy_element(x, ravel(xi, s), want, f);
    }
    check_bytes(run_pad(x, pads, mode, value), want,
                std::string("Pad ") + fb::EnumNamePadMode(mode) + " " + dtype_name(dt) + " X " + s.str() + " pads " +
                    list_str(pads) + " value " + std::to_string(value));
  }
}

TEST_CASE("Pad: ONNX examples, scalars and refused pads") {
  HostTensor x = HostTensor::f32({3, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  check_equal(run_pad(x, {0, 2, 0, 0}, fb::PadMode::Constant, 0),
              HostTensor::f32({3, 4}, {0, 0, 1.0f, 1.2f, 0, 0, 2.3f, 3.4f, 0, 0, 4.5f, 5.7f}), "Pad constant [0,2,0,0]");
  check_equal(run_pad(x, {0, 2, 0, 0}, fb::PadMode::Reflect, 0),
              HostTensor::f32({3, 4}, {1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f}),
              "Pad reflect [0,2,0,0]");
  check_equal(run_pad(x, {0, 2, 0, 0}, fb::PadMode::Edge, 0),
              HostTensor::f32({3, 4}, {1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f}),
              "Pad edge [0,2,0,0]");
  check_equal(run_pad(x, {2, 1, 1, 1}, fb::PadMode::Wrap, 0),
              HostTensor::f32({6, 4}, {3.4f, 2.3f, 3.4f, 2.3f, 5.7f, 4.5f, 5.7f, 4.5f, 1.2f, 1.0f, 1.2f, 1.0f,
                                       3.4f, 2.3f, 3.4f, 2.3f, 5.7f, 4.5f, 5.7f, 4.5f, 1.2f, 1.0f, 1.2f, 1.0f}),
              "Pad wrap [2,1,1,1]");
  check_equal(run_pad(x, {-1, 1, 0, -1}, fb::PadMode::Constant, 9),
              HostTensor::f32({2, 2}, {9, 2.3f, 9, 4.5f}), "Pad constant crop [-1,1,0,-1] value 9");
  check_equal(run_pad(x, {-3, 0, 0, 0}, fb::PadMode::Constant, 9), HostTensor(DType::Float32, {0, 2}),
              "Pad constant cropping a whole axis");
  HostTensor sc = HostTensor::f32({}, {4.5f});
  check_equal(run_pad(sc, {}, fb::PadMode::Reflect, 0), sc, "Pad of a scalar");

  // reflect pads wider than the axis reflect again, as numpy.pad does
  HostTensor row = HostTensor::f32({3}, {1, 2, 3});
  check_equal(run_pad(row, {5, 4}, fb::PadMode::Reflect, 0), HostTensor::f32({12}, {2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3}),
              "Pad reflect [1,2,3] pads [5,4]");
  HostTensor one = HostTensor::f32({1}, {6});
  check_equal(run_pad(one, {2, 1}, fb::PadMode::Reflect, 0), HostTensor::f32({4}, {6, 6, 6, 6}), "Pad reflect [6] pads [2,1]");

  fb::PadOptionsT o;
  std::vector<HostTensor> out;
  o.pads = {0, 1};
  o.mode = fb::PadMode::Edge;
  HostTensor empty(DType::Float32, {0});
  CHECK(try_run_reference({OpType::Pad, make_options(o), {&empty}}, &out).code() == StatusCode::kInvalidArgument);
  o.pads = {-1, 0};
  o.mode = fb::PadMode::Reflect;
  CHECK(try_run_reference({OpType::Pad, make_options(o), {&row}}, &out).code() == StatusCode::kUnsupported);
}

}  // namespace tern::test
