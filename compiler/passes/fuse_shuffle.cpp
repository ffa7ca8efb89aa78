// Layout-shuffle simplification: every maximal chain of Reshape / Transpose nodes (each result read
// only by the next one) is one permutation of the input's elements, and is re-emitted in the
// smallest form that performs it: [Reshape] -> [Transpose] -> [Reshape], any of them omitted when
// it is not needed. This merges consecutive Transposes, removes identity Transposes (or turns a
// Transpose that only moves size-1 axes into a Reshape) and turns MobileViT's unfold / fold chains
// (Reshape-Transpose-Reshape-Transpose-Reshape) into a single Transpose between two Reshapes.
//
// How: the input's axes are cut into "atoms" so that every intermediate shape is a grouping of
// consecutive atoms; a Reshape whose boundary falls inside an atom splits that atom (row-major
// order makes the split consistent everywhere), a Transpose permutes groups. Size-1 axes carry no
// data and are dropped. At the end the chain is: input -> Reshape(atoms in input order) ->
// Transpose(atom order now) -> Reshape(output shape), with atoms adjacent in both orders merged.
#include <numeric>

#include "passes/fuse_util.h"

namespace tern::compiler {

namespace {

using fuse::Rewriter;

bool is_shuffle(const ir::Node* n) {
  return n && n->lowered && (n->op == OpType::Reshape || n->op == OpType::Transpose) && n->inputs.size() == 1 &&
         n->outputs.size() == 1 && n->outputs[0];
}

struct Atoms {
  std::vector<int64_t> size;          // by atom id
  std::vector<int> input_order;       // atom ids in the input's memory order
  std::vector<std::vector<int>> dims; // current dims, each a run of atom ids (in current memory order)
  bool ok = true;

  explicit Atoms(const Shape& s) {
    for (int i = 0; i < s.rank; ++i) {
      dims.emplace_back();
      if (s[i] == 1) continue;
      size.push_back(s[i]);
      input_order.push_back(static_cast<int>(size.size()) - 1);
      dims.back().push_back(static_cast<int>(size.size()) - 1);
    }
  }
  std::vector<int> sequence() const {
    std::vector<int> seq;
    for (const auto& d : dims) seq.insert(seq.end(), d.begin(), d.end());
    return seq;
  }
  // Splits atom `a` into (outer, inner) with inner of `inner` elements, everywhere it appears.
  int split(int a, int64_t inner) {
    const int b = static_cast<int>(size.size());
    size.push_back(inner);
    size[static_cast<size_t>(a)] /= inner;
    auto insert_after = [&](std::vector<int>& v) {
      for (size_t i = 0; i < v.size(); ++i)
        if (v[i] == a) {
          v.insert(v.begin() + static_cast<long>(i) + 1, b);
          return;
        }
    };
    insert_after(input_order);
    for (auto& d : dims) insert_after(d);
    return b;
  }
  void transpose(const std::vector<int32_t>& perm) {
    std::vector<std::vector<int>> nd;
    for (int32_t p : perm) nd.push_back(dims[static_cast<size_t>(p)]);
    dims = std::move(nd);
  }
  void reshape(const Shape& s) {
    std::vector<int> seq = sequence();
    std::vector<std::vector<int>> nd;
    size_t k = 0;
    for (int i = 0; i < s.rank && ok; ++i) {
      nd.emplace_back();
      int64_t need = s[i];
      while (need > 1 && ok) {
        if (k >= seq.size()) {
          ok = false;
          break;
        }
        int a = seq[k];
        int64_t as = size[static_cast<size_t>(a)];
        if (as <= need) {
          if (need % as != 0) ok = false;
          need /= as;
          nd.back().push_back(a);
          ++k;
        } else {
          // The dim ends inside atom a: split it into (need, as / need) and take the outer part.
          if (as % need != 0) {
            ok = false;
            break;
          }
          int b = split(a, as / need);
          seq.insert(seq.begin() + static_cast<long>(k) + 1, b);
          nd.back().push_back(a);
          ++k;
          need = 1;
        }
      }
    }
    if (k != seq.size()) ok = false;
    dims = std::move(nd);
  }
};

// The chain's minimal form.
struct Plan {
  Shape first;                 // Reshape target before the Transpose (rank 0 + !has_first: none)
  bool has_first = false;
  std::vector<int32_t> perm;   // empty: no Transpose
  Shape transposed;            // the Transpose's output shape
  bool has_last = false;       // final Reshape to the output shape
};

bool plan_chain(const ir::Value* x, const std::vector<ir::Node*>& chain, Plan* plan) {
  Atoms at(x->shape);
  for (ir::Node* n : chain) {
    if (n->op == OpType::Transpose) at.transpose(static_cast<const fb::TransposeOptionsT*>(n->options.value)->perm);
    else at.reshape(n->outputs[0]->shape);
    if (!at.ok) return false;
  }
  // Merge atoms adjacent (in this order) both in the input and in the final sequence.
  std::vector<int> seq = at.sequence(), in = at.input_order;
  std::vector<std::vector<int>> groups;  // runs of input-order atoms
  for (size_t i = 0; i < in.size(); ++i) {
    if (!groups.empty()) {
      int prev = groups.back().back();
      auto pos_prev = std::find(seq.begin(), seq.end(), prev);
      if (pos_prev + 1 != seq.end() && *(pos_prev + 1) == in[i]) {
        groups.back().push_back(in[i]);
        continue;
      }
    }
    groups.push_back({in[i]});
  }
  if (static_cast<int>(groups.size()) > kMaxRank) return false;
  // Group sizes in input order, and the order the groups appear in the final sequence.
  std::vector<int64_t> gsize;
  for (const auto& g : groups) {
    int64_t s = 1;
    for (int a : g) s *= at.size[static_cast<size_t>(a)];
    gsize.push_back(s);
  }
  std::vector<int32_t> perm;
  for (size_t i = 0; i < seq.size();) {
    bool found = false;
    for (size_t gi = 0; gi < groups.size() && !found; ++gi)
      if (groups[gi].front() == seq[i]) {
        perm.push_back(static_cast<int32_t>(gi));
        i += groups[gi].size();
        found = true;
      }
    if (!found) return false;
  }
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int32_t>(i);
  const Shape& out = chain.back()->outputs[0]->shape;
  *plan = Plan{};
  if (identity) {
    plan->has_last = x->shape != out;
    return true;
  }
  plan->first = Shape::from(gsize);
  plan->has_first = plan->first != x->shape;
  plan->perm = perm;
  plan->transposed.rank = static_cast<int>(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) plan->transposed[static_cast<int>(i)] = gsize[static_cast<size_t>(perm[i])];
  plan->has_last = plan->transposed != out;
  return true;
}

bool simplify_chain(Rewriter& rw, ir::Node& head) {
  if (!is_shuffle(&head) || head.inputs[0]->is_constant()) return false;
  // Only at the start of a maximal chain.
  ir::Value* x = head.inputs[0];
  if (is_shuffle(x->producer) && rw.sole_user(x) == &head) return false;
  std::vector<ir::Node*> chain = {&head};
  while (ir::Node* u = rw.sole_user(chain.back()->outputs[0])) {
    if (!is_shuffle(u)) break;
    chain.push_back(u);
  }
  int old_transposes = 0;
  for (ir::Node* n : chain) old_transposes += n->op == OpType::Transpose;
  if (old_transposes == 0) return false;  // pure Reshape chains: canonicalize merges them
  Plan plan;
  if (!plan_chain(x, chain, &plan)) return false;
  const int new_transposes = plan.perm.empty() ? 0 : 1;
  const int new_nodes = plan.has_first + new_transposes + plan.has_last;
  if (new_transposes >= old_transposes && new_nodes >= static_cast<int>(chain.size())) return false;
  // The rewrite reuses the chain's nodes; a longer form (e.g. two Transposes of a tensor with
  // size-1 axes becoming Reshape-Transpose-Reshape) is not worth new nodes.
  if (new_nodes > static_cast<int>(chain.size())) return false;
  ir::Value* y = chain.back()->outputs[0];
  if (new_nodes == 0) {
    if (y->is_graph_output) {
      plan.has_last = true;  // keep the output's name: one copying Reshape
    } else {
      rw.graph().replace_uses(y, x);
      for (ir::Node* n : chain) rw.kill(n);
      return true;
    }
  }
  // Emit into the chain's nodes: the first ones carry the intermediate results, the last one
  // writes y.
  struct Step {
    OpType op;
    Shape out;
  };
  std::vector<Step> steps;
  if (plan.has_first) steps.push_back({OpType::Reshape, plan.first});
  if (!plan.perm.empty()) steps.push_back({OpType::Transpose, plan.transposed});
  if (plan.has_last) steps.push_back({OpType::Reshape, y->shape});
  ir::Value* cur = x;
  for (size_t j = 0; j < steps.size(); ++j) {
    const bool last = j + 1 == steps.size();
    ir::Node* n = last ? chain.back() : chain[j];
    if (!last) {
      n->outputs[0]->shape = steps[j].out;
      n->outputs[0]->dtype = x->dtype;
    }
    if (steps[j].op == OpType::Reshape) {
      fb::ReshapeOptionsT o;
      o.shape = steps[j].out.vec();
      fuse::become(*n, OpType::Reshape, o, {cur});
    } else {
      fb::TransposeOptionsT o;
      o.perm = plan.perm;
      fuse::become(*n, OpType::Transpose, o, {cur});
    }
    cur = n->outputs[0];
  }
  for (size_t j = steps.size() - 1; j + 1 < chain.size(); ++j) rw.kill(chain[j]);
  return true;
}

}  // namespace

Status simplify_shuffles(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return simplify_chain(rw, node); });
  log.add("simplify-shuffles", "Reshape/Transpose chains -> [Reshape]-[Transpose]-[Reshape]; identity Transposes removed", n, before,
          g.nodes().size());
  return g.toposort();
}

}  // namespace tern::compiler
