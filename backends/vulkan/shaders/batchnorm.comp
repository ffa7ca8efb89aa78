// BatchNormalization (inference), float32: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c].
// p: [0] total [1] C [2] spatial [3] epsilon
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) readonly buffer S { STORE_T scale[]; };
layout(std430, binding = 3) readonly buffer B { STORE_T bias[]; };
layout(std430, binding = 4) readonly buffer M { STORE_T mean[]; };
layout(std430, binding = 5) readonly buffer V { STORE_T var[]; };
layout(std430, binding = 6) writeonly buffer Y { STORE_T y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint c = (i / max(p[2], 1u)) % p[1];
  float a = LD(scale[c]) / sqrt(LD(var[c]) + pf(3));
  y[i] = STORE((LD(x[i]) - LD(mean[c])) * a + LD(bias[c]));
}
