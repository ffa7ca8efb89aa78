// Shared by every Tern compute shader: the parameter block (binding 0), grid folding and the
// fused activations (schema `Activation`, same formulas as backends/reference/ops/activation.h).
//
// Storage variants from one source: vulkan.cmake compiles every shader twice, as <name> (float32
// tensors) and <name>_fp16 (-DTERN_FP16: float tensors stored as float16 through
// VK_KHR_16bit_storage, arithmetic still in float32). A shader declares its float tensors as
// STORE_T, reads them with LD(x) and writes STORE(v); tensors moved as raw words use WORD_T
// (32-bit words, or 16-bit halves in the fp16 variant, ops/data.cpp sizes copies by it).
//
// The word-moving shaders (copy, fill, gather) have a third variant, <name>_i8 (-DTERN_I8), whose
// words are bytes (VK_KHR_8bit_storage), for the int8 tensors of int8 plans.
#ifdef TERN_FP16
#extension GL_EXT_shader_16bit_storage : require
#define STORE_T float16_t
#define WORD_T uint16_t
#elif defined(TERN_I8)
#extension GL_EXT_shader_8bit_storage : require
#define STORE_T float
#define WORD_T uint8_t
#else
#define STORE_T float
#define WORD_T uint
#endif
#define LD(x) float(x)
#define STORE(v) STORE_T(v)
layout(std430, binding = 0) readonly buffer Params { uint p[]; };

int pi(uint i) { return int(p[i]); }
float pf(uint i) { return uintBitsToFloat(p[i]); }

// Linear invocation id of a 1-D dispatch folded into x and y (Recorder::dispatch_threads).
uint tern_gid() {
  return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}
// Linear workgroup id of a one-workgroup-per-row dispatch (Recorder::dispatch_groups).
uint tern_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
float tern_erf(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}

// exp with a relative error of a few ulp over the whole range: 2^k * exp(r) with |r| <= ln2/2
// (some drivers' exp is only accurate in absolute terms for tiny results).
float tern_exp(float v) {
  if (v < -104.0) return 0.0;
  if (v > 89.0) return uintBitsToFloat(0x7f800000u);
  float k = roundEven(v * 1.44269504);
  float r = (v - k * 0.693145752) - k * 1.42860677e-6;
  return ldexp(exp(r), int(k));
}

// log(1 + e) without losing small e (GLSL has no log1p; shader compilers may fold (1 + e) - 1
// into e, so no rounding trick): a series below 1e-3, where the next term is below 1e-9 relative.
float tern_log1p(float e) {
  if (abs(e) < 1e-3) return e * (1.0 - e * (0.5 - e * (1.0 / 3.0)));
  return log(1.0 + e);
}

float tern_sigmoid(float v) {
  if (v >= 0.0) return 1.0 / (1.0 + tern_exp(-v));
  float e = tern_exp(v);
  return e / (1.0 + e);
}

// tanh that stays finite for large |x| (GLSL's may overflow through exp).
float tern_tanh(float x) {
  if (abs(x) > 15.0) return sign(x);
  float e = exp(2.0 * x);
  return (e - 1.0) / (e + 1.0);
}

// kind: schema Activation (0 None, 1 Relu, 2 Clip, 3 Sigmoid, 4 SiLU, 5 GELU, 6 GELUTanh,
// 7 HardSwish, 8 HardSigmoid, 9 Tanh); a, b: activation_min / activation_max.
float tern_activate(int kind, float x, float a, float b) {
  switch (kind) {
    case 1: return x < 0.0 ? 0.0 : x;
    case 2: { float r = x < a ? a : x; return r > b ? b : r; }  // the reference's order; NaN passes
    case 3: return 1.0 / (1.0 + exp(-x));
    case 4: return x / (1.0 + exp(-x));
    case 5: return 0.5 * x * (1.0 + tern_erf(x * 0.70710678118654752));
    case 6: return 0.5 * x * (1.0 + tern_tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case 7: return x * min(max(x * (1.0 / 6.0) + 0.5, 0.0), 1.0);
    case 8: return min(max(a * x + b, 0.0), 1.0);
    case 9: return tern_tanh(x);
  }
  return x;
}
