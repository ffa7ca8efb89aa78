// GlobalAveragePool / GlobalMaxPool, float32: one workgroup per (n, c) plane.
// p: [0] planes [1] plane size [2] is max
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) writeonly buffer Y { STORE_T y[]; };

shared float red[256];

void main() {
  uint r = tern_group();
  if (r >= p[0]) return;
  uint L = p[1], lid = gl_LocalInvocationID.x, base = r * L;
  bool is_max = p[2] != 0;
  float acc = is_max ? uintBitsToFloat(0xff800000u) : 0.0;
  bool nan_seen = false;
  for (uint j = lid; j < L; j += 256) {
    float v = LD(x[base + j]);
    nan_seen = nan_seen || isnan(v);
    acc = is_max ? max(acc, v) : acc + v;
  }
  red[lid] = (is_max && nan_seen) ? uintBitsToFloat(0x7fc00000u) : acc;
  barrier();
  for (uint s = 128; s > 0; s >>= 1) {
    if (lid < s) {
      float a = red[lid], b = red[lid + s];
      red[lid] = is_max ? ((isnan(a) || isnan(b)) ? a + b : max(a, b)) : a + b;
    }
    barrier();
  }
  if (lid == 0) y[r] = STORE(is_max ? red[0] : red[0] / float(L));
}
