// ReduceMean / Sum / Max / Min / Prod, float32: one workgroup per output element, its 256
// invocations striding over the reduced elements, then a tree in shared memory. Output
// coordinates index the input through `kept` strides (reduced dims have size 1 there); the
// reduced dims are walked with their own strides.
// p: [0] total [1] rank [2..10) out dims [10..18) in strides of out dims [18] reduced rank
//    [19..27) reduced dims [27..35) reduced strides [35] op (0 mean 1 sum 2 max 3 min 4 prod)
//    [36] reduced count
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer X { STORE_T x[]; };
layout(std430, binding = 2) writeonly buffer Y { STORE_T y[]; };

shared float red[256];
shared bool nan_any[256];

float combine(int op, float a, float b) {
  if (op == 2) return max(a, b);
  if (op == 3) return min(a, b);
  if (op == 4) return a * b;
  return a + b;
}

void main() {
  uint i = tern_group();
  if (i >= p[0]) return;
  uint lid = gl_LocalInvocationID.x;
  uint rem = i, base = 0;
  for (int d = pi(1) - 1; d >= 0; --d) {
    uint c = rem % p[2 + d];
    rem /= p[2 + d];
    base += c * p[10 + d];
  }
  int op = pi(35), rr = pi(18);
  uint cnt = p[36];
  float ident = op == 2 ? uintBitsToFloat(0xff800000u) : (op == 3 ? uintBitsToFloat(0x7f800000u) : (op == 4 ? 1.0 : 0.0));
  float acc = ident;
  bool nan_seen = false;
  for (uint j = lid; j < cnt; j += 256) {
    uint r2 = j, off = base;
    for (int d = rr - 1; d >= 0; --d) {
      uint c = r2 % p[19 + d];
      r2 /= p[19 + d];
      off += c * p[27 + d];
    }
    float v = LD(x[off]);
    nan_seen = nan_seen || isnan(v);
    acc = combine(op, acc, v);
  }
  red[lid] = acc;
  nan_any[lid] = nan_seen;
  barrier();
  for (uint s = 128; s > 0; s >>= 1) {
    if (lid < s) {
      red[lid] = combine(op, red[lid], red[lid + s]);
      nan_any[lid] = nan_any[lid] || nan_any[lid + s];
    }
    barrier();
  }
  if (lid != 0) return;
  float r = red[0];
  if ((op == 2 || op == 3) && nan_any[0]) r = uintBitsToFloat(0x7fc00000u);
  if (op == 0) r /= float(cnt);
  y[i] = STORE(r);
}
