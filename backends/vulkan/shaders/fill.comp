// Fills n words (WORD_T) with one value. p: [0] n [1] value bits (the low 16 in the fp16 variant)
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) writeonly buffer Y { WORD_T y[]; };

void main() {
  uint i = tern_gid();
  if (i < p[0]) y[i] = WORD_T(p[1]);
}
