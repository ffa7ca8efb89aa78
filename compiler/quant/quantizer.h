// Post-training int8 quantization of a compiled float graph (docs/quantization-scheme.md):
//   1. fold Relu/Clip into their producers;
//   2. calibrate: run the float graph with the reference kernels over the calibration samples and
//      observe every activation (min/max, then a histogram); choose each tensor's range by --method;
//   3. build the int8 graph: every node with an int8 form runs in int8, everything else (LayerNorm,
//      Softmax, GELU, attention, scans, LIF, ...) stays an fp32 island between Dequantize/Quantize;
//   4. mixed precision: measure each int8 layer's sensitivity (output SQNR with it alone in int8)
//      and, while the output error exceeds the budget (max_drop), move the most sensitive remaining
//      layer back to fp32.
#pragma once

#include <string>
#include <vector>

#include "compiler.h"
#include "quant/calib_data.h"
#include "quant/observer.h"

namespace tern::compiler::quant {

struct QuantizeOptions {
  Method method = Method::Auto;
  bool per_channel = true;
  // Output error budget in percentage points: for a classifier output ([N, C], C > 1), the share of
  // calibration samples whose top-1 class differs from fp32 (an upper bound on the top-1 drop); for
  // any other output, 100 * ||y - y_fp32||^2 / ||y_fp32||^2. Negative: no budget (all int8).
  double max_drop = 0.3;
  // The class of each calibration sample (--calib-labels). With labels, a classifier's budget is
  // the top-1 accuracy drop on the calibration set (fp32 minus int8, in points) instead of the
  // disagreement: flips between two wrong classes, and those that cancel, then cost nothing.
  std::vector<int64_t> labels;
  int64_t max_samples = 512;
  int64_t sensitivity_samples = 32;  // samples used to rank layers (fewer, down to 8, past 64 candidate layers)
  bool progress = false;             // a progress line on stderr
  // Runs of the float and int8 graphs: on the CPU backend (fast; int8 bit-exact with the
  // reference kernels, float within rounding) or on the reference kernels.
  bool reference_executor = false;
  int threads = 0;                   // CPU backend threads (0: one per core)
  // Measure every layer's SQNR alone for the report even when the budget holds with all int8
  // (otherwise only done when some layer has to go back to fp32).
  bool layer_sqnr = true;
  // Attention nodes may become int8 (the CPU backend and the reference run them; the Vulkan backend
  // has no int8 Attention, so `--target vulkan` keeps them fp32 rather than making a CPU island).
  bool int8_attention = true;
};

struct LayerReport {
  std::string name, op, precision;   // precision: "int8" or "fp32"
  std::string reason;                // why fp32 (sensitivity) or the method that chose the range
  float lo = 0, hi = 0;              // calibrated output range
  float scale = 0;                   // output scale / zero point (int8 layers)
  int64_t zero_point = 0;
  double sqnr_db = 0;                // model output SQNR with only this layer in int8
};

struct QuantizeReport {
  std::vector<LayerReport> layers;
  int64_t samples = 0;
  double sqnr_db = 0;                // model output 0, final plan vs fp32, over the calibration set
  double drop = 0;                   // the budget metric (see max_drop)
  std::string drop_metric;           // "top-1 disagreement %", "top-1 drop (labels) %" or "relative error %"
  int int8_nodes = 0, fp32_nodes = 0, fp32_by_sensitivity = 0;
  double calib_seconds = 0, total_seconds = 0;
  std::string method;
};

// Replaces c.graph by its int8 form. `data` must be bound to c.graph's inputs.
Status quantize_compiled(Compiled& c, const CalibrationSet& data, const QuantizeOptions& options, QuantizeReport* report);

}  // namespace tern::compiler::quant
