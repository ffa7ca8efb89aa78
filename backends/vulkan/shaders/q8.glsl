// The int8 scheme's requantization (runtime/core/quant.h) in 32-bit GLSL, for the q8_*.comp
// kernels. Bit-exact with quant::multiply_by_multiplier / quant::requantize: the 62-bit product
// |x| * mult is formed with umulExtended (core GLSL, so no shaderInt64 is needed: many mobile GPUs
// lack it), rounded half away from zero by adding 2^(total-1) to the magnitude, shifted right by
// total = 31 + shift in [1, 62], and the sign put back. Results whose magnitude exceeds 2^30 are
// clamped to 2^30: every caller adds a zero point in [-128, 127] and saturates to int8 (or, for
// BinaryQ8's rescaling, never gets there: |x| < 2^28 and the multiplier is below 1/2), so the
// clamp changes no result.
//
// A multiplier is two ints (quant::Multiplier): mult (Q31 in [2^30, 2^31), or 0) and shift.
#extension GL_EXT_shader_8bit_storage : require

int tern_mul_q(int x, int mult, int shift) {
  if (mult == 0 || x == 0) return 0;
  uint mag = x < 0 ? 0u - uint(x) : uint(x);  // |x|, also for x = -2^31
  uint hi, lo;
  umulExtended(mag, uint(mult), hi, lo);      // < 2^62
  int total = 31 + shift;
  uint carry = 0u;
  if (total <= 32) {
    lo = uaddCarry(lo, 1u << uint(total - 1), carry);
    hi += carry;
  } else {
    hi += 1u << uint(total - 33);
  }
  uint r;
  if (total < 32) r = (hi >> uint(total)) != 0u ? 0x40000000u : (lo >> uint(total)) | (hi << uint(32 - total));
  else r = hi >> uint(total - 32);
  r = min(r, 0x40000000u);
  return x < 0 ? -int(r) : int(r);
}

// quant::requantize: saturate(multiply_by_multiplier(acc) + zero_point) to [lo, hi].
int tern_requantize(int acc, int mult, int shift, int zero_point, int lo, int hi) {
  return clamp(tern_mul_q(acc, mult, shift) + zero_point, lo, hi);
}
