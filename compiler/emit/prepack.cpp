#include "emit/prepack.h"

#include "plan/plan.h"
#include "session.h"

namespace tern::compiler {

Result<std::vector<PrepackedBlob>> collect_prepacked(const std::vector<uint8_t>& plan) {
  TERN_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> p, Plan::load_memory(plan.data(), plan.size(), kLoadCopy));
  SessionOptions so;
  so.backend = "cpu";
  TERN_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(p, so));
  std::vector<PrepackedBlob> out;
  s->packed_constants([&](uint32_t node, std::string_view layout, std::span<const uint8_t> bytes) {
    out.push_back({node, std::string(layout), std::vector<uint8_t>(bytes.begin(), bytes.end())});
  });
  return out;
}

}  // namespace tern::compiler
