// Batched strided matrix product through shared-memory tiles (16x16, one output per invocation):
//   Y[z][m][n] = act(alpha * sum_k A[z][m][k] * B[z][k][n] + beta * C[z][m][n])
// Every operand is addressed by strides, so the same shader runs MatMul (broadcast batch dims,
// 1-D promotion), Gemm (transposes, C broadcast), pointwise Conv (W x X per image and group) and
// the products inside Attention. Grid: (ceil(N/16), ceil(M/16), batch).
// p: [0] M [1] N [2] K [3] A row stride [4] A k stride [5] B k stride [6] B col stride
//    [7] batch rank (<= 6) [8..14) batch dims [14..20) A batch strides [20..26) B batch strides
//    [26] Y batch stride [27] Y row stride [28] Y col stride [29] alpha [30] beta [31] has C
//    [32] C row stride [33] C col stride [34] C batch stride [35] activation [36] act a [37] act b
//    [38] A offset [39] B offset [40] C offset [41] Y offset (elements)
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer A { STORE_T a[]; };
layout(std430, binding = 2) readonly buffer B { STORE_T b[]; };
layout(std430, binding = 3) readonly buffer C { STORE_T cm[]; };
layout(std430, binding = 4) writeonly buffer Y { STORE_T y[]; };

shared float As[16][17];
shared float Bs[16][17];

void main() {
  uint M = p[0], N = p[1], K = p[2];
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  uint col = gl_WorkGroupID.x * 16 + tx;
  uint row = gl_WorkGroupID.y * 16 + ty;
  uint z = gl_WorkGroupID.z;
  uint rem = z, oa = p[38], ob = p[39];
  for (int d = pi(7) - 1; d >= 0; --d) {
    uint dim = p[8 + d];
    uint c = rem % dim;
    rem /= dim;
    oa += c * p[14 + d];
    ob += c * p[20 + d];
  }
  uint ars = p[3], aks = p[4], bks = p[5], bcs = p[6];
  float acc = 0.0;
  for (uint k0 = 0; k0 < K; k0 += 16) {
    uint ka = k0 + tx, kb = k0 + ty;
    As[ty][tx] = (row < M && ka < K) ? LD(a[oa + row * ars + ka * aks]) : 0.0;
    Bs[ty][tx] = (kb < K && col < N) ? LD(b[ob + kb * bks + col * bcs]) : 0.0;
    barrier();
    for (uint k = 0; k < 16; ++k) acc += As[ty][k] * Bs[k][tx];
    barrier();
  }
  if (row >= M || col >= N) return;
  float v = pf(29) * acc;
  if (p[31] != 0) v += pf(30) * LD(cm[p[40] + z * p[34] + row * p[32] + col * p[33]]);
  v = tern_activate(pi(35), v, pf(36), pf(37));
  y[p[41] + z * p[26] + row * p[27] + col * p[28]] = STORE(v);
}
