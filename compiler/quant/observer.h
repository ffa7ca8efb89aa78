// Calibration observers: the range [lo, hi] an activation tensor is quantized to, chosen from the
// values it took on the calibration set by one of several methods (docs/quantization-scheme.md):
//   minmax      the observed min and max
//   percentile  the 0.01 % and 99.99 % quantiles (outliers clipped)
//   mse         the range (the min/max range shrunk by a common factor) minimizing the mean squared
//               quantization error over the observed histogram (clipping + rounding)
//   entropy     the shrink factor minimizing the KL divergence between the observed histogram and
//               its 256-level quantized version (TensorRT's calibrator, on an asymmetric range)
//   auto        whichever of the above gives the lowest histogram MSE for this tensor
// Observation is two passes over the calibration set: min/max first, then a fixed-range histogram.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tern::compiler::quant {

enum class Method { MinMax, Percentile, Mse, Entropy, Auto };
const char* method_name(Method m);
bool parse_method(const std::string& s, Method* m);

class Observer {
 public:
  static constexpr int kBins = 2048;
  // Pass 1.
  void observe_range(const float* x, int64_t n);
  // Pass 2 (after every observe_range): histogram over [min, max].
  void observe_histogram(const float* x, int64_t n);
  // Combine observations of other samples: the result is the same as one observer seeing all of
  // them, in any order (min / max; integer bin counts, exact in double). merge_histogram needs
  // `other` to have the same range (a copy of this observer before its pass 2).
  void merge_range(const Observer& other);
  void merge_histogram(const Observer& other);
  float min() const { return min_; }
  float max() const { return max_; }
  bool seen() const { return seen_; }
  // The chosen range; *chosen names the method auto picked.
  void range(Method m, float* lo, float* hi, Method* chosen) const;
  // Histogram MSE of quantizing to [lo, hi] (per element).
  double mse(float lo, float hi) const;

 private:
  void candidate(Method m, float* lo, float* hi) const;
  float min_ = 0, max_ = 0;
  bool seen_ = false;
  std::vector<double> hist_;
  double total_ = 0;
};

}  // namespace tern::compiler::quant
