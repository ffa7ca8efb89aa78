#include "support/harness.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "backend_registry.h"
#include "cpu/simd/isa.h"

#include "reference/kernel.h"
#include "reference/ops/data_util.h"  // float_to_half / half_to_float

namespace tern::test {

HostTensor random_f32(std::mt19937& rng, Shape s, float lo, float hi) {
  HostTensor h(DType::Float32, s);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < h.numel(); ++i) h.data<float>()[i] = d(rng);
  return h;
}

HostTensor random_i64(std::mt19937& rng, Shape s, int64_t lo, int64_t hi) {
  HostTensor h(DType::Int64, s);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < h.numel(); ++i) h.data<int64_t>()[i] = d(rng);
  return h;
}

int64_t random_dim(std::mt19937& rng, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  int64_t v = d(rng);
  if (v % 2 == 0 && v + 1 <= hi && (rng() & 3) != 0) ++v;  // odd sizes three times out of four
  return v;
}

Status try_run_reference(const NodeSpec& node, std::vector<HostTensor>* outputs) {
  InferredNode inf;
  TERN_RETURN_IF_ERROR(infer_spec(node, [&](size_t) { return node.inputs_constant; }, &inf));
  outputs->clear();
  for (const TensorInfo& oi : inf.outputs) outputs->emplace_back(oi.dtype, oi.shape);
  std::vector<TensorRef> in_refs(node.inputs.size()), out_refs(outputs->size());
  std::vector<const TensorRef*> in_ptrs(node.inputs.size(), nullptr), out_ptrs(outputs->size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i]) {
      in_refs[i] = const_cast<HostTensor*>(node.inputs[i])->ref();
      in_ptrs[i] = &in_refs[i];
    }
  for (size_t i = 0; i < outputs->size(); ++i) {
    out_refs[i] = (*outputs)[i].ref();
    out_ptrs[i] = &out_refs[i];
  }
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = node.op;
  kc.options = &node.options;
  kc.inputs = in_ptrs;
  kc.outputs = out_ptrs;
  return ref::run_node_once(kc);
}

Backend* backend_under_test() {
  static std::unique_ptr<Backend> backend = []() -> std::unique_ptr<Backend> {
    const char* name = std::getenv("TERN_TEST_BACKEND");
    if (!name || !*name || std::strcmp(name, "reference") == 0) return nullptr;
    std::unique_ptr<Backend> b = make_backend(name);
    if (!b || !b->is_available()) {
      std::fprintf(stderr, "TERN_TEST_BACKEND=%s: backend %s\n", name, b ? "not available on this machine" : "not compiled in");
      std::exit(2);
    }
    std::atexit([] {
      const char* name = std::getenv("TERN_TEST_BACKEND");
      std::fprintf(stderr, "[tern] backend under test %s: ran %d nodes, declined %d (reference only)", name,
                   backend_tally().ran, backend_tally().declined);
      // Which micro-kernel variant the CPU backend used (AVX-512, AVX2, NEON or scalar).
      if (std::strcmp(name, "cpu") == 0)
        std::fprintf(stderr, "; CPU kernels %s (%s)", cpu::simd::active_isa_name(), cpu::simd::kernels().gemm_name);
      std::fprintf(stderr, "\n");
    });
    return b;
  }();
  return backend.get();
}

BackendTally& backend_tally() {
  static BackendTally t;
  return t;
}

bool vulkan_fp16_under_test() {
  static const bool on = [] {
    const char* v = std::getenv("TERN_VK_FP16");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

namespace {
bool fp16_storage_for(const Backend& backend) { return vulkan_fp16_under_test() && std::strcmp(backend.name(), "vulkan") == 0; }
}  // namespace

Tolerance backend_tolerance(const Backend& backend, OpType op, DType dtype) {
  Tolerance t;
  if (dtype == DType::Float16 || fp16_storage_for(backend)) t.rtol = t.atol_rel_max = 1e-2;
  // Ops whose outputs amplify rounding of their inputs' float sums (x/sqrt(var) with a tiny
  // variance, exp of large logits) get one more decade.
  switch (op) {
    case OpType::LayerNormalization:
    case OpType::GroupNormalization:
    case OpType::InstanceNormalization:
    case OpType::RMSNormalization:
    case OpType::BatchNormalization:
    case OpType::Pow:
      t.rtol *= 10;
      t.atol_rel_max *= 10;
      break;
    default: break;
  }
  return t;
}

namespace {

bool default_constant(OpType op, size_t input) {
  if (input == 0) return false;
  switch (op) {
    case OpType::Conv:
    case OpType::ConvTranspose:
    case OpType::Gemm:
    case OpType::BatchNormalization:
    case OpType::LayerNormalization:
    case OpType::GroupNormalization:
    case OpType::InstanceNormalization:
    case OpType::RMSNormalization:
    case OpType::PRelu: return true;
    case OpType::MatMul: return input == 2;  // the fused bias
    default: return false;
  }
}

}  // namespace

Status try_run_on_backend(const NodeSpec& node, Backend& backend, std::vector<HostTensor>* outputs) {
  // Shapes from the op table, exactly as the compiler would record them.
  std::vector<bool> constant(node.inputs.size(), false);
  for (size_t i = 0; i < node.inputs.size(); ++i)
    constant[i] = i < node.constant_inputs.size() ? node.constant_inputs[i] : default_constant(node.op, i);
  InferredNode inf;
  TERN_RETURN_IF_ERROR(infer_spec(node, [&](size_t i) { return node.inputs_constant || constant[i]; }, &inf));
  std::vector<const TensorInfo*> out_ptrs;
  for (const TensorInfo& oi : inf.outputs) out_ptrs.push_back(&oi);

  NodeQuery q;
  q.op = node.op;
  q.options = &node.options;
  q.inputs = inf.input_ptrs;
  q.outputs = out_ptrs;
  q.fp16_storage = fp16_storage_for(backend);
  std::string why;
  if (!backend.supports(q, &why)) return make_status(StatusCode::kUnsupported, "%s declines the node: %s", backend.name(), why.c_str());

  outputs->clear();
  for (const TensorInfo& oi : inf.outputs) outputs->emplace_back(oi.dtype, oi.shape);
  // Tensors: inputs first, then outputs. Constant inputs point at the caller's data, as a
  // mapped plan's weights would; the rest are copied into "arena" buffers of their own.
  std::vector<HostTensor> arena_inputs(node.inputs.size());
  std::vector<TensorRef> tensors;
  std::vector<uint8_t> is_constant;
  std::vector<int32_t> in_idx, out_idx, sub_inputs, sub_outputs;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.inputs[i]) {
      in_idx.push_back(-1);
      continue;
    }
    in_idx.push_back(static_cast<int32_t>(tensors.size()));
    if (constant[i]) {
      tensors.push_back(const_cast<HostTensor*>(node.inputs[i])->ref());
      is_constant.push_back(1);
    } else {
      arena_inputs[i] = *node.inputs[i];
      sub_inputs.push_back(static_cast<int32_t>(tensors.size()));
      tensors.push_back(arena_inputs[i].ref());
      is_constant.push_back(0);
    }
  }
  for (HostTensor& o : *outputs) {
    out_idx.push_back(static_cast<int32_t>(tensors.size()));
    sub_outputs.push_back(static_cast<int32_t>(tensors.size()));
    tensors.push_back(o.ref());
    is_constant.push_back(0);
  }
  NodeView view;
  view.name = "test";
  view.op = node.op;
  view.options = &node.options;
  view.inputs = in_idx;
  view.outputs = out_idx;
  Subgraph g;
  g.nodes = std::span<const NodeView>(&view, 1);
  g.tensors = tensors;
  g.is_constant = is_constant;
  g.inputs = sub_inputs;
  g.outputs = sub_outputs;
  BackendOptions opts;
  opts.fp16_storage = fp16_storage_for(backend);
  TERN_ASSIGN_OR_RETURN(std::unique_ptr<Executable> exe, backend.prepare(g, opts));
  // Twice: a second run must give the same result (no state left behind by the first).
  TERN_RETURN_IF_ERROR(exe->execute());
  std::vector<HostTensor> first = *outputs;
  TERN_RETURN_IF_ERROR(exe->execute());
  for (size_t k = 0; k < outputs->size(); ++k)
    if (first[k].bytes != (*outputs)[k].bytes)
      return make_status(StatusCode::kInternal, "%s gives a different output %zu on its second run", backend.name(), k);
  return Status::ok();
}

std::vector<HostTensor> run_reference(const NodeSpec& node) {
  std::vector<HostTensor> out;
  Status s = try_run_reference(node, &out);
  if (!s.is_ok()) {
    FAIL_CHECK(s.message());
    return {};
  }
  if (Backend* b = backend_under_test()) {
    // fp16 storage: both sides see the inputs rounded to float16 (`ref_out` is the reference on them).
    std::vector<HostTensor> rounded, ref_out;
    NodeSpec rounded_node = node;
    const std::vector<HostTensor>* want = &out;
    if (fp16_storage_for(*b)) {
      rounded.reserve(node.inputs.size());
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (!node.inputs[i]) continue;
        rounded.push_back(*node.inputs[i]);
        if (rounded.back().dtype == DType::Float32)
          for (int64_t k = 0; k < rounded.back().numel(); ++k)
            rounded.back().data<float>()[k] = ref::half_to_float(ref::float_to_half(rounded.back().f(k)));
        rounded_node.inputs[i] = &rounded.back();
      }
      Status rs = try_run_reference(rounded_node, &ref_out);
      if (!rs.is_ok()) {
        FAIL_CHECK("reference on float16-rounded inputs: " << rs.message());
        return out;
      }
      // What fp16 storage of the outputs gives: the reference's values rounded to float16 (past
      // 65504 that is inf, below 2^-25 zero), so the kernels are held to that, not to float32's range.
      for (HostTensor& o : ref_out)
        if (o.dtype == DType::Float32)
          for (int64_t k = 0; k < o.numel(); ++k) o.data<float>()[k] = ref::half_to_float(ref::float_to_half(o.f(k)));
      want = &ref_out;
    }
    std::vector<HostTensor> got;
    Status bs = try_run_on_backend(rounded_node, *b, &got);
    if (bs.code() == StatusCode::kUnsupported) {
      ++backend_tally().declined;
    } else if (!bs.is_ok()) {
      FAIL_CHECK(b->name() << " failed on " << ops::op_name(node.op) << ": " << bs.message());
    } else {
      ++backend_tally().ran;
      REQUIRE(got.size() == want->size());
      for (size_t k = 0; k < want->size(); ++k) {
        const HostTensor& w = (*want)[k];
        std::string what = std::string(b->name()) + (want == &out ? "" : " (fp16 storage)") + " vs reference, " +
                           ops::op_name(node.op) + " output " + std::to_string(k);
        for (const HostTensor* in : node.inputs)
          what += in ? " " + in->shape.str() : " -";
        if (w.dtype == DType::Float32 || w.dtype == DType::Float16) {
          Tolerance t = backend_tolerance(*b, node.op, w.dtype);
          double mx = 0;
          for (int64_t i = 0; i < w.numel(); ++i)
            if (w.dtype == DType::Float32 && std::isfinite(w.f(i))) mx = std::max(mx, std::fabs(static_cast<double>(w.f(i))));
          check_close(got[k], w, t.rtol, t.atol_rel_max * mx, what);
        } else {
          check_equal(got[k], w, what);
        }
      }
    }
  }
  return out;
}

namespace {

double element(const HostTensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::Float32: return t.data<float>()[i];
    case DType::Int32: return t.data<int32_t>()[i];
    case DType::Int64: return static_cast<double>(t.data<int64_t>()[i]);
    case DType::Int8: return t.data<int8_t>()[i];
    case DType::UInt8: return t.data<uint8_t>()[i];
    case DType::Bool: return t.data<uint8_t>()[i];
    case DType::Int16: return t.data<int16_t>()[i];
    default: return 0;
  }
}

}  // namespace

void check_close(const HostTensor& got, const HostTensor& want, double rtol, double atol, const std::string& what) {
  INFO(what);
  REQUIRE_MESSAGE(got.dtype == want.dtype, "dtype ", dtype_name(got.dtype), " vs expected ", dtype_name(want.dtype));
  REQUIRE_MESSAGE(got.shape == want.shape, "shape ", got.shape.str(), " vs expected ", want.shape.str());
  int64_t worst = -1, bad = 0;
  double worst_excess = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = element(got, i), w = element(want, i);
    bool both_nan = std::isnan(g) && std::isnan(w);
    double tol = atol + rtol * std::fabs(w);
    double excess = std::fabs(g - w) - tol;
    if (!both_nan && (excess > 0 || std::isnan(g) != std::isnan(w) || std::isinf(g) != std::isinf(w))) {
      ++bad;
      if (worst < 0 || excess > worst_excess || std::isnan(excess)) {
        worst = i;
        worst_excess = std::isnan(excess) ? INFINITY : excess;
      }
    }
  }
  if (bad) {
    FAIL_CHECK(bad, " of ", got.numel(), " elements differ (shape ", got.shape.str(), "); worst at flat index ", worst,
               ": got ", element(got, worst), ", expected ", element(want, worst), " (rtol ", rtol, ", atol ", atol, ")");
  }
}

void check_equal(const HostTensor& got, const HostTensor& want, const std::string& what) {
  check_close(got, want, 0, 0, what);
}

}  // namespace tern::test
