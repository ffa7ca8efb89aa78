// int8 AveragePool / MaxPool (1-3 spatial dims handled as 3-D), one invocation per output
// (backends/reference/ops/pool_q8.cpp; MaxPool: the float kernel's max, exact on int8 values).
// Average: acc = sum over the taps inside the input of (x - z_x), divided through the multiplier of
// its tap count: t[2 * count], t[2 * count + 1] = quant::Multiplier of s_x / (s_y * count), built
// on the host for every count up to the kernel size (the count: taps inside the input, or with
// count_include_pad inside [-pad_begin, in + pad_end)).
// p: [0] total [1..4) in DHW [4..7) out DHW [7..10) kernel [10..13) strides [13..16) dilations
//    [16..19) pad begin [19..22) pad end [22] is max [23] count_include_pad [24] z_x [25] z_y
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
  if (i >= p[0]) return;
  int ID = pi(1), IH = pi(2), IW = pi(3);
  uint OD = p[4], OH = p[5], OW = p[6];
  uint ow = i % OW, q = i / OW;
  uint oh = q % OH; q /= OH;
  uint od = q % OD; uint plane = q / OD;
  int o[3] = int[3](int(od), int(oh), int(ow));
  int in_dims[3] = int[3](ID, IH, IW);
  int lo[3], cnt_pad[3];
  for (int d = 0; d < 3; ++d) {
    lo[d] = o[d] * pi(10 + d) - pi(16 + d);
    int c = 0;
    for (int k = 0; k < pi(7 + d); ++k) {
      int v = lo[d] + k * pi(13 + d);
      if (v >= -pi(16 + d) && v < in_dims[d] + pi(19 + d)) ++c;
    }
    cnt_pad[d] = c;
  }
  bool is_max = p[22] != 0;
  int z_x = pi(24);
  int acc = is_max ? -128 : 0;
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
        int v = int(x[xp + uint((id * IH + ih) * IW + iw)]);
        acc = is_max ? max(acc, v) : acc + (v - z_x);
        ++count;
      }
    }
  }
  if (is_max) {
    y[i] = int8_t(acc);
  } else {
    int div = p[23] != 0 ? cnt_pad[0] * cnt_pad[1] * cnt_pad[2] : count;
    uint k = uint(max(div, 1));
    y[i] = int8_t(tern_requantize(acc, t[2u * k], t[2u * k + 1u], pi(25), -128, 127));
  }
}
