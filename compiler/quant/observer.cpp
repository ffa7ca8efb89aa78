#include "quant/observer.h"

#include <algorithm>
#include <cmath>

#include "core/quant.h"

namespace tern::compiler::quant {

const char* method_name(Method m) {
  switch (m) {
    case Method::MinMax: return "minmax";
    case Method::Percentile: return "percentile";
    case Method::Mse: return "mse";
    case Method::Entropy: return "entropy";
    case Method::Auto: return "auto";
  }
  return "?";
}

bool parse_method(const std::string& s, Method* m) {
  for (Method c : {Method::MinMax, Method::Percentile, Method::Mse, Method::Entropy, Method::Auto})
    if (s == method_name(c)) {
      *m = c;
      return true;
    }
  return false;
}

void Observer::observe_range(const float* x, int64_t n) {
  // Branch-free select form so that the compiler vectorizes it; non-finite values are skipped.
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const bool finite = std::fabs(v) <= 3.40282347e38f;
    lo = finite && v < lo ? v : lo;
    hi = finite && v > hi ? v : hi;
  }
  if (!(lo <= hi)) return;  // nothing finite
  if (!seen_) {
    min_ = lo, max_ = hi;
    seen_ = true;
  } else {
    min_ = std::min(min_, lo);
    max_ = std::max(max_, hi);
  }
}

void Observer::merge_range(const Observer& other) {
  if (!other.seen_) return;
  if (!seen_) {
    min_ = other.min_, max_ = other.max_;
    seen_ = true;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
}

void Observer::merge_histogram(const Observer& other) {
  if (other.hist_.empty()) return;
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  for (size_t b = 0; b < hist_.size(); ++b) hist_[b] += other.hist_[b];
  total_ += other.total_;
}

void Observer::observe_histogram(const float* x, int64_t n) {
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  const float width = max_ - min_;
  if (!(width > 0)) {
    total_ += static_cast<double>(n);
    hist_[0] += static_cast<double>(n);
    return;
  }
  const float inv = kBins / width;
  // Integer counts per call (two interleaved tables: repeated bins do not serialize on one
  // counter), added to the double histogram once.
  std::vector<uint32_t> counts(2 * kBins, 0);
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!(std::fabs(v) <= 3.40282347e38f)) continue;
    int b = static_cast<int>((v - min_) * inv);
    b = std::clamp(b, 0, kBins - 1);
    ++counts[static_cast<size_t>(b) * 2 + static_cast<size_t>(i & 1)];
    ++finite;
  }
  for (int b = 0; b < kBins; ++b)
    hist_[static_cast<size_t>(b)] += static_cast<double>(counts[2 * static_cast<size_t>(b)]) + counts[2 * static_cast<size_t>(b) + 1];
  total_ += static_cast<double>(finite);
}

double Observer::mse(float lo, float hi) const {
  if (hist_.empty() || total_ == 0) return 0;
  float s;
  int32_t z;
  tern::quant::choose_activation_params(lo, hi, &s, &z);
  const double width = (static_cast<double>(max_) - min_) / kBins;
  double err = 0;
  for (int b = 0; b < kBins; ++b) {
    if (hist_[static_cast<size_t>(b)] == 0) continue;
    float c = static_cast<float>(min_ + (b + 0.5) * width);
    int8_t q = tern::quant::quantize_value(c, s, z);
    double d = tern::quant::dequantize_value(q, s, z) - c;
    err += hist_[static_cast<size_t>(b)] * d * d;
  }
  return err / total_;
}

namespace {
// KL(P || Q) of the histogram clipped to [lo, hi] against its 256-level quantized version.
double kl_of(const std::vector<double>& hist, float hmin, float hmax, float lo, float hi) {
  const int n = static_cast<int>(hist.size());
  const double width = (static_cast<double>(hmax) - hmin) / n;
  if (!(width > 0)) return 0;
  int b0 = std::clamp(static_cast<int>((lo - hmin) / width), 0, n - 1);
  int b1 = std::clamp(static_cast<int>(std::ceil((hi - hmin) / width)), b0 + 1, n);
  // P: the clipped distribution (outliers piled into the edge bins); Q is built from the bins
  // inside the range only, so clipping mass shows up as divergence (TensorRT's calibrator).
  std::vector<double> inside(hist.begin() + b0, hist.begin() + b1);
  std::vector<double> p = inside;
  for (int b = 0; b < b0; ++b) p.front() += hist[static_cast<size_t>(b)];
  for (int b = b1; b < n; ++b) p.back() += hist[static_cast<size_t>(b)];
  const int m = static_cast<int>(p.size());
  const int levels = 256;
  std::vector<double> q(static_cast<size_t>(m), 0.0);
  for (int l = 0; l < levels; ++l) {
    int s = l * m / levels, e = (l + 1) * m / levels;
    if (e <= s) continue;
    double sum = 0;
    int nz = 0;
    for (int i = s; i < e; ++i) {
      sum += inside[static_cast<size_t>(i)];
      nz += inside[static_cast<size_t>(i)] > 0;
    }
    for (int i = s; i < e; ++i)
      if (inside[static_cast<size_t>(i)] > 0) q[static_cast<size_t>(i)] = sum / nz;
  }
  double ps = 0, qs = 0;
  for (int i = 0; i < m; ++i) {
    ps += p[static_cast<size_t>(i)];
    qs += q[static_cast<size_t>(i)];
  }
  if (ps == 0 || qs == 0) return 0;
  double kl = 0;
  for (int i = 0; i < m; ++i) {
    double pi = p[static_cast<size_t>(i)] / ps, qi = q[static_cast<size_t>(i)] / qs;
    if (pi > 0) kl += pi * std::log(pi / std::max(qi, 1e-12));
  }
  return kl;
}
}  // namespace

void Observer::candidate(Method m, float* lo, float* hi) const {
  *lo = min_;
  *hi = max_;
  if (m == Method::MinMax || hist_.empty() || total_ == 0 || !(max_ > min_)) return;
  const double width = (static_cast<double>(max_) - min_) / kBins;
  if (m == Method::Percentile) {
    const double cut = total_ * 1e-4;
    double acc = 0;
    int b = 0;
    for (; b < kBins; ++b) {
      acc += hist_[static_cast<size_t>(b)];
      if (acc > cut) break;
    }
    *lo = static_cast<float>(min_ + b * width);
    acc = 0;
    for (b = kBins - 1; b >= 0; --b) {
      acc += hist_[static_cast<size_t>(b)];
      if (acc > cut) break;
    }
    *hi = static_cast<float>(min_ + (b + 1) * width);
    return;
  }
  // mse / entropy: shrink [min, max] by a common factor (keeping 0 inside the range).
  double best = 1e300;
  for (int i = 0; i <= 80; ++i) {
    float f = 1.0f - 0.01f * static_cast<float>(i);
    float l = min_ * f, h = max_ * f;
    if (min_ > 0) l = min_;
    if (max_ < 0) h = max_;
    double e = m == Method::Mse ? mse(l, h) : kl_of(hist_, min_, max_, std::min(l, 0.0f), std::max(h, 0.0f));
    if (e < best) {
      best = e;
      *lo = l;
      *hi = h;
    }
  }
}

void Observer::range(Method m, float* lo, float* hi, Method* chosen) const {
  if (m != Method::Auto) {
    candidate(m, lo, hi);
    if (chosen) *chosen = m;
    return;
  }
  double best = 1e300;
  for (Method c : {Method::MinMax, Method::Percentile, Method::Mse, Method::Entropy}) {
    float l, h;
    candidate(c, &l, &h);
    double e = mse(l, h);
    if (e < best * (1 - 1e-9)) {
      best = e;
      *lo = l;
      *hi = h;
      if (chosen) *chosen = c;
    }
  }
}

}  // namespace tern::compiler::quant
