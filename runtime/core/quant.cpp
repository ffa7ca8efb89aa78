#include "core/quant.h"

#include <algorithm>
#include <cmath>

namespace tern::quant {

bool quantize_multiplier(double r, Multiplier* out) {
  *out = {};
  if (!(r >= 0) || !std::isfinite(r) || r >= 1073741824.0) return false;  // 2^30
  if (r == 0) return true;
  int exp = 0;
  double frac = std::frexp(r, &exp);  // r = frac * 2^exp, frac in [0.5, 1)
  int64_t mult = std::llround(frac * 2147483648.0);  // [2^30, 2^31]
  if (mult == (int64_t{1} << 31)) {
    mult /= 2;
    ++exp;
  }
  int shift = -exp;  // r = mult * 2^-31 * 2^exp
  if (shift > 31) {
    // r < 2^-31 * 2^-1: try to keep precision by denormalizing the mantissa down to shift 31;
    // below 2^-62 everything rounds to zero anyway.
    int extra = shift - 31;
    if (extra >= 31) return true;  // mult 0
    mult = (mult + (int64_t{1} << (extra - 1))) >> extra;
    shift = 31;
    if (mult == 0) return true;
  }
  out->mult = static_cast<int32_t>(mult);
  out->shift = shift;
  return true;
}

int64_t multiply_by_multiplier(int64_t x, Multiplier m) {
  if (m.mult == 0) return 0;
  const int64_t prod = x * static_cast<int64_t>(m.mult);
  const int total = 31 + m.shift;  // in [1, 62]
  const int64_t half = int64_t{1} << (total - 1);
  return prod >= 0 ? (prod + half) >> total : -((-prod + half) >> total);
}

int8_t requantize(int32_t acc, Multiplier m, int32_t zero_point, int32_t qmin, int32_t qmax) {
  int64_t v = multiply_by_multiplier(acc, m) + zero_point;
  v = std::min<int64_t>(std::max<int64_t>(v, qmin), qmax);
  return static_cast<int8_t>(v);
}

int8_t quantize_value(float x, float scale, int32_t zero_point) {
  if (std::isnan(x)) return static_cast<int8_t>(std::clamp(zero_point, kQMin, kQMax));
  // nearbyint rounds half to even in the default rounding mode; clamp in float first so that the
  // conversion to an integer never overflows.
  float v = std::nearbyint(x / scale);
  v = std::min(std::max(v, -1000.0f), 1000.0f);
  int32_t q = static_cast<int32_t>(v) + zero_point;
  return static_cast<int8_t>(std::clamp(q, kQMin, kQMax));
}

void choose_activation_params(float lo, float hi, float* scale, int32_t* zero_point) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) lo = hi = 0;
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (hi - lo <= 0) {
    *scale = 1.0f;
    *zero_point = 0;
    return;
  }
  float s = (hi - lo) / 255.0f;
  if (!(s > 0) || !std::isfinite(s)) s = 1.0f;
  double zp = std::nearbyint(-128.0 - static_cast<double>(lo) / s);
  *scale = s;
  *zero_point = static_cast<int32_t>(std::clamp(zp, -128.0, 127.0));
}

float symmetric_scale(float absmax) {
  if (!(absmax > 0) || !std::isfinite(absmax)) return 1.0f;
  float s = absmax / 127.0f;
  return s > 0 ? s : 1.0f;
}

void activation_bounds(float lo, float hi, float scale, int32_t zero_point, int32_t* qmin, int32_t* qmax) {
  auto to_q = [&](float v, int32_t dflt) -> int32_t {
    if (std::isinf(v) || std::isnan(v)) return dflt;
    double q = std::nearbyint(static_cast<double>(v) / scale) + zero_point;
    return static_cast<int32_t>(std::clamp(q, static_cast<double>(kQMin), static_cast<double>(kQMax)));
  };
  *qmin = std::max(kQMin, to_q(lo, kQMin));
  *qmax = std::min(kQMax, to_q(hi, kQMax));
  if (*qmax < *qmin) *qmax = *qmin;
}

}  // namespace tern::quant
