// tern bench: latency and memory of one plan.
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include <map>

#include "commands.h"
#include "npy.h"
#include "ops/op_defs.h"
#include "plan/plan.h"
#include "session.h"
#ifdef TERN_WITH_VULKAN
#include "vulkan/vulkan_backend.h"
#endif

namespace tern::cli {

namespace {

struct BenchArgs {
  std::string plan;
  int threads = 1, iters = 50, warmup = 5;
  std::string backend = "auto";
  std::vector<std::string> inputs;  // NAME=FILE.npy or FILE.npy (inputs in order); others: seeded random data
  bool json = false;
  bool profile = false;
  int top = 15;
  bool trust_weights = false;  // --trust-weights: load without the weight checksums
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time of the whole process (every thread), in ms. On a shared machine the wall clock also
// counts time spent descheduled; at 1 thread, CPU time per run is the contention-free latency.
double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

// Peak resident memory of this process. /proc/self/status VmHWM is the high-water mark of this
// address space; getrusage's ru_maxrss is not: Linux carries it across exec, so it reports the
// parent's size when that was larger (e.g. a Python benchmark driver that spawned `tern`).
long peak_rss_bytes() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(f);
    if (kib >= 0) return kib * 1024L;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss * 1024L;  // Linux reports KiB
}

// Fills every input: from .npy files (`--input NAME=FILE.npy`, or `--input FILE.npy` for the inputs
// in order), else seeded random floats (zeros for integer inputs: always valid indices).
Status fill_inputs(Session& s, const std::vector<std::string>& args) {
  const Plan& p = s.plan();
  std::vector<std::string> files(s.num_inputs());
  size_t next = 0;
  for (const std::string& arg : args) {
    size_t eq = arg.find('=');
    size_t idx = next;
    std::string file = arg;
    if (eq != std::string::npos) {
      std::string name = arg.substr(0, eq);
      file = arg.substr(eq + 1);
      for (idx = 0; idx < s.num_inputs() && p.tensors()[p.inputs()[idx]].name != name; ++idx) {
      }
      if (idx == s.num_inputs()) return TERN_ERROR(kInvalidArgument, "--input %s: the plan has no input '%s'", arg.c_str(), name.c_str());
    } else {
      ++next;
    }
    if (idx >= s.num_inputs())
      return TERN_ERROR(kInvalidArgument, "--input %s: the plan has only %zu input(s)", arg.c_str(), s.num_inputs());
    files[idx] = file;
  }
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (size_t i = 0; i < s.num_inputs(); ++i) {
    const TensorRef& in = s.input(i);
    if (!files[i].empty()) {
      auto arr = npy::load(files[i]);
      if (!arr.is_ok()) return arr.status();
      const npy::Array& A = arr.value();
      TERN_RETURN_IF_ERROR(s.set_input(i, A.dtype, Shape::from(A.shape), A.data.data(), A.data.size()));
    } else if (in.dtype == DType::Float32) {
      for (int64_t k = 0; k < in.numel(); ++k) in.as<float>()[k] = nd(rng);
    } else {
      std::memset(in.data, 0, in.bytes());
    }
  }
  return Status::ok();
}

// The element type a node computes in, for the profile: its first input's (int8 for the int8
// kernels; QuantizeLinear reads float32).
const char* node_dtype(const Plan& p, const NodeDesc& n) {
  for (int32_t t : n.inputs)
    if (t >= 0) return dtype_name(p.tensors()[static_cast<size_t>(t)].dtype);
  return "-";
}

// Time per op kind (op and element type) and the slowest nodes, per run.
void print_profile(const Plan& p, const std::vector<Session::NodeTime>& prof, int iters, int top) {
  uint64_t total = 0;
  for (const Session::NodeTime& t : prof) total += t.ns;
  if (!total) return;
  const double per_run = 1e6 * iters;
  struct Kind {
    uint64_t ns = 0;
    int count = 0;
  };
  std::map<std::string, Kind> kinds;
  bool partitions = false;
  for (const Session::NodeTime& t : prof) {
    const NodeDesc& n = p.nodes()[t.node];
    std::string key = t.whole_partition ? std::string("(") + t.backend + " partition)"
                                        : std::string(ops::op_name(n.op)) + " " + node_dtype(p, n) + " " + t.backend;
    partitions |= t.whole_partition;
    kinds[key].ns += t.ns;
    ++kinds[key].count;
  }
  std::vector<std::pair<std::string, Kind>> by(kinds.begin(), kinds.end());
  std::sort(by.begin(), by.end(), [](const auto& x, const auto& y) { return x.second.ns > y.second.ns; });
  std::printf("  profile (%d profiled runs, per run; sum of nodes %.3f ms):\n", iters, static_cast<double>(total) / per_run);
  std::printf("    %-36s %6s %10s %7s\n", "op dtype backend", "nodes", "ms", "%");
  for (const auto& [k, v] : by)
    std::printf("    %-36s %6d %10.3f %6.1f%%\n", k.c_str(), v.count, static_cast<double>(v.ns) / per_run,
                100.0 * static_cast<double>(v.ns) / static_cast<double>(total));
  std::vector<Session::NodeTime> nodes = prof;
  std::sort(nodes.begin(), nodes.end(), [](const auto& x, const auto& y) { return x.ns > y.ns; });
  if (static_cast<int>(nodes.size()) > top) nodes.resize(static_cast<size_t>(top));
  std::printf("  slowest nodes:\n");
  for (const Session::NodeTime& t : nodes) {
    const NodeDesc& n = p.nodes()[t.node];
    std::string out_shape = n.outputs.empty() || n.outputs[0] < 0 ? "" : p.tensors()[static_cast<size_t>(n.outputs[0])].shape.str();
    std::printf("    %8.3f ms %5.1f%%  %-14s %-8s %-24s -> %s\n", static_cast<double>(t.ns) / per_run,
                100.0 * static_cast<double>(t.ns) / static_cast<double>(total), ops::op_name(n.op), node_dtype(p, n),
                n.name.c_str(), out_shape.c_str());
  }
  if (partitions)
    std::printf("  (a backend that cannot time single nodes is timed per partition, listed under its first node)\n");
}

void run_bench(const BenchArgs& a) {
  const char* cmd = "bench";
  // Start-up, each phase timed apart: plan load (mmap + verification of the container, checksums
  // and every index/shape), session creation (arena allocation, backend prepare: weight packing),
  // then the first run (first touch of weights and arena, lazy initialisation). load_ms is the sum
  // of the first two: the time until the session can run.
  auto t_load = Clock::now();
  double c_load = process_cpu_ms();
  auto loaded = Plan::load_file(a.plan, a.trust_weights ? kLoadSkipWeightChecksums : kLoadDefault);
  if (!loaded.is_ok()) return report_error(cmd, loaded.status().message());
  std::shared_ptr<const Plan> plan = std::move(loaded).value();
  double plan_load_ms = ms_since(t_load);
  SessionOptions so;
  so.backend = a.backend;
  so.num_threads = a.threads;
  auto t_create = Clock::now();
  auto created = Session::create(plan, so);
  if (!created.is_ok()) return report_error(cmd, created.status().message());
  std::unique_ptr<Session> s = std::move(created).value();
  double create_ms = ms_since(t_create);
  double load_ms = plan_load_ms + create_ms, load_cpu_ms = process_cpu_ms() - c_load;
  if (Status st = fill_inputs(*s, a.inputs); !st.is_ok()) return report_error(cmd, st.message());
  auto t_first = Clock::now();
  double c_first = process_cpu_ms();
  Status st = s->run();
  double first_ms = ms_since(t_first), first_cpu_ms = process_cpu_ms() - c_first;
  std::vector<double> times;
  for (int i = 0; st.is_ok() && i < a.warmup; ++i) st = s->run();
  double c_runs = process_cpu_ms();
#ifdef TERN_WITH_VULKAN
  const VulkanTimes gpu_before = vulkan_times();  // timestamp queries around each Vulkan partition
#endif
  for (int i = 0; st.is_ok() && i < a.iters; ++i) {
    auto t = Clock::now();
    st = s->run();
    times.push_back(ms_since(t));
  }
  double cpu_per_run_ms = (process_cpu_ms() - c_runs) / std::max(1, a.iters);
  // GPU time of the Vulkan partitions per run (-1: none ran on Vulkan, or no timestamps).
  double gpu_ms = -1;
#ifdef TERN_WITH_VULKAN
  const VulkanTimes gpu_after = vulkan_times();
  if (gpu_after.executes > gpu_before.executes && a.iters > 0)
    gpu_ms = static_cast<double>(gpu_after.gpu_ns - gpu_before.gpu_ns) / 1e6 / a.iters;
#endif
  if (!st.is_ok()) return report_error(cmd, st.message());
  // Per-node profile: a separate pass after the measured runs, so the latency above carries no
  // timing overhead.
  std::vector<Session::NodeTime> prof;
  if (a.profile) {
    s->enable_profiling();
    for (int i = 0; st.is_ok() && i < a.iters; ++i) st = s->run();
    if (!st.is_ok()) return report_error(cmd, st.message());
    prof = s->profile();
  }
  std::sort(times.begin(), times.end());
  double median = times.empty() ? 0 : (times.size() % 2 ? times[times.size() / 2] : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]));
  double mn = times.empty() ? 0 : times.front(), mx = times.empty() ? 0 : times.back();
  long rss = peak_rss_bytes();
  uint64_t weights = plan->total_constant_bytes(), arena = 0;
  for (uint64_t b : plan->arena_sizes()) arena += b;
  const std::string& backend = s->backend_summary();
  if (a.json) {
    nlohmann::json j = {{"plan", a.plan},
                        {"backend", backend},
                        {"threads", a.threads},
                        {"iters", a.iters},
                        {"warmup", a.warmup},
                        {"inputs", a.inputs.empty() ? "random" : "npy"},
                        {"median_ms", median},
                        {"min_ms", mn},
                        {"max_ms", mx},
                        {"load_ms", load_ms},
                        {"plan_load_ms", plan_load_ms},
                        {"session_create_ms", create_ms},
                        {"weight_checksums", !a.trust_weights},
                        {"prepacked_in_use", s->prepacked_in_use()},
                        {"first_run_ms", first_ms},
                        {"gpu_ms_per_run", gpu_ms},
                        {"cpu_ms_per_run", cpu_per_run_ms},
                        {"load_cpu_ms", load_cpu_ms},
                        {"first_run_cpu_ms", first_cpu_ms},
                        {"plan_file_bytes", plan->file_size()},
                        {"weights_bytes", weights},
                        {"arena_bytes", arena},
                        {"peak_rss_bytes", rss}};
    if (a.profile) {
      nlohmann::json nodes = nlohmann::json::array();
      for (const Session::NodeTime& t : prof) {
        const NodeDesc& n = plan->nodes()[t.node];
        nodes.push_back({{"node", n.name},
                         {"op", ops::op_name(n.op)},
                         {"dtype", node_dtype(*plan, n)},
                         {"backend", t.backend},
                         {"whole_partition", t.whole_partition},
                         {"ms_per_run", static_cast<double>(t.ns) / 1e6 / a.iters}});
      }
      j["profile"] = nodes;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: backend %s, %d thread%s, %d iterations\n", a.plan.c_str(), backend.c_str(), a.threads, a.threads == 1 ? "" : "s",
                a.iters);
    std::printf("  latency  median %.3f ms  min %.3f ms  max %.3f ms  (process CPU time %.3f ms per run)\n", median, mn, mx,
                cpu_per_run_ms);
    if (gpu_ms >= 0)
      std::printf("  GPU time %.3f ms per run (Vulkan timestamps), host overhead %.3f ms (median - GPU)\n", gpu_ms,
                  std::max(0.0, median - gpu_ms));
    std::printf("  load %.2f ms (plan %.2f ms%s + session create %.2f ms), first run %.3f ms\n", load_ms, plan_load_ms,
                a.trust_weights ? " without weight checksums" : "", create_ms, first_ms);
    if (plan->flatbuffer()->packed() && plan->flatbuffer()->packed()->size())
      std::printf("  prepacked weights: %zu of %u nodes used in place\n", s->prepacked_in_use(), plan->flatbuffer()->packed()->size());
    std::printf("  weights %.1f MiB, arena %.1f MiB, peak RSS %.1f MiB\n", static_cast<double>(weights) / (1 << 20),
                static_cast<double>(arena) / (1 << 20), static_cast<double>(rss) / (1 << 20));
    if (a.profile) print_profile(*plan, prof, a.iters, a.top);
  }
}

}  // namespace

void add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Measure a plan's latency (median/min/max) and peak memory");
  sub->footer(
      "Inputs are seeded random data unless --input is given. Latency excludes the first and the warm-up runs; load_ms is "
      "plan load + session creation. Example: tern bench model.tern --threads 2 --json");
  sub->add_option("plan", args->plan, "Plan file")->required()->check(CLI::ExistingFile);
  sub->add_option("--threads", args->threads, "Worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  sub->add_option("--iters", args->iters, "Measured runs")->check(CLI::Range(1, 1000000))->capture_default_str();
  sub->add_option("--warmup", args->warmup, "Unmeasured runs first")->check(CLI::Range(0, 1000000))->capture_default_str();
  sub->add_option("--backend", args->backend, "auto, cpu, vulkan or reference")
      ->check(CLI::IsMember({"auto", "cpu", "vulkan", "reference"}))
      ->capture_default_str();
  sub->add_option("--input", args->inputs, "NAME=FILE.npy, or FILE.npy for the inputs in order (repeatable; default: random data)");
  sub->add_flag("--json", args->json,
                "Print one JSON object (median_ms, min_ms, max_ms, iters, threads, backend, load_ms, first_run_ms, weights_bytes, "
                "arena_bytes, peak_rss_bytes, ...)");
  sub->add_flag("--profile", args->profile,
                "After the measured runs, run --iters more with per-node timing and print the time per op kind (op, "
                "element type, backend) and the slowest nodes (with --json: a \"profile\" array, one entry per node)");
  sub->add_flag("--trust-weights", args->trust_weights,
                "Load the plan without verifying the weights' checksums (TERN_PLAN_SKIP_WEIGHT_CHECKSUMS in the C API):\n"
                "the start-up of a trusted file");
  sub->add_option("--top", args->top, "Slowest nodes listed by --profile")->check(CLI::Range(1, 100000))->capture_default_str();
  sub->callback([args] { run_bench(*args); });
}

}  // namespace tern::cli
