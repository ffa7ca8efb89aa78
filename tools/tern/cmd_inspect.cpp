// tern inspect: what a plan holds (tensors, nodes, memory, partitions, passes applied).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ops/op_defs.h"
#include "plan/plan.h"

namespace tern::cli {

namespace {

struct InspectArgs {
  std::string plan;
  bool json = false;
  bool tensors = false;
};

std::string str(const flatbuffers::String* s) { return s ? s->str() : ""; }

// What fusion attached to a node, for the node list: "+GELU" for a fused activation (and a
// MatMul's bias), Attention's scale and K layout.
std::string fused_detail(const NodeDesc& nd) {
  fb::Activation a = fb::Activation::None;
  std::string extra;
  switch (nd.op) {
    case OpType::Conv: a = static_cast<const fb::ConvOptionsT*>(nd.options.value)->activation; break;
    case OpType::Gemm: a = static_cast<const fb::GemmOptionsT*>(nd.options.value)->activation; break;
    case OpType::MatMul:
      a = static_cast<const fb::MatMulOptionsT*>(nd.options.value)->activation;
      if (nd.inputs.size() > 2 && nd.inputs[2] >= 0) extra = "+bias";
      break;
    case OpType::Activation: a = static_cast<const fb::ActivationOptionsT*>(nd.options.value)->activation; break;
    case OpType::Attention: {
      const auto* o = static_cast<const fb::AttentionOptionsT*>(nd.options.value);
      char buf[64];
      std::snprintf(buf, sizeof buf, "(scale %.4g%s%s)", o->scale, o->k_transposed ? ", K^T" : "",
                    nd.inputs.size() > 3 && nd.inputs[3] >= 0 ? ", bias" : "");
      return buf;
    }
    default: break;
  }
  if (a != fb::Activation::None)
    extra += nd.op == OpType::Activation ? "(" + std::string(fb::EnumNameActivation(a)) + ")" : "+" + std::string(fb::EnumNameActivation(a));
  return extra;
}

void run_inspect(const InspectArgs& a) {
  auto loaded = Plan::load_file(a.plan);
  if (!loaded.is_ok()) return report_error("inspect", loaded.status().message());
  const Plan& p = **loaded;
  const fb::Plan* f = p.flatbuffer();
  const fb::Metadata* m = f->metadata();
  using nlohmann::json;
  json j;
  j["file"] = a.plan;
  j["file_bytes"] = p.file_size();
  j["schema_version"] = f->version();
  if (m) {
    j["compiler"] = str(m->compiler_version());
    j["source"] = str(m->source_name());
    j["source_sha256"] = str(m->source_sha256());
    j["producer"] = str(m->producer());
    j["opset"] = m->opset();
    json shapes = json::array();
    if (m->input_shapes())
      for (const auto* s : *m->input_shapes()) shapes.push_back(s->str());
    j["input_shapes"] = shapes;
    json passes = json::array();
    if (m->passes())
      for (const auto* r : *m->passes())
        passes.push_back({{"name", str(r->name())}, {"pattern", str(r->pattern())}, {"count", r->count()},
                          {"nodes_before", r->nodes_before()}, {"nodes_after", r->nodes_after()}});
    j["passes"] = passes;
  }
  auto tensor_json = [&](uint32_t i) {
    const TensorDesc& t = p.tensors()[i];
    json tj = {{"index", i}, {"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape.vec()}, {"bytes", t.size}};
    tj["storage"] = t.storage == fb::Storage::Constant ? "constant" : "arena";
    tj["offset"] = t.offset;
    if (t.has_quant) tj["quantization"] = {{"scales", t.scales}, {"zero_points", t.zero_points}, {"axis", t.quant.axis}};
    return tj;
  };
  json ins = json::array(), outs = json::array();
  for (uint32_t i : p.inputs()) ins.push_back(tensor_json(i));
  for (uint32_t i : p.outputs()) outs.push_back(tensor_json(i));
  j["inputs"] = ins;
  j["outputs"] = outs;
  j["arena_bytes"] = p.arena_sizes();
  j["weight_bytes"] = p.total_constant_bytes();
  json parts = json::array();
  for (const auto& pd : p.partitions())
    parts.push_back({{"backend", pd.backend}, {"first_node", pd.first_node}, {"num_nodes", pd.num_nodes}, {"reason", pd.reason},
                     {"fp16_storage", pd.fp16_storage}});
  j["partitions"] = parts;
  json states = json::array();
  for (const auto& s : p.states()) states.push_back({{"input", p.tensors()[s.input].name}, {"output", p.tensors()[s.output].name}});
  j["states"] = states;
  json nodes = json::array();
  std::map<std::string, int> histogram;
  for (size_t n = 0; n < p.nodes().size(); ++n) {
    const NodeDesc& nd = p.nodes()[n];
    json nj = {{"index", n}, {"name", nd.name}, {"op", ops::op_name(nd.op)}};
    if (nd.options.value && !fused_detail(nd).empty()) nj["fused"] = fused_detail(nd);
    json ni = json::array(), no = json::array();
    for (int32_t t : nd.inputs) ni.push_back(t < 0 ? json(nullptr) : json(p.tensors()[static_cast<size_t>(t)].name));
    for (int32_t t : nd.outputs) no.push_back(t < 0 ? json(nullptr) : json(p.tensors()[static_cast<size_t>(t)].name));
    nj["inputs"] = ni;
    nj["outputs"] = no;
    if (!nd.outputs.empty() && nd.outputs[0] >= 0) nj["output_shape"] = p.tensors()[static_cast<size_t>(nd.outputs[0])].shape.vec();
    nodes.push_back(nj);
    histogram[ops::op_name(nd.op)]++;
  }
  j["nodes"] = nodes;
  j["op_counts"] = histogram;
  if (a.tensors) {
    json tensors = json::array();
    for (uint32_t i = 0; i < p.tensors().size(); ++i) tensors.push_back(tensor_json(i));
    j["tensors"] = tensors;
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("plan %s: %zu bytes, schema v%u\n", a.plan.c_str(), p.file_size(), f->version());
  if (m)
    std::printf("  from %s (sha256 %.16s..., %s, opset %lld) by %s\n", str(m->source_name()).c_str(), str(m->source_sha256()).c_str(),
                str(m->producer()).c_str(), static_cast<long long>(m->opset()), str(m->compiler_version()).c_str());
  auto print_io = [&](const char* what, const std::vector<uint32_t>& list) {
    for (uint32_t i : list) {
      const TensorDesc& t = p.tensors()[i];
      std::printf("  %s %-24s %s %s\n", what, t.name.c_str(), dtype_name(t.dtype), t.shape.str().c_str());
    }
  };
  print_io("input ", p.inputs());
  print_io("output", p.outputs());
  std::printf("  weights %llu bytes, arena %llu bytes, %zu tensors, %zu nodes\n",
              static_cast<unsigned long long>(p.total_constant_bytes()),
              static_cast<unsigned long long>(p.arena_sizes().empty() ? 0 : p.arena_sizes()[0]), p.tensors().size(), p.nodes().size());
  for (const auto& pd : p.partitions())
    std::printf("  partition %-7s nodes %u..%u%s: %s\n", pd.backend.c_str(), pd.first_node, pd.first_node + pd.num_nodes - 1,
                pd.fp16_storage ? " (fp16 storage)" : "", pd.reason.c_str());
  for (const auto& s : p.states())
    std::printf("  state %s <- %s (carried between streaming runs)\n", p.tensors()[s.input].name.c_str(),
                p.tensors()[s.output].name.c_str());
  std::printf("  ops:");
  for (const auto& [op, c] : histogram) std::printf(" %s x%d", op.c_str(), c);
  std::printf("\n  passes:\n");
  if (m && m->passes())
    for (const auto* r : *m->passes())
      std::printf("    %-26s %4u x  nodes %u -> %u  (%s)\n", str(r->name()).c_str(), r->count(), r->nodes_before(), r->nodes_after(),
                  str(r->pattern()).c_str());
  std::printf("  nodes:\n");
  for (size_t n = 0; n < p.nodes().size(); ++n) {
    const NodeDesc& nd = p.nodes()[n];
    std::string out_shape = !nd.outputs.empty() && nd.outputs[0] >= 0 ? p.tensors()[static_cast<size_t>(nd.outputs[0])].shape.str() : "";
    std::string op = ops::op_name(nd.op);
    if (nd.options.value) op += fused_detail(nd);
    std::printf("    %4zu %-22s %-40s -> %s\n", n, op.c_str(), nd.name.c_str(), out_shape.c_str());
  }
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* sub = app.add_subcommand("inspect", "Show what a plan holds: inputs, outputs, nodes, memory, partitions, passes");
  sub->add_option("plan", args->plan, "Plan file")->required()->check(CLI::ExistingFile);
  sub->add_flag("--json", args->json, "Print one JSON object instead of text");
  sub->add_flag("--tensors", args->tensors, "Include every tensor (JSON output)");
  sub->callback([args] { run_inspect(*args); });
}

}  // namespace tern::cli
