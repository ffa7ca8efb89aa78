// int8 direct convolution (backends/reference/ops/conv_q8.cpp), NC[D]H[W], any group count, one
// invocation per output element. A kernel of its own rather than a variant of conv.comp: the int8
// form differs in every line that matters (zero points, int32 bias, the per-channel requantization,
// integer bounds instead of a float activation).
//   acc = bias[m] + sum over taps inside the input of (x - z_x) * (w - z_w[m])
//   y = clamp(requantize(acc, mult[m], shift[m]) + z_y, lo, hi)
// Padding adds nothing (padded X is real 0). Channel parameters: 4 ints per output channel
// (mult, shift, z_w, unused), or one set for every channel when p[27] is 0.
// p: [0] total [1] C [2] M [3] group [4..7) in DHW [7..10) out DHW [10..13) kernel
//    [13..16) strides [16..19) dilations [19..22) pads (begin) [22] has bias [23] z_x [24] z_y
//    [25] lo [26] hi [27] per-channel parameters
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) readonly buffer X { int8_t x[]; };
layout(std430, binding = 2) readonly buffer W { int8_t w[]; };
layout(std430, binding = 3) readonly buffer Bias { int bias[]; };
layout(std430, binding = 4) readonly buffer Ch { int ch[]; };
layout(std430, binding = 5) writeonly buffer Y { int8_t y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint C = p[1], M = p[2], G = p[3];
  uint ID = p[4], IH = p[5], IW = p[6], OD = p[7], OH = p[8], OW = p[9];
  uint KD = p[10], KH = p[11], KW = p[12];
  int sd = pi(13), sh = pi(14), sw = pi(15), dd = pi(16), dh = pi(17), dw = pi(18);
  int pd = pi(19), ph = pi(20), pw = pi(21);
  uint ow = i % OW, t = i / OW;
  uint oh = t % OH; t /= OH;
  uint od = t % OD; t /= OD;
  uint m = t % M, n = t / M;
  uint cg = C / G, mg = M / G, g = m / mg;
  uint cp = p[27] != 0 ? 4u * m : 0u;
  int z_x = pi(23), z_w = ch[cp + 2];
  int acc = p[22] != 0 ? bias[m] : 0;
  int d0 = int(od) * sd - pd, h0 = int(oh) * sh - ph, w0 = int(ow) * sw - pw;
  uint in_plane = ID * IH * IW;
  for (uint ic = 0; ic < cg; ++ic) {
    uint xc = (n * C + g * cg + ic) * in_plane;
    uint wc = (m * cg + ic) * KD * KH * KW;
    for (uint kd = 0; kd < KD; ++kd) {
      int id = d0 + int(kd) * dd;
      if (id < 0 || id >= int(ID)) continue;
      for (uint kh = 0; kh < KH; ++kh) {
        int ih = h0 + int(kh) * dh;
        if (ih < 0 || ih >= int(IH)) continue;
        uint xr = xc + (uint(id) * IH + uint(ih)) * IW;
        uint wr = wc + (kd * KH + kh) * KW;
        for (uint kw = 0; kw < KW; ++kw) {
          int iw = w0 + int(kw) * dw;
          if (iw < 0 || iw >= int(IW)) continue;
          acc += (int(x[xr + uint(iw)]) - z_x) * (int(w[wr + kw]) - z_w);
        }
      }
    }
  }
  y[i] = int8_t(tern_requantize(acc, ch[cp], ch[cp + 1], pi(24), pi(25), pi(26)));
}
