// int8 MatMul / Gemm (backends/reference/ops/gemm_q8.cpp) over strided views with broadcast batch
// dims, one invocation per output (no shared memory; the same grid as matmul.comp: 16 x 16
// workgroups over (N, M), z = batch).
//   acc = bias[col * bias_cs] + sum_k (a - z_a)(b - z_b[col])
//   y = clamp(requantize(acc, mult[col], shift[col]) + z_y, lo, hi)
// Column parameters: 4 ints per column (mult, shift, z_b, unused), or one set for every column
// when p[36] is 0 (B per tensor).
// p: [0] M [1] N [2] K [3] a row stride [4] a k stride [5] b k stride [6] b col stride
//    [7] batch rank [8..14) batch dims [14..20) a batch strides [20..26) b batch strides
//    [26] y batch stride [27] y row stride [28] y col stride [29] has bias [30] bias col stride
//    [31] z_a [32] z_y [33] lo [34] hi [35] unused [36] per-column parameters
//    [37] a offset [38] b offset [39] y offset
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) readonly buffer A { int8_t a[]; };
layout(std430, binding = 2) readonly buffer B { int8_t b[]; };
layout(std430, binding = 3) readonly buffer Bias { int bias[]; };
layout(std430, binding = 4) readonly buffer Ch { int ch[]; };
layout(std430, binding = 5) writeonly buffer Y { int8_t y[]; };

void main() {
  uint M = p[0], N = p[1], K = p[2];
  uint col = gl_WorkGroupID.x * 16 + gl_LocalInvocationID.x;
  uint row = gl_WorkGroupID.y * 16 + gl_LocalInvocationID.y;
  uint z = gl_WorkGroupID.z;
  if (row >= M || col >= N) return;
  uint rem = z, oa = p[37], ob = p[38];
  for (int d = pi(7) - 1; d >= 0; --d) {
    uint dim = p[8 + d];
    uint c = rem % dim;
    rem /= dim;
    oa += c * p[14 + d];
    ob += c * p[20 + d];
  }
  uint cp = p[36] != 0 ? 4u * col : 0u;
  int z_a = pi(31), z_b = ch[cp + 2];
  int acc = p[29] != 0 ? bias[col * p[30]] : 0;
  uint ia = oa + row * p[3], ib = ob + col * p[6], aks = p[4], bks = p[5];
  for (uint k = 0; k < K; ++k) acc += (int(a[ia + k * aks]) - z_a) * (int(b[ib + k * bks]) - z_b);
  y[p[39] + z * p[26] + row * p[27] + col * p[28]] = int8_t(tern_requantize(acc, ch[cp], ch[cp + 1], pi(32), pi(33), pi(34)));
}
