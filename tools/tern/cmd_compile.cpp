// tern compile: ONNX -> plan.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "commands.h"
#include "compiler.h"
#include "emit/plan_writer.h"

namespace tern::cli {

namespace {

struct CompileArgs {
  std::string model, output;
  std::vector<std::string> input_shapes;
  std::string target = "cpu";
  bool quiet = false;
  bool no_fuse = false;
  bool fp16 = false;       // --fp16: Vulkan partitions store float tensors as float16
  bool prepack = false;    // --prepack: the CPU kernels' packed weights in the plan
  bool int8 = false;       // --int8: post-training quantization (cmd_quantize.cpp)
  Int8Request int8_req;
};

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

void run_compile(const CompileArgs& a) {
  if (a.int8) {
    if (a.int8_req.calib.empty()) return report_error("compile", "--int8 needs calibration data: --calib FILE.npy|FILE.npz|FOLDER");
    if (a.fp16) return report_error("compile", "--fp16 and --int8 exclude each other (int8 plans keep their float islands float32)");
    Int8Request r = a.int8_req;
    r.target = a.target;
    r.prepack = a.prepack;
    return run_int8("compile", a.model, a.output, a.input_shapes, r, a.quiet);
  }
  if (!a.int8_req.calib.empty()) return report_error("compile", "--calib is only used with --int8");
  if (a.fp16 && a.target != "vulkan") return report_error("compile", "--fp16 is a Vulkan option: add --target vulkan");
  if (a.prepack && a.target != "cpu") return report_error("compile", "--prepack packs weights for the CPU backend: it needs --target cpu");
  auto t0 = std::chrono::steady_clock::now();
  compiler::CompileOptions o;
  o.model_path = a.model;
  o.input_shapes = a.input_shapes;
  o.target = a.target;
  o.fuse = !a.no_fuse;
  o.fp16 = a.fp16;
  o.prepack = a.prepack;
  auto c = compiler::compile_graph(o);
  if (!c.is_ok()) return report_error("compile", c.status().message());
  compiler::PlanStats stats;
  auto bytes = compiler::emit_plan(*c, o, &stats);
  if (!bytes.is_ok()) return report_error("compile", bytes.status().message());
  Status w = compiler::write_file(a.output, *bytes);
  if (!w.is_ok()) return report_error("compile", w.message());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet) {
    std::printf("compiled %s -> %s in %.0f ms\n", a.model.c_str(), a.output.c_str(), ms);
    std::printf("  %zu nodes, weights %s, arena %s (%s without reuse), plan file %s\n", stats.nodes,
                human_bytes(stats.weight_bytes).c_str(), human_bytes(stats.arena_bytes).c_str(),
                human_bytes(stats.naive_arena_bytes).c_str(), human_bytes(stats.plan_bytes).c_str());
    for (const auto& r : c->log.reports)
      if (r.count) std::printf("  pass %-26s %4u x  %s\n", r.name.c_str(), r.count, r.pattern.c_str());
  }
}

}  // namespace

void add_compile(CLI::App& app) {
  auto args = std::make_shared<CompileArgs>();
  CLI::App* sub = app.add_subcommand("compile", "Compile an ONNX model into a Tern plan file");
  sub->footer(
      "Symbolic input dims (batch, sequence) must be fixed at compile time with --input-shape;\n"
      "the compiler says which ones are open. Custom ops of the `tern` domain (SelectiveScan,\n"
      "LMU, LIF) are understood. Errors name the node, op and shapes at fault.\n"
      "Example: tern compile deit.onnx -o deit.tern --input-shape input=1x3x224x224");
  sub->add_option("model", args->model, "ONNX model file (opset 11-21)")->required()->check(CLI::ExistingFile);
  sub->add_option("-o,--output", args->output, "Plan file to write")->required();
  sub->add_option("--input-shape", args->input_shapes, "NAME=DIMS, e.g. x=1x3x224x224 (repeatable)");
  sub->add_option("--target", args->target, "Partitioning target: cpu or vulkan (nodes the Vulkan backend cannot run fall back to CPU)")->capture_default_str();
  sub->add_flag("--no-fuse", args->no_fuse,
                 "Skip the fusion passes (LayerNorm, GELU/SiLU/HardSwish, attention, BatchNorm/bias/activation folding,\n"
                 "shuffle simplification): a plan of the graph as exported, for comparison");
  sub->add_flag("--fp16", args->fp16,
                 "With --target vulkan: store activations and weights as float16 on the device (16-bit storage;\n"
                 "shaders compute in float32, inputs and outputs stay float32). Needs a device with\n"
                 "storageBuffer16BitAccess: sessions fail on one without");
  sub->add_flag("--prepack", args->prepack,
                "Also store the CPU kernels' packed weights for this machine's micro-kernels in the plan, so that\n"
                "creating a session packs nothing (faster start-up; the plan grows by the packed copies). A machine\n"
                "whose micro-kernels differ packs the original weights as usual; the plan runs everywhere");
  sub->add_flag("--int8", args->int8,
                "Quantize to int8 with --calib DATA (the same as `tern quantize`); with --target vulkan the int8\n"
                "nodes run on the Vulkan backend (needs 8-bit storage: storageBuffer8BitAccess)");
  sub->add_option("--calib", args->int8_req.calib, "Calibration data for --int8: FILE.npy, FILE.npz or FOLDER");
  add_int8_options(sub, args->int8_req);
  sub->add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  sub->callback([args] { run_compile(*args); });
}

}  // namespace tern::cli
