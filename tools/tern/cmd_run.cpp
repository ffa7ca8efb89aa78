// tern run: run a plan on .npy inputs, through the public C API.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "commands.h"
#include "npy.h"
#include "tern/tern.h"

namespace tern::cli {

namespace {

struct RunArgs {
  std::string plan;
  std::vector<std::string> inputs, outputs;
  std::string input_file, output_file;
  std::string backend = "auto";
  int threads = 1;
  bool quiet = false;
};

std::string dims_str(const int64_t* d, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s + "]";
}

const char* dtype_str(tern_dtype t) { return dtype_name(static_cast<DType>(t)); }

bool split_pair(const std::string& arg, std::string* name, std::string* file) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) return false;
  *name = arg.substr(0, eq);
  *file = arg.substr(eq + 1);
  return true;
}

struct PlanHandle {
  tern_plan* p = nullptr;
  ~PlanHandle() { tern_plan_destroy(p); }
};
struct SessionHandle {
  tern_session* s = nullptr;
  ~SessionHandle() { tern_session_destroy(s); }
};

void print_output(const tern_tensor_info& info, const std::vector<int64_t>& shape, const std::vector<uint8_t>& data) {
  std::string sh = dims_str(shape.data(), static_cast<int>(shape.size()));
  std::printf("output '%s': %s %s", info.name, dtype_str(info.dtype), sh.c_str());
  if (info.dtype != TERN_FLOAT32 || data.empty()) {
    std::printf("\n");
    return;
  }
  const float* f = reinterpret_cast<const float*>(data.data());
  size_t n = data.size() / 4;
  double mn = f[0], mx = f[0], sum = 0;
  for (size_t i = 0; i < n; ++i) {
    mn = std::min<double>(mn, f[i]);
    mx = std::max<double>(mx, f[i]);
    sum += f[i];
  }
  std::printf("  min %.6g  max %.6g  mean %.6g\n  first values:", mn, mx, sum / static_cast<double>(n));
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) std::printf(" %.6g", f[i]);
  std::printf("%s\n", n > 8 ? " ..." : "");
  if (shape.size() == 2 && shape[0] <= 16 && shape[1] > 1) {
    std::printf("  argmax per row:");
    for (int64_t r = 0; r < shape[0]; ++r) {
      const float* row = f + r * shape[1];
      std::printf(" %ld", static_cast<long>(std::max_element(row, row + shape[1]) - row));
    }
    std::printf("\n");
  }
}

void run_run(const RunArgs& a) {
  const char* cmd = "run";
  PlanHandle plan;
  if (tern_plan_load_file(a.plan.c_str(), 0, &plan.p) != TERN_OK) return report_error(cmd, tern_last_error());
  size_t ni = tern_plan_num_inputs(plan.p), no = tern_plan_num_outputs(plan.p);
  std::vector<tern_tensor_info> in_info(ni), out_info(no);
  for (size_t i = 0; i < ni; ++i) (void)tern_plan_input_info(plan.p, i, &in_info[i]);
  for (size_t i = 0; i < no; ++i) (void)tern_plan_output_info(plan.p, i, &out_info[i]);
  auto names = [](const std::vector<tern_tensor_info>& v) {
    std::string s;
    for (const auto& t : v) s += (s.empty() ? "" : ", ") + std::string(t.name);
    return s;
  };

  // Which file feeds which input.
  std::map<std::string, std::string> in_files, out_files;
  for (const std::string& arg : a.inputs) {
    std::string n, f;
    if (!split_pair(arg, &n, &f)) return report_error(cmd, "--input '" + arg + "' must look like NAME=FILE.npy");
    in_files[n] = f;
  }
  for (const std::string& arg : a.outputs) {
    std::string n, f;
    if (!split_pair(arg, &n, &f)) return report_error(cmd, "--output '" + arg + "' must look like NAME=FILE.npy");
    out_files[n] = f;
  }
  if (!a.input_file.empty()) {
    if (ni != 1)
      return report_error(cmd, "-i works for single-input plans; this plan has " + std::to_string(ni) + " inputs (" + names(in_info) +
                                   "): use --input NAME=FILE.npy for each");
    in_files[in_info[0].name] = a.input_file;
  }
  if (!a.output_file.empty()) {
    if (no != 1)
      return report_error(cmd, "-o works for single-output plans; this plan has " + std::to_string(no) + " outputs (" +
                                   names(out_info) + "): use --output NAME=FILE.npy");
    out_files[out_info[0].name] = a.output_file;
  }
  for (const auto& [n, f] : in_files) {
    size_t idx;
    if (tern_plan_find_input(plan.p, n.c_str(), &idx) != TERN_OK)
      return report_error(cmd, "the plan has no input '" + n + "' (inputs: " + names(in_info) + ")");
  }
  for (const auto& [n, f] : out_files) {
    size_t idx;
    if (tern_plan_find_output(plan.p, n.c_str(), &idx) != TERN_OK)
      return report_error(cmd, "the plan has no output '" + n + "' (outputs: " + names(out_info) + ")");
  }
  std::string missing;
  for (const auto& t : in_info)
    if (!in_files.count(t.name)) missing += (missing.empty() ? "" : ", ") + std::string(t.name) + " " + dims_str(t.dims, t.rank);
  if (!missing.empty()) return report_error(cmd, "no data for input(s) " + missing + ": pass --input NAME=FILE.npy (or -i FILE.npy)");

  // Load and check the inputs; a leading dim that is K times the plan's runs the plan K times.
  std::vector<npy::Array> arrays(ni);
  int64_t repeats = -1;
  for (size_t i = 0; i < ni; ++i) {
    const tern_tensor_info& t = in_info[i];
    const std::string& file = in_files[t.name];
    auto arr = npy::load(file);
    if (!arr.is_ok()) return report_error(cmd, arr.status().message());
    arrays[i] = std::move(arr).value();
    const npy::Array& A = arrays[i];
    if (static_cast<int>(A.dtype) != static_cast<int>(t.dtype))
      return report_error(cmd, "'" + file + "' holds " + dtype_name(A.dtype) + " but input '" + t.name + "' is " +
                                   dtype_str(t.dtype) + " (convert with np.asarray(a, np." + dtype_str(t.dtype) + "))");
    std::string want = dims_str(t.dims, t.rank), got = dims_str(A.shape.data(), static_cast<int>(A.shape.size()));
    bool same_tail = static_cast<int>(A.shape.size()) == t.rank && t.rank > 0;
    for (int d = 1; d < t.rank && same_tail; ++d) same_tail = A.shape[static_cast<size_t>(d)] == t.dims[d];
    int64_t k = -1;
    if (same_tail && t.dims[0] > 0 && A.shape[0] % t.dims[0] == 0 && A.shape[0] > 0) k = A.shape[0] / t.dims[0];
    else if (static_cast<int>(A.shape.size()) == t.rank && A.numel() == static_cast<int64_t>(t.bytes / dtype_size(static_cast<DType>(t.dtype))) && t.rank == 0) k = 1;
    if (k < 1)
      return report_error(cmd, "'" + file + "' has shape " + got + " but input '" + t.name + "' expects " + want +
                                   " (or a leading dim that is a whole multiple of " + std::to_string(t.rank ? t.dims[0] : 1) +
                                   "; recompile with --input-shape to change the shape)");
    if (repeats != -1 && k != repeats)
      return report_error(cmd, "inputs disagree on how many batches they hold (" + std::to_string(repeats) + " vs " +
                                   std::to_string(k) + " for '" + t.name + "')");
    repeats = k;
  }
  if (repeats < 1) repeats = 1;

  SessionHandle session;
  tern_session_options so;
  tern_session_options_init(&so);
  so.backend = a.backend.c_str();
  so.num_threads = a.threads;
  if (tern_session_create(plan.p, &so, &session.s) != TERN_OK) return report_error(cmd, tern_last_error());

  std::vector<std::vector<uint8_t>> results(no);
  double total_ms = 0, best_ms = 1e300;
  for (int64_t k = 0; k < repeats; ++k) {
    for (size_t i = 0; i < ni; ++i) {
      const tern_tensor_info& t = in_info[i];
      const uint8_t* src = arrays[i].data.data() + static_cast<size_t>(k) * t.bytes;
      if (tern_session_set_input(session.s, i, t.dtype, t.rank, t.dims, src, t.bytes) != TERN_OK)
        return report_error(cmd, tern_last_error());
    }
    auto t0 = std::chrono::steady_clock::now();
    if (tern_session_run(session.s) != TERN_OK) return report_error(cmd, tern_last_error());
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    total_ms += ms;
    best_ms = std::min(best_ms, ms);
    for (size_t o = 0; o < no; ++o) {
      const void* data;
      size_t bytes;
      (void)tern_session_output(session.s, o, &data, &bytes);
      results[o].insert(results[o].end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
    }
  }
  if (!a.quiet)
    std::printf("backend %s, %d thread%s: %lld run%s, %.3f ms per run (best %.3f ms)\n", tern_session_backend(session.s), a.threads,
                a.threads == 1 ? "" : "s", static_cast<long long>(repeats), repeats == 1 ? "" : "s",
                total_ms / static_cast<double>(repeats), best_ms);
  for (size_t o = 0; o < no; ++o) {
    const tern_tensor_info& t = out_info[o];
    std::vector<int64_t> shape(t.dims, t.dims + t.rank);
    if (repeats > 1) {
      if (shape.empty()) shape.push_back(repeats);
      else shape[0] *= repeats;
    }
    if (!a.quiet) print_output(t, shape, results[o]);
    auto it = out_files.find(t.name);
    if (it != out_files.end()) {
      npy::Array arr;
      arr.dtype = static_cast<DType>(t.dtype);
      arr.shape = shape;
      arr.data = std::move(results[o]);
      Status s = npy::save(it->second, arr);
      if (!s.is_ok()) return report_error(cmd, s.message());
    }
  }
}

}  // namespace

void add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "Run a plan on .npy inputs and write .npy outputs");
  sub->footer(
      "Inputs must match the plan's dtype and shape. If an input file's leading dimension is K\n"
      "times the plan's (e.g. 1000 images for a batch-1 plan), the plan runs K times and the\n"
      "outputs are concatenated along the first axis.\n"
      "Example: tern run deit.tern -i images.npy -o logits.npy --threads 2");
  sub->add_option("plan", args->plan, "Plan file from `tern compile`")->required()->check(CLI::ExistingFile);
  sub->add_option("--input", args->inputs, "NAME=FILE.npy for each input (repeatable)");
  sub->add_option("--output", args->outputs, "NAME=FILE.npy: where to save an output (repeatable)");
  sub->add_option("-i", args->input_file, "Input .npy for a single-input plan");
  sub->add_option("-o", args->output_file, "Output .npy for a single-output plan");
  sub->add_option("--backend", args->backend, "auto, cpu, vulkan or reference")
      ->check(CLI::IsMember({"auto", "cpu", "vulkan", "reference"}))
      ->capture_default_str();
  sub->add_option("--threads", args->threads, "Worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  sub->add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  sub->callback([args] { run_run(*args); });
}

}  // namespace tern::cli
