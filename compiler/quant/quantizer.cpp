#include "quant/quantizer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>


#include "core/quant.h"
#include "ops/op_defs.h"
#include "quant/executor.h"
#include "quant/rewrite.h"

namespace tern::compiler::quant {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

class Progress {
 public:
  Progress(bool on, const char* what, int64_t total) : on_(on), what_(what), total_(total), t0_(Clock::now()) {}
  void update(int64_t done) {
    if (!on_) return;
    double el = since(t0_);
    if (done < total_ && el - last_ < 0.25) return;
    last_ = el;
    double rate = el > 0 ? static_cast<double>(done) / el : 0;
    double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    bool tty = isatty(2);
    if (!tty && done < total_) return;  // a log gets the final line only
    std::fprintf(stderr, "%s%s: %lld/%lld samples, %.0f samples/s, ETA %.1f s%s", tty ? "\r" : "", what_,
                 static_cast<long long>(done), static_cast<long long>(total_), rate, eta, done >= total_ ? "\n" : "");
    std::fflush(stderr);
  }

 private:
  bool on_;
  const char* what_;
  int64_t total_;
  Clock::time_point t0_;
  double last_ = -1;
};

std::vector<const void*> batch_inputs(const CalibrationSet& d, int64_t first) {
  std::vector<const void*> in;
  for (size_t i = 0; i < d.inputs.size(); ++i)
    in.push_back(d.inputs[i].data() + first * d.per_sample[i] * static_cast<int64_t>(d.elem_size[i]));
  return in;
}

GraphExecutor::Engine engine_of(const QuantizeOptions& o) {
  return o.reference_executor ? GraphExecutor::Engine::Reference : GraphExecutor::Engine::Cpu;
}
int threads_of(const QuantizeOptions& o) {
  return o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Runs `fn(worker, batch)` for batches 0..batches-1 on `workers` threads (the caller is worker
// 0), each batch once, in no fixed order; the first error stops the others and is returned, as
// does `stop` becoming true. Independent runs, one thread each, use two cores better than one run
// split over two (a small model's ops are too short to share), and the CPU kernels give the same
// bytes at any thread count, so the results do not depend on the number of workers.
Status parallel_batches(int workers, int64_t batches, const std::function<Status(int, int64_t)>& fn,
                        const std::atomic<bool>* stop = nullptr) {
  workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(workers, batches)));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first = Status::ok();
  auto work = [&](int w) {
    for (;;) {
      if (failed.load() || (stop && stop->load())) return;
      const int64_t b = next.fetch_add(1);
      if (b >= batches) return;
      Status st = fn(w, b);
      if (!st.is_ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) first = std::move(st);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (std::thread& t : pool) t.join();
  return first;
}

// Output 0 of the runs over the first `samples` samples, concatenated in sample order; one
// single-threaded executor per worker. `stop(batch, y)`, if given, sees each batch's output as it
// completes (under a lock, in completion order) and ends the runs when it returns true (a result
// that cannot meet the budget anymore); `done`, if given, then marks the batches that ran.
using StopFn = std::function<bool(int64_t batch, const float* y)>;
Result<std::vector<float>> run_outputs(const ir::Graph& g, const CalibrationSet& d, int64_t samples, const QuantizeOptions& o,
                                       Progress* p = nullptr, const StopFn& stop = {}, std::vector<uint8_t>* done = nullptr) {
  const ir::Value* out = g.outputs[0];
  const int64_t batches = samples / d.batch, numel = out->shape.numel();
  const int workers = static_cast<int>(std::min<int64_t>(threads_of(o), batches));
  std::vector<std::unique_ptr<GraphExecutor>> ex;
  for (int w = 0; w < workers; ++w) ex.push_back(std::make_unique<GraphExecutor>(g, engine_of(o), 1, /*outputs_only=*/true));
  std::vector<float> all(static_cast<size_t>(batches * numel));
  if (done) done->assign(static_cast<size_t>(batches), 0);
  std::mutex mu;
  std::atomic<bool> stopped{false};
  int64_t finished = 0;
  TERN_RETURN_IF_ERROR(parallel_batches(workers, batches, [&](int w, int64_t b) -> Status {
    TERN_RETURN_IF_ERROR(ex[static_cast<size_t>(w)]->run(batch_inputs(d, b * d.batch)));
    const float* y = ex[static_cast<size_t>(w)]->as<float>(out);
    std::copy(y, y + numel, all.begin() + static_cast<ptrdiff_t>(b * numel));
    std::lock_guard<std::mutex> lock(mu);
    if (done) (*done)[static_cast<size_t>(b)] = 1;
    if (p) p->update((++finished) * d.batch);
    if (stop && !stopped.load() && stop(b, y)) stopped.store(true);
    return Status::ok();
  }, &stopped));
  if (stopped.load() && !done) return TERN_ERROR(kInternal, "run_outputs stopped early without a record of the batches run");
  return all;
}

struct Metric {
  double sqnr_db = 0, drop = 0;
};

int64_t argmax_row(const float* a, int64_t classes) { return std::max_element(a, a + classes) - a; }

// labels: empty, or the class of each sample (then drop = top-1 accuracy of ref minus that of got).
Metric compare(const std::vector<float>& ref, const std::vector<float>& got, int64_t classes,
               const std::vector<int64_t>& labels) {
  Metric m;
  double sig = 0, err = 0;
  size_t n = std::min(ref.size(), got.size());
  for (size_t i = 0; i < n; ++i) {
    sig += static_cast<double>(ref[i]) * ref[i];
    double e = static_cast<double>(ref[i]) - got[i];
    err += e * e;
  }
  m.sqnr_db = err > 0 ? 10 * std::log10(std::max(sig, 1e-30) / err) : 200.0;
  if (classes > 1) {
    const int64_t rows = static_cast<int64_t>(n) / classes;
    int64_t diff = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t ca = argmax_row(ref.data() + r * classes, classes), cb = argmax_row(got.data() + r * classes, classes);
      if (labels.empty()) diff += ca != cb;
      else diff += (ca == labels[static_cast<size_t>(r)]) - (cb == labels[static_cast<size_t>(r)]);
    }
    m.drop = rows ? 100.0 * static_cast<double>(diff) / static_cast<double>(rows) : 0;
  } else {
    m.drop = sig > 0 ? 100.0 * err / sig : 0;
  }
  return m;
}

}  // namespace

Status quantize_compiled(Compiled& c, const CalibrationSet& data, const QuantizeOptions& o, QuantizeReport* rep) {
  const auto t_start = Clock::now();
  ir::Graph& g = *c.graph;
  if (g.outputs.empty() || g.outputs[0]->dtype != DType::Float32)
    return TERN_ERROR(kUnsupported, "the model's first output must be float32 to measure quantization error");
  size_t before = g.nodes().size();
  size_t folded = fold_activations(g);
  size_t before_unfuse = g.nodes().size();
  size_t unfused = unfuse_float_activations(g);
  c.log.add("unfuse-float-activation-int8", "Conv/Gemm/MatMul + fused SiLU/GELU/HardSwish/... -> int8 op + Activation (an int8 table node)",
            static_cast<uint32_t>(unfused), before_unfuse, g.nodes().size());
  c.log.add("fold-activation-int8", "Relu/Clip folded into the Conv/Gemm/MatMul before it (int8 ranges cover the activation's output)",
            static_cast<uint32_t>(folded), before, g.nodes().size());

  // --- calibration
  std::vector<const ir::Value*> observed;
  for (ir::Value* v : g.inputs)
    if (v->dtype == DType::Float32) observed.push_back(v);
  for (const auto& n : g.nodes())
    for (ir::Value* v : n->outputs)
      if (v && v->dtype == DType::Float32) observed.push_back(v);
  std::map<const ir::Value*, Observer> obs;
  for (const ir::Value* v : observed) obs[v];
  std::vector<Observer*> obs_ptr;  // (std::map nodes do not move)
  for (const ir::Value* v : observed) obs_ptr.push_back(&obs[v]);
  auto obs_of = [&](size_t i) -> Observer& { return *obs_ptr[i]; };
  // The float graph runs over the samples on one single-threaded executor per worker, each with
  // its own observers, merged after each pass (ranges by min / max, histograms by adding integer
  // counts): the result is the same for any number of workers. The first pass's output 0 is also
  // the reference the int8 evaluations are measured against.
  const ir::Value* y0 = g.outputs[0];
  const int64_t batches = data.count / data.batch, y0_numel = y0->shape.numel();
  const int workers = static_cast<int>(std::min<int64_t>(threads_of(o), batches));
  std::vector<std::unique_ptr<GraphExecutor>> cex;
  for (int w = 0; w < workers; ++w) cex.push_back(std::make_unique<GraphExecutor>(g, engine_of(o), 1));
  std::vector<std::vector<Observer>> wobs(static_cast<size_t>(workers));
  std::vector<float> ref_all(static_cast<size_t>(batches * y0_numel));
  const bool hist = true;  // auto, mse, percentile and entropy need it; minmax reports its MSE too
  for (int pass = 0; pass < (hist ? 2 : 1); ++pass) {
    Progress p(o.progress, pass == 0 ? "calibrating (ranges)" : "calibrating (histograms)", data.count);
    for (auto& wo : wobs) {  // pass 0: empty; pass 1: the merged ranges, empty histograms
      wo.clear();
      for (size_t i = 0; i < observed.size(); ++i) wo.push_back(pass == 0 ? Observer() : obs_of(i));
    }
    std::mutex mu;
    int64_t finished = 0;
    TERN_RETURN_IF_ERROR(parallel_batches(workers, batches, [&](int w, int64_t b) -> Status {
      GraphExecutor& ex = *cex[static_cast<size_t>(w)];
      TERN_RETURN_IF_ERROR(ex.run(batch_inputs(data, b * data.batch)));
      if (pass == 0) {
        const float* y = ex.as<float>(y0);
        std::copy(y, y + y0_numel, ref_all.begin() + static_cast<ptrdiff_t>(b * y0_numel));
      }
      std::vector<Observer>& wo = wobs[static_cast<size_t>(w)];
      for (size_t i = 0; i < observed.size(); ++i) {
        const ir::Value* v = observed[i];
        if (pass == 0) wo[i].observe_range(ex.as<float>(v), v->shape.numel());
        else wo[i].observe_histogram(ex.as<float>(v), v->shape.numel());
      }
      std::lock_guard<std::mutex> lock(mu);
      p.update((++finished) * data.batch);
      return Status::ok();
    }));
    for (const auto& wo : wobs)
      for (size_t i = 0; i < observed.size(); ++i) {
        if (pass == 0) obs_of(i).merge_range(wo[i]);
        else obs_of(i).merge_histogram(wo[i]);
      }
  }
  cex.clear();
  wobs.clear();
  rep->calib_seconds = since(t_start);
  rep->samples = data.count;
  rep->method = method_name(o.method);
  std::map<const ir::Value*, Range> ranges;
  std::map<const ir::Value*, Method> chosen;
  for (auto& [v, ob] : obs) {
    Range r;
    Method m = o.method;
    ob.range(o.method, &r.lo, &r.hi, &m);
    // LIF spikes are exactly 0 or 1: [0, 1] gives scale 1/255 and zero point -128, so both levels are
    // exact in int8 (q = -128 and 127) whatever clipping a method would pick.
    if (v->producer && v->producer->op == OpType::LIF && v == v->producer->outputs[0]) {
      r = {0.0f, 1.0f};
      m = Method::MinMax;
    }
    ranges[v] = r;
    chosen[v] = m;
  }

  // --- candidates and the float reference
  std::vector<const ir::Node*> cand;
  for (const auto& n : g.nodes())
    if (is_quantizable(*n) && (o.int8_attention || n->op != OpType::Attention)) cand.push_back(n.get());
  const ir::Value* out0 = g.outputs[0];
  const int64_t classes = out0->shape.rank == 2 && out0->shape[1] > 1 ? out0->shape[1] : 0;
  const bool use_labels = classes && !o.labels.empty();
  if (use_labels && (out0->shape[0] != data.batch || static_cast<int64_t>(o.labels.size()) < data.count))
    return TERN_ERROR(kInvalidArgument, "--calib-labels: %zu labels for %lld calibration samples (output %s); one class per sample is needed",
                      o.labels.size(), static_cast<long long>(data.count), out0->shape.str().c_str());
  if (use_labels)
    for (int64_t i = 0; i < data.count; ++i)
      if (o.labels[static_cast<size_t>(i)] < 0 || o.labels[static_cast<size_t>(i)] >= classes)
        return TERN_ERROR(kInvalidArgument, "--calib-labels: label %lld of sample %lld is outside the model's %lld classes",
                          static_cast<long long>(o.labels[static_cast<size_t>(i)]), static_cast<long long>(i),
                          static_cast<long long>(classes));
  static const std::vector<int64_t> kNoLabels;
  const std::vector<int64_t>& labels = use_labels ? o.labels : kNoLabels;
  rep->drop_metric = !classes ? "relative error %" : use_labels ? "top-1 drop (labels) %" : "top-1 disagreement %";
  // Sensitivity costs one int8 run per candidate layer and sample: at most kSensitivityRuns in all
  // (models with more than 64 candidates rank them on fewer samples, at least 8).
  constexpr int64_t kSensitivityRuns = 2048;
  const int64_t sens_want = std::min<int64_t>(o.sensitivity_samples,
                                              std::max<int64_t>(8, kSensitivityRuns / std::max<int64_t>(1, static_cast<int64_t>(cand.size()))));
  const int64_t sens_n = std::min(data.count, std::max(sens_want - sens_want % data.batch, data.batch));
  std::vector<float> ref_sens(ref_all.begin(), ref_all.begin() + static_cast<ptrdiff_t>(sens_n / data.batch * out0->shape.numel()));

  // A classifier's budget counts samples (top-1 flips, or with labels accuracy lost): once the
  // samples seen so far exceed it by more than the remaining ones could win back (disagreement
  // never shrinks; a labelled drop shrinks by at most one per sample), the set fails whatever
  // the rest gives, so `budgeted` evaluations stop there: the same decision, without the runs.
  const int64_t out_numel = out0->shape.numel();
  // `eo`: the options of the runs (the sensitivity runs evaluate several sets at once, one worker each).
  auto evaluate = [&](const std::set<const ir::Node*>& set, int64_t samples, const std::vector<float>& ref,
                      Progress* p, bool budgeted = false, const QuantizeOptions* eo = nullptr)
      -> Result<std::pair<std::unique_ptr<ir::Graph>, Metric>> {
    TERN_ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> q, build_quantized(g, ranges, set, o.per_channel));
    StopFn stop;
    const int64_t batches = samples / data.batch, batch_rows = out0->shape[0];
    const int64_t total = batches * batch_rows;  // output rows of the whole evaluation
    int64_t rows = 0, diff = 0;                  // counted so far, over the batches completed
    if (budgeted && classes > 1 && o.max_drop >= 0)
      stop = [&](int64_t b, const float* got) {
        for (int64_t r = 0; r < batch_rows; ++r) {
          const int64_t row = b * batch_rows + r;
          const int64_t ca = argmax_row(ref.data() + row * classes, classes), cb = argmax_row(got + r * classes, classes);
          diff += labels.empty() ? ca != cb : (ca == labels[static_cast<size_t>(row)]) - (cb == labels[static_cast<size_t>(row)]);
        }
        rows += batch_rows;
        const int64_t can_recover = labels.empty() ? 0 : total - rows;
        return 100.0 * static_cast<double>(diff - can_recover) / static_cast<double>(total) > o.max_drop;
      };
    std::vector<uint8_t> done;
    TERN_ASSIGN_OR_RETURN(std::vector<float> got, run_outputs(*q, data, samples, eo ? *eo : o, p, stop, &done));
    if (std::count(done.begin(), done.end(), 1) < batches) {
      // Stopped early: over the budget by construction (the SQNR covers the batches that ran).
      std::vector<float> ref_run, got_run;
      for (int64_t b = 0; b < batches; ++b)
        if (done[static_cast<size_t>(b)]) {
          ref_run.insert(ref_run.end(), ref.begin() + b * out_numel, ref.begin() + (b + 1) * out_numel);
          got_run.insert(got_run.end(), got.begin() + b * out_numel, got.begin() + (b + 1) * out_numel);
        }
      Metric m = compare(ref_run, got_run, classes, {});
      m.drop = std::numeric_limits<double>::infinity();
      if (p) p->update(samples);
      return std::make_pair(std::move(q), m);
    }
    // (sensitivity runs use the first samples only; the labels line up with them)
    Metric m = compare(ref, got, classes, labels);
    return std::make_pair(std::move(q), m);
  };

  // --- all int8; over budget, keep the k most sensitive layers in fp32 with the smallest k that
  // meets it, found by bisection (the error is close to monotonic in k; all fp32 meets any budget).
  std::vector<const ir::Node*> order = cand;
  std::map<const ir::Node*, double> sens;
  auto int8_set = [&](size_t k) { return std::set<const ir::Node*>(order.begin() + static_cast<ptrdiff_t>(k), order.end()); };
  std::unique_ptr<ir::Graph> best;
  Metric best_m;
  size_t best_k = 0;
  {
    Progress p(o.progress, "evaluating int8", data.count);
    TERN_ASSIGN_OR_RETURN(auto r, evaluate(int8_set(0), data.count, ref_all, &p, /*budgeted=*/true));
    best = std::move(r.first);
    best_m = r.second;
  }
  const bool over = o.max_drop >= 0 && best_m.drop > o.max_drop && !order.empty();
  if (over || o.layer_sqnr) {
    // sensitivity of each layer alone: the model output's SQNR with only that layer in int8
    {
      Progress p(o.progress && !cand.empty(), "sensitivity", static_cast<int64_t>(cand.size()) * sens_n);
      // one candidate per worker at a time, each run single-threaded
      QuantizeOptions one = o;
      one.threads = 1;
      std::vector<double> sqnr(cand.size());
      std::mutex mu;
      int64_t finished = 0;
      TERN_RETURN_IF_ERROR(parallel_batches(threads_of(o), static_cast<int64_t>(cand.size()), [&](int, int64_t i) -> Status {
        TERN_ASSIGN_OR_RETURN(auto r, evaluate({cand[static_cast<size_t>(i)]}, sens_n, ref_sens, nullptr, false, &one));
        sqnr[static_cast<size_t>(i)] = r.second.sqnr_db;
        std::lock_guard<std::mutex> lock(mu);
        p.update((++finished) * sens_n);
        return Status::ok();
      }));
      for (size_t i = 0; i < cand.size(); ++i) sens[cand[i]] = sqnr[i];
    }
    std::stable_sort(order.begin(), order.end(), [&](const ir::Node* a, const ir::Node* b) { return sens[a] < sens[b]; });
  }
  if (over) {
    size_t lo = 0, hi = order.size();
    std::unique_ptr<ir::Graph> hi_graph;
    Metric hi_m;
    while (hi - lo > 1 || !hi_graph) {
      size_t mid = hi - lo > 1 ? (lo + hi) / 2 : hi;
      Progress p(o.progress, "mixed precision", data.count);
      TERN_ASSIGN_OR_RETURN(auto r, evaluate(int8_set(mid), data.count, ref_all, &p, /*budgeted=*/true));
      if (r.second.drop <= o.max_drop || mid == order.size()) {
        hi = mid;
        hi_graph = std::move(r.first);
        hi_m = r.second;
      } else {
        lo = mid;
      }
    }
    best = std::move(hi_graph);
    best_m = hi_m;
    best_k = hi;
  }
  std::set<const ir::Node*> int8 = int8_set(best_k);
  // Bisection keeps a prefix of the sensitivity order; the layers' errors do not add up exactly
  // (one sensitive layer can cover another's budget), so each kept layer is tried back in int8,
  // least sensitive first, and stays int8 where the whole model still meets the budget. Each try
  // is a full evaluation, so at most kRefineTries of them (the least sensitive kept layers).
  constexpr size_t kRefineTries = 8;
  const size_t refine_end = best_k > kRefineTries ? best_k - kRefineTries : 0;
  for (size_t i = best_k; i-- > refine_end;) {
    std::set<const ir::Node*> trial = int8;
    trial.insert(order[i]);
    char what[64];
    std::snprintf(what, sizeof what, "mixed precision (refine %zu/%zu)", best_k - i, best_k - refine_end);
    Progress p(o.progress, what, data.count);
    TERN_ASSIGN_OR_RETURN(auto r, evaluate(trial, data.count, ref_all, &p, /*budgeted=*/true));
    if (r.second.drop <= o.max_drop) {
      int8 = std::move(trial);
      best = std::move(r.first);
      best_m = r.second;
    }
  }
  std::set<const ir::Node*> backed_off;
  for (const ir::Node* n : cand)
    if (!int8.count(n)) backed_off.insert(n);
  rep->sqnr_db = best_m.sqnr_db;
  rep->drop = best_m.drop;

  // --- report
  // A node of the int8 set that the rewrite left in fp32 (an Attention whose bias does not fit the
  // int8 score grid, rewrite.cpp) still produces its float output itself.
  std::set<std::string> left_fp32;
  for (const auto& m : best->nodes())
    if (m->op != OpType::QuantizeLinear && m->op != OpType::DequantizeLinear)
      for (const ir::Value* v : m->outputs)
        if (v && v->dtype == DType::Float32) left_fp32.insert(v->name);
  for (const ir::Node* n : cand) {
    LayerReport lr;
    lr.name = n->name;
    lr.op = ops::op_name(n->op);
    const bool rewritten = !left_fp32.count(n->outputs[0]->name);
    lr.precision = int8.count(n) && rewritten ? "int8" : "fp32";
    const ir::Value* y = n->outputs[0];
    lr.lo = ranges[y].lo;
    lr.hi = ranges[y].hi;
    float s;
    int32_t z;
    tern::quant::choose_activation_params(lr.lo, lr.hi, &s, &z);
    lr.scale = s;
    lr.zero_point = z;
    lr.sqnr_db = sens.count(n) ? sens[n] : NAN;  // not measured (no --report, budget held)
    lr.reason = backed_off.count(n) ? "kept fp32: most sensitive while over the error budget"
                : !rewritten            ? "kept fp32: its bias does not fit the int8 score range"
                                        : std::string("range by ") + method_name(chosen[y]);
    rep->layers.push_back(lr);
  }
  rep->int8_nodes = 0;
  rep->fp32_nodes = 0;
  for (const auto& n : best->nodes()) {
    if (n->op == OpType::QuantizeLinear || n->op == OpType::DequantizeLinear) continue;
    bool q = false;
    for (const ir::Value* v : n->outputs) q |= v && v->dtype == DType::Int8;
    (q ? rep->int8_nodes : rep->fp32_nodes)++;
  }
  rep->fp32_by_sensitivity = static_cast<int>(backed_off.size());
  char pattern[256];
  std::snprintf(pattern, sizeof pattern, "%d nodes int8, %d fp32 (%d by sensitivity); ranges by %s; output SQNR %.1f dB, %s %.2f",
                rep->int8_nodes, rep->fp32_nodes, rep->fp32_by_sensitivity, method_name(o.method), best_m.sqnr_db,
                rep->drop_metric.c_str(), best_m.drop);
  c.log.add("quantize-int8", pattern, static_cast<uint32_t>(rep->int8_nodes), g.nodes().size(), best->nodes().size());
  c.graph = std::move(best);
  rep->total_seconds = since(t_start);
  return Status::ok();
}

}  // namespace tern::compiler::quant
