// Resize reference kernel: Nearest and Linear with every coordinate transformation mode and
// nearest mode, on random shapes and scales, against a formulation shaped like the ONNX reference
// implementation (onnx/reference/ops/op_resize.py): 1-D interpolation applied axis by axis
// recursively over *every* axis (no shortcut for unchanged axes), neighbours chosen from the
// coordinate's floor and fractional "ratio", the input edge-padded; coordinates in double. Plus the
// operator documentation's examples.
#include <doctest/doctest.h>

#include <cmath>

#include "data_test_util.h"
#include "support/harness.h"

namespace tern::test {

namespace {

using fb::CoordinateTransform;
using fb::NearestMode;
using fb::ResizeMode;

const CoordinateTransform kTransforms[] = {
    CoordinateTransform::HalfPixel,        CoordinateTransform::Asymmetric,      CoordinateTransform::AlignCorners,
    CoordinateTransform::PytorchHalfPixel, CoordinateTransform::TfCropAndResize, CoordinateTransform::HalfPixelSymmetric};
const NearestMode kNearestModes[] = {NearestMode::RoundPreferFloor, NearestMode::RoundPreferCeil, NearestMode::Floor,
                                     NearestMode::Ceil};

struct Spec {
  ResizeMode mode;
  CoordinateTransform ct;
  NearestMode nm;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
};

// The operator doc's x_original for one axis (length_resized is the output size, the ROI of
// tf_crop_and_resize the full [0, 1]).
double x_original(CoordinateTransform ct, double x, double scale, int64_t in, int64_t out) {
  const double li = static_cast<double>(in), lo = static_cast<double>(out);
  switch (ct) {
    case CoordinateTransform::HalfPixel: return (x + 0.5) / scale - 0.5;
    case CoordinateTransform::HalfPixelSymmetric: {
      double output_width = scale * li;
      double adjustment = lo / output_width;
      double center = li / 2;
      double offset = center * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case CoordinateTransform::PytorchHalfPixel: return out > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case CoordinateTransform::AlignCorners: return out == 1 ? 0 : x * (li - 1) / (lo - 1);
    case CoordinateTransform::Asymmetric: return x / scale;
    case CoordinateTransform::TfCropAndResize: {
      const double start = 0, end = 1;
      return out > 1 ? start * (li - 1) + x * (end - start) * (li - 1) / (lo - 1) : 0.5 * (start + end) * (li - 1);
    }
  }
  return 0;
}

// Weights of the two neighbours floor(x) and floor(x) + 1 (ratio 1 at an integer: all weight on
// x itself, taken as the right neighbour of x - 1), as op_resize.py's _nearest/_linear_coeffs.
void coeffs(const Spec& s, double xo, int64_t* left, double w[2]) {
  double fl = std::floor(xo);
  double ratio = xo == fl ? 1.0 : xo - fl;
  *left = static_cast<int64_t>(fl) - (xo == fl ? 1 : 0);
  if (s.mode == ResizeMode::Linear) {
    w[0] = 1 - ratio;
    w[1] = ratio;
    return;
  }
  bool right = false;
  if (ratio == 1.0) right = true;
  else if (s.nm == NearestMode::RoundPreferFloor) right = ratio > 0.5;
  else if (s.nm == NearestMode::RoundPreferCeil) right = ratio >= 0.5;
  else if (s.nm == NearestMode::Floor) right = false;
  else right = true;
  w[0] = right ? 0 : 1;
  w[1] = right ? 1 : 0;
}

double interpolate(const HostTensor& x, const Spec& s, const int64_t* out_idx, int axis, int64_t offset, float ext) {
  if (axis == x.shape.rank) return x.f(offset);
  int64_t in = x.shape[axis], out = s.sizes[static_cast<size_t>(axis)];
  double xo = x_original(s.ct, static_cast<double>(out_idx[axis]), s.scales[static_cast<size_t>(axis)], in, out);
  if (s.ct == CoordinateTransform::TfCropAndResize && (xo < 0 || xo > static_cast<double>(in - 1))) return ext;
  int64_t left;
  double w[2];
  coeffs(s, xo, &left, w);
  int64_t stride = 1;
  for (int d = axis + 1; d < x.shape.rank; ++d) stride *= x.shape[d];
  double acc = 0;
  for (int k = 0; k < 2; ++k) {
    int64_t i = std::min(std::max<int64_t>(left + k, 0), in - 1);  // edge padding
    acc += w[k] * interpolate(x, s, out_idx, axis + 1, offset + i * stride, ext);
  }
  return acc;
}

std::string describe(const Spec& s, const Shape& in) {
  std::string w = std::string("Resize ") + fb::EnumNameResizeMode(s.mode) + " " +
                  fb::EnumNameCoordinateTransform(s.ct);
  if (s.mode == ResizeMode::Nearest) w += std::string(" ") + fb::EnumNameNearestMode(s.nm);
  w += " X " + in.str() + " sizes " + list_str(s.sizes) + " scales [";
  for (size_t i = 0; i < s.scales.size(); ++i) w += (i ? "," : "") + std::to_string(s.scales[i]);
  return w + "]";
}

HostTensor run_resize(const HostTensor& x, const Spec& s, float ext = 0) {
  fb::ResizeOptionsT o;
  o.mode = s.mode;
  o.coordinate_transformation_mode = s.ct;
  o.nearest_mode = s.nm;
  o.scales = s.scales;
  o.sizes = s.sizes;
  o.extrapolation_value = ext;
  auto out = run_reference({OpType::Resize, make_options(o), {&x}});
  REQUIRE(out.size() == 1);
  return out[0];
}

}  // namespace

TEST_CASE("Resize: random shapes and scales, every mode, transform and nearest mode") {
  std::mt19937 rng(91);
  int trial = 0;
  for (ResizeMode mode : {ResizeMode::Nearest, ResizeMode::Linear}) {
    for (CoordinateTransform ct : kTransforms) {
      for (int rep = 0; rep < (mode == ResizeMode::Nearest ? 16 : 24); ++rep, ++trial) {
        Spec s{mode, ct, kNearestModes[rep % 4], {}, {}};
        int rank = 1 + static_cast<int>(rng() % 4);
        Shape in = random_shape(rng, rank, 1, 7);
        // resize the last one or two axes (sometimes a leading one too); keep the rest
        for (int d = 0; d < rank; ++d) {
          bool resized = d >= rank - 2 || rng() % 4 == 0;
          if (!resized) {
            s.scales.push_back(1.0f);
            s.sizes.push_back(in[d]);
          } else if (rng() & 1) {  // the model gave sizes: scale = out / in
            int64_t out = random_dim(rng, 1, 13);
            s.sizes.push_back(out);
            s.scales.push_back(static_cast<float>(out) / static_cast<float>(in[d]));
          } else {  // the model gave scales: size = floor(in * scale)
            static const float kScales[] = {0.5f, 0.6f, 0.75f, 1.5f, 1.7f, 2.0f, 2.5f, 3.0f, 4.0f};
            float sc = kScales[rng() % std::size(kScales)];
            int64_t out = static_cast<int64_t>(std::floor(static_cast<double>(in[d]) * sc));
            if (out == 0) out = 1, sc = 1.0f / static_cast<float>(in[d]);
            s.sizes.push_back(out);
            s.scales.push_back(sc);
          }
        }
        HostTensor x = random_f32(rng, in, -2, 2);
        Shape os = Shape::from(s.sizes);
        HostTensor want(DType::Float32, os);
        int64_t oi[kMaxRank];
        for (int64_t f = 0; f < want.numel(); ++f) {
          unravel(f, os, oi);
          want.data<float>()[f] = static_cast<float>(interpolate(x, s, oi, 0, 0, 0));
        }
        check_close(run_resize(x, s), want, 1e-5, 1e-5, describe(s, in));
      }
    }
  }
}

TEST_CASE("Resize: ONNX operator examples") {
  HostTensor x22 = HostTensor::f32({1, 1, 2, 2}, {1, 2, 3, 4});
  // resize_upsample_scales_nearest
  check_equal(run_resize(x22, {ResizeMode::Nearest, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor,
                               {1, 1, 2, 3}, {1, 1, 4, 6}}),
              HostTensor::f32({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}),
              "resize_upsample_scales_nearest");
  // resize_upsample_scales_linear
  check_close(run_resize(x22, {ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor,
                               {1, 1, 2, 2}, {1, 1, 4, 4}}),
              HostTensor::f32({1, 1, 4, 4}, {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3,
                                             3.25f, 3.75f, 4}),
              1e-6, 1e-6, "resize_upsample_scales_linear");
  // resize_upsample_scales_linear_align_corners
  const float t = 1.0f / 3, u = 2.0f / 3;
  check_close(run_resize(x22, {ResizeMode::Linear, CoordinateTransform::AlignCorners, NearestMode::RoundPreferFloor,
                               {1, 1, 2, 2}, {1, 1, 4, 4}}),
              HostTensor::f32({1, 1, 4, 4}, {1, 1 + t, 1 + u, 2, 1 + u, 2, 2 + t, 2 + u, 2 + t, 2 + u, 3, 3 + t, 3,
                                             3 + t, 3 + u, 4}),
              1e-6, 1e-6, "resize_upsample_scales_linear_align_corners");
  HostTensor x24 = HostTensor::f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  // resize_downsample_scales_nearest / _linear
  check_equal(run_resize(x24, {ResizeMode::Nearest, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor,
                               {1, 1, 0.6f, 0.6f}, {1, 1, 1, 2}}),
              HostTensor::f32({1, 1, 1, 2}, {1, 3}), "resize_downsample_scales_nearest");
  check_close(run_resize(x24, {ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor,
                               {1, 1, 0.6f, 0.6f}, {1, 1, 1, 2}}),
              HostTensor::f32({1, 1, 1, 2}, {2.6666665f, 4.3333331f}), 1e-6, 1e-6, "resize_downsample_scales_linear");
  // 4x4 -> 8x8 with three nearest modes
  std::vector<float> v16;
  for (int i = 1; i <= 16; ++i) v16.push_back(static_cast<float>(i));
  HostTensor x44 = HostTensor::f32({1, 1, 4, 4}, v16);
  auto expect8 = [](const int (&map)[8]) {
    HostTensor h(DType::Float32, {1, 1, 8, 8});
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) h.data<float>()[r * 8 + c] = static_cast<float>(map[r] * 4 + map[c] + 1);
    return h;
  };
  const int ceil_half_pixel[8] = {0, 1, 1, 2, 2, 3, 3, 3};
  check_equal(run_resize(x44, {ResizeMode::Nearest, CoordinateTransform::HalfPixel, NearestMode::Ceil, {1, 1, 2, 2},
                               {1, 1, 8, 8}}),
              expect8(ceil_half_pixel), "resize_upsample_sizes_nearest_ceil_half_pixel");
  const int floor_align[8] = {0, 0, 0, 1, 1, 2, 2, 3};
  check_equal(run_resize(x44, {ResizeMode::Nearest, CoordinateTransform::AlignCorners, NearestMode::Floor, {1, 1, 2, 2},
                               {1, 1, 8, 8}}),
              expect8(floor_align), "resize_upsample_sizes_nearest_floor_align_corners");
  const int ceil_asym[8] = {0, 1, 1, 2, 2, 3, 3, 3};
  check_equal(run_resize(x44, {ResizeMode::Nearest, CoordinateTransform::Asymmetric, NearestMode::RoundPreferCeil,
                               {1, 1, 2, 2}, {1, 1, 8, 8}}),
              expect8(ceil_asym), "resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric");
}

TEST_CASE("Resize: rank 0, empty outputs and non-float inputs") {
  HostTensor s = HostTensor::f32({}, {3.5f});
  check_equal(run_resize(s, {ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestMode::Floor, {}, {}}), s,
              "Resize of a scalar");
  HostTensor x = HostTensor::f32({2, 3}, {1, 2, 3, 4, 5, 6});
  check_equal(run_resize(x, {ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestMode::Floor, {1, 0.2f}, {2, 0}}),
              HostTensor(DType::Float32, {2, 0}), "Resize to an empty axis");
  fb::ResizeOptionsT o;
  o.scales = {2};
  o.sizes = {4};
  HostTensor i = HostTensor::i64({2}, {1, 2});
  std::vector<HostTensor> out;
  CHECK(try_run_reference({OpType::Resize, make_options(o), {&i}}, &out).code() == StatusCode::kUnsupported);
}

}  // namespace tern::test
