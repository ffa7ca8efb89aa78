// LayerNormalization, RMSNormalization, GroupNormalization and InstanceNormalization, float32:
// one workgroup per normalized row (a contiguous run of L elements), mean and variance in two
// passes (the one-pass form cancels badly on rows with a large mean).
// p: [0] rows [1] L [2] epsilon [3] mode (0: scale index = j % scale_n; 1: per channel, groups)
//    [4] rms [5] has scale [6] has bias [7] scale_n [8] groups [9] channels per group [10] spatial
//    [11] bias_n (mode 0: bias index = j % bias_n)
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) readonly buffer S { STORE_T scale[]; };
layout(std430, binding = 3) readonly buffer B { STORE_T bias[]; };
layout(std430, binding = 4) writeonly buffer Y { STORE_T y[]; };

shared float red[256];

float reduce_sum(float v) {
  uint lid = gl_LocalInvocationID.x;
  red[lid] = v;
  barrier();
  for (uint s = 128; s > 0; s >>= 1) {
    if (lid < s) red[lid] += red[lid + s];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint r = tern_group();
  if (r >= p[0]) return;
  uint L = p[1], lid = gl_LocalInvocationID.x;
  uint base = r * L;
  bool rms = p[4] != 0;
  float mean = 0.0;
  if (!rms) {
    float s = 0.0;
    for (uint j = lid; j < L; j += 256) s += LD(x[base + j]);
    mean = reduce_sum(s) / float(L);
  }
  // Second pass around the first mean, with its residual folded back in (corrected two-pass):
  // the first mean's rounding error, large when the mean dwarfs the spread, cancels out.
  float s1 = 0.0, s2 = 0.0;
  for (uint j = lid; j < L; j += 256) {
    float d = LD(x[base + j]) - mean;
    s1 += d;
    s2 += d * d;
  }
  float sd = rms ? 0.0 : reduce_sum(s1);
  float sq = reduce_sum(s2);
  // The correction stays apart from the mean: folded into it, it would round away again when
  // the mean is large (x - mean is exact for x near the mean; (x - mean) - delta keeps it).
  float delta = sd / float(L);
  float var = max((sq - sd * sd / float(L)) / float(L), 0.0);
  float inv = 1.0 / sqrt(var + pf(2));
  bool per_channel = p[3] != 0, has_s = p[5] != 0, has_b = p[6] != 0;
  uint sn = max(p[7], 1u), bn = max(p[11], 1u), cpg = p[9], spatial = max(p[10], 1u);
  uint c0 = (r % max(p[8], 1u)) * cpg;
  for (uint j = lid; j < L; j += 256) {
    uint si = per_channel ? c0 + j / spatial : j % sn;
    uint bi = per_channel ? si : j % bn;
    float v = ((LD(x[base + j]) - mean) - delta) * inv;
    if (has_s) v *= LD(scale[si]);
    if (has_b) v += LD(bias[bi]);
    y[base + j] = STORE(v);
  }
}
