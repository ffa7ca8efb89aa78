// matmul.comp without shared memory: the same parameters, grid and results (each invocation sums
// its dot product straight from memory). Used on CPU Vulkan devices (lavapipe), where every
// workgroup barrier of the tiled kernel is a costly coroutine switch and caches do the tiling.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer A { STORE_T a[]; };
layout(std430, binding = 2) readonly buffer B { STORE_T b[]; };
layout(std430, binding = 3) readonly buffer C { STORE_T cm[]; };
layout(std430, binding = 4) writeonly buffer Y { STORE_T y[]; };


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
  if (row >= M || col >= N) return;
  uint ars = p[3], aks = p[4], bks = p[5], bcs = p[6];
  float acc = 0.0;
  uint ia = oa + row * ars, ib = ob + col * bcs;
  for (uint k = 0; k < K; ++k) acc += LD(a[ia + k * aks]) * LD(b[ib + k * bks]);
  float v = pf(29) * acc;
  if (p[31] != 0) v += pf(30) * LD(cm[p[40] + z * p[34] + row * p[32] + col * p[33]]);
  v = tern_activate(pi(35), v, pf(36), pf(37));
  y[p[41] + z * p[26] + row * p[27] + col * p[28]] = STORE(v);
}
