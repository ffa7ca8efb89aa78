// Calibration data for `tern quantize` / `tern compile --int8`: an .npy (leading axis = samples;
// single-input models), an .npz (one array per graph input name), or a folder of them (sorted by
// name, samples concatenated). Arrays are float32 (float64 is converted), or integers for an
// integer graph input (token ids: int64 / int32, the input's own dtype).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"
#include "npy.h"

namespace tern::compiler::quant {

// Per file: the arrays found, by name ("" for a bare .npy).
struct RawCalibration {
  std::vector<std::pair<std::string, npy::Array>> arrays;
  std::vector<std::string> files;
};

// Reads the files (no model needed): errors for a missing path, an empty folder, an unreadable or
// malformed file, an array of a dtype no graph input can take, or an array with no samples.
Result<RawCalibration> read_calibration(const std::string& path);

// The samples of each graph input: inputs[i] holds `count` samples of g.inputs[i]'s shape without
// its batch dim times the batch (a run consumes `batch` samples; count is a multiple of it).
struct CalibrationSet {
  std::vector<std::vector<uint8_t>> inputs;  // per graph input, count * per_sample elements of its dtype
  std::vector<int64_t> per_sample;           // elements per sample, per input
  std::vector<size_t> elem_size;             // bytes per element, per input (4 for float32)
  int64_t count = 0;                       // samples
  int64_t batch = 1;                       // samples per run (the inputs' leading dim)
};

// A single float32 input's set from raw samples (count = samples.size() / per_sample): for tests and
// callers that make their own data.
CalibrationSet float_calibration(const std::vector<float>& samples, int64_t per_sample, int64_t batch);

// Matches the arrays to the graph's inputs and checks their shapes; keeps at most max_samples.
Result<CalibrationSet> bind_calibration(const RawCalibration& raw, const ir::Graph& g, int64_t max_samples);

}  // namespace tern::compiler::quant
