// tern.SelectiveScan (Mamba's S6 scan, float32, channels last): one invocation per (batch,
// channel) walking time with its state h[n] in registers (n <= 64), the reference's operations
// in its order:  dt = softplus(delta + bias);  h = exp(dt * A) * h + (dt * B) * u;
//                y = sum_s h * C  (+ u * D) (* silu(z)).
// A dispatch walks `steps` steps from t0 (lavapipe's loop limit, vk_ops.h kLoopBudget); the state
// crosses dispatches in `carry` (float32, [B*D, n]).
// p: [0] B*D [1] L [2] D [3] n [4] softplus [5] has D [6] has z [7] has bias [8] has h0 [9] has y
//    [10] has hT [11] t0 [12] steps
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer U { STORE_T u[]; };
layout(std430, binding = 2) readonly buffer Dl { STORE_T delta[]; };
layout(std430, binding = 3) readonly buffer Am { STORE_T a[]; };
layout(std430, binding = 4) readonly buffer Bm { STORE_T bm[]; };
layout(std430, binding = 5) readonly buffer Cm { STORE_T cm[]; };
layout(std430, binding = 6) readonly buffer Dv { STORE_T dv[]; };
layout(std430, binding = 7) readonly buffer Z { STORE_T z[]; };
layout(std430, binding = 8) readonly buffer Bias { STORE_T bias[]; };
layout(std430, binding = 9) readonly buffer H0 { STORE_T h0[]; };
layout(std430, binding = 10) writeonly buffer Y { STORE_T y[]; };
layout(std430, binding = 11) writeonly buffer HT { STORE_T ht[]; };
layout(std430, binding = 12) buffer Carry { float carry[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint L = p[1], D = p[2], n = p[3];
  uint b = i / D, c = i % D;
  float h[64];
  uint t0 = p[11], t1 = min(p[11] + p[12], L);
  for (uint s = 0; s < n; ++s) h[s] = t0 > 0 ? carry[i * n + s] : p[8] != 0 ? LD(h0[(b * D + c) * n + s]) : 0.0;
  for (uint t = t0; t < t1; ++t) {
    uint row = (b * L + t) * D + c;
    uint bt = (b * L + t) * n;
    float dt = LD(delta[row]);
    if (p[7] != 0) dt = dt + LD(bias[c]);
    if (p[4] != 0) dt = dt > 20.0 ? dt : tern_log1p(tern_exp(dt));
    float uc = LD(u[row]);
    float acc = 0.0;
    for (uint s = 0; s < n; ++s) {
      h[s] = tern_exp(dt * LD(a[c * n + s])) * h[s] + dt * LD(bm[bt + s]) * uc;
      acc += h[s] * LD(cm[bt + s]);
    }
    if (p[9] == 0) continue;
    if (p[5] != 0) acc = acc + uc * LD(dv[c]);
    if (p[6] != 0) {
      float zz = LD(z[row]);
      acc = acc * (zz / (1.0 + tern_exp(-zz)));
    }
    y[row] = STORE(acc);
  }
  if (t1 < L)
    for (uint s = 0; s < n; ++s) carry[i * n + s] = h[s];
  else if (p[10] != 0)
    for (uint s = 0; s < n; ++s) ht[(b * D + c) * n + s] = STORE(h[s]);
}
