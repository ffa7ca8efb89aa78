// int8 GlobalAveragePool / GlobalMaxPool / ReduceMean: one workgroup per output, reducing `L`
// elements `inner` apart (globalpool.comp's shape; the global pools have inner = 1, ReduceMean
// over a contiguous run of axes is outer x L x inner). Average: acc = sum (x - z_x) in int32 (exact
// in any order), y = requantize(acc) with the multiplier of s_x / (s_y * L)
// (backends/reference/ops/pool_q8.cpp); max: the largest byte.
// p: [0] outputs [1] L [2] is max [3] z_x [4] z_y [5] mult [6] shift [7] inner
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) readonly buffer X { int8_t x[]; };
layout(std430, binding = 2) writeonly buffer Y { int8_t y[]; };

shared int red[256];

void main() {
  uint r = tern_group();
  if (r >= p[0]) return;
  uint L = p[1], inner = p[7], lid = gl_LocalInvocationID.x;
  uint base = (r / inner) * L * inner + r % inner;
  bool is_max = p[2] != 0;
  int z_x = pi(3);
  int acc = is_max ? -128 : 0;
  for (uint j = lid; j < L; j += 256) {
    int v = int(x[base + j * inner]);
    acc = is_max ? max(acc, v) : acc + (v - z_x);
  }
  red[lid] = acc;
  barrier();
  for (uint s = 128; s > 0; s >>= 1) {
    if (lid < s) red[lid] = is_max ? max(red[lid], red[lid + s]) : red[lid] + red[lid + s];
    barrier();
  }
  if (lid == 0) y[r] = int8_t(is_max ? red[0] : tern_requantize(red[0], pi(5), pi(6), pi(4), -128, 127));
}
