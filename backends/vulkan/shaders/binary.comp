// Binary elementwise ops with numpy broadcasting, float32 (and PRelu).
// p: [0] n, [1] op (0 Add 1 Sub 2 Mul 3 Div 4 Pow 5 Min 6 Max 7 PRelu), [2] rank,
//    [3..11) output dims, [11..19) A strides, [19..27) B strides (0 on broadcast dims).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer A { STORE_T a[]; };
layout(std430, binding = 2) readonly buffer B { STORE_T b[]; };
layout(std430, binding = 3) writeonly buffer Y { STORE_T y[]; };

float tern_pow(float x, float e) {
  if (e == 0.0) return 1.0;
  if (x == 0.0) return e > 0.0 ? 0.0 : 1.0 / 0.0;
  if (e == 1.0) return x;
  if (e == 2.0) return x * x;
  if (e == 3.0) return x * x * x;
  if (e == 0.5 && x >= 0.0) return sqrt(x);
  if (x > 0.0) return exp2(e * log2(x));
  if (e != floor(e)) return uintBitsToFloat(0x7fc00000u);
  float r = exp2(e * log2(-x));
  return mod(e, 2.0) == 1.0 ? -r : r;
}

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  int rank = pi(2);
  uint rem = i, ia = 0, ib = 0;
  for (int d = rank - 1; d >= 0; --d) {
    uint dim = p[3 + d];
    uint c = rem % dim;
    rem /= dim;
    ia += c * p[11 + d];
    ib += c * p[19 + d];
  }
  float u = LD(a[ia]), v = LD(b[ib]), r;
  switch (pi(1)) {
    case 0: r = u + v; break;
    case 1: r = u - v; break;
    case 2: r = u * v; break;
    case 3: r = u / v; break;
    case 4: r = tern_pow(u, v); break;
    case 5: r = u < v ? u : v; break;
    case 6: r = u > v ? u : v; break;
    default: r = u < 0.0 ? v * u : u; break;
  }
  y[i] = STORE(r);
}
