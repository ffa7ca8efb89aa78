// Test support: the whole pipeline in memory (ONNX file -> compiler -> plan bytes -> loaded plan ->
// session), and ONNX TensorProto files as HostTensors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plan/plan.h"
#include "session.h"
#include "support/harness.h"

namespace tern::test {

struct CompiledPlan {
  std::vector<uint8_t> bytes;             // the plan file's bytes (64-byte aligned copy inside plan)
  std::shared_ptr<const Plan> plan;
};

// Compiles an ONNX file (with the CPU kernels' packed weights in the plan when `prepack`, `tern
// compile --prepack`); on failure returns the compiler's status.
Result<CompiledPlan> compile_onnx(const std::string& path, const std::vector<std::string>& input_shapes = {}, bool prepack = false);
// Runs a plan on the given inputs (in plan input order) with the named backend.
Result<std::vector<HostTensor>> run_plan(const std::shared_ptr<const Plan>& plan, const std::vector<HostTensor>& inputs,
                                          const std::string& backend = "reference", int threads = 1);
// Crafting bad plans: the FlatBuffer of plan bytes, editable in place (fixed-width fields that are
// stored), and the header's FlatBuffer hash recomputed after such an edit.
fb::Plan* mutable_plan(std::vector<uint8_t>& bytes);
void rehash(std::vector<uint8_t>& bytes);
// Reads a serialized onnx::TensorProto (.pb) file.
Result<HostTensor> load_tensor_pb(const std::string& path);
// Reads an .npy file.
Result<HostTensor> load_npy(const std::string& path);

}  // namespace tern::test
