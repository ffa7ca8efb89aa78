// AveragePool / MaxPool (float32, 1-3 spatial dims handled as 3-D), one invocation per output.
// Max over the taps inside the input (NaN propagates; no tap: lowest float). Average divides by
// the taps inside the input, or with count_include_pad by those inside [-pad_begin, in + pad_end).
// p: [0] total [1..4) in DHW [4..7) out DHW [7..10) kernel [10..13) strides [13..16) dilations
//    [16..19) pad begin [19..22) pad end [22] is max [23] count_include_pad
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) writeonly buffer Y { STORE_T y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  int ID = pi(1), IH = pi(2), IW = pi(3);
  uint OD = p[4], OH = p[5], OW = p[6];
  uint ow = i % OW, t = i / OW;
  uint oh = t % OH; t /= OH;
  uint od = t % OD; uint plane = t / OD;
  int o[3] = int[3](int(od), int(oh), int(ow));
  int in_dims[3] = int[3](ID, IH, IW);
  int lo[3], cnt_pad[3];
  for (int d = 0; d < 3; ++d) {
    lo[d] = o[d] * pi(10 + d) - pi(16 + d);
    // taps inside the padded input, for count_include_pad
    int c = 0;
    for (int k = 0; k < pi(7 + d); ++k) {
      int v = lo[d] + k * pi(13 + d);
      if (v >= -pi(16 + d) && v < in_dims[d] + pi(19 + d)) ++c;
    }
    cnt_pad[d] = c;
  }
  bool is_max = p[22] != 0;
  float acc = is_max ? uintBitsToFloat(0xff800000u) : 0.0;  // -inf
  bool nan_seen = false;
  int count = 0;
  uint xp = plane * uint(ID * IH * IW);
  for (int kd = 0; kd < pi(7); ++kd) {
    int id = lo[0] + kd * pi(13);
    if (id < 0 || id >= ID) continue;
    for (int kh = 0; kh < pi(8); ++kh) {
      int ih = lo[1] + kh * pi(14);
      if (ih < 0 || ih >= IH) continue;
      for (int kw = 0; kw < pi(9); ++kw) {
        int iw = lo[2] + kw * pi(15);
        if (iw < 0 || iw >= IW) continue;
        float v = LD(x[xp + uint((id * IH + ih) * IW + iw)]);
        if (is_max) {
          nan_seen = nan_seen || isnan(v);
          acc = max(acc, v);
        } else {
          acc += v;
        }
        ++count;
      }
    }
  }
  if (is_max) {
    y[i] = STORE(nan_seen ? uintBitsToFloat(0x7fc00000u) : acc);
  } else {
    int div = p[23] != 0 ? cnt_pad[0] * cnt_pad[1] * cnt_pad[2] : count;
    y[i] = STORE(div > 0 ? acc / float(div) : uintBitsToFloat(0x7fc00000u));
  }
}
