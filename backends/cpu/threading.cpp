#include "cpu/threading.h"

#if TERN_HAVE_XNNPACK
#include <pthreadpool.h>
#endif
#if TERN_HAVE_TBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

namespace tern::cpu {

struct Threads::Arena {
#if TERN_HAVE_TBB
  explicit Arena(int n) : arena(n) {}
  tbb::task_arena arena;
#endif
};

Result<std::unique_ptr<Threads>> Threads::create(int num_threads) {
  if (num_threads < 1) return TERN_ERROR(kInvalidArgument, "the CPU backend needs at least 1 thread, not %d", num_threads);
  std::unique_ptr<Threads> t(new Threads(num_threads));
  if (num_threads == 1) return t;
#if TERN_HAVE_XNNPACK
  t->pool_ = pthreadpool_create(static_cast<size_t>(num_threads));
  if (!t->pool_) return TERN_ERROR(kOutOfMemory, "cannot create a thread pool of %d threads", num_threads);
#endif
#if TERN_HAVE_TBB
  t->arena_ = std::make_unique<Arena>(num_threads);
  t->arena_->arena.initialize();  // create the arena now (prepare), not on the first run
#endif
  return t;
}

Threads::Threads(int n) : num_threads_(n) {}

Threads::~Threads() {
#if TERN_HAVE_XNNPACK
  if (pool_) pthreadpool_destroy(pool_);
#endif
}

void Threads::run_chunks(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, void* ctx) {
#if TERN_HAVE_TBB
  // simple_partitioner with the grain gives chunks of at most `grain` iterations, as promised.
  arena_->arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(begin, end, grain),
        [&](const tbb::blocked_range<int64_t>& r) { fn(ctx, r.begin(), r.end()); }, tbb::simple_partitioner());
  });
#elif TERN_HAVE_XNNPACK
  // No oneTBB in this build: share XNNPACK's pool.
  struct Job {
    ChunkFn fn;
    void* ctx;
    int64_t begin, end;
  } job{fn, ctx, begin, end};
  pthreadpool_parallelize_1d_tile_1d(
      pool_,
      [](void* p, size_t start, size_t n) {
        auto* j = static_cast<Job*>(p);
        j->fn(j->ctx, j->begin + static_cast<int64_t>(start), j->begin + static_cast<int64_t>(start + n));
      },
      &job, static_cast<size_t>(end - begin), static_cast<size_t>(grain), 0);
#else
  for (int64_t lo = begin; lo < end; lo += grain) fn(ctx, lo, lo + grain < end ? lo + grain : end);
#endif
}

}  // namespace tern::cpu
