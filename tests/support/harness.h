// Test support: host tensors, one-node execution through shape inference + a reference kernel,
// and closeness checks whose failure messages name the op, shapes and worst element.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "core/tensor.h"
#include "ops/op_defs.h"

namespace tern::test {

struct HostTensor {
  DType dtype = DType::Float32;
  Shape shape;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  HostTensor(DType t, Shape s) : dtype(t), shape(s), bytes(static_cast<size_t>(s.numel()) * dtype_size(t)) {}

  template <typename T> T* data() { return reinterpret_cast<T*>(bytes.data()); }
  template <typename T> const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }
  int64_t numel() const { return shape.numel(); }
  TensorRef ref() { return TensorRef{dtype, shape, bytes.data(), nullptr}; }
  TensorInfo info(bool as_constant = false) const { return {dtype, shape, as_constant ? bytes.data() : nullptr}; }
  float f(int64_t i) const { return data<float>()[i]; }

  template <typename T>
  static HostTensor of(DType t, Shape s, const std::vector<T>& values) {
    HostTensor h(t, s);
    for (size_t i = 0; i < values.size() && i < static_cast<size_t>(s.numel()); ++i) h.data<T>()[i] = values[i];
    return h;
  }
  static HostTensor f32(Shape s, const std::vector<float>& v) { return of<float>(DType::Float32, s, v); }
  static HostTensor i64(Shape s, const std::vector<int64_t>& v) { return of<int64_t>(DType::Int64, s, v); }
};

// Deterministic random data (seeded per test).
HostTensor random_f32(std::mt19937& rng, Shape s, float lo = -1.f, float hi = 1.f);
HostTensor random_i64(std::mt19937& rng, Shape s, int64_t lo, int64_t hi);
// A random dimension in [lo, hi], favouring odd sizes.
int64_t random_dim(std::mt19937& rng, int64_t lo, int64_t hi);

// A node to run: op, options (may be empty), inputs (nullptr = absent).
struct NodeSpec {
  OpType op;
  fb::NodeOptionsUnion options;
  std::vector<const HostTensor*> inputs;
  int num_outputs = 1;
  bool inputs_constant = false;  // expose input data to shape inference (Range needs it)
  // Inputs that are constants (weights) when the node runs on a backend under test; empty = the
  // usual convention of the op (Conv/ConvTranspose/Gemm: every input after the first; the
  // normalizations: every input after the first; the rest: none).
  std::vector<bool> constant_inputs;
};

// Shape inference of a NodeSpec through the op table, as the compiler records it. Input i's data
// is visible to inference when `expose_data(i)` holds. `input_ptrs` points into `inputs` (null for
// absent inputs): fill the struct in place and do not copy it.
struct InferredNode {
  std::vector<TensorInfo> inputs;
  std::vector<const TensorInfo*> input_ptrs;
  std::vector<TensorInfo> outputs;
};
template <typename F>
Status infer_spec(const NodeSpec& node, F expose_data, InferredNode* r) {
  r->inputs.assign(node.inputs.size(), TensorInfo{});
  r->input_ptrs.assign(node.inputs.size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i]) {
      r->inputs[i] = node.inputs[i]->info(expose_data(i));
      r->input_ptrs[i] = &r->inputs[i];
    }
  r->outputs.assign(static_cast<size_t>(node.num_outputs), TensorInfo{});
  ops::InferContext ic;
  ic.node_name = "test";
  ic.op = node.op;
  ic.options = &node.options;
  ic.inputs = r->input_ptrs;
  ic.outputs = r->outputs;
  return ops::infer_node(ic);
}

// Runs shape inference and the reference kernel. Fails the current test (with the inference or
// kernel message) and returns an empty vector on error.
//
// One op suite for every backend: when the environment names a backend under test
// (TERN_TEST_BACKEND=cpu|vulkan, set by CTest for the second and third registration of the same
// test binary), run_reference also runs the node on that backend and CHECKs its outputs against
// the reference's within the tolerance of `backend_tolerance`. The reference result is returned
// either way, so every hand-written expectation of the suite still applies to the reference.
std::vector<HostTensor> run_reference(const NodeSpec& node);
// Same, but returns the status instead of failing (for tests of error paths).
Status try_run_reference(const NodeSpec& node, std::vector<HostTensor>* outputs);

// The backend under test (from TERN_TEST_BACKEND), or nullptr for reference-only runs. Aborts the
// test binary with a message if the named backend is not compiled in or not available.
Backend* backend_under_test();
// Runs one node on `backend` as a one-node partition (inputs marked constant in
// `NodeSpec::constant_inputs` are handed over as constants, as weights are in a plan). Returns
// kUnsupported with the backend's reason if its `supports` declines the node.
Status try_run_on_backend(const NodeSpec& node, Backend& backend, std::vector<HostTensor>* outputs);
// Whether the Vulkan backend under test runs with fp16 storage (TERN_VK_FP16=1, set by
// `--tern-vk-fp16`; CTest's `vulkan-fp16/` registration): try_run_on_backend then prepares the
// node as an fp16-storage partition, and run_reference compares it with the reference run on
// the same inputs rounded to float16 (the kernels' storage error is what is measured, not the
// rounding of the test's inputs), within the fp16 tolerance.
bool vulkan_fp16_under_test();
// Tolerance of a backend against the reference for one op: fp32 rtol 1e-4 (relative to the
// largest reference magnitude), fp16 (outputs, or fp16 storage) 1e-2; exact for integer outputs.
struct Tolerance {
  double rtol = 1e-4;
  double atol_rel_max = 1e-4;  // atol = this * max |reference|
};
Tolerance backend_tolerance(const Backend& backend, OpType op, DType dtype);
// How many nodes the backend under test ran / declined in this process (printed at exit).
struct BackendTally {
  int ran = 0, declined = 0;
};
BackendTally& backend_tally();

// CHECKs that `got` matches `want`: same dtype and shape, and every element within
// atol + rtol * |want|. On failure prints `what`, the shapes, the worst index and both values.
void check_close(const HostTensor& got, const HostTensor& want, double rtol, double atol, const std::string& what);
// Exact equality (integers, bools, data movement).
void check_equal(const HostTensor& got, const HostTensor& want, const std::string& what);

// Helpers to build options unions.
template <typename T>
fb::NodeOptionsUnion make_options(T value) {
  fb::NodeOptionsUnion u;
  u.Set(std::move(value));
  return u;
}

// Conv options: per spatial dim kernel / strides / dilations, pads (all begins, then all ends),
// groups and a fused activation.
inline fb::NodeOptionsUnion conv_options(std::vector<int32_t> k, std::vector<int32_t> s, std::vector<int32_t> d,
                                         std::vector<int32_t> p, int group, fb::Activation a = fb::Activation::None,
                                         float amin = 0, float amax = 0) {
  fb::ConvOptionsT o;
  o.kernel_shape = std::move(k);
  o.strides = std::move(s);
  o.dilations = std::move(d);
  o.pads = std::move(p);
  o.group = group;
  o.activation = a;
  o.activation_min = amin;
  o.activation_max = amax;
  return make_options(std::move(o));
}

}  // namespace tern::test
