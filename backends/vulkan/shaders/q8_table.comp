// int8 element-wise functions as 256-entry tables built on the host (ops/q8.cpp): the Activation
// op and Sigmoid / Tanh / HardSwish / HardSigmoid from ref::activation_table_q8, Relu / Clip from
// quant::requantize, so the numerics have one definition. y = table[x as uint8].
// p: [0] n
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) readonly buffer X { int8_t x[]; };
layout(std430, binding = 2) readonly buffer T { int t[]; };
layout(std430, binding = 3) writeonly buffer Y { int8_t y[]; };

void main() {
  uint i = tern_gid();
  if (i < p[0]) y[i] = int8_t(t[uint(int(x[i])) & 255u]);
}
