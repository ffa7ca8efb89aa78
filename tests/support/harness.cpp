#include "support/harness.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "reference/kernel.h"

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
  std::vector<TensorInfo> infos(node.inputs.size());
  std::vector<const TensorInfo*> info_ptrs(node.inputs.size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i]) {
      infos[i] = node.inputs[i]->info(node.inputs_constant);
      info_ptrs[i] = &infos[i];
    }
  std::vector<TensorInfo> out_infos(static_cast<size_t>(node.num_outputs));
  ops::InferContext ic;
  ic.node_name = "test";
  ic.op = node.op;
  ic.options = &node.options;
  ic.inputs = info_ptrs;
  ic.outputs = out_infos;
  TERN_RETURN_IF_ERROR(ops::infer_node(ic));
  outputs->clear();
  for (const TensorInfo& oi : out_infos) outputs->emplace_back(oi.dtype, oi.shape);
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

std::vector<HostTensor> run_reference(const NodeSpec& node) {
  std::vector<HostTensor> out;
  Status s = try_run_reference(node, &out);
  if (!s.is_ok()) {
    FAIL_CHECK(s.message());
    return {};
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
