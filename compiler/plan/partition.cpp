#include "plan/partition.h"

#include <memory>
#include <unordered_set>

#include "backend.h"  // Backend, NodeQuery (also without Vulkan)
#include "ops/op_defs.h"
#ifdef TERN_WITH_VULKAN
#include "vulkan/vulkan_backend.h"
#endif

namespace tern::compiler {

namespace {

struct Run {
  bool on_target = false;
  bool fp16 = false;
  uint32_t first = 0, count = 0;
  std::string reason;
};

}  // namespace

Result<std::vector<PartitionSpec>> partition_graph(const ir::Graph& g, const std::string& target, PartitionStats* stats,
                                                   bool fp16_storage) {
  const uint32_t n = static_cast<uint32_t>(g.nodes().size());
  if (fp16_storage && target != "vulkan")
    return TERN_ERROR(kInvalidArgument, "fp16 storage is a Vulkan option: compile with --target vulkan");
  if (target == "cpu") {
    if (stats) stats->nodes_fallback = 0, stats->nodes_on_target = n;
    return std::vector<PartitionSpec>{{"cpu", 0, n, "target cpu: every node runs on the CPU backend"}};
  }
  if (target != "vulkan") return TERN_ERROR(kInvalidArgument, "unknown target '%s' (available: cpu, vulkan)", target.c_str());
  std::unique_ptr<Backend> vk;
#ifdef TERN_WITH_VULKAN
  vk = make_vulkan_backend();  // `supports` needs no device
#endif
  if (!vk)
    return TERN_ERROR(kUnsupported, "target vulkan: this build of Tern has no Vulkan backend (configure with -DTERN_WITH_VULKAN=ON)");

  // fp16 storage: the nodes a tern.LIF depends on (and the LIF) stay float32 (partition.h).
  std::vector<bool> feeds_lif(n, false);
  if (fp16_storage) {
    std::unordered_set<const ir::Value*> needed;
    for (uint32_t i = n; i-- > 0;) {
      const ir::Node& node = *g.nodes()[i];
      bool f = node.op == OpType::LIF;
      for (const ir::Value* v : node.outputs) f = f || (v && needed.count(v));
      if (!f) continue;
      feeds_lif[i] = true;
      for (const ir::Value* v : node.inputs)
        if (v) needed.insert(v);
    }
  }

  std::vector<Run> runs;
  size_t on = 0, off = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const ir::Node& node = *g.nodes()[i];
    std::vector<TensorInfo> in(node.inputs.size()), out(node.outputs.size());
    std::vector<const TensorInfo*> in_p(node.inputs.size(), nullptr), out_p(node.outputs.size(), nullptr);
    for (size_t k = 0; k < node.inputs.size(); ++k)
      if (node.inputs[k]) in[k] = node.inputs[k]->info(), in_p[k] = &in[k];
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (node.outputs[k]) out[k] = node.outputs[k]->info(), out_p[k] = &out[k];
    NodeQuery q;
    q.op = node.op;
    q.options = &node.options;
    q.inputs = in_p;
    q.outputs = out_p;
    std::string why, why16;
    bool fp16 = false;
    if (fp16_storage && feeds_lif[i]) {
      why16 = node.op == OpType::LIF ? "spikes are computed from float32 (thresholds are discontinuous)"
                                     : "it feeds a tern.LIF, whose spikes are computed from float32";
    } else if (fp16_storage) {
      q.fp16_storage = true;
      fp16 = vk->supports(q, &why16);
      q.fp16_storage = false;
    }
    const bool ok = fp16 || vk->supports(q, &why);
    ok ? ++on : ++off;
    if (runs.empty() || runs.back().on_target != ok || runs.back().fp16 != fp16) {
      Run r;
      r.on_target = ok, r.fp16 = fp16, r.first = i;
      r.reason = fp16 ? "target vulkan: supported by the Vulkan backend, float16 storage"
                 : ok && fp16_storage ? "target vulkan, float32 storage: node '" + node.name + "' (" + ops::op_name(node.op) +
                                            ") is not stored as float16: " + (why16.empty() ? "unsupported" : why16)
                 : ok ? "target vulkan: supported by the Vulkan backend"
                      : "fallback to CPU: node '" + node.name + "' (" + ops::op_name(node.op) + "): " + (why.empty() ? "unsupported" : why);
      runs.push_back(std::move(r));
    } else if (!ok && runs.back().count < 4) {
      // Name a few of the nodes of a fallback run, so `tern inspect` shows why most fell back.
      runs.back().reason += "; '" + node.name + "' (" + ops::op_name(node.op) + "): " + (why.empty() ? "unsupported" : why);
    }
    ++runs.back().count;
  }
  std::vector<PartitionSpec> specs;
  for (const Run& r : runs) specs.push_back({r.on_target ? "vulkan" : "cpu", r.first, r.count, r.reason, r.fp16});
  if (specs.empty()) specs.push_back({"vulkan", 0, 0, "empty graph", fp16_storage});
  if (stats) stats->nodes_on_target = on, stats->nodes_fallback = off;
  return specs;
}

}  // namespace tern::compiler
