// Strided copy of words (WORD_T: 32-bit, 16-bit in the fp16 variant): for every index of a box of up to 8 dims,
//   out[out_offset + sum(c_d * out_stride_d)] = in[in_offset + sum(c_d * in_stride_d)].
// Transpose, Slice, Concat, Split, Expand and Pad's interior are all such copies (ops/data.cpp);
// elements wider than a word are copied as several words (an extra innermost dim).
// p: [0] total [1] rank [2..10) box dims [10..18) in strides [18..26) out strides [26] in offset
//    [27] out offset
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { WORD_T x[]; };
layout(std430, binding = 2) buffer Y { WORD_T y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint rem = i, si = p[26], di = p[27];
  for (int d = pi(1) - 1; d >= 0; --d) {
    uint c = rem % p[2 + d];
    rem /= p[2 + d];
    si += c * p[10 + d];
    di += c * p[18 + d];
  }
  y[di] = x[si];
}
