// tern.LIF (float32): one invocation per neuron (outer, inner) walking time, the reference's
// float operations in its order: h = v + (x - (v - v_reset)) / tau; s = h >= thr; reset.
// p: [0] neurons [1] outer [2] steps [3] inner [4] tau [5] thr [6] v_reset [7] soft [8] has v0
//    [9] has spikes [10] has vT
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) readonly buffer V0 { STORE_T v0[]; };
layout(std430, binding = 3) writeonly buffer S { STORE_T s[]; };
layout(std430, binding = 4) writeonly buffer VT { STORE_T vt[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint steps = p[2], inner = p[3];
  uint o = i / inner, k = i % inner;
  precise float tau = pf(4), thr = pf(5), vr = pf(6);
  precise float v = p[8] != 0 ? LD(v0[i]) : vr;
  bool soft = p[7] != 0, spikes = p[9] != 0;
  for (uint t = 0; t < steps; ++t) {
    uint at = (o * steps + t) * inner + k;
    precise float h = v + (LD(x[at]) - (v - vr)) / tau;
    float sp = h >= thr ? 1.0 : 0.0;
    v = soft ? h - sp * thr : (sp > 0.0 ? vr : h);
    if (spikes) s[at] = STORE(sp);
  }
  if (p[10] != 0) vt[i] = STORE(v);
}
