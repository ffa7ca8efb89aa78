// tern quantize: ONNX + calibration samples -> int8 plan (post-training quantization,
// docs/quantization-scheme.md). `tern compile --int8 --calib DATA` runs the same code.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "compiler.h"
#include "emit/plan_writer.h"
#include "quant/calib_data.h"
#include "quant/quantizer.h"
#include "npy.h"

namespace tern::cli {

namespace {

struct QuantizeArgs {
  Int8Request req;
  std::string model, output;
  std::vector<std::string> input_shapes;
  bool quiet = false;
};

std::string kib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  return buf;
}

// --calib-labels: one integer class per sample, shape [N] or [N, 1].
Status read_labels(const std::string& path, std::vector<int64_t>* out) {
  TERN_ASSIGN_OR_RETURN(npy::Array a, npy::load(path));
  if (a.shape.empty() || a.shape.size() > 2 || (a.shape.size() == 2 && a.shape[1] != 1))
    return TERN_ERROR(kInvalidArgument, "--calib-labels %s: shape must be [N] or [N, 1] (one class per sample)", path.c_str());
  const int64_t n = a.numel();
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (a.dtype) {
      case DType::Int64: (*out)[i] = a.as<int64_t>()[i]; break;
      case DType::Int32: (*out)[i] = a.as<int32_t>()[i]; break;
      case DType::Int16: (*out)[i] = a.as<int16_t>()[i]; break;
      case DType::Int8: (*out)[i] = a.as<int8_t>()[i]; break;
      case DType::UInt8: (*out)[i] = a.as<uint8_t>()[i]; break;
      default:
        return TERN_ERROR(kInvalidArgument, "--calib-labels %s: labels are %s; integers expected", path.c_str(), dtype_name(a.dtype));
    }
  }
  return Status::ok();
}

Status write_report(const std::string& path, const compiler::quant::QuantizeReport& r, uint64_t plan_bytes, size_t onnx_bytes) {
  std::ofstream f(path);
  if (!f) return TERN_ERROR(kIoError, "cannot write the report '%s'", path.c_str());
  bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  if (csv) {
    f << "layer,op,precision,scale,zero_point,range_lo,range_hi,sqnr_alone_db,note\n";
    for (const auto& l : r.layers)
      f << '"' << l.name << "\"," << l.op << ',' << l.precision << ',' << l.scale << ',' << l.zero_point << ',' << l.lo << ',' << l.hi
        << ',' << l.sqnr_db << ",\"" << l.reason << "\"\n";
    return f ? Status::ok() : TERN_ERROR(kIoError, "failed writing '%s'", path.c_str());
  }
  using nlohmann::json;
  json j;
  j["samples"] = r.samples;
  j["method"] = r.method;
  j["output_sqnr_db"] = r.sqnr_db;
  j["drop"] = r.drop;
  j["drop_metric"] = r.drop_metric;
  j["int8_nodes"] = r.int8_nodes;
  j["fp32_nodes"] = r.fp32_nodes;
  j["fp32_by_sensitivity"] = r.fp32_by_sensitivity;
  j["calibration_seconds"] = r.calib_seconds;
  j["quantize_seconds"] = r.total_seconds;
  j["plan_bytes"] = plan_bytes;
  j["onnx_bytes"] = onnx_bytes;
  json layers = json::array();
  for (const auto& l : r.layers)
    layers.push_back({{"name", l.name}, {"op", l.op}, {"precision", l.precision}, {"scale", l.scale}, {"zero_point", l.zero_point},
                      {"range", {l.lo, l.hi}}, {"sqnr_alone_db", l.sqnr_db}, {"note", l.reason}});
  j["layers"] = layers;
  f << j.dump(2) << "\n";
  return f ? Status::ok() : TERN_ERROR(kIoError, "failed writing '%s'", path.c_str());
}

}  // namespace

void run_int8(const char* cmd, const std::string& model, const std::string& output, const std::vector<std::string>& input_shapes,
              const Int8Request& req, bool quiet) {
  namespace q = compiler::quant;
  auto t0 = std::chrono::steady_clock::now();
  q::QuantizeOptions qo;
  if (!q::parse_method(req.method, &qo.method))
    return report_error(cmd, "--method must be minmax, percentile, entropy, mse or auto, not '" + req.method + "'");
  if (req.per_channel != "on" && req.per_channel != "off") return report_error(cmd, "--per-channel must be on or off");
  qo.per_channel = req.per_channel == "on";
  qo.max_drop = req.max_drop;
  qo.max_samples = req.max_samples;
  if (req.threads < 0) return report_error(cmd, "--threads must be at least 1 (or 0: one per core)");
  qo.threads = req.threads;
  qo.progress = !quiet;
  qo.layer_sqnr = !req.report.empty();
  // The calibration files are read and checked before the model is touched.
  auto raw = q::read_calibration(req.calib);
  if (!raw.is_ok()) return report_error(cmd, raw.status().message());
  if (!req.labels.empty()) {
    Status l = read_labels(req.labels, &qo.labels);
    if (!l.is_ok()) return report_error(cmd, l.message());
  }
  compiler::CompileOptions o;
  o.model_path = model;
  o.input_shapes = input_shapes;
  // The layout pass runs for the CPU target (int8 Conv/pools channels-last); compile_graph skips it
  // for --target vulkan, whose int8 shaders are NCHW.
  o.layout = true;
  o.target = req.target;  // calibration runs on the CPU either way; the target decides placement
  o.prepack = req.prepack;
  if (req.prepack && req.target != "cpu") return report_error(cmd, "--prepack packs weights for the CPU backend: it needs --target cpu");
  qo.int8_attention = req.target != "vulkan";  // no int8 Attention shader
  auto c = compiler::compile_graph(o);
  if (!c.is_ok()) return report_error(cmd, c.status().message());
  auto data = q::bind_calibration(*raw, *c->graph, qo.max_samples);
  if (!data.is_ok()) return report_error(cmd, data.status().message());
  if (!qo.labels.empty() && static_cast<int64_t>(qo.labels.size()) < data->count)
    return report_error(cmd, "--calib-labels " + req.labels + ": " + std::to_string(qo.labels.size()) + " labels for " +
                                 std::to_string(data->count) + " calibration samples");
  q::QuantizeReport rep;
  Status s = q::quantize_compiled(*c, *data, qo, &rep);
  if (!s.is_ok()) return report_error(cmd, s.message());
  compiler::PlanStats stats;
  auto bytes = compiler::emit_plan(*c, o, &stats);
  if (!bytes.is_ok()) return report_error(cmd, bytes.status().message());
  Status w = compiler::write_file(output, *bytes);
  if (!w.is_ok()) return report_error(cmd, w.message());
  if (!req.report.empty()) {
    Status r = write_report(req.report, rep, stats.plan_bytes, c->onnx_bytes);
    if (!r.is_ok()) return report_error(cmd, r.message());
  }
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    std::printf("quantized %s -> %s in %.1f s (%lld calibration samples, ranges by %s)\n", model.c_str(), output.c_str(), sec,
                static_cast<long long>(rep.samples), rep.method.c_str());
    std::printf("  %d nodes int8, %d fp32 (%d kept fp32 by sensitivity); output SQNR %.1f dB, %s %.2f (budget %.2f)\n",
                rep.int8_nodes, rep.fp32_nodes, rep.fp32_by_sensitivity, rep.sqnr_db, rep.drop_metric.c_str(), rep.drop,
                qo.max_drop);
    std::printf("  weights %s, plan file %s = %.2fx the ONNX file (%s)\n", kib(stats.weight_bytes).c_str(),
                kib(stats.plan_bytes).c_str(), c->onnx_bytes ? static_cast<double>(stats.plan_bytes) / c->onnx_bytes : 0.0,
                kib(c->onnx_bytes).c_str());
  }
}

void add_int8_options(CLI::App* sub, Int8Request& r) {
  sub->add_option("--method", r.method, "Calibration range per tensor: minmax, percentile, entropy, mse, auto")->capture_default_str();
  sub->add_option("--per-channel", r.per_channel, "Weights per output channel (on) or per tensor (off)")->capture_default_str();
  sub->add_option("--max-drop", r.max_drop,
                  "Output error budget in points: top-1 disagreement % with fp32 on the calibration set (classifiers; "
                  "with --calib-labels, the top-1 accuracy drop), else relative error %; the most sensitive layers stay "
                  "fp32 until it holds (negative: all int8)")
      ->capture_default_str();
  sub->add_option("--calib-labels", r.labels,
                  "Class of each calibration sample (.npy of integers, same order): --max-drop then bounds the "
                  "top-1 accuracy drop on the calibration set rather than the disagreement with fp32");
  sub->add_option("--max-samples", r.max_samples, "Calibration samples used at most")->capture_default_str();
  sub->add_option("--threads", r.threads,
                  "CPU threads for calibration and the mixed-precision search (0: one per core); the plan is the "
                  "same for any count")
      ->capture_default_str();
  sub->add_option("--report", r.report, "Write the per-layer report (precision, scale, zero point, range, SQNR): .json or .csv");
}

void add_quantize(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* sub = app.add_subcommand("quantize", "Quantize an ONNX model to an int8 plan with calibration data");
  sub->footer(
      "DATA: an .npy (leading axis = samples) for a single-input model, an .npz with one array per\n"
      "input name, or a folder of them. Weights are int8 per output channel, activations int8 per\n"
      "tensor; ops without an int8 form run in fp32 between Quantize/Dequantize (docs/quantization-scheme.md).\n"
      "Example: tern quantize net.onnx --calib calib.npy -o net-int8.tern --report layers.json");
  sub->add_option("model", args->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  sub->add_option("--calib", args->req.calib, "Calibration data: FILE.npy, FILE.npz or FOLDER")->required();
  sub->add_flag("--prepack", args->req.prepack,
                "Also store the CPU kernels' packed weights for this machine in the plan (as tern compile --prepack):\n"
                "sessions start without packing");
  sub->add_option("-o,--output", args->output, "Plan file to write")->required();
  sub->add_option("--input-shape", args->input_shapes, "NAME=DIMS, e.g. x=1x3x224x224 (repeatable)");
  add_int8_options(sub, args->req);
  sub->add_option("--target", args->req.target,
                  "Partitioning target: cpu, or vulkan (int8 nodes and their float islands on the Vulkan backend,\n"
                  "which needs a device with 8-bit storage; nodes it cannot run fall back to CPU)")
      ->capture_default_str();
  sub->add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  sub->callback([args] { run_int8("quantize", args->model, args->output, args->input_shapes, args->req, args->quiet); });
}

}  // namespace tern::cli
