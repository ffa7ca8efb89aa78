// tern.SelectiveScan (Mamba's S6 scan, float32, channels last): one invocation per (batch,
// channel) walking time with its state h[n] in registers (n <= 64), the reference's operations
// in its order:  dt = softplus(delta + bias);  h = exp(dt * A) * h + (dt * B) * u;
//                y = sum_s h * C  (+ u * D) (* silu(z)).
// p: [0] B*D [1] L [2] D [3] n [4] softplus [5] has D [6] has z [7] has bias [8] has h0 [9] has y
//    [10] has hT
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(std430, binding = 2) readonly buffer Dl { float delta[]; };
layout(std430, binding = 3) readonly buffer Am { float a[]; };
layout(std430, binding = 4) readonly buffer Bm { float bm[]; };
layout(std430, binding = 5) readonly buffer Cm { float cm[]; };
layout(std430, binding = 6) readonly buffer Dv { float dv[]; };
layout(std430, binding = 7) readonly buffer Z { float z[]; };
layout(std430, binding = 8) readonly buffer Bias { float bias[]; };
layout(std430, binding = 9) readonly buffer H0 { float h0[]; };
layout(std430, binding = 10) writeonly buffer Y { float y[]; };
layout(std430, binding = 11) writeonly buffer HT { float ht[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint L = p[1], D = p[2], n = p[3];
  uint b = i / D, c = i % D;
  float h[64];
  for (uint s = 0; s < n; ++s) h[s] = p[8] != 0 ? h0[(b * D + c) * n + s] : 0.0;
  for (uint t = 0; t < L; ++t) {
    uint row = (b * L + t) * D + c;
    uint bt = (b * L + t) * n;
    float dt = delta[row];
    if (p[7] != 0) dt = dt + bias[c];
    if (p[4] != 0) dt = dt > 20.0 ? dt : tern_log1p(tern_exp(dt));
    float uc = u[row];
    float acc = 0.0;
    for (uint s = 0; s < n; ++s) {
      h[s] = tern_exp(dt * a[c * n + s]) * h[s] + dt * bm[bt + s] * uc;
      acc += h[s] * cm[bt + s];
    }
    if (p[9] == 0) continue;
    if (p[5] != 0) acc = acc + uc * dv[c];
    if (p[6] != 0) {
      float zz = z[row];
      acc = acc * (zz / (1.0 + tern_exp(-zz)));
    }
    y[row] = acc;
  }
  if (p[10] != 0)
    for (uint s = 0; s < n; ++s) ht[(b * D + c) * n + s] = h[s];
}
