// tern.LMU memory (float32): m_t[b, c, :] = A @ m_{t-1}[b, c, :] + B * u[b, t, c]; one workgroup
// per (batch, channel) walking time, the state in shared memory (n <= 1024), each invocation
// computing rows r = lid, lid + 64, ... with the sum over j in order, as in the reference.
// p: [0] B*C [1] L [2] C [3] n [4] has m0 [5] has m [6] has mT
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(std430, binding = 2) readonly buffer Am { float a[]; };
layout(std430, binding = 3) readonly buffer Bv { float bv[]; };
layout(std430, binding = 4) readonly buffer M0 { float m0[]; };
layout(std430, binding = 5) writeonly buffer M { float m[]; };
layout(std430, binding = 6) writeonly buffer MT { float mt[]; };

shared float state[2][1024];

void main() {
  uint i = tern_group();
  if (i >= p[0]) return;
  uint L = p[1], C = p[2], n = p[3], lid = gl_LocalInvocationID.x;
  uint b = i / C, c = i % C;
  for (uint s = lid; s < n; s += 64) state[0][s] = p[4] != 0 ? m0[(b * C + c) * n + s] : 0.0;
  barrier();
  uint cur = 0;
  for (uint t = 0; t < L; ++t) {
    float uc = u[(b * L + t) * C + c];
    for (uint r = lid; r < n; r += 64) {
      float acc = a[r * n] * state[cur][0];
      for (uint j = 1; j < n; ++j) acc += a[r * n + j] * state[cur][j];
      acc = acc + uc * bv[r];
      state[1 - cur][r] = acc;
      if (p[5] != 0) m[((b * L + t) * C + c) * n + r] = acc;
    }
    barrier();
    cur = 1 - cur;
  }
  if (p[6] != 0)
    for (uint r = lid; r < n; r += 64) mt[(b * C + c) * n + r] = state[cur][r];
}
