// The fusion pipeline: which fusion runs when, and why in that order.
#include "passes/pass.h"

namespace tern::compiler {

Status run_fusion_passes(ir::Graph& g, PassLog& log) {
  // Shuffles first: merged Transposes expose K^T to the attention matcher.
  TERN_RETURN_IF_ERROR(simplify_shuffles(g, log));
  // Patterns made of elementwise ops, before anything folds their pieces elsewhere (a Mul by
  // gamma must not be mistaken for an activation input, an Add(1) of GELU for a bias).
  TERN_RETURN_IF_ERROR(fuse_normalizations(g, log));
  TERN_RETURN_IF_ERROR(fuse_activations(g, log));
  TERN_RETURN_IF_ERROR(fuse_attention(g, log));
  // Then the producers: bias Adds into MatMul (so a BatchNorm after MatMul + bias sees one node),
  // BatchNorm into weights, and last the activations into Conv/Gemm/MatMul (an activation follows
  // the bias Add and the BatchNorm, so those must be gone first).
  TERN_RETURN_IF_ERROR(fuse_linear_bias(g, log));
  TERN_RETURN_IF_ERROR(fuse_batch_norms(g, log));
  TERN_RETURN_IF_ERROR(fuse_channel_scales(g, log));
  TERN_RETURN_IF_ERROR(fuse_activation_into_producers(g, log));
  // Removing Transposes can leave Reshape-Reshape pairs behind; only what this second round
  // changed is reported.
  TERN_RETURN_IF_ERROR(simplify_shuffles(g, log));
  if (!log.reports.empty() && log.reports.back().count == 0) log.reports.pop_back();
  PassLog again;
  TERN_RETURN_IF_ERROR(canonicalize(g, again));
  for (PassReport& r : again.reports)
    if (r.count) {
      r.name += "-after-fusion";
      log.reports.push_back(r);
    }
  return Status::ok();
}

}  // namespace tern::compiler
