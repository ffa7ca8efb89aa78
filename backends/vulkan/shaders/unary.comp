// Unary elementwise ops and the Activation op, float32.
// p: [0] n, [1] code (0..9: schema Activation via tern_activate; 20..: see elementwise.cpp), [2] a, [3] b.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) writeonly buffer Y { STORE_T y[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  int code = pi(1);
  float a = pf(2), b = pf(3);
  float v = LD(x[i]), r = v;
  if (code < 20) {
    r = tern_activate(code, v, a, b);
  } else {
    switch (code) {
      case 20: r = tern_erf(v); break;
      case 21: r = tern_exp(v); break;
      case 22: r = log(v); break;
      case 23: r = sqrt(v); break;
      case 24: r = -v; break;
      case 25: r = abs(v); break;
      case 26: r = v > 0.0 ? v + tern_log1p(tern_exp(-v)) : tern_log1p(tern_exp(v)); break;
      case 27: r = 1.0 / v; break;
      case 28: r = v < 0.0 ? a * v : v; break;
      case 29: r = v < 0.0 ? a * (exp(v) - 1.0) : v; break;
      case 30: r = floor(v); break;
      case 31: r = ceil(v); break;
      case 32: r = roundEven(v); break;
      case 33: r = sin(v); break;
      case 34: r = cos(v); break;
      case 35: r = v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : v); break;
      case 36: r = tern_sigmoid(v); break;
    }
  }
  y[i] = STORE(r);
}
