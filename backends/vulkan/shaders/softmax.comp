// Softmax / LogSoftmax along one axis, float32, numerically stable; one workgroup per row.
// The tensor is [outer, n, inner]; row r = (o, i) reads base o*n*inner + i with stride inner.
// p: [0] rows [1] n [2] inner [3] log
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) writeonly buffer Y { STORE_T y[]; };

shared float red[64];

void main() {
  uint r = tern_group();
  if (r >= p[0]) return;
  uint n = p[1], inner = p[2], lid = gl_LocalInvocationID.x;
  uint base = (r / inner) * n * inner + (r % inner);
  float m = uintBitsToFloat(0xff800000u);  // -inf
  bool nan_seen = false;
  for (uint j = lid; j < n; j += 64) {
    float v = LD(x[base + j * inner]);
    nan_seen = nan_seen || isnan(v);
    m = max(m, v);
  }
  red[lid] = nan_seen ? uintBitsToFloat(0x7fc00000u) : m;
  barrier();
  for (uint s = 32; s > 0; s >>= 1) {
    if (lid < s) {
      float a = red[lid], b = red[lid + s];
      red[lid] = (isnan(a) || isnan(b)) ? a + b : max(a, b);
    }
    barrier();
  }
  m = red[0];
  barrier();
  float sum = 0.0;
  for (uint j = lid; j < n; j += 64) sum += exp(LD(x[base + j * inner]) - m);
  red[lid] = sum;
  barrier();
  for (uint s = 32; s > 0; s >>= 1) {
    if (lid < s) red[lid] += red[lid + s];
    barrier();
  }
  sum = red[0];
  bool is_log = p[3] != 0;
  float ls = log(sum), inv = 1.0 / sum;
  for (uint j = lid; j < n; j += 64) {
    float v = LD(x[base + j * inner]) - m;
    y[base + j * inner] = STORE(is_log ? v - ls : exp(v) * inv);
  }
}
