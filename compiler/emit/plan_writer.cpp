#include "emit/plan_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "core/plan_format.h"

namespace tern::compiler {

Result<std::vector<uint8_t>> build_plan(const ir::Graph& g, const MemoryPlan& mp, const PassLog& log, const EmitInfo& info) {
  // Tensor indices: graph inputs, then every value in node order, then constants.
  std::unordered_map<const ir::Value*, int32_t> index;
  std::vector<const ir::Value*> tensors;
  auto add = [&](const ir::Value* v) {
    if (v && !index.count(v)) {
      index[v] = static_cast<int32_t>(tensors.size());
      tensors.push_back(v);
    }
  };
  for (const ir::Value* v : g.inputs) add(v);
  for (const auto& n : g.nodes()) {
    for (const ir::Value* v : n->inputs) add(v);
    for (const ir::Value* v : n->outputs) add(v);
  }
  for (const ir::Value* v : g.outputs) add(v);

  // Constant segment: one, each tensor 64-byte aligned inside it.
  std::vector<uint8_t> segment;
  std::unordered_map<const ir::Value*, uint64_t> const_offset;
  for (const ir::Value* v : tensors)
    if (v->is_constant()) {
      segment.resize(align_up(segment.size(), kSegmentAlignment));
      const_offset[v] = segment.size();
      segment.insert(segment.end(), v->data->begin(), v->data->end());
    }

  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<fb::Tensor>> ft;
  for (const ir::Value* v : tensors) {
    auto name = fbb.CreateString(v->name);
    auto shape = fbb.CreateVector(v->shape.vec());
    flatbuffers::Offset<fb::Quantization> quant;
    if (!v->q_scale.empty()) {
      // All-zero zero points (symmetric weights and biases: most per-channel entries) are left
      // out: an absent zero_point means zeros, and 8 bytes per channel was ~8 % of an int8 plan.
      const bool all_zero = std::all_of(v->q_zero_point.begin(), v->q_zero_point.end(), [](int64_t z) { return z == 0; });
      quant = fb::CreateQuantization(fbb, fbb.CreateVector(v->q_scale),
                                     all_zero ? flatbuffers::Offset<flatbuffers::Vector<int64_t>>() : fbb.CreateVector(v->q_zero_point),
                                     v->q_scale.size() > 1 ? v->q_axis : -1);
    }
    fb::TensorBuilder tb(fbb);
    tb.add_name(name);
    if (!v->q_scale.empty()) tb.add_quantization(quant);
    tb.add_dtype(v->dtype);
    tb.add_shape(shape);
    tb.add_size(v->bytes());
    if (v->is_constant()) {
      tb.add_storage(fb::Storage::Constant);
      tb.add_buffer(0);
      tb.add_offset(const_offset.at(v));
    } else {
      auto it = mp.offset.find(v);
      if (it == mp.offset.end()) return TERN_ERROR(kInternal, "tensor '%s' has no arena offset", v->name.c_str());
      tb.add_storage(fb::Storage::Arena);
      tb.add_buffer(0);
      tb.add_offset(it->second);
    }
    ft.push_back(tb.Finish());
  }
  std::vector<flatbuffers::Offset<fb::Node>> fn;
  for (const auto& n : g.nodes()) {
    std::vector<int32_t> ins, outs;
    for (const ir::Value* v : n->inputs) ins.push_back(v ? index.at(v) : -1);
    for (const ir::Value* v : n->outputs) outs.push_back(v ? index.at(v) : -1);
    auto name = fbb.CreateString(n->name);
    auto vi = fbb.CreateVector(ins);
    auto vo = fbb.CreateVector(outs);
    auto opts = n->options.Pack(fbb);
    fb::NodeBuilder nb(fbb);
    nb.add_name(name);
    nb.add_op(n->op);
    nb.add_inputs(vi);
    nb.add_outputs(vo);
    if (n->options.type != fb::NodeOptions::NONE) {
      nb.add_options_type(n->options.type);
      nb.add_options(opts);
    }
    fn.push_back(nb.Finish());
  }
  std::vector<uint32_t> gin, gout;
  for (const ir::Value* v : g.inputs) gin.push_back(static_cast<uint32_t>(index.at(v)));
  for (const ir::Value* v : g.outputs) gout.push_back(static_cast<uint32_t>(index.at(v)));

  // Streaming state: a graph input that feeds a scan's initial state, paired with the graph output
  // holding the same node's final state.
  std::vector<flatbuffers::Offset<fb::StateBinding>> states;
  for (const auto& n : g.nodes()) {
    size_t state_in = n->op == OpType::SelectiveScan ? 8 : n->op == OpType::LMU ? 3 : n->op == OpType::LIF ? 1 : SIZE_MAX;
    if (state_in == SIZE_MAX || state_in >= n->inputs.size() || n->outputs.size() < 2) continue;
    const ir::Value* in = n->inputs[state_in];
    const ir::Value* out = n->outputs[1];
    if (in && out && in->is_graph_input && out->is_graph_output)
      states.push_back(fb::CreateStateBinding(fbb, static_cast<uint32_t>(index.at(in)), static_cast<uint32_t>(index.at(out))));
  }

  std::vector<flatbuffers::Offset<fb::Partition>> parts;
  std::vector<PartitionSpec> specs = info.partitions;
  if (specs.empty())
    specs.push_back({"cpu", 0, static_cast<uint32_t>(g.nodes().size()), "target cpu: every node runs on the CPU backend"});
  for (const PartitionSpec& p : specs)
    parts.push_back(fb::CreatePartitionDirect(fbb, p.backend.c_str(), p.first_node, p.num_nodes, p.reason.c_str(), p.fp16_storage));
  std::vector<flatbuffers::Offset<fb::PassReport>> reports;
  for (const PassReport& r : log.reports)
    reports.push_back(fb::CreatePassReportDirect(fbb, r.name.c_str(), r.pattern.c_str(), r.count, r.nodes_before, r.nodes_after));
  std::vector<flatbuffers::Offset<flatbuffers::String>> shapes;
  for (const auto& s : info.input_shapes) shapes.push_back(fbb.CreateString(s));
  auto meta = fb::CreateMetadata(fbb, fbb.CreateString(info.compiler_version), fbb.CreateString(info.source_name),
                                 fbb.CreateString(info.source_sha256), fbb.CreateString(g.producer), g.opset,
                                 fbb.CreateVector(reports), fbb.CreateVector(shapes));
  std::vector<flatbuffers::Offset<fb::Arena>> fa = {fb::CreateArena(fbb, mp.arena_size, 64)};
  // Prepacked constants (--prepack): a second segment, each blob 64-byte aligned, so its checksum
  // and pages stay apart from the original weights'.
  std::vector<uint8_t> packed_segment;
  std::vector<flatbuffers::Offset<fb::PackedConstant>> fp;
  for (const PrepackedBlob& b : info.packed) {
    if (b.node >= g.nodes().size()) return TERN_ERROR(kInternal, "prepacked data for node %u of %zu", b.node, g.nodes().size());
    packed_segment.resize(align_up(packed_segment.size(), kSegmentAlignment));
    fp.push_back(fb::CreatePackedConstantDirect(fbb, b.node, b.layout.c_str(), 1, packed_segment.size(), b.bytes.size()));
    packed_segment.insert(packed_segment.end(), b.bytes.begin(), b.bytes.end());
  }
  // The segments' file offsets are only known once the FlatBuffer's size is: write a non-default
  // placeholder (so the fixed-width field is stored) and patch it after finishing.
  std::vector<flatbuffers::Offset<fb::Segment>> fs = {
      fb::CreateSegment(fbb, UINT64_MAX, segment.size(), plan_hash(segment.data(), segment.size()))};
  if (!fp.empty())
    fs.push_back(fb::CreateSegment(fbb, UINT64_MAX, packed_segment.size(), plan_hash(packed_segment.data(), packed_segment.size())));
  auto root = fb::CreatePlan(fbb, kPlanVersion, fbb.CreateVector(ft), fbb.CreateVector(fn), fbb.CreateVector(gin),
                             fbb.CreateVector(gout), fbb.CreateVector(fa), fbb.CreateVector(fs), fbb.CreateVector(parts),
                             fbb.CreateVector(states), meta, fp.empty() ? 0 : fbb.CreateVector(fp));
  fb::FinishPlanBuffer(fbb, root);

  std::vector<uint8_t> flat(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  uint64_t seg_offset = align_up(sizeof(FileHeader) + flat.size(), kSegmentAlignment);
  uint64_t packed_offset = align_up(seg_offset + segment.size(), kSegmentAlignment);
  fb::Plan* mutable_plan = fb::GetMutablePlan(flat.data());
  if (!mutable_plan->mutable_segments()->GetMutableObject(0)->mutate_offset(seg_offset) ||
      (!fp.empty() && !mutable_plan->mutable_segments()->GetMutableObject(1)->mutate_offset(packed_offset)))
    return TERN_ERROR(kInternal, "could not record the segment offset");

  std::vector<uint8_t> file(fp.empty() ? seg_offset + segment.size() : packed_offset + packed_segment.size(), 0);
  FileHeader h{};
  std::memcpy(h.magic, kPlanMagic, sizeof(h.magic));
  h.format_version = kFormatVersion;
  h.flatbuffer_offset = sizeof(FileHeader);
  h.flatbuffer_size = flat.size();
  h.flatbuffer_hash = plan_hash(flat.data(), flat.size());
  h.file_size = file.size();
  std::memcpy(file.data(), &h, sizeof(h));
  std::memcpy(file.data() + sizeof(h), flat.data(), flat.size());
  if (!segment.empty()) std::memcpy(file.data() + seg_offset, segment.data(), segment.size());
  if (!packed_segment.empty()) std::memcpy(file.data() + packed_offset, packed_segment.data(), packed_segment.size());
  return file;
}

Status write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return TERN_ERROR(kIoError, "cannot write '%s'", tmp.c_str());
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return TERN_ERROR(kIoError, "failed writing '%s'", path.c_str());
  }
  return Status::ok();
}

}  // namespace tern::compiler
