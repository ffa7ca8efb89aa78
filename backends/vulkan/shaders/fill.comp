// Fills n 32-bit words with one value. p: [0] n [1] value bits
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };

void main() {
  uint i = tern_gid();
  if (i < p[0]) y[i] = p[1];
}
