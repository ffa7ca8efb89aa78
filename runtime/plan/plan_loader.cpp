// Plan loading and verification. Everything read from the file is untrusted until checked here.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/plan_format.h"
#include "core/prefault.h"
#include "ops/op_defs.h"
#include "plan/plan.h"

#include "core/prefault.h"

namespace tern {

namespace {

Status bad(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status bad(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string msg = "invalid plan: " + str_vformat(fmt, args);
  va_end(args);
  return Status(StatusCode::kInvalidPlan, std::move(msg));
}

// a + b <= limit without overflow
bool fits(uint64_t a, uint64_t b, uint64_t limit) { return a <= limit && b <= limit - a; }

// product of dims * elem_size, false on overflow or if any dim is negative
bool checked_bytes(const Shape& s, size_t elem, uint64_t* out) {
  uint64_t n = elem;
  for (int i = 0; i < s.rank; ++i) {
    if (s.dims[i] < 0) return false;
    uint64_t d = static_cast<uint64_t>(s.dims[i]);
    if (d != 0 && n > UINT64_MAX / d) return false;
    n *= d;
  }
  *out = n;
  return true;
}

}  // namespace

Plan::~Plan() {
  if (mapping_) munmap(mapping_, size_);
  std::free(owned_);
}

uint64_t Plan::total_constant_bytes() const {
  uint64_t n = 0;
  for (const TensorDesc& t : tensors_)
    if (t.storage == fb::Storage::Constant) n += t.size;
  return n;
}

void Plan::release_constant_pages(uint32_t t) const {
  if (!mapping_ || t >= tensors_.size() || tensors_[t].storage != fb::Storage::Constant) return;
  release_range(tensors_[t].const_data, tensors_[t].size);
}

void Plan::release_range(const void* data, uint64_t size) const {
  if (!mapping_) return;
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return;
  const uintptr_t p = static_cast<uintptr_t>(page);
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + p - 1) / p * p;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) / p * p;
  // Only the interior pages: a partial page at either end may hold a neighbour still in use (it
  // would re-fault too, but there is no gain in dropping it). Failure just leaves pages resident.
  if (end <= begin) return;
  // First stop the kernel from mapping the file's large page-cache folios as 2 MiB huge pages: a
  // later read of a small constant next to a dropped range would otherwise map the whole 2 MiB
  // again. Idempotent and cheap; faults already taken keep their mappings.
#ifdef MADV_NOHUGEPAGE
  madvise(mapping_, size_, MADV_NOHUGEPAGE);
#endif
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Result<std::shared_ptr<const Plan>> Plan::load_file(const std::string& path, uint32_t flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return TERN_ERROR(kIoError, "cannot open plan file '%s': %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return TERN_ERROR(kIoError, "cannot stat plan file '%s': %s", path.c_str(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return TERN_ERROR(kIoError, "plan file '%s' is not a regular file", path.c_str());
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < sizeof(FileHeader)) {
    ::close(fd);
    return TERN_ERROR(kInvalidPlan, "'%s' is not a Tern plan: it has %zu bytes, less than the %zu-byte header",
                      path.c_str(), size, sizeof(FileHeader));
  }
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) return TERN_ERROR(kIoError, "cannot map plan file '%s': %s", path.c_str(), std::strerror(e));
  std::shared_ptr<Plan> p(new Plan());
  p->mapping_ = m;
  p->data_ = static_cast<const uint8_t*>(m);
  p->size_ = size;
  Status s = p->parse(flags);
  if (!s.is_ok()) return Status(s.code(), "'" + path + "': " + s.message());
  return std::shared_ptr<const Plan>(std::move(p));
}

Result<std::shared_ptr<const Plan>> Plan::load_memory(const void* data, size_t size, uint32_t flags) {
  if (!data && size) return TERN_ERROR(kInvalidArgument, "plan data is null");
  if (size < sizeof(FileHeader))
    return TERN_ERROR(kInvalidPlan, "not a Tern plan: %zu bytes, less than the %zu-byte header", size, sizeof(FileHeader));
  std::shared_ptr<Plan> p(new Plan());
  bool aligned = reinterpret_cast<uintptr_t>(data) % kSegmentAlignment == 0;
  if ((flags & kLoadCopy) || !aligned) {
    p->owned_ = std::aligned_alloc(kSegmentAlignment, align_up(size, kSegmentAlignment));
    if (!p->owned_) return TERN_ERROR(kOutOfMemory, "cannot allocate %zu bytes to copy the plan", size);
    std::memcpy(p->owned_, data, size);
    p->data_ = static_cast<const uint8_t*>(p->owned_);
  } else {
    p->data_ = static_cast<const uint8_t*>(data);
  }
  p->size_ = size;
  TERN_RETURN_IF_ERROR(p->parse(flags));
  return std::shared_ptr<const Plan>(std::move(p));
}

Status Plan::parse(uint32_t flags) {
  // --- container header
  FileHeader h;
  std::memcpy(&h, data_, sizeof(h));
  if (std::memcmp(h.magic, kPlanMagic, sizeof(h.magic)) != 0)
    return TERN_ERROR(kInvalidPlan, "not a Tern plan (the file does not start with \"TERNPLAN\"; "
                                    "compile an ONNX model with `tern compile` first)");
  if (h.format_version != kFormatVersion)
    return bad("container format version %u; this runtime reads version %u", h.format_version, kFormatVersion);
  if (h.file_size != size_)
    return bad("the file is %s: the header says %llu bytes, there are %zu", h.file_size > size_ ? "truncated" : "longer than recorded",
               static_cast<unsigned long long>(h.file_size), size_);
  if (h.flatbuffer_offset != sizeof(FileHeader) || !fits(h.flatbuffer_offset, h.flatbuffer_size, size_) ||
      h.flatbuffer_size < 8 || h.flatbuffer_size > 0x7fffffffu)
    return bad("the FlatBuffer range [%llu, +%llu) does not fit the %zu-byte file",
               static_cast<unsigned long long>(h.flatbuffer_offset), static_cast<unsigned long long>(h.flatbuffer_size), size_);
  const uint8_t* fbuf = data_ + h.flatbuffer_offset;
  size_t fsize = static_cast<size_t>(h.flatbuffer_size);
  if (plan_hash(fbuf, fsize) != h.flatbuffer_hash) return bad("the FlatBuffer's checksum does not match (the file is corrupted)");
  if (!fb::PlanBufferHasIdentifier(fbuf)) return bad("the FlatBuffer lacks the \"TERN\" file identifier");
  flatbuffers::Verifier verifier(fbuf, fsize, /*max_depth=*/64, /*max_tables=*/10000000);
  if (!fb::VerifyPlanBuffer(verifier)) return bad("the FlatBuffer failed verification");
  fb_ = fb::GetPlan(fbuf);
  if (fb_->version() != kPlanVersion)
    return bad("schema version %u; this runtime reads version %u (recompile the model with a matching `tern`)",
               fb_->version(), kPlanVersion);

  // --- arenas and segments
  uint64_t data_start = align_up(h.flatbuffer_offset + h.flatbuffer_size, kSegmentAlignment);
  if (fb_->arenas())
    for (const fb::Arena* a : *fb_->arenas()) {
      if (a->alignment() == 0 || a->alignment() > 4096 || (a->alignment() & (a->alignment() - 1)))
        return bad("arena alignment %u is not a power of two up to 4096", a->alignment());
      arena_sizes_.push_back(a->size());
    }
  std::vector<std::pair<uint64_t, uint64_t>> segments;
  if (fb_->segments())
    for (uint32_t i = 0; i < fb_->segments()->size(); ++i) {
      const fb::Segment* s = fb_->segments()->Get(i);
      if (s->offset() % kSegmentAlignment || s->offset() < data_start || !fits(s->offset(), s->size(), size_))
        return bad("constant segment %u [%llu, +%llu) is misaligned or outside the %zu-byte file%s", i,
                   static_cast<unsigned long long>(s->offset()), static_cast<unsigned long long>(s->size()), size_,
                   s->offset() + s->size() > size_ ? " (the file is truncated)" : "");
      if (!(flags & kLoadSkipWeightChecksums)) {
        if (mapping_) prefault_read(data_ + s->offset(), s->size());  // one call, not a fault per page
        if (plan_hash(data_ + s->offset(), s->size()) != s->checksum())
          return bad("constant segment %u fails its checksum (the weights are corrupted)", i);
        // Hashing faulted the whole segment in; kernels read only part of it (not the originals of
        // weights they pack, nor a prepacked copy another CPU's kernels would use), so let the OS
        // drop it again: what is read later re-faults from the page cache. Keeps peak memory at
        // what the session uses, not the file size.
        release_range(data_ + s->offset(), s->size());
      }
      segments.emplace_back(s->offset(), s->size());
    }

  // --- tensors
  const auto* ft = fb_->tensors();
  size_t nt = ft ? ft->size() : 0;
  tensors_.resize(nt);
  for (size_t i = 0; i < nt; ++i) {
    const fb::Tensor* t = ft->Get(static_cast<uint32_t>(i));
    TensorDesc& d = tensors_[i];
    d.name = t->name() ? t->name()->str() : ("tensor" + std::to_string(i));
    d.dtype = t->dtype();
    if (!dtype_valid(d.dtype)) return bad("tensor '%s' has an invalid dtype %d", d.name.c_str(), static_cast<int>(d.dtype));
    if (t->shape()) {
      if (t->shape()->size() > static_cast<uint32_t>(kMaxRank))
        return bad("tensor '%s' has rank %u; at most %d is supported", d.name.c_str(), t->shape()->size(), kMaxRank);
      for (int64_t v : *t->shape()) {
        if (v < 0) return bad("tensor '%s' has a negative dimension", d.name.c_str());
        d.shape.dims[d.shape.rank++] = v;
      }
    }
    uint64_t bytes;
    if (!checked_bytes(d.shape, dtype_size(d.dtype), &bytes) || bytes != t->size())
      return bad("tensor '%s' (%s %s) records %llu bytes", d.name.c_str(), dtype_name(d.dtype), d.shape.str().c_str(),
                 static_cast<unsigned long long>(t->size()));
    d.storage = t->storage();
    d.buffer = t->buffer();
    d.offset = t->offset();
    d.size = t->size();
    if (d.storage == fb::Storage::Arena) {
      if (d.buffer >= arena_sizes_.size() || !fits(d.offset, d.size, arena_sizes_[d.buffer]))
        return bad("tensor '%s' [%llu, +%llu) lies outside arena %u", d.name.c_str(),
                   static_cast<unsigned long long>(d.offset), static_cast<unsigned long long>(d.size), d.buffer);
      if (d.offset % kSegmentAlignment) return bad("tensor '%s' is not 64-byte aligned in its arena", d.name.c_str());
    } else if (d.storage == fb::Storage::Constant) {
      if (d.buffer >= segments.size() || !fits(d.offset, d.size, segments[d.buffer].second))
        return bad("constant tensor '%s' lies outside segment %u", d.name.c_str(), d.buffer);
      if (d.offset % dtype_size(d.dtype)) return bad("constant tensor '%s' is misaligned", d.name.c_str());
      d.const_data = data_ + segments[d.buffer].first + d.offset;
    } else {
      return bad("tensor '%s' has an unknown storage kind", d.name.c_str());
    }
    if (const fb::Quantization* q = t->quantization()) {
      size_t ns = q->scale() ? q->scale()->size() : 0, nz = q->zero_point() ? q->zero_point()->size() : 0;
      if (ns == 0 || (nz != 0 && nz != ns)) return bad("tensor '%s' has %zu scales and %zu zero points", d.name.c_str(), ns, nz);
      if (ns > 1 && (q->axis() < 0 || q->axis() >= d.shape.rank || d.shape.dims[q->axis()] != static_cast<int64_t>(ns)))
        return bad("tensor '%s' has %zu per-channel scales that do not match axis %d of %s", d.name.c_str(), ns, q->axis(),
                   d.shape.str().c_str());
      d.has_quant = true;
      d.scales.assign(q->scale()->begin(), q->scale()->end());
      d.zero_points.assign(ns, 0);
      if (nz) d.zero_points.assign(q->zero_point()->begin(), q->zero_point()->end());
      for (float s : d.scales)
        if (!(s > 0) || !std::isfinite(s)) return bad("tensor '%s' has a non-positive or non-finite scale", d.name.c_str());
      d.quant = {d.scales.data(), d.zero_points.data(), static_cast<int>(ns), ns > 1 ? q->axis() : -1};
    }
  }

  // --- graph inputs/outputs
  auto read_index_list = [&](const flatbuffers::Vector<uint32_t>* v, std::vector<uint32_t>* out, const char* what) -> Status {
    if (!v) return Status::ok();
    for (uint32_t x : *v) {
      if (x >= nt) return bad("%s index %u is out of range (%zu tensors)", what, x, nt);
      out->push_back(x);
    }
    return Status::ok();
  };
  TERN_RETURN_IF_ERROR(read_index_list(fb_->inputs(), &inputs_, "graph input"));
  TERN_RETURN_IF_ERROR(read_index_list(fb_->outputs(), &outputs_, "graph output"));
  std::vector<uint8_t> available(nt, 0);  // 1 once a tensor holds its value in execution order
  for (size_t i = 0; i < nt; ++i) available[i] = tensors_[i].storage == fb::Storage::Constant;
  for (uint32_t i : inputs_) {
    if (tensors_[i].storage != fb::Storage::Arena) return bad("graph input '%s' is not an arena tensor", tensors_[i].name.c_str());
    if (available[i] == 2) return bad("graph input '%s' is listed twice", tensors_[i].name.c_str());
    available[i] = 2;
  }

  // --- nodes, in execution order, re-inferred
  const auto* fnodes = fb_->nodes();
  size_t nn = fnodes ? fnodes->size() : 0;
  nodes_.resize(nn);
  std::vector<const TensorInfo*> in_ptrs;
  std::vector<TensorInfo> in_infos, out_infos;
  for (size_t n = 0; n < nn; ++n) {
    const fb::Node* fn = fnodes->Get(static_cast<uint32_t>(n));
    NodeDesc& nd = nodes_[n];
    nd.name = fn->name() ? fn->name()->str() : ("node" + std::to_string(n));
    nd.op = fn->op();
    const ops::OpDef* def = ops::op_def(nd.op);
    if (!def) return bad("node '%s' has an unknown op type %d", nd.name.c_str(), static_cast<int>(nd.op));
    if (fn->options_type() != fb::NodeOptions::NONE) {
      nd.options.type = fn->options_type();
      nd.options.value = fb::NodeOptionsUnion::UnPack(fn->options(), fn->options_type(), nullptr);
      if (!nd.options.value) return bad("node '%s' has options of an unknown kind", nd.name.c_str());
    }
    if (fn->inputs()) nd.inputs.assign(fn->inputs()->begin(), fn->inputs()->end());
    if (fn->outputs()) nd.outputs.assign(fn->outputs()->begin(), fn->outputs()->end());
    in_infos.assign(nd.inputs.size(), TensorInfo{});
    in_ptrs.assign(nd.inputs.size(), nullptr);
    for (size_t k = 0; k < nd.inputs.size(); ++k) {
      int32_t ti = nd.inputs[k];
      if (ti == -1) continue;
      if (ti < 0 || static_cast<size_t>(ti) >= nt) return bad("node '%s' input %zu refers to tensor %d of %zu", nd.name.c_str(), k, ti, nt);
      if (!available[static_cast<size_t>(ti)])
        return bad("node '%s' reads tensor '%s' before any node writes it", nd.name.c_str(), tensors_[static_cast<size_t>(ti)].name.c_str());
      const TensorDesc& td = tensors_[static_cast<size_t>(ti)];
      in_infos[k] = {td.dtype, td.shape, td.const_data};
      in_ptrs[k] = &in_infos[k];
    }
    out_infos.assign(nd.outputs.size(), TensorInfo{});
    for (size_t k = 0; k < nd.outputs.size(); ++k) {
      int32_t ti = nd.outputs[k];
      if (ti == -1) continue;  // an optional output nobody uses
      if (ti < 0 || static_cast<size_t>(ti) >= nt) return bad("node '%s' output %zu refers to tensor %d of %zu", nd.name.c_str(), k, ti, nt);
      TensorDesc& td = tensors_[static_cast<size_t>(ti)];
      if (td.storage != fb::Storage::Arena || available[static_cast<size_t>(ti)])
        return bad("node '%s' writes tensor '%s', which is a constant, a graph input or written before", nd.name.c_str(), td.name.c_str());
      available[static_cast<size_t>(ti)] = 1;
      td.producer = static_cast<int32_t>(n);
    }
    ops::InferContext ic;
    ic.node_name = nd.name.c_str();
    ic.op = nd.op;
    ic.options = &nd.options;
    ic.inputs = in_ptrs;
    ic.outputs = out_infos;
    Status s = ops::infer_node(ic);
    if (!s.is_ok()) return Status(StatusCode::kInvalidPlan, "invalid plan: " + s.message());
    for (size_t k = 0; k < nd.outputs.size(); ++k) {
      if (nd.outputs[k] == -1) continue;
      const TensorDesc& td = tensors_[static_cast<size_t>(nd.outputs[k])];
      if (td.dtype != out_infos[k].dtype || td.shape != out_infos[k].shape)
        return bad("node '%s' (%s) output '%s' is recorded as %s %s but the op yields %s %s", nd.name.c_str(), def->name,
                   td.name.c_str(), dtype_name(td.dtype), td.shape.str().c_str(), dtype_name(out_infos[k].dtype),
                   out_infos[k].shape.str().c_str());
    }
  }
  for (uint32_t o : outputs_)
    if (!available[o]) return bad("graph output '%s' is never written", tensors_[o].name.c_str());

  // --- partitions: consecutive, covering every node once
  if (fb_->partitions() && fb_->partitions()->size()) {
    uint64_t next = 0;
    for (const fb::Partition* p : *fb_->partitions()) {
      if (p->first_node() != next || !fits(p->first_node(), p->num_nodes(), nn) || !p->backend())
        return bad("partitions do not cover the %zu nodes in order", nn);
      next += p->num_nodes();
      if (p->fp16_storage() && p->backend()->str() != "vulkan")
        return bad("partition at node %u is marked fp16_storage on backend '%s' (Vulkan only)", p->first_node(), p->backend()->c_str());
      partitions_.push_back(
          {p->backend()->str(), p->first_node(), p->num_nodes(), p->reason() ? p->reason()->str() : "", p->fp16_storage()});
    }
    if (next != nn) return bad("partitions cover %llu of %zu nodes", static_cast<unsigned long long>(next), nn);
  } else {
    partitions_.push_back({"cpu", 0, static_cast<uint32_t>(nn), "single partition"});
  }

  // --- constants packed at compile time (--prepack): inside their segment, aligned, one per node and layout
  if (fb_->packed())
    for (const fb::PackedConstant* pc : *fb_->packed()) {
      if (pc->node() >= nn) return bad("a packed constant refers to node %u of %zu", pc->node(), nn);
      NodeDesc& nd = nodes_[pc->node()];
      if (!pc->layout() || pc->layout()->size() == 0) return bad("node '%s' has a packed constant without a layout", nd.name.c_str());
      if (pc->segment() >= segments.size() || !fits(pc->offset(), pc->size(), segments[pc->segment()].second) ||
          pc->offset() % kSegmentAlignment)
        return bad("node '%s': packed constant '%s' [%llu, +%llu) is misaligned or outside segment %u", nd.name.c_str(),
                   pc->layout()->c_str(), static_cast<unsigned long long>(pc->offset()),
                   static_cast<unsigned long long>(pc->size()), pc->segment());
      const std::string_view layout(pc->layout()->c_str(), pc->layout()->size());
      for (const PackedData& prev : nd.packed)
        if (prev.layout == layout) return bad("node '%s' has two packed constants of layout '%s'", nd.name.c_str(), pc->layout()->c_str());
      nd.packed.push_back({layout, data_ + segments[pc->segment()].first + pc->offset(), static_cast<size_t>(pc->size())});
    }

  // --- streaming state bindings
  if (fb_->states())
    for (const fb::StateBinding* sb : *fb_->states()) {
      bool in_ok = false, out_ok = false;
      for (uint32_t i : inputs_) in_ok |= i == sb->input();
      for (uint32_t o : outputs_) out_ok |= o == sb->output();
      if (!in_ok || !out_ok) return bad("a state binding does not pair a graph input with a graph output");
      const TensorDesc &a = tensors_[sb->input()], &b = tensors_[sb->output()];
      if (a.dtype != b.dtype || a.shape != b.shape)
        return bad("state '%s' (%s) and '%s' (%s) differ in shape or dtype", a.name.c_str(), a.shape.str().c_str(),
                   b.name.c_str(), b.shape.str().c_str());
      states_.push_back({sb->input(), sb->output()});
    }
  return Status::ok();
}

}  // namespace tern
