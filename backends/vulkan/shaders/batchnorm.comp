// BatchNormalization (inference), float32: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c].
// p: [0] total [1] C [2] spatial [3] epsilon
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer S { float scale[]; };
layout(std430, binding = 3) readonly buffer B { float bias[]; };
layout(std430, binding = 4) readonly buffer M { float mean[]; };
layout(std430, binding = 5) readonly buffer V { float var[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint c = (i / max(p[2], 1u)) % p[1];
  float a = scale[c] / sqrt(var[c] + pf(3));
  y[i] = (x[i] - mean[c]) * a + bias[c];
}
