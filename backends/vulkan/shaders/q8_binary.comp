// int8 Add / Sub / Mul with numpy broadcasting (backends/reference/ops/binary_q8.cpp, the
// arithmetic of ref::BinaryQ8). Add/Sub: both operands are rescaled by the host-built tables
// t[0..256) = BinaryQ8::lhs(a) and t[256..512) = BinaryQ8::rhs(b) (indexed by the byte as uint8),
// then y = requantize(lhs ± rhs); Mul: y = requantize((a - z_a)(b - z_b)).
// p: [0] n [1] op (0 Add 1 Sub 2 Mul) [2] rank [3..11) output dims [11..19) A strides
//    [19..27) B strides (0 on broadcast dims) [27] z_a [28] z_b [29] z_y [30] mult [31] shift
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) readonly buffer A { int8_t a[]; };
layout(std430, binding = 2) readonly buffer B { int8_t b[]; };
layout(std430, binding = 3) readonly buffer T { int t[]; };
layout(std430, binding = 4) writeonly buffer Y { int8_t y[]; };

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
  int u = int(a[ia]), v = int(b[ib]), acc;
  int op = pi(1);
  if (op == 2) {
    acc = (u - pi(27)) * (v - pi(28));
  } else {
    int l = t[uint(u) & 255u], r = t[256u + (uint(v) & 255u)];
    acc = op == 1 ? l - r : l + r;
  }
  y[i] = int8_t(tern_requantize(acc, pi(30), pi(31), pi(29), -128, 127));
}
