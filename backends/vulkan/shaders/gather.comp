// Gather along one axis: out[o, j, i] = data[o, idx[j], i] for data words (WORD_T; data wider
// than a word as several words: inner multiplied). Indices are int32 or int64 (low word used,
// negative ones count from the end); an index out of range writes zeros (the compiler checks constant indices).
// p: [0] total [1] n indices [2] inner (words) [3] axis dim [4] index is int64
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { WORD_T x[]; };
layout(std430, binding = 2) readonly buffer I { int idx[]; };
layout(std430, binding = 3) writeonly buffer Y { WORD_T y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint nidx = p[1], inner = p[2], dim = p[3];
  uint in_pos = i % inner, t = i / inner;
  uint j = t % nidx, o = t / nidx;
  int k = p[4] != 0 ? idx[2 * j] : idx[j];
  if (p[4] != 0) {
    int hi = idx[2 * j + 1];
    if (!((hi == 0 && k >= 0) || (hi == -1 && k < 0))) k = int(dim);  // beyond 32 bits: out of range
  }
  if (k < 0) k += int(dim);
  if (k < 0 || k >= int(dim)) {
    y[i] = WORD_T(0u);
    return;
  }
  y[i] = x[(o * dim + uint(k)) * inner + in_pos];
}
