#include "support/pipeline.h"

#include <cstring>
#include <fstream>

#include "compiler.h"
#include "core/plan_format.h"
#include "import/onnx_tensor.h"
#include "npy.h"
#include "onnx/onnx_pb.h"

namespace tern::test {

Result<CompiledPlan> compile_onnx(const std::string& path, const std::vector<std::string>& input_shapes, bool prepack) {
  compiler::CompileOptions o;
  o.model_path = path;
  o.input_shapes = input_shapes;
  o.prepack = prepack;
  TERN_ASSIGN_OR_RETURN(compiler::Compiled c, compiler::compile_graph(o));
  CompiledPlan cp;
  TERN_ASSIGN_OR_RETURN(cp.bytes, compiler::emit_plan(c, o, nullptr));
  TERN_ASSIGN_OR_RETURN(cp.plan, Plan::load_memory(cp.bytes.data(), cp.bytes.size(), kLoadCopy));
  return cp;
}

Result<std::vector<HostTensor>> run_plan(const std::shared_ptr<const Plan>& plan, const std::vector<HostTensor>& inputs,
                                         const std::string& backend, int threads) {
  SessionOptions so;
  so.backend = backend;
  so.num_threads = threads;
  TERN_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(plan, so));
  if (inputs.size() != s->num_inputs())
    return TERN_ERROR(kInvalidArgument, "%zu inputs given, the plan has %zu", inputs.size(), s->num_inputs());
  for (size_t i = 0; i < inputs.size(); ++i)
    TERN_RETURN_IF_ERROR(s->set_input(i, inputs[i].dtype, inputs[i].shape, inputs[i].bytes.data(), inputs[i].bytes.size()));
  TERN_RETURN_IF_ERROR(s->run());
  std::vector<HostTensor> out;
  for (size_t i = 0; i < s->num_outputs(); ++i) {
    const TensorRef& t = s->output(i);
    HostTensor h(t.dtype, t.shape);
    if (t.bytes()) std::memcpy(h.bytes.data(), t.data, t.bytes());
    out.push_back(std::move(h));
  }
  return out;
}

fb::Plan* mutable_plan(std::vector<uint8_t>& bytes) { return fb::GetMutablePlan(bytes.data() + sizeof(FileHeader)); }

void rehash(std::vector<uint8_t>& bytes) {
  FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.flatbuffer_hash = plan_hash(bytes.data() + h.flatbuffer_offset, h.flatbuffer_size);
  std::memcpy(bytes.data(), &h, sizeof h);
}

Result<HostTensor> load_tensor_pb(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return TERN_ERROR(kIoError, "cannot open '%s'", path.c_str());
  onnx::TensorProto t;
  if (!t.ParseFromIstream(&f)) return TERN_ERROR(kInvalidArgument, "'%s' is not a TensorProto", path.c_str());
  TERN_ASSIGN_OR_RETURN(compiler::ConstantData c, compiler::tensor_from_proto(t, ""));
  HostTensor h(c.dtype, c.shape);
  h.bytes = std::move(c.bytes);
  return h;
}

Result<HostTensor> load_npy(const std::string& path) {
  TERN_ASSIGN_OR_RETURN(npy::Array a, npy::load(path));
  if (a.shape.size() > static_cast<size_t>(kMaxRank)) return TERN_ERROR(kUnsupported, "rank too large");
  HostTensor h(a.dtype, Shape::from(a.shape));
  h.bytes = std::move(a.data);
  return h;
}

}  // namespace tern::test
