// tern.LMU memory: m_t[b, c, :] = A @ m_{t-1}[b, c, :] + B * u[b, t, c]; one workgroup per
// (batch, channel) walking `steps` time steps from t0, each invocation computing rows r = lid,
// lid + 256, ... with the sum over j in order, as in the reference (unrolled by 8, same order).
//
// Why chunks of time: llvmpipe (lavapipe) ends every loop of a shader invocation once their back
// edges add up to 65535 (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops), silently:
// a whole scan at order 256 over 128 steps took ~65k inner iterations and its last steps read 0.
// So ops/tern_ops.cpp splits the scan into dispatches of at most `steps` steps, each well within
// that budget; the state crosses dispatches in `carry` (device memory, [B*C, n]).
//
// The double-buffered state lives in shared memory for n <= 1024 (8 KiB, within Vulkan's
// guaranteed 16 KiB of maxComputeSharedMemorySize); larger orders keep it in `gstate`
// ([B*C, 2, n], device memory, p[9] = 1), made visible across the workgroup by memoryBarrierBuffer.
// p: [0] B*C [1] L [2] C [3] n [4] has m0 [5] has m [6] has mT [7] t0 [8] steps [9] state in gstate
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer U { STORE_T u[]; };
layout(std430, binding = 2) readonly buffer Am { STORE_T a[]; };
layout(std430, binding = 3) readonly buffer Bv { STORE_T bv[]; };
layout(std430, binding = 4) readonly buffer M0 { STORE_T m0[]; };
layout(std430, binding = 5) writeonly buffer M { STORE_T m[]; };
layout(std430, binding = 6) writeonly buffer MT { STORE_T mt[]; };
layout(std430, binding = 7) buffer Carry { float carry[]; };
layout(std430, binding = 8) coherent buffer GState { float gstate[]; };

const uint kShared = 1024;
const uint kLocal = 256;
shared float state[2][kShared];

bool g_global;
uint g_base;  // this workgroup's [2, n] in gstate

float ld(uint buf, uint i, uint n) { return g_global ? gstate[g_base + buf * n + i] : state[buf][i]; }
void st(uint buf, uint i, uint n, float v) {
  if (g_global) gstate[g_base + buf * n + i] = v;
  else state[buf][i] = v;
}
void sync() {
  if (g_global) memoryBarrierBuffer();
  barrier();
}

void main() {
  uint i = tern_group();
  if (i >= p[0]) return;
  uint L = p[1], C = p[2], n = p[3], t0 = p[7], t1 = min(p[7] + p[8], p[1]), lid = gl_LocalInvocationID.x;
  uint b = i / C, c = i % C;
  g_global = p[9] != 0;
  g_base = i * 2 * n;
  for (uint s = lid; s < n; s += kLocal)
    st(0, s, n, t0 > 0 ? carry[i * n + s] : p[4] != 0 ? LD(m0[i * n + s]) : 0.0);
  sync();
  uint cur = 0;
  for (uint t = t0; t < t1; ++t) {
    float uc = LD(u[(b * L + t) * C + c]);
    for (uint r = lid; r < n; r += kLocal) {
      uint row = r * n;
      float acc = LD(a[row]) * ld(cur, 0, n);
      uint j = 1;
      for (; j + 8 <= n; j += 8) {
        acc += LD(a[row + j]) * ld(cur, j, n);
        acc += LD(a[row + j + 1]) * ld(cur, j + 1, n);
        acc += LD(a[row + j + 2]) * ld(cur, j + 2, n);
        acc += LD(a[row + j + 3]) * ld(cur, j + 3, n);
        acc += LD(a[row + j + 4]) * ld(cur, j + 4, n);
        acc += LD(a[row + j + 5]) * ld(cur, j + 5, n);
        acc += LD(a[row + j + 6]) * ld(cur, j + 6, n);
        acc += LD(a[row + j + 7]) * ld(cur, j + 7, n);
      }
      for (; j < n; ++j) acc += LD(a[row + j]) * ld(cur, j, n);
      acc = acc + uc * LD(bv[r]);
      st(1 - cur, r, n, acc);
      if (p[5] != 0) m[((b * L + t) * C + c) * n + r] = STORE(acc);
    }
    sync();
    cur = 1 - cur;
  }
  // Each invocation reads back only the rows it wrote itself, so no barrier is needed here.
  for (uint r = lid; r < n; r += kLocal) {
    float v = ld(cur, r, n);
    if (t1 < L) carry[i * n + r] = v;
    else if (p[6] != 0) mt[i * n + r] = STORE(v);
  }
}
