// Subcommands of the `tern` CLI. Each add_* registers its options and callback on the app; the
// callback records the process exit code (0 on success, 1 on a reported error, 2 on bad usage).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tern::cli {

void add_compile(CLI::App& app);
void add_run(CLI::App& app);
void add_inspect(CLI::App& app);
void add_bench(CLI::App& app);
void add_quantize(CLI::App& app);

// int8 post-training quantization, shared by `tern quantize` and `tern compile --int8`
// (cmd_quantize.cpp).
struct Int8Request {
  std::string calib;
  std::string method = "auto";
  std::string per_channel = "on";
  double max_drop = 0.3;
  int64_t max_samples = 512;
  int threads = 0;  // --threads: CPU threads for calibration and the search (0: one per core)
  std::string report;
  std::string labels;  // --calib-labels: class of each calibration sample (.npy of integers)
  std::string target = "cpu";  // partitioning target of the int8 plan (cpu, or vulkan: int8 kernels on the GPU)
  bool prepack = false;        // --prepack: the CPU kernels' packed weights in the plan
};
void add_int8_options(CLI::App* sub, Int8Request& r);
void run_int8(const char* cmd, const std::string& model, const std::string& output, const std::vector<std::string>& input_shapes,
              const Int8Request& req, bool quiet);

const char* version_string();
int exit_code();
void set_exit_code(int code);
// Prints "tern <cmd>: error: <msg>" to stderr (one line) and sets exit code 1.
void report_error(const char* cmd, const std::string& message);

}  // namespace tern::cli
