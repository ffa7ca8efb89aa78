// Reference kernels of the custom ops tern.SelectiveScan, tern.LMU and tern.LIF:
//  * golden vectors written by the spec itself (tests/data/tern_ops/make_vectors.py runs
//    shared/spec/tern_ops.py), every optional input present and absent;
//  * properties on random odd shapes: a scan split in two chunks carrying its state equals the
//    whole scan, outputs the graph does not use may be absent, LIF spikes are exactly 0/1, LMU with
//    A = I and B = 1 is a cumulative sum, SelectiveScan agrees with a float64 loop;
//  * shape errors caught by inference, naming the input at fault.
// Kernels run with poisoned scratch (NaN bytes) and unused outputs pre-filled with NaN, with a guard
// after the scratch they declared, so a kernel that reads uninitialised scratch, skips an output
// element or writes past its scratch fails here. (No semicolons in test names: CTest splits them.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>

#include "npy.h"
#include "reference/kernel.h"
#include "support/harness.h"

namespace tern::test {

namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-5, kAtol = 1e-6;

// ------------------------------------------------------------------ running a node

// Runs inference and the reference kernel with only the outputs in `want` bound (the others are
// nullptr in the kernel's context, as for a graph that does not use them). Scratch is allocated
// here, exactly as declared, filled with NaN bytes and followed by a guard that must stay intact.
std::vector<HostTensor> run_masked(const NodeSpec& node, std::vector<bool> want) {
  InferredNode inf;
  Status st = infer_spec(node, [](size_t) { return false; }, &inf);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  const std::vector<TensorInfo>& out_infos = inf.outputs;

  want.resize(out_infos.size(), false);
  std::vector<HostTensor> outs;
  for (const TensorInfo& oi : out_infos) {
    outs.emplace_back(oi.dtype, oi.shape);
    std::fill(outs.back().data<float>(), outs.back().data<float>() + outs.back().numel(), NAN);
  }
  std::vector<TensorRef> in_refs(node.inputs.size()), out_refs(outs.size());
  std::vector<const TensorRef*> in_ptrs(node.inputs.size(), nullptr), out_ptrs(outs.size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i]) {
      in_refs[i] = const_cast<HostTensor*>(node.inputs[i])->ref();
      in_ptrs[i] = &in_refs[i];
    }
  for (size_t i = 0; i < outs.size(); ++i) {
    out_refs[i] = outs[i].ref();
    if (want[i]) out_ptrs[i] = &out_refs[i];
  }
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = node.op;
  kc.options = &node.options;
  kc.inputs = in_ptrs;
  kc.outputs = out_ptrs;
  ref::KernelEntry k = ref::kernel_for(node.op);
  const bool has_kernel = k.run != nullptr;
  REQUIRE_MESSAGE(has_kernel, "no reference kernel");
  size_t bytes = k.scratch ? k.scratch(kc) : 0;
  constexpr size_t kGuard = 256;
  size_t alloc = (bytes + kGuard + 63) / 64 * 64;
  std::unique_ptr<uint8_t, decltype(&std::free)> mem(static_cast<uint8_t*>(std::aligned_alloc(64, alloc)), &std::free);
  REQUIRE(mem);
  std::memset(mem.get(), 0xFF, alloc);  // every float a NaN
  kc.scratch = bytes ? mem.get() : nullptr;
  st = k.run(kc);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  const bool guard_intact = std::all_of(mem.get() + bytes, mem.get() + alloc, [](uint8_t v) { return v == 0xFF; });
  REQUIRE_MESSAGE(guard_intact, ops::op_name(node.op), " wrote past its ", bytes, " bytes of scratch");
  for (size_t i = 0; i < outs.size(); ++i)
    if (!want[i]) outs[i] = HostTensor();
  return outs;
}

std::vector<HostTensor> run_all(const NodeSpec& node) {
  return run_masked(node, std::vector<bool>(static_cast<size_t>(node.num_outputs), true));
}

// ------------------------------------------------------------------ tensor helpers

HostTensor slice_axis(const HostTensor& t, int axis, int64_t begin, int64_t end) {
  Shape s = t.shape;
  s[axis] = end - begin;
  HostTensor r(t.dtype, s);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= t.shape[i];
  for (int i = axis + 1; i < t.shape.rank; ++i) inner *= t.shape[i];
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(r.data<float>() + o * s[axis] * inner, t.data<float>() + (o * t.shape[axis] + begin) * inner,
                static_cast<size_t>((end - begin) * inner) * sizeof(float));
  return r;
}

HostTensor concat_axis(const HostTensor& a, const HostTensor& b, int axis) {
  Shape s = a.shape;
  s[axis] = a.shape[axis] + b.shape[axis];
  HostTensor r(a.dtype, s);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= a.shape[i];
  for (int i = axis + 1; i < a.shape.rank; ++i) inner *= a.shape[i];
  int64_t na = a.shape[axis] * inner, nb = b.shape[axis] * inner;
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(r.data<float>() + o * (na + nb), a.data<float>() + o * na, static_cast<size_t>(na) * sizeof(float));
    std::memcpy(r.data<float>() + o * (na + nb) + na, b.data<float>() + o * nb, static_cast<size_t>(nb) * sizeof(float));
  }
  return r;
}

HostTensor filled(Shape s, float v) {
  HostTensor h(DType::Float32, s);
  std::fill(h.data<float>(), h.data<float>() + h.numel(), v);
  return h;
}

// ------------------------------------------------------------------ golden vectors

fs::path data_dir() {
  if (const char* env = std::getenv("TERN_OPS_GOLDEN_DIR")) return env;
  return (fs::path(TERN_TEST_DATA_DIR) / "tern_ops").lexically_normal();
}

struct Golden {
  std::string name;
  std::map<std::string, HostTensor> files;

  const HostTensor* get(const std::string& key) const {
    auto it = files.find(key);
    return it == files.end() ? nullptr : &it->second;
  }
  const HostTensor& need(const std::string& key) const {
    const HostTensor* t = get(key);
    REQUIRE_MESSAGE(t, "golden case ", name, " has no ", key, ".npy");
    return *t;
  }
  int64_t attr_int(const std::string& key) const {
    const HostTensor& t = need("attr_" + key);
    REQUIRE((t.dtype == DType::Int64 && t.numel() == 1));
    return t.data<int64_t>()[0];
  }
  // Every file of the case is one the test reads (a misnamed input would otherwise go unused).
  void only(std::initializer_list<const char*> keys) const {
    for (const auto& [key, t] : files) {
      bool known = false;
      for (const char* k : keys) known = known || key == k;
      CHECK_MESSAGE(known, "golden case ", name, " has ", key, ".npy, which the test does not read");
    }
  }
  float attr_float(const std::string& key) const {
    const HostTensor& t = need("attr_" + key);
    REQUIRE((t.dtype == DType::Float32 && t.numel() == 1));
    return t.f(0);
  }
};

Golden load_golden(const std::string& name) {
  Golden g;
  g.name = name;
  fs::path dir = data_dir() / name;
  REQUIRE_MESSAGE(fs::is_directory(dir), "missing golden case ", dir.string(),
                  " (regenerate with /usr/bin/python3 tests/data/tern_ops/make_vectors.py)");
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".npy") continue;
    auto arr = npy::load(e.path().string());
    REQUIRE_MESSAGE(arr.is_ok(), arr.status().message());
    HostTensor t(arr->dtype, Shape::from(arr->shape));
    REQUIRE(t.bytes.size() == arr->data.size());
    std::memcpy(t.bytes.data(), arr->data.data(), t.bytes.size());
    g.files.emplace(e.path().stem().string(), std::move(t));
  }
  REQUIRE_MESSAGE(!g.files.empty(), "golden case ", name, " is empty");
  return g;
}

// The cases make_vectors.py writes; a folder not listed here would go untested, so that is checked.
const char* const kSelectiveScanCases[] = {
    "selective_scan_plain",
    "selective_scan_all_optional",
    "selective_scan_no_softplus_D_h0",
    "selective_scan_gate_bias_large_delta",
    "selective_scan_no_softplus_z_bias",
    "selective_scan_wide",
};
const char* const kLmuCases[] = {"lmu_plain", "lmu_m0", "lmu_random_A_m0", "lmu_long_no_mT"};
const char* const kLifCases[] = {
    "lif_default",
    "lif_soft_v0",
    "lif_time_axis0_hard_v0",
    "lif_time_axis_last_soft",
    "lif_time_axis2_rank4_v0",
    "lif_rank2_time_axis0_soft_v0",
};

// Checks one golden case's outputs; the second output is requested only where the case has it.
void check_golden(const Golden& g, NodeSpec node, const char* out0, const char* out1, bool exact0) {
  node.num_outputs = g.get(out1) ? 2 : 1;
  auto outs = run_all(node);
  REQUIRE(outs.size() == static_cast<size_t>(node.num_outputs));
  std::string what = g.name + ": ";
  if (exact0) check_equal(outs[0], g.need(out0), what + out0);
  else check_close(outs[0], g.need(out0), kRtol, kAtol, what + out0);
  if (node.num_outputs == 2) check_close(outs[1], g.need(out1), kRtol, kAtol, what + out1);
}

}  // namespace

TEST_CASE("tern ops: every golden case folder is listed") {
  REQUIRE_MESSAGE(fs::is_directory(data_dir()), "no golden data at ", data_dir().string());
  std::vector<std::string> listed;
  for (std::span<const char* const> list : {std::span<const char* const>(kSelectiveScanCases), std::span<const char* const>(kLmuCases),
                     std::span<const char* const>(kLifCases)})
    for (const char* n : list) listed.push_back(n);
  int folders = 0;
  for (const auto& e : fs::directory_iterator(data_dir())) {
    if (!e.is_directory()) continue;
    ++folders;
    std::string n = e.path().filename().string();
    CHECK_MESSAGE(std::find(listed.begin(), listed.end(), n) != listed.end(), "golden case ", n,
                  " is not listed in test_tern_ops.cpp");
  }
  CHECK(folders == static_cast<int>(listed.size()));
}

TEST_CASE("SelectiveScan: golden vectors from the spec") {
  for (const char* name : kSelectiveScanCases) {
    const std::string case_name = name;
    CAPTURE(case_name);
    Golden g = load_golden(name);
    g.only({"u", "delta", "A", "B", "C", "D", "z", "delta_bias", "h0", "attr_delta_softplus", "y", "hT"});
    fb::SelectiveScanOptionsT o;
    o.delta_softplus = g.attr_int("delta_softplus") != 0;
    NodeSpec node{OpType::SelectiveScan, make_options(o),
                  {&g.need("u"), &g.need("delta"), &g.need("A"), &g.need("B"), &g.need("C"), g.get("D"), g.get("z"),
                   g.get("delta_bias"), g.get("h0")}};
    check_golden(g, std::move(node), "y", "hT", false);
  }
}

TEST_CASE("LMU: golden vectors from the spec") {
  for (const char* name : kLmuCases) {
    const std::string case_name = name;
    CAPTURE(case_name);
    Golden g = load_golden(name);
    g.only({"u", "A", "B", "m0", "m", "mT"});
    NodeSpec node{OpType::LMU, {}, {&g.need("u"), &g.need("A"), &g.need("B"), g.get("m0")}};
    check_golden(g, std::move(node), "m", "mT", false);
  }
}

TEST_CASE("LIF: golden vectors from the spec (spikes exactly)") {
  for (const char* name : kLifCases) {
    const std::string case_name = name;
    CAPTURE(case_name);
    Golden g = load_golden(name);
    g.only({"x", "v0", "attr_tau", "attr_v_threshold", "attr_v_reset", "attr_soft_reset", "attr_time_axis", "s", "vT"});
    fb::LIFOptionsT o;
    o.tau = g.attr_float("tau");
    o.v_threshold = g.attr_float("v_threshold");
    o.v_reset = g.attr_float("v_reset");
    o.soft_reset = g.attr_int("soft_reset") != 0;
    o.time_axis = static_cast<int32_t>(g.attr_int("time_axis"));
    NodeSpec node{OpType::LIF, make_options(o), {&g.need("x"), g.get("v0")}};
    check_golden(g, std::move(node), "s", "vT", true);
  }
}

// ------------------------------------------------------------------ SelectiveScan properties

namespace {

struct ScanData {
  HostTensor u, delta, A, B, C, D, z, bias, h0;
  bool has_D, has_z, has_bias, has_h0, softplus;

  NodeSpec node(int num_outputs, const HostTensor* h0_override = nullptr) const {
    fb::SelectiveScanOptionsT o;
    o.delta_softplus = softplus;
    const HostTensor* h = h0_override ? h0_override : (has_h0 ? &h0 : nullptr);
    return NodeSpec{OpType::SelectiveScan, make_options(o),
                    {&u, &delta, &A, &B, &C, has_D ? &D : nullptr, has_z ? &z : nullptr, has_bias ? &bias : nullptr, h},
                    num_outputs};
  }
  std::string str() const {
    return "u " + u.shape.str() + " A " + A.shape.str() + (has_D ? " D" : "") + (has_z ? " z" : "") +
           (has_bias ? " delta_bias" : "") + (has_h0 ? " h0" : "") + " delta_softplus " + (softplus ? "1" : "0");
  }
};

ScanData random_scan(std::mt19937& rng, int64_t b, int64_t L, int64_t d, int64_t n) {
  ScanData s;
  s.softplus = rng() % 2;
  s.has_D = rng() % 2, s.has_z = rng() % 2, s.has_bias = rng() % 2, s.has_h0 = rng() % 2;
  s.u = random_f32(rng, {b, L, d});
  // without softplus delta is the step itself: keep it positive, as the exporters do
  s.delta = s.softplus ? random_f32(rng, {b, L, d}, -2.f, 2.f) : random_f32(rng, {b, L, d}, 0.01f, 0.5f);
  s.A = random_f32(rng, {d, n}, -2.f, -0.1f);
  s.B = random_f32(rng, {b, L, n});
  s.C = random_f32(rng, {b, L, n});
  s.D = random_f32(rng, {d});
  s.z = random_f32(rng, {b, L, d}, -3.f, 3.f);
  s.bias = s.softplus ? random_f32(rng, {d}, -0.5f, 0.5f) : random_f32(rng, {d}, 0.f, 0.1f);
  s.h0 = random_f32(rng, {b, d, n});
  return s;
}

// The S6 recurrence written out in float64, index by index.
std::pair<HostTensor, HostTensor> naive_scan(const ScanData& s) {
  int64_t nb = s.u.shape[0], L = s.u.shape[1], d = s.u.shape[2], n = s.A.shape[1];
  HostTensor y(DType::Float32, s.u.shape), hT(DType::Float32, {nb, d, n});
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t c = 0; c < d; ++c) {
      std::vector<double> h(static_cast<size_t>(n), 0.0);
      if (s.has_h0)
        for (int64_t k = 0; k < n; ++k) h[static_cast<size_t>(k)] = s.h0.f((b * d + c) * n + k);
      for (int64_t t = 0; t < L; ++t) {
        int64_t i = (b * L + t) * d + c;
        double dt = s.delta.f(i) + (s.has_bias ? s.bias.f(c) : 0.0);
        if (s.softplus) dt = dt > 20 ? dt : std::log1p(std::exp(dt));
        double acc = 0;
        for (int64_t k = 0; k < n; ++k) {
          double& hk = h[static_cast<size_t>(k)];
          hk = std::exp(dt * s.A.f(c * n + k)) * hk + dt * s.B.f((b * L + t) * n + k) * s.u.f(i);
          acc += hk * s.C.f((b * L + t) * n + k);
        }
        if (s.has_D) acc += s.u.f(i) * s.D.f(c);
        if (s.has_z) acc *= s.z.f(i) / (1.0 + std::exp(-static_cast<double>(s.z.f(i))));
        y.data<float>()[i] = static_cast<float>(acc);
      }
      for (int64_t k = 0; k < n; ++k) hT.data<float>()[(b * d + c) * n + k] = static_cast<float>(h[static_cast<size_t>(k)]);
    }
  return {std::move(y), std::move(hT)};
}

}  // namespace

TEST_CASE("SelectiveScan: random odd shapes against a float64 loop") {
  std::mt19937 rng(31);
  for (int trial = 0; trial < 30; ++trial) {
    ScanData s = random_scan(rng, random_dim(rng, 1, 3), random_dim(rng, 1, 12), random_dim(rng, 1, 9),
                             random_dim(rng, 1, 9));
    auto outs = run_all(s.node(2));
    REQUIRE(outs.size() == 2);
    auto [y, hT] = naive_scan(s);
    check_close(outs[0], y, 1e-4, 1e-5, "y, " + s.str());
    check_close(outs[1], hT, 1e-4, 1e-5, "hT, " + s.str());
  }
}

TEST_CASE("SelectiveScan: two chunks carrying hT -> h0 equal the whole scan, and unused outputs may be absent") {
  std::mt19937 rng(32);
  for (int trial = 0; trial < 30; ++trial) {
    int64_t b = random_dim(rng, 1, 3), L = random_dim(rng, 2, 13), d = random_dim(rng, 1, 9), n = random_dim(rng, 1, 9);
    ScanData s = random_scan(rng, b, L, d, n);
    std::string what = s.str();
    CAPTURE(what);
    auto whole = run_all(s.node(2));
    REQUIRE(whole.size() == 2);

    int64_t k = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(L - 1));
    auto chunk = [&](int64_t lo, int64_t hi) {
      ScanData c = s;
      for (auto [dst, src] : {std::pair{&c.u, &s.u}, std::pair{&c.delta, &s.delta}, std::pair{&c.B, &s.B},
                              std::pair{&c.C, &s.C}, std::pair{&c.z, &s.z}})
        *dst = slice_axis(*src, 1, lo, hi);
      return c;
    };
    ScanData first = chunk(0, k), second = chunk(k, L);
    auto a = run_all(first.node(2));
    REQUIRE(a.size() == 2);
    auto c = run_all(second.node(2, &a[1]));
    REQUIRE(c.size() == 2);
    check_close(concat_axis(a[0], c[0], 1), whole[0], 1e-6, 1e-6, "chunked y, split at " + std::to_string(k));
    check_close(c[1], whole[1], 1e-6, 1e-6, "chunked hT, split at " + std::to_string(k));

    auto y_only = run_masked(s.node(2), {true, false});
    check_equal(y_only[0], whole[0], "y with hT absent");
    auto y_single = run_masked(s.node(1), {true});
    check_equal(y_single[0], whole[0], "y as the only output");
    auto h_only = run_masked(s.node(2), {false, true});
    check_equal(h_only[1], whole[1], "hT with y absent");
  }
}

// Longer than one Vulkan dispatch walks (selective_scan.comp splits time into chunks within
// lavapipe's loop limit: 2001 steps at n = 16 take two, at n = 64 five): through run_reference, so
// each backend under test is compared with the reference too.
TEST_CASE("SelectiveScan: long scans on every backend") {
  std::mt19937 rng(33);
  for (int64_t n : {16, 64}) {
    ScanData s = random_scan(rng, 1, 2001, 2, n);
    CAPTURE(s.str());
    auto outs = run_reference(s.node(2));
    REQUIRE(outs.size() == 2);
    auto [y, hT] = naive_scan(s);
    check_close(outs[0], y, 1e-4, 1e-5, "y, " + s.str());
    check_close(outs[1], hT, 1e-4, 1e-5, "hT, " + s.str());
  }
}

// ------------------------------------------------------------------ LMU properties

TEST_CASE("LMU: A = I and B = 1 give running sums of u on top of m0") {
  std::mt19937 rng(41);
  for (int trial = 0; trial < 20; ++trial) {
    int64_t b = random_dim(rng, 1, 3), L = random_dim(rng, 1, 15), ch = random_dim(rng, 1, 7), n = random_dim(rng, 1, 9);
    HostTensor u = random_f32(rng, {b, L, ch});
    HostTensor A = filled({n, n}, 0.f), B = filled({n}, 1.f);
    for (int64_t i = 0; i < n; ++i) A.data<float>()[i * n + i] = 1.f;
    bool with_m0 = rng() % 2;
    HostTensor m0 = with_m0 ? random_f32(rng, {b, ch, n}) : filled({b, ch, n}, 0.f);
    NodeSpec node{OpType::LMU, {}, {&u, &A, &B, with_m0 ? &m0 : nullptr}, 2};
    auto outs = run_all(node);
    REQUIRE(outs.size() == 2);
    HostTensor want(DType::Float32, {b, L, ch, n});
    HostTensor want_t(DType::Float32, {b, ch, n});
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t c = 0; c < ch; ++c)
        for (int64_t i = 0; i < n; ++i) {
          float acc = m0.f((bi * ch + c) * n + i);  // float, in order: exactly what the scan adds up
          for (int64_t t = 0; t < L; ++t) {
            acc += u.f((bi * L + t) * ch + c);
            want.data<float>()[((bi * L + t) * ch + c) * n + i] = acc;
          }
          want_t.data<float>()[(bi * ch + c) * n + i] = acc;
        }
    std::string what = "u " + u.shape.str() + " order " + std::to_string(n) + (with_m0 ? " with m0" : "");
    check_close(outs[0], want, 1e-6, 1e-6, "m, " + what);
    check_close(outs[1], want_t, 1e-6, 1e-6, "mT, " + what);
  }
}

TEST_CASE("LMU: two chunks carrying mT -> m0 equal the whole scan, and unused outputs may be absent") {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    int64_t b = random_dim(rng, 1, 3), L = random_dim(rng, 2, 13), ch = random_dim(rng, 1, 7), n = random_dim(rng, 1, 9);
    HostTensor u = random_f32(rng, {b, L, ch});
    // a contraction, so values stay O(1): every row sums to at most 0.9 in magnitude
    HostTensor A = random_f32(rng, {n, n}, -0.9f / static_cast<float>(n), 0.9f / static_cast<float>(n));
    HostTensor B = random_f32(rng, {n});
    bool with_m0 = rng() % 2;
    HostTensor m0 = random_f32(rng, {b, ch, n});
    const HostTensor* m0p = with_m0 ? &m0 : nullptr;
    std::string what = "u " + u.shape.str() + " order " + std::to_string(n) + (with_m0 ? " with m0" : "");
    CAPTURE(what);
    auto whole = run_all({OpType::LMU, {}, {&u, &A, &B, m0p}, 2});
    REQUIRE(whole.size() == 2);
    int64_t k = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(L - 1));
    HostTensor u1 = slice_axis(u, 1, 0, k), u2 = slice_axis(u, 1, k, L);
    auto a = run_all({OpType::LMU, {}, {&u1, &A, &B, m0p}, 2});
    REQUIRE(a.size() == 2);
    auto c = run_all({OpType::LMU, {}, {&u2, &A, &B, &a[1]}, 2});
    REQUIRE(c.size() == 2);
    check_close(concat_axis(a[0], c[0], 1), whole[0], 1e-6, 1e-6, "chunked m, split at " + std::to_string(k));
    check_close(c[1], whole[1], 1e-6, 1e-6, "chunked mT, split at " + std::to_string(k));

    auto m_only = run_masked({OpType::LMU, {}, {&u, &A, &B, m0p}, 2}, {true, false});
    check_equal(m_only[0], whole[0], "m with mT absent");
    auto t_only = run_masked({OpType::LMU, {}, {&u, &A, &B, m0p}, 2}, {false, true});
    check_equal(t_only[1], whole[1], "mT with m absent");
  }
}

// Orders past a GPU workgroup's size, scans longer than one Vulkan dispatch walks (lmu.comp splits
// time into chunks to stay within lavapipe's loop limit: 400 steps at order 300 take two) and an
// order past what lmu.comp keeps in shared memory (1100: its state in device memory). Through
// run_reference, so each backend under test is compared with the reference too.
TEST_CASE("LMU: large orders 129, 256, 300 and 1100, long scans, on every backend") {
  std::mt19937 rng(43);
  struct Case {
    int64_t n, b, L, ch;
  };
  const Case cases[] = {{129, 2, 9, 3}, {256, 2, 128, 1}, {300, 1, 400, 2}, {1100, 1, 50, 1}};
  for (size_t k = 0; k < std::size(cases); ++k) {
    const auto [n, b, L, ch] = cases[k];
    HostTensor u = random_f32(rng, {b, L, ch});
    const float amp = 0.9f / std::sqrt(static_cast<float>(n));  // a stable memory (spectral radius < 1)
    HostTensor A = random_f32(rng, {n, n}, -amp, amp), B = random_f32(rng, {n}), m0 = random_f32(rng, {b, ch, n});
    NodeSpec node{OpType::LMU, {}, {&u, &A, &B, k % 2 == 0 ? &m0 : nullptr}, 2};
    node.constant_inputs = {false, true, true, false};
    CAPTURE(n);
    std::vector<HostTensor> outs = run_reference(node);
    REQUIRE(outs.size() == 2);
    // mT is the last step of m.
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t i = 0; i < ch * n; ++i) REQUIRE(outs[1].f(bi * ch * n + i) == outs[0].f(((bi * L) + L - 1) * ch * n + i));
  }
}

// ------------------------------------------------------------------ LIF properties

TEST_CASE("LIF: spikes are exactly 0/1, chunks carrying vT -> v0 equal the whole run, absent v0 is v_reset") {
  std::mt19937 rng(51);
  int64_t ones = 0, zeros = 0;
  for (int trial = 0; trial < 40; ++trial) {
    int rank = 2 + static_cast<int>(rng() % 4);
    Shape xs;
    xs.rank = rank;
    for (int i = 0; i < rank; ++i) xs[i] = random_dim(rng, 1, 5);
    fb::LIFOptionsT o;
    o.time_axis = static_cast<int32_t>(rng() % static_cast<unsigned>(rank));
    xs[o.time_axis] = random_dim(rng, 2, 9);
    std::uniform_real_distribution<float> U(0.f, 1.f);
    o.tau = 1.f + 3.f * U(rng);
    o.v_threshold = 0.5f + U(rng);
    o.v_reset = -0.3f + 0.6f * U(rng);
    o.soft_reset = rng() % 2;
    HostTensor x = random_f32(rng, xs, -1.f, 3.f);
    Shape vs;
    for (int i = 0; i < rank; ++i)
      if (i != o.time_axis) vs.dims[vs.rank++] = xs[i];
    HostTensor v0 = random_f32(rng, vs, o.v_reset - 0.5f, o.v_threshold);
    bool with_v0 = rng() % 2;
    const HostTensor* v0p = with_v0 ? &v0 : nullptr;
    std::string what = "x " + xs.str() + " time_axis " + std::to_string(o.time_axis) + " tau " + std::to_string(o.tau) +
                       " v_threshold " + std::to_string(o.v_threshold) + " v_reset " + std::to_string(o.v_reset) +
                       (o.soft_reset ? " soft" : " hard") + (with_v0 ? " with v0" : "");
    CAPTURE(what);

    auto whole = run_all({OpType::LIF, make_options(o), {&x, v0p}, 2});
    REQUIRE(whole.size() == 2);
    for (int64_t i = 0; i < whole[0].numel(); ++i) {
      float s = whole[0].f(i);
      REQUIRE_MESSAGE((s == 0.f || s == 1.f), "spike ", i, " is ", s);
      (s == 1.f ? ones : zeros)++;
    }

    int64_t T = xs[o.time_axis];
    int64_t k = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(T - 1));
    HostTensor x1 = slice_axis(x, o.time_axis, 0, k), x2 = slice_axis(x, o.time_axis, k, T);
    auto a = run_all({OpType::LIF, make_options(o), {&x1, v0p}, 2});
    REQUIRE(a.size() == 2);
    auto c = run_all({OpType::LIF, make_options(o), {&x2, &a[1]}, 2});
    REQUIRE(c.size() == 2);
    check_equal(concat_axis(a[0], c[0], o.time_axis), whole[0], "chunked spikes, split at " + std::to_string(k));
    check_equal(c[1], whole[1], "chunked vT, split at " + std::to_string(k));

    auto s_only = run_masked({OpType::LIF, make_options(o), {&x, v0p}, 2}, {true, false});
    check_equal(s_only[0], whole[0], "spikes with vT absent");
    auto v_only = run_masked({OpType::LIF, make_options(o), {&x, v0p}, 2}, {false, true});
    check_equal(v_only[1], whole[1], "vT with spikes absent");
    if (!with_v0) {
      HostTensor at_reset = filled(vs, o.v_reset);
      auto r = run_all({OpType::LIF, make_options(o), {&x, &at_reset}, 2});
      REQUIRE(r.size() == 2);
      check_equal(r[0], whole[0], "spikes with v0 = v_reset everywhere vs v0 absent");
      check_equal(r[1], whole[1], "vT with v0 = v_reset everywhere vs v0 absent");
    }
  }
  // the data must make the neurons both fire and stay silent, or the checks above prove little
  CHECK(ones > 100);
  CHECK(zeros > 100);
}

TEST_CASE("LIF: a membrane potential exactly at the threshold spikes (h >= v_threshold)") {
  // v0 = v_reset = 0, tau = 2: h = x / 2 exactly, so x = 2 * v_threshold lands on the threshold
  for (int soft = 0; soft < 2; ++soft) {
    fb::LIFOptionsT o;
    o.tau = 2.f;
    o.v_threshold = 0.75f;
    o.soft_reset = soft;
    HostTensor x = HostTensor::f32({1, 3, 2}, {1.5f, 1.4999999f, 0.f, 1.5f, 1.5f, 0.f});
    auto outs = run_all({OpType::LIF, make_options(o), {&x, nullptr}, 2});
    REQUIRE(outs.size() == 2);
    // (spec-checked) time is axis 1: neuron 0 sees 1.5, 0, 1.5 -> h = 0.75 exactly, 0, 0.75 exactly;
    // neuron 1 sees 1.4999999, 1.5, 0 -> h = 0.74999994 (just below), 1.125, then 0 (hard) or 0.1875 (soft)
    check_equal(outs[0], HostTensor::f32({1, 3, 2}, {1, 0, 0, 1, 1, 0}), std::string("spikes, ") + (soft ? "soft" : "hard"));
  }
}

// ------------------------------------------------------------------ shape errors

namespace {

void expect_error(const NodeSpec& node, StatusCode code, const std::string& needle) {
  std::vector<HostTensor> outs;
  Status st = try_run_reference(node, &outs);
  CAPTURE(needle);
  CHECK_MESSAGE(st.code() == code, "status ", std::string(status_code_name(st.code())), ": ", st.message());
  CHECK_MESSAGE(st.message().find(needle) != std::string::npos, "message: ", st.message());
}

}  // namespace

TEST_CASE("SelectiveScan: wrong shapes are rejected by inference, naming the input") {
  auto f = [](Shape s) { return filled(s, 0.5f); };
  HostTensor u = f({2, 7, 5}), delta = f({2, 7, 5}), A = f({5, 3}), B = f({2, 7, 3}), C = f({2, 7, 3});
  HostTensor D = f({5}), z = f({2, 7, 5}), bias = f({5}), h0 = f({2, 5, 3});
  std::vector<const HostTensor*> good = {&u, &delta, &A, &B, &C, &D, &z, &bias, &h0};
  fb::SelectiveScanOptionsT o;
  auto with = [&](size_t i, const HostTensor* t) {
    std::vector<const HostTensor*> in = good;
    in[i] = t;
    return NodeSpec{OpType::SelectiveScan, make_options(o), in, 2};
  };
  {  // the good node runs
    std::vector<HostTensor> outs;
    Status st = try_run_reference(with(0, &u), &outs);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
  }
  HostTensor u2 = f({2, 7}), delta_bad = f({2, 7, 4}), a1 = f({5}), a_bad = f({4, 3}), b_bad = f({2, 7, 4}),
             c_bad = f({2, 6, 3}), d_bad = f({4}), z_bad = f({2, 7, 3}), bias_bad = f({3}), h0_bad = f({2, 3, 5});
  expect_error(with(0, &u2), StatusCode::kInvalidArgument, "u has shape [2x7]; expected [batch, seq, channels]");
  expect_error(with(1, &delta_bad), StatusCode::kInvalidArgument, "delta has shape [2x7x4]; expected [2x7x5]");
  expect_error(with(2, &a1), StatusCode::kInvalidArgument, "A has shape [5]; expected [channels, state]");
  expect_error(with(2, &a_bad), StatusCode::kInvalidArgument, "A has shape [4x3]; expected [5x3]");
  expect_error(with(3, &b_bad), StatusCode::kInvalidArgument, "B has shape [2x7x4]; expected [2x7x3]");
  expect_error(with(4, &c_bad), StatusCode::kInvalidArgument, "C has shape [2x6x3]; expected [2x7x3]");
  expect_error(with(5, &d_bad), StatusCode::kInvalidArgument, "D has shape [4]; expected [5]");
  expect_error(with(6, &z_bad), StatusCode::kInvalidArgument, "z has shape [2x7x3]; expected [2x7x5]");
  expect_error(with(7, &bias_bad), StatusCode::kInvalidArgument, "delta_bias has shape [3]; expected [5]");
  expect_error(with(8, &h0_bad), StatusCode::kInvalidArgument, "h0 has shape [2x3x5]; expected [2x5x3]");
  HostTensor delta_i64(DType::Int64, {2, 7, 5});
  expect_error(with(1, &delta_i64), StatusCode::kUnsupported, "delta is int64");
  expect_error(with(1, nullptr), StatusCode::kInvalidArgument, "required input 1 is missing");
}

TEST_CASE("LMU: wrong shapes are rejected by inference, naming the input") {
  auto f = [](Shape s) { return filled(s, 0.5f); };
  HostTensor u = f({2, 7, 5}), A = f({3, 3}), B = f({3}), m0 = f({2, 5, 3});
  std::vector<HostTensor> outs;
  Status st = try_run_reference({OpType::LMU, {}, {&u, &A, &B, &m0}, 2}, &outs);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  HostTensor u4 = f({2, 7, 5, 1}), a_rect = f({3, 4}), b_bad = f({4}), m0_bad = f({2, 3, 5});
  expect_error({OpType::LMU, {}, {&u4, &A, &B, &m0}, 2}, StatusCode::kInvalidArgument,
               "u has shape [2x7x5x1]; expected [batch, seq, channels]");
  expect_error({OpType::LMU, {}, {&u, &a_rect, &B, &m0}, 2}, StatusCode::kInvalidArgument,
               "A has shape [3x4]; expected a square [order, order] matrix");
  expect_error({OpType::LMU, {}, {&u, &A, &b_bad, &m0}, 2}, StatusCode::kInvalidArgument,
               "B has shape [4]; expected [3]");
  expect_error({OpType::LMU, {}, {&u, &A, &B, &m0_bad}, 2}, StatusCode::kInvalidArgument,
               "m0 has shape [2x3x5]; expected [2x5x3]");
}

TEST_CASE("LIF: wrong shapes and attributes are rejected by inference, naming the input") {
  auto f = [](Shape s) { return filled(s, 0.5f); };
  HostTensor x = f({2, 7, 5}), v0 = f({2, 5});
  fb::LIFOptionsT o;
  std::vector<HostTensor> outs;
  Status st = try_run_reference({OpType::LIF, make_options(o), {&x, &v0}, 2}, &outs);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  HostTensor v0_bad = f({2, 7}), x1 = f({7});
  expect_error({OpType::LIF, make_options(o), {&x, &v0_bad}, 2}, StatusCode::kInvalidArgument,
               "v0 has shape [2x7]; expected [2x5]");
  expect_error({OpType::LIF, make_options(o), {&x1, nullptr}, 2}, StatusCode::kInvalidArgument,
               "x has shape [7]; expected rank >= 2");
  fb::LIFOptionsT axis = o;
  axis.time_axis = 3;
  expect_error({OpType::LIF, make_options(axis), {&x, nullptr}, 2}, StatusCode::kInvalidArgument,
               "time_axis 3 is outside x [2x7x5]");
  axis.time_axis = 0;  // the state is then [7x5]
  expect_error({OpType::LIF, make_options(axis), {&x, &v0}, 2}, StatusCode::kInvalidArgument,
               "v0 has shape [2x5]; expected [7x5]");
  fb::LIFOptionsT tau = o;
  tau.tau = 0;
  expect_error({OpType::LIF, make_options(tau), {&x, nullptr}, 2}, StatusCode::kInvalidArgument,
               "tau must be positive");
}

}  // namespace tern::test
