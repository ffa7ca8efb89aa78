// Threads for the CPU backend: one `Threads` object per prepared CPU executable, sized by
// BackendOptions::num_threads. It owns the pthreadpool that XNNPACK operators run on and a oneTBB
// task_arena that Tern's own kernels run in (through parallel_for), so one setting governs both.
//
// Thread safety: a Threads object serves one executable, which runs one node at a time; calls to
// parallel_for must not overlap (they never do: execute() is not reentrant). With one thread
// nothing is created and every call runs inline on the caller's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "core/status.h"

struct pthreadpool;

namespace tern::cpu {

class Threads {
 public:
  // num_threads >= 1. Fails only when a pool cannot be created.
  static Result<std::unique_ptr<Threads>> create(int num_threads);
  ~Threads();
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

  int num_threads() const { return num_threads_; }
  // The pool XNNPACK runs on; nullptr with one thread (XNNPACK then runs on the caller).
  pthreadpool* pool() const { return pool_; }
  // The pool for one XNNPACK operator of about `work` flops (or elements): nullptr, so that it runs
  // on the caller alone, when waking the other threads would cost more than they save (a few us per
  // operator here: mobilevit_fm took 0.85 ms at 2 threads against 0.21 ms at 1 before this).
  static constexpr double kMinParallelWork = 262144.0;
  pthreadpool* pool_for(double work) const { return work < kMinParallelWork ? nullptr : pool_; }

  // Calls fn(lo, hi) over disjoint chunks covering [begin, end), each at most `grain` long (the last
  // may be shorter), possibly in parallel. Runs inline when there is one thread or one chunk.
  // Does not allocate: fn is passed by reference.
  template <typename Fn>
  void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
    if (end <= begin) return;
    if (grain < 1) grain = 1;
    if (num_threads_ == 1 || end - begin <= grain) {
      for (int64_t lo = begin; lo < end; lo += grain) fn(lo, lo + grain < end ? lo + grain : end);
      return;
    }
    using F = std::remove_reference_t<Fn>;
    run_chunks(begin, end, grain, [](void* f, int64_t lo, int64_t hi) { (*static_cast<F*>(f))(lo, hi); },
               const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  explicit Threads(int n);
  using ChunkFn = void (*)(void*, int64_t, int64_t);
  void run_chunks(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, void* ctx);

  int num_threads_ = 1;
  pthreadpool* pool_ = nullptr;
  struct Arena;  // the oneTBB arena (kept out of this header)
  std::unique_ptr<Arena> arena_;
};

}  // namespace tern::cpu
