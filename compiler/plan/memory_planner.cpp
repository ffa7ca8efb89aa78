#include "plan/memory_planner.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "ops/op_defs.h"

namespace tern::compiler {

namespace {

struct Block {
  uint64_t size = 0;
  int first = 0, last = 0;
  uint64_t offset = 0;
};

uint64_t aligned(uint64_t v) { return (v + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment; }

int find(std::vector<int>& parent, int x) {
  while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
  return x;
}

}  // namespace

MemoryPlan plan_memory(const ir::Graph& g) {
  MemoryPlan mp;
  // Index the arena values.
  std::unordered_map<const ir::Value*, int> idx;
  std::vector<const ir::Value*> vals;
  auto add = [&](const ir::Value* v) {
    if (!v || v->is_constant() || idx.count(v)) return;
    idx[v] = static_cast<int>(vals.size());
    vals.push_back(v);
  };
  for (const ir::Value* v : g.inputs) add(v);
  for (const auto& n : g.nodes())
    for (const ir::Value* v : n->outputs) add(v);
  for (const ir::Value* v : g.outputs) add(v);

  int end = static_cast<int>(g.nodes().size()) + 1;
  std::vector<int> first(vals.size(), 0), last(vals.size(), 0);
  for (size_t i = 0; i < vals.size(); ++i) {
    first[i] = vals[i]->is_graph_input ? 0 : end;
    last[i] = vals[i]->is_graph_input || vals[i]->is_graph_output ? end : 0;
  }
  for (size_t s = 0; s < g.nodes().size(); ++s) {
    const ir::Node& n = *g.nodes()[s];
    int step = static_cast<int>(s) + 1;
    for (const ir::Value* v : n.outputs)
      if (v && idx.count(v)) {
        int i = idx[v];
        first[static_cast<size_t>(i)] = std::min(first[static_cast<size_t>(i)], step);
        last[static_cast<size_t>(i)] = std::max(last[static_cast<size_t>(i)], step);
      }
    for (const ir::Value* v : n.inputs)
      if (v && idx.count(v)) last[static_cast<size_t>(idx[v])] = std::max(last[static_cast<size_t>(idx[v])], step);
  }
  // Reshape outputs share their input's storage.
  std::vector<int> parent(vals.size());
  std::iota(parent.begin(), parent.end(), 0);
  for (const auto& n : g.nodes())
    if (ops::is_reshape_like(n->op) && n->inputs[0] && idx.count(n->inputs[0]) && n->outputs[0])
      parent[static_cast<size_t>(find(parent, idx[n->outputs[0]]))] = find(parent, idx[n->inputs[0]]);
  std::unordered_map<int, Block> blocks;
  for (size_t i = 0; i < vals.size(); ++i) {
    int root = find(parent, static_cast<int>(i));
    auto [it, fresh] = blocks.try_emplace(root);
    Block& b = it->second;
    uint64_t sz = aligned(std::max<uint64_t>(vals[i]->bytes(), 1));
    if (fresh) {
      b.size = sz;
      b.first = first[i];
      b.last = last[i];
    } else {
      b.size = std::max(b.size, sz);
      b.first = std::min(b.first, first[i]);
      b.last = std::max(b.last, last[i]);
    }
    mp.naive_size += sz;
  }
  // Greedy by size.
  std::vector<Block*> order;
  for (auto& [root, b] : blocks) order.push_back(&b);
  std::sort(order.begin(), order.end(), [](const Block* a, const Block* b) {
    return a->size != b->size ? a->size > b->size : a->first < b->first;
  });
  std::vector<Block*> placed;
  for (Block* b : order) {
    std::vector<std::pair<uint64_t, uint64_t>> busy;  // [offset, end) of lifetime-overlapping blocks
    for (Block* p : placed)
      if (p->first <= b->last && b->first <= p->last) busy.emplace_back(p->offset, p->offset + p->size);
    std::sort(busy.begin(), busy.end());
    uint64_t off = 0;
    for (const auto& [s, e] : busy) {
      if (off + b->size <= s) break;
      off = std::max(off, e);
    }
    b->offset = off;
    placed.push_back(b);
    mp.arena_size = std::max(mp.arena_size, off + b->size);
  }
  for (size_t i = 0; i < vals.size(); ++i) mp.offset[vals[i]] = blocks[find(parent, static_cast<int>(i))].offset;
  return mp;
}

}  // namespace tern::compiler
