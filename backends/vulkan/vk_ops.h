// What a Vulkan op file implements: `supports` (from dtypes and shapes alone, no device: the
// compiler partitions with it) and `record`, which turns one node into dispatches of the embedded
// compute shaders (and buffer copies) at prepare time. Recording never touches device memory; the
// executable lays out buffers, creates pipelines and descriptor sets and records one command
// buffer from the steps once every node is recorded.
//
// Shader convention (shaders/common.glsl): binding 0 is the dispatch's parameter words (uint32;
// floats bit-cast), bindings 1.. are the tensors in the order `dispatch` lists them. An absent
// optional tensor (-1) binds a small zero buffer; the shader must not read it (a flag in the
// parameters says so).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "core/tensor.h"

namespace tern::vk {

class Params {
 public:
  Params& u(int64_t v) {
    w.push_back(static_cast<uint32_t>(v));
    return *this;
  }
  Params& f(float v) {
    uint32_t x;
    std::memcpy(&x, &v, 4);
    w.push_back(x);
    return *this;
  }
  std::vector<uint32_t> w;
};

class Recorder {
 public:
  virtual ~Recorder() = default;
  // A tensor as stored on the device: in an fp16-storage partition its float32 tensors read as
  // Float16 (the host data pointer is not for recording to read).
  virtual const TensorRef& tensor(int32_t id) const = 0;
  // Float tensors stored as float16: the shaders run as their _fp16 variants, whose raw words
  // (copy, fill, gather) are 16-bit.
  virtual bool fp16_storage() const = 0;
  size_t word_bytes() const { return fp16_storage() ? 2 : 4; }
  // A device-only tensor for intermediate results of a multi-dispatch op. It may move the tensor
  // table: pointers from tensor() / OpCall::in() taken before the call are invalid after it.
  virtual int32_t scratch(DType dtype, const Shape& shape) = 0;
  // A read-only tensor made at prepare from host data (copied here; uploaded with the plan's
  // constants): the int8 kernels' tables and per-channel requantization parameters. Same
  // invalidation rule as scratch().
  virtual int32_t constant(DType dtype, const Shape& shape, const void* data) = 0;
  virtual void dispatch(const char* shader, std::initializer_list<int32_t> bindings, const Params& params, uint32_t gx,
                        uint32_t gy = 1, uint32_t gz = 1) = 0;
  // Byte copy of `bytes` from src (at src_offset) to dst (at dst_offset), as a transfer command.
  virtual void copy(int32_t src, int32_t dst, uint64_t bytes, uint64_t src_offset = 0, uint64_t dst_offset = 0) = 0;
  // `threads` invocations of a shader with local_size_x = `local`, folded into a 2-D grid so any
  // count fits maxComputeWorkGroupCount; the shader's linear id is tern_gid() (common.glsl).
  void dispatch_threads(const char* shader, std::initializer_list<int32_t> bindings, const Params& params, uint64_t threads,
                        uint32_t local = 256);
  // One workgroup per row, `rows` of them, folded the same way (tern_group_id()).
  void dispatch_groups(const char* shader, std::initializer_list<int32_t> bindings, const Params& params, uint64_t groups);
};

// The parameters of shaders/matmul.comp (see its header): Y = act(alpha * A x B + beta * C),
// every operand addressed by strides, batch dims broadcast through per-operand batch strides.
struct MatmulDesc {
  uint32_t m = 0, n = 0, k = 0;
  uint32_t a_rs = 0, a_ks = 0, b_ks = 0, b_cs = 0;
  int batch_rank = 0;
  uint32_t batch_dims[6] = {}, a_bs[6] = {}, b_bs[6] = {};
  uint32_t y_bs = 0, y_rs = 0, y_cs = 1;
  float alpha = 1, beta = 1;
  bool has_c = false;
  uint32_t c_rs = 0, c_cs = 0, c_bs = 0;
  int act = 0;
  float act_a = 0, act_b = 0;
  uint32_t a_off = 0, b_off = 0, c_off = 0, y_off = 0;

  uint32_t batch() const {
    uint32_t b = 1;
    for (int i = 0; i < batch_rank; ++i) b *= batch_dims[i];
    return b;
  }
  Params params() const;
  // Dispatches matmul.comp for it.
  void record(Recorder& rec, int32_t a, int32_t b, int32_t c, int32_t y) const;
};
// A pool's window over the 1-3 spatial dims of X [N, C, s...] and Y, right-aligned into 3 (unused
// leading dims are 1 / 0): what pool.comp and q8_pool.comp take. Absent option entries keep the
// defaults (kernel / stride / dilation 1, no padding).
struct PoolWindow {
  uint32_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, dl[3] = {1, 1, 1};
  uint32_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  PoolWindow(const Shape& x, const Shape& y, const std::vector<int32_t>& kernel, const std::vector<int32_t>& strides,
             const std::vector<int32_t>& dilations, const std::vector<int32_t>& pads) {
    const int sp = x.rank - 2;
    for (int i = 0; i < sp; ++i) {
      const int j = 3 - sp + i;
      in[j] = static_cast<uint32_t>(x[2 + i]);
      out[j] = static_cast<uint32_t>(y[2 + i]);
      if (i < static_cast<int>(kernel.size())) k[j] = static_cast<uint32_t>(kernel[static_cast<size_t>(i)]);
      if (i < static_cast<int>(strides.size())) s[j] = static_cast<uint32_t>(strides[static_cast<size_t>(i)]);
      if (i < static_cast<int>(dilations.size())) dl[j] = static_cast<uint32_t>(dilations[static_cast<size_t>(i)]);
      if (i < static_cast<int>(pads.size())) pb[j] = static_cast<uint32_t>(pads[static_cast<size_t>(i)]);
      if (sp + i < static_cast<int>(pads.size())) pe[j] = static_cast<uint32_t>(pads[static_cast<size_t>(sp + i)]);
    }
  }
};

struct OpCall;
// The strided views of a MatMul or Gemm node (output present), as ops/matmul.cpp reads it (the
// int8 kernel reads the same views).
MatmulDesc describe_matmul(const OpCall& c);

// One node being recorded.
struct OpCall {
  const NodeView* node = nullptr;
  Recorder* rec = nullptr;

  int32_t in_id(size_t i) const { return i < node->inputs.size() ? node->inputs[i] : -1; }
  int32_t out_id(size_t i) const { return i < node->outputs.size() ? node->outputs[i] : -1; }
  const TensorRef* in(size_t i) const { return in_id(i) >= 0 ? &rec->tensor(in_id(i)) : nullptr; }
  const TensorRef* out(size_t i) const { return out_id(i) >= 0 ? &rec->tensor(out_id(i)) : nullptr; }
  template <typename T> const T* opts() const {
    return node->options ? static_cast<const T*>(node->options->value) : nullptr;
  }
  Status error(const char* what) const;
};

// Loop back edges one shader invocation may take in one dispatch. llvmpipe (lavapipe) ends every
// loop of an invocation once their back edges add up to 65535 (gallivm's
// LP_MAX_TGSI_LOOP_ITERATIONS, one counter shared by all loops), silently, with wrong results and
// no error: kernels whose loops could go past it split the work across dispatches (the scans walk
// time in chunks) or decline the node. Half the limit, for the loops' own bookkeeping.
constexpr int64_t kLoopBudget = 32768;

// Query helpers for `supports`.
inline const TensorInfo* qin(const NodeQuery& q, size_t i) { return i < q.inputs.size() ? q.inputs[i] : nullptr; }
inline const TensorInfo* qout(const NodeQuery& q, size_t i) { return i < q.outputs.size() ? q.outputs[i] : nullptr; }
template <typename T> const T* qopts(const NodeQuery& q) {
  return q.options ? static_cast<const T*>(q.options->value) : nullptr;
}
inline bool decline(std::string* why, const std::string& reason) {
  if (why) *why = reason;
  return false;
}
// Every present input and output is float32 (else declines with the reason).
bool all_f32(const NodeQuery& q, std::string* why);

using SupportsFn = bool (*)(const NodeQuery&, std::string*);
using RecordFn = Status (*)(const OpCall&);

struct OpEntry {
  OpType op;
  SupportsFn supports;
  RecordFn record;
};

// The explicit op table (vulkan_ops.cpp); nullptr for ops without a Vulkan kernel.
const OpEntry* op_entry(OpType op);
// The entry that runs a node whose first input has dtype `in0`: as the reference's dispatch_q8,
// Conv, Gemm, MatMul, Add/Sub/Mul, the element-wise activations and the pools take their int8
// kernel (the q8 table, ops/q8_*.cpp) when input 0 is int8, and QuantizeLinear /
// DequantizeLinear always do; everything else (data movement of int8 tensors included) takes
// op_entry. nullptr: no Vulkan kernel.
const OpEntry* entry_for(OpType op, DType in0);
// Shader names of the int8 kernels (q8_*) and 8-bit variants (*_i8): they need 8-bit storage
// and have no fp16 variant.
bool is_int8_shader(const std::string& name);

// The embedded SPIR-V of one shader (generated at build time from shaders/<name>.comp).
struct ShaderCode {
  const char* name;
  const uint32_t* words;
  size_t bytes;
};
const ShaderCode* find_shader(const char* name);

// Per-family functions, one file each under ops/.
bool elementwise_supports(const NodeQuery&, std::string*);
Status elementwise_record(const OpCall&);
bool matmul_supports(const NodeQuery&, std::string*);
Status matmul_record(const OpCall&);
bool conv_supports(const NodeQuery&, std::string*);
Status conv_record(const OpCall&);
bool softmax_supports(const NodeQuery&, std::string*);
Status softmax_record(const OpCall&);
bool norm_supports(const NodeQuery&, std::string*);
Status norm_record(const OpCall&);
bool pool_supports(const NodeQuery&, std::string*);
Status pool_record(const OpCall&);
bool reduce_supports(const NodeQuery&, std::string*);
Status reduce_record(const OpCall&);
bool data_supports(const NodeQuery&, std::string*);
Status data_record(const OpCall&);
bool gather_supports(const NodeQuery&, std::string*);
Status gather_record(const OpCall&);
bool attention_supports(const NodeQuery&, std::string*);
Status attention_record(const OpCall&);
bool tern_ops_supports(const NodeQuery&, std::string*);
Status tern_ops_record(const OpCall&);
// int8 kernels (the q8 table).
bool q8_linear_supports(const NodeQuery&, std::string*);
Status q8_linear_record(const OpCall&);
bool q8_elementwise_supports(const NodeQuery&, std::string*);
Status q8_elementwise_record(const OpCall&);
bool q8_pool_supports(const NodeQuery&, std::string*);
Status q8_pool_record(const OpCall&);

}  // namespace tern::vk
