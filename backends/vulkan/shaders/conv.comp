// Direct convolution (NC[D]H[W], float32, any group count: depthwise is group == channels), one
// invocation per output element, taps outside the input skipped (zero padding). Pointwise convs
// go through matmul.comp instead (ops/conv.cpp). Spatial dims are handled as 3-D, as in the
// reference: missing leading dims have size 1 and a 1-tap kernel.
// p: [0] total [1] C [2] M [3] group [4..7) in DHW [7..10) out DHW [10..13) kernel
//    [13..16) strides [16..19) dilations [19..22) pads (begin) [22] has bias [23] act [24] a [25] b
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) readonly buffer W { STORE_T w[]; };
layout(std430, binding = 3) readonly buffer Bias { STORE_T bias[]; };
layout(std430, binding = 4) writeonly buffer Y { STORE_T y[]; };

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
  float acc = p[22] != 0 ? LD(bias[m]) : 0.0;
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
          acc += LD(x[xr + uint(iw)]) * LD(w[wr + kw]);
        }
      }
    }
  }
  y[i] = STORE(tern_activate(pi(23), acc, pf(24), pf(25)));
}
