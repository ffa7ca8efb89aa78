#include "compiler.h"

#include <filesystem>

#include "emit/plan_writer.h"
#include "emit/prepack.h"
#include "import/onnx_import.h"
#include "plan/memory_planner.h"
#include "plan/partition.h"

#ifndef TERN_VERSION_STRING
#define TERN_VERSION_STRING "0.0.0"
#endif

namespace tern::compiler {

const char* compiler_version() { return "tern " TERN_VERSION_STRING; }

Result<Compiled> compile_graph(const CompileOptions& options) {
  if (options.target != "cpu" && options.target != "vulkan")
    return TERN_ERROR(kInvalidArgument, "unknown target '%s' (available: cpu, vulkan)", options.target.c_str());
  std::vector<InputShape> shapes;
  for (const std::string& s : options.input_shapes) {
    TERN_ASSIGN_OR_RETURN(InputShape is, parse_input_shape(s));
    for (const InputShape& prev : shapes)
      if (prev.name == is.name) return TERN_ERROR(kInvalidArgument, "--input-shape %s is given twice", is.name.c_str());
    shapes.push_back(std::move(is));
  }
  TERN_ASSIGN_OR_RETURN(ImportResult imported, import_onnx(options.model_path, shapes));
  Compiled c;
  c.graph = std::move(imported.graph);
  c.sha256 = imported.sha256;
  c.onnx_bytes = imported.file_bytes;
  ir::Graph& g = *c.graph;
  TERN_RETURN_IF_ERROR(infer_and_fold(g, c.log));
  TERN_RETURN_IF_ERROR(canonicalize(g, c.log));
  if (options.fuse) TERN_RETURN_IF_ERROR(run_fusion_passes(g, c.log));
  // Layout after fusion (it sees the fused Conv/activation nodes); the shuffle simplifier then
  // merges the region-edge Transposes into the Reshape/Transpose chains next to them.
  if (options.layout && options.target == "cpu") {
    TERN_RETURN_IF_ERROR(layout_channels_last(g, c.log));
    if (options.fuse) TERN_RETURN_IF_ERROR(simplify_shuffles(g, c.log));
  }
  TERN_RETURN_IF_ERROR(eliminate_dead_code(g, c.log));
  TERN_RETURN_IF_ERROR(verify_graph(g));
  return c;
}

Result<std::vector<uint8_t>> emit_plan(const Compiled& c, const CompileOptions& options, PlanStats* stats) {
  const ir::Graph& g = *c.graph;
  MemoryPlan mp = plan_memory(g);
  EmitInfo info;
  info.compiler_version = compiler_version();
  info.source_name = std::filesystem::path(options.model_path).filename().string();
  info.source_sha256 = c.sha256;
  info.input_shapes = options.input_shapes;
  TERN_ASSIGN_OR_RETURN(info.partitions, partition_graph(g, options.target, nullptr, options.fp16));
  TERN_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, build_plan(g, mp, c.log, info));
  if (options.prepack) {
    if (options.target != "cpu") return TERN_ERROR(kInvalidArgument, "--prepack packs weights for the CPU backend: it needs --target cpu");
    TERN_ASSIGN_OR_RETURN(info.packed, collect_prepacked(bytes));
    if (!info.packed.empty()) {
      TERN_ASSIGN_OR_RETURN(bytes, build_plan(g, mp, c.log, info));
    }
  }
  if (stats) {
    stats->nodes = g.nodes().size();
    stats->tensors = g.values().size();
    stats->arena_bytes = mp.arena_size;
    stats->naive_arena_bytes = mp.naive_size;
    stats->plan_bytes = bytes.size();
    for (const auto& v : g.values())
      if (v->is_constant()) stats->weight_bytes += v->bytes();
  }
  return bytes;
}

}  // namespace tern::compiler
