// tern bench: latency and memory of one plan.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "tern/tern.h"

namespace tern::cli {

namespace {

struct BenchArgs {
  std::string plan;
  int threads = 1, iters = 50, warmup = 5;
  std::string backend = "auto";
  bool json = false;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

long peak_rss_bytes() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss * 1024L;  // Linux reports KiB
}

void run_bench(const BenchArgs& a) {
  const char* cmd = "bench";
  auto t_load = Clock::now();
  tern_plan* plan = nullptr;
  if (tern_plan_load_file(a.plan.c_str(), 0, &plan) != TERN_OK) return report_error(cmd, tern_last_error());
  double load_ms = ms_since(t_load);
  tern_session_options so;
  tern_session_options_init(&so);
  so.backend = a.backend.c_str();
  so.num_threads = a.threads;
  tern_session* s = nullptr;
  auto t_create = Clock::now();
  if (tern_session_create(plan, &so, &s) != TERN_OK) {
    report_error(cmd, tern_last_error());
    tern_plan_destroy(plan);
    return;
  }
  double create_ms = ms_since(t_create);
  // Inputs: seeded random floats; zeros for integer inputs (always valid indices).
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (size_t i = 0; i < tern_plan_num_inputs(plan); ++i) {
    void* data;
    size_t bytes;
    tern_tensor_info info;
    (void)tern_plan_input_info(plan, i, &info);
    (void)tern_session_input_buffer(s, i, &data, &bytes);
    if (info.dtype == TERN_FLOAT32)
      for (size_t k = 0; k < bytes / 4; ++k) static_cast<float*>(data)[k] = nd(rng);
    else
      std::memset(data, 0, bytes);
  }
  auto t_first = Clock::now();
  bool ok = tern_session_run(s) == TERN_OK;
  double first_ms = ms_since(t_first);
  std::vector<double> times;
  for (int i = 0; ok && i < a.warmup; ++i) ok = tern_session_run(s) == TERN_OK;
  for (int i = 0; ok && i < a.iters; ++i) {
    auto t = Clock::now();
    ok = tern_session_run(s) == TERN_OK;
    times.push_back(ms_since(t));
  }
  if (!ok) {
    report_error(cmd, tern_last_error());
  } else {
    std::sort(times.begin(), times.end());
    double median = times.empty() ? 0 : (times.size() % 2 ? times[times.size() / 2] : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]));
    double mn = times.empty() ? 0 : times.front(), mx = times.empty() ? 0 : times.back();
    long rss = peak_rss_bytes();
    std::string backend = tern_session_backend(s);
    if (a.json) {
      nlohmann::json j = {{"plan", a.plan},         {"backend", backend},     {"threads", a.threads}, {"iters", a.iters},
                          {"warmup", a.warmup},     {"median_ms", median},    {"min_ms", mn},         {"max_ms", mx},
                          {"load_ms", load_ms},     {"session_create_ms", create_ms}, {"first_run_ms", first_ms},
                          {"peak_rss_bytes", rss}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s: backend %s, %d thread%s, %d iterations\n", a.plan.c_str(), backend.c_str(), a.threads, a.threads == 1 ? "" : "s",
                  a.iters);
      std::printf("  latency  median %.3f ms  min %.3f ms  max %.3f ms\n", median, mn, mx);
      std::printf("  load %.2f ms, session create %.2f ms, first run %.3f ms\n", load_ms, create_ms, first_ms);
      std::printf("  peak RSS %.1f MiB\n", static_cast<double>(rss) / (1 << 20));
    }
  }
  tern_session_destroy(s);
  tern_plan_destroy(plan);
}

}  // namespace

void add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Measure a plan's latency (median/min/max) and peak memory");
  sub->footer("Inputs are seeded random data. Latency excludes warm-up runs. Example: tern bench model.tern --threads 2 --json");
  sub->add_option("plan", args->plan, "Plan file")->required()->check(CLI::ExistingFile);
  sub->add_option("--threads", args->threads, "Worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  sub->add_option("--iters", args->iters, "Measured runs")->check(CLI::Range(1, 1000000))->capture_default_str();
  sub->add_option("--warmup", args->warmup, "Unmeasured runs first")->check(CLI::Range(0, 1000000))->capture_default_str();
  sub->add_option("--backend", args->backend, "auto, cpu, vulkan or reference")
      ->check(CLI::IsMember({"auto", "cpu", "vulkan", "reference"}))
      ->capture_default_str();
  sub->add_flag("--json", args->json, "Print one JSON object (median_ms, min_ms, max_ms, iters, threads, backend, peak_rss_bytes, ...)");
  sub->callback([args] { run_bench(*args); });
}

}  // namespace tern::cli
