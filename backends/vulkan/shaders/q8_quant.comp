// QuantizeLinear (float32 -> int8) and DequantizeLinear (int8 -> float32), per tensor or per
// channel (backends/reference/ops/quant_q8.cpp, quant::quantize_value / dequantize_value):
//   quantize:   q = clamp(round_half_even(clamp(x / scale, -1000, 1000)) + z, -128, 127), NaN -> z
//   dequantize: x = scale * float(q - z)
// Channel c of element i is (i / inner) % channels; its scale (float bits) and zero point are
// s[2c], s[2c + 1]. The division is `precise` (no reciprocal folding): on a device whose division
// is correctly rounded (lavapipe) the results are bit-exact; Vulkan only promises 2.5 ulp for x / y,
// which could move a value lying within an ulp of a rounding tie by one step.
// p: [0] n [1] inner [2] channels [3] mode (0 quantize, 1 dequantize)
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "q8.glsl"
layout(std430, binding = 1) buffer F { float f[]; };
layout(std430, binding = 2) buffer Q { int8_t q[]; };
layout(std430, binding = 3) readonly buffer S { uint s[]; };

void main() {
  uint i = tern_gid();
  if (i >= p[0]) return;
  uint c = (i / p[1]) % p[2];
  precise float scale = uintBitsToFloat(s[2u * c]);
  int z = int(s[2u * c + 1u]);
  if (p[3] != 0) {
    precise float v = scale * float(int(q[i]) - z);
    f[i] = v;
    return;
  }
  float x = f[i];
  if (isnan(x)) {
    q[i] = int8_t(clamp(z, -128, 127));
    return;
  }
  precise float r = x / scale;
  r = roundEven(clamp(r, -1000.0, 1000.0));
  q[i] = int8_t(clamp(int(r) + z, -128, 127));
}
