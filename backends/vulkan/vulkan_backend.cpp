// The Vulkan backend: one executable per partition.
//
// prepare: every node is recorded into steps (dispatches and copies, vk_ops.h); then the tensors
// the partition touches get regions of three buffers (constants, uploaded once; the device arena
// for everything computed here and the partition's inputs; the dispatch parameters, uploaded
// once), pipelines and descriptor sets are created, and one command buffer is recorded with a
// barrier between consecutive steps and a timestamp at each end.
// execute: copies the partition's inputs into device memory, submits that command buffer, waits,
// and copies the outputs back. When the arena is host-visible (lavapipe, unified-memory GPUs) the
// copies are memcpys into the mapped arena; otherwise through a staging buffer, with the staging
// copies recorded in the same command buffer. Nothing is created or allocated in execute.
//
// fp16 storage (BackendOptions::fp16_storage, from the plan's Partition.fp16_storage): every
// float32 tensor of the partition, weights included, is float16 in device memory; the steps use
// the _fp16 shader variants (float16 loads and stores, float32 arithmetic), constants are
// converted once at prepare, and the boundary transfers convert float32 <-> float16 on the host
// (the session's tensors stay float32). Ops see such tensors as Float16 (Recorder::tensor), so
// byte sizes and word counts of copies and gathers follow.
//
// int8 (int8 plans, `tern quantize --target vulkan`): nodes whose first input is int8 record the
// int8 kernels (vk::entry_for, ops/q8_*.cpp), whose tables and per-channel requantization
// parameters become constants of the partition (Recorder::constant); int8 tensors move as bytes.
// They need 8-bit storage (Context::storage8): a partition that records any int8 shader fails at
// prepare on a device without it, naming the node, and never runs otherwise.
#include "vulkan/vulkan_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/op_defs.h"
#include "reference/ops/data_util.h"  // float_to_half / half_to_float
#include "vulkan/vk_context.h"
#include "vulkan/vk_ops.h"

namespace tern {

namespace {

std::atomic<uint64_t> g_gpu_ns{0};
std::atomic<uint64_t> g_gpu_runs{0};

struct Step {
  // Dispatch
  std::string shader;
  std::vector<int32_t> bindings;
  size_t params_begin = 0, params_count = 0;
  uint32_t groups[3] = {1, 1, 1};
  // Copy (shader empty)
  int32_t src = -1, dst = -1;
  uint64_t bytes = 0, src_offset = 0, dst_offset = 0;
};

enum class Where : uint8_t { None, Arena, Constant };

struct Slot {
  Where where = Where::None;
  VkDeviceSize offset = 0, bytes = 0;
};

struct Pipeline {
  VkShaderModule module = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  uint32_t bindings = 0;
};

struct Transfer {
  void* host;
  VkDeviceSize device_offset;  // in the arena
  VkDeviceSize staging_offset;
  VkDeviceSize bytes;            // on the device
  bool half = false;             // host float32, device float16: converted element by element
};

// Host float32 -> device float16 and back (fp16 storage transfers), `n` elements.
void to_half(const void* src, void* dst, size_t n) {
  const float* f = static_cast<const float*>(src);
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (size_t i = 0; i < n; ++i) h[i] = ref::float_to_half(f[i]);
}
void from_half(const void* src, void* dst, size_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  float* f = static_cast<float*>(dst);
  for (size_t i = 0; i < n; ++i) f[i] = ref::half_to_float(h[i]);
}

class VulkanExecutable final : public Executable, public vk::Recorder {
 public:
  explicit VulkanExecutable(std::shared_ptr<vk::Context> ctx) : ctx_(std::move(ctx)) {}
  ~VulkanExecutable() override;

  Status init(const Subgraph& g, const BackendOptions& opts);
  Status execute() override;

  // Recorder
  const TensorRef& tensor(int32_t id) const override { return tensors_[static_cast<size_t>(id)]; }
  bool fp16_storage() const override { return fp16_; }
  int32_t scratch(DType dtype, const Shape& shape) override {
    TensorRef t;
    t.dtype = fp16_ && dtype == DType::Float32 ? DType::Float16 : dtype;
    t.shape = shape;
    tensors_.push_back(t);
    return static_cast<int32_t>(tensors_.size() - 1);
  }
  int32_t constant(DType dtype, const Shape& shape, const void* data) override {
    TensorRef t;
    t.dtype = dtype;
    t.shape = shape;
    owned_.push_back(std::make_unique<std::vector<uint8_t>>(static_cast<const uint8_t*>(data),
                                                            static_cast<const uint8_t*>(data) + t.bytes()));
    t.data = owned_.back()->data();
    tensors_.push_back(t);
    const size_t id = tensors_.size() - 1;
    is_constant_.resize(id + 1, 0);
    is_constant_[id] = 1;
    half_.resize(id + 1, 0);  // never converted: the int8 kernels' tables are integers
    return static_cast<int32_t>(id);
  }
  void dispatch(const char* shader, std::initializer_list<int32_t> bindings, const vk::Params& params, uint32_t gx,
                uint32_t gy, uint32_t gz) override {
    Step s;
    s.shader = shader;
    if (direct_kernels_ && s.shader == "matmul") s.shader = "matmul_direct";
    if (vk::is_int8_shader(s.shader)) {
      if (int8_node_.empty()) int8_node_ = node_name_;
    } else if (fp16_) {
      s.shader += "_fp16";
    }
    s.bindings.assign(bindings.begin(), bindings.end());
    s.params_begin = params_words_.size();
    s.params_count = params.w.size();
    params_words_.insert(params_words_.end(), params.w.begin(), params.w.end());
    s.groups[0] = gx, s.groups[1] = gy, s.groups[2] = gz;
    if (gx && gy && gz) steps_.push_back(std::move(s));
  }
  void copy(int32_t src, int32_t dst, uint64_t bytes, uint64_t src_offset, uint64_t dst_offset) override {
    Step s;
    s.src = src, s.dst = dst, s.bytes = bytes, s.src_offset = src_offset, s.dst_offset = dst_offset;
    if (bytes) steps_.push_back(std::move(s));
  }

 private:
  Status layout(const Subgraph& g);
  Status upload(const Subgraph& g);
  Status create_pipelines();
  Status create_descriptors();
  Status record();
  VkDescriptorSetLayout set_layout(uint32_t bindings);
  Status check_validation(const char* when);
  VkDescriptorBufferInfo binding_info(int32_t id) const;

  std::shared_ptr<vk::Context> ctx_;
  std::vector<TensorRef> tensors_;  // the plan's tensors (host views), then scratch tensors
  std::vector<uint8_t> is_constant_;
  std::vector<Slot> slots_;
  std::vector<Step> steps_;
  std::vector<uint32_t> params_words_;
  std::vector<VkDeviceSize> params_offsets_;  // per step, in params_
  std::vector<Transfer> ins_, outs_;
  VkDeviceSize align_ = 256;
  bool direct_kernels_ = false;
  bool fp16_ = false;
  std::vector<uint8_t> half_;  // per plan tensor: float32 on the host, float16 on the device
  std::vector<std::unique_ptr<std::vector<uint8_t>>> owned_;  // data of constant() tensors
  std::string node_name_;   // the node being recorded
  std::string int8_node_;   // the first node recorded with an int8 shader (needs 8-bit storage)
  VkDeviceSize zero_offset_ = 0;  // a small zeroed region of the arena bound for absent tensors

  vk::Buffer arena_, consts_, params_, staging_;
  std::map<uint32_t, VkDescriptorSetLayout> set_layouts_;
  std::map<uint32_t, VkPipelineLayout> pipeline_layouts_;
  std::map<std::string, Pipeline> pipelines_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorSet> sets_;
  VkCommandPool cmd_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
};

VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

VulkanExecutable::~VulkanExecutable() {
  VkDevice d = ctx_->device;
  // execute waits for its own submission, so nothing of ours is in flight here.
  if (queries_) vkDestroyQueryPool(d, queries_, nullptr);
  if (fence_) vkDestroyFence(d, fence_, nullptr);
  if (cmd_pool_) vkDestroyCommandPool(d, cmd_pool_, nullptr);
  if (pool_) vkDestroyDescriptorPool(d, pool_, nullptr);
  for (auto& [name, p] : pipelines_) {
    if (p.pipeline) vkDestroyPipeline(d, p.pipeline, nullptr);
    if (p.module) vkDestroyShaderModule(d, p.module, nullptr);
  }
  for (auto& [n, l] : pipeline_layouts_) vkDestroyPipelineLayout(d, l, nullptr);
  for (auto& [n, l] : set_layouts_) vkDestroyDescriptorSetLayout(d, l, nullptr);
  ctx_->destroy(arena_);
  ctx_->destroy(consts_);
  ctx_->destroy(params_);
  ctx_->destroy(staging_);
}

Status VulkanExecutable::check_validation(const char* when) {
  if (!ctx_->validation) return Status::ok();
  std::string m = vk::take_validation_message();
  if (m.empty()) return Status::ok();
  return TERN_ERROR(kInternal, "Vulkan validation message during %s: %s", when, m.c_str());
}

Status VulkanExecutable::init(const Subgraph& g, const BackendOptions& opts) {
  vk::take_validation_message();
  fp16_ = opts.fp16_storage;
  // CPU devices (lavapipe) run the barrier-free variants of the tiled kernels: same parameters,
  // grid and results. TERN_VULKAN_KERNELS=tiled|direct overrides the choice.
  const char* kv = std::getenv("TERN_VULKAN_KERNELS");
  direct_kernels_ = kv ? std::strcmp(kv, "direct") == 0 : ctx_->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  tensors_.assign(g.tensors.begin(), g.tensors.end());
  is_constant_.assign(g.is_constant.begin(), g.is_constant.end());
  half_.assign(tensors_.size(), 0);
  if (fp16_)
    for (size_t t = 0; t < tensors_.size(); ++t)
      if (tensors_[t].dtype == DType::Float32) {
        tensors_[t].dtype = DType::Float16;
        half_[t] = 1;
      }
  for (const NodeView& v : g.nodes) {
    const DType in0 = !v.inputs.empty() && v.inputs[0] >= 0 ? tensors_[static_cast<size_t>(v.inputs[0])].dtype : DType::Float32;
    const vk::OpEntry* e = vk::entry_for(v.op, in0);
    node_name_ = v.name;
    if (!e)
      return TERN_ERROR(kUnsupported, "node '%s' (%s): the Vulkan backend has no kernel for this op", v.name, ops::op_name(v.op));
    vk::OpCall call;
    call.node = &v;
    call.rec = this;
    TERN_RETURN_IF_ERROR(e->record(call));
  }
  // TERN_VULKAN_NO_INT8=1 treats the device as lacking 8-bit storage (tests of this error).
  if (!int8_node_.empty() && (!ctx_->storage8 || std::getenv("TERN_VULKAN_NO_INT8")))
    return TERN_ERROR(kUnsupported,
                      "node '%s' runs int8 on Vulkan but %s lacks 8-bit storage (storageBuffer8BitAccess, VK_KHR_8bit_storage); "
                      "compile the int8 plan with --target cpu",
                      int8_node_.c_str(), ctx_->props.deviceName);
  TERN_RETURN_IF_ERROR(layout(g));
  TERN_RETURN_IF_ERROR(upload(g));
  TERN_RETURN_IF_ERROR(create_pipelines());
  TERN_RETURN_IF_ERROR(create_descriptors());
  TERN_RETURN_IF_ERROR(record());
  return check_validation("prepare");
}

Status VulkanExecutable::layout(const Subgraph& g) {
  align_ = std::max<VkDeviceSize>(16, ctx_->props.limits.minStorageBufferOffsetAlignment);
  slots_.assign(tensors_.size(), Slot{});
  auto use = [&](int32_t t) {
    if (t < 0) return;
    Slot& s = slots_[static_cast<size_t>(t)];
    s.where = static_cast<size_t>(t) < is_constant_.size() && is_constant_[static_cast<size_t>(t)] ? Where::Constant : Where::Arena;
    s.bytes = tensors_[static_cast<size_t>(t)].bytes();
  };
  for (const Step& s : steps_) {
    for (int32_t b : s.bindings) use(b);
    use(s.src);
    use(s.dst);
  }
  for (int32_t t : g.inputs) use(t);
  for (int32_t t : g.outputs) use(t);
  VkDeviceSize arena = 0, consts = 0;
  zero_offset_ = 0;
  arena = align_;  // [0, align): the zero region for absent bindings
  for (Slot& s : slots_) {
    if (s.where == Where::None) continue;
    VkDeviceSize& top = s.where == Where::Arena ? arena : consts;
    s.offset = top;
    top = align_up(top + std::max<VkDeviceSize>(s.bytes, 4), align_);
  }
  const VkDeviceSize max_range = ctx_->props.limits.maxStorageBufferRange;
  for (size_t t = 0; t < slots_.size(); ++t)
    if (slots_[t].where != Where::None && slots_[t].bytes > max_range)
      return TERN_ERROR(kUnsupported, "tensor %zu of %llu bytes exceeds the device's maxStorageBufferRange (%llu)", t,
                        static_cast<unsigned long long>(slots_[t].bytes), static_cast<unsigned long long>(max_range));
  params_offsets_.resize(steps_.size());
  VkDeviceSize params = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    params_offsets_[i] = params;
    params = align_up(params + std::max<size_t>(steps_[i].params_count, 1) * 4, align_);
  }
  TERN_ASSIGN_OR_RETURN(arena_, ctx_->create_buffer(arena, false));
  TERN_ASSIGN_OR_RETURN(consts_, ctx_->create_buffer(std::max<VkDeviceSize>(consts, 16), false));
  TERN_ASSIGN_OR_RETURN(params_, ctx_->create_buffer(std::max<VkDeviceSize>(params, 16), false));

  // Boundary transfers.
  VkDeviceSize staging = 0;
  auto transfer = [&](int32_t t, std::vector<Transfer>* list) {
    const Slot& s = slots_[static_cast<size_t>(t)];
    if (s.where != Where::Arena || !s.bytes) return;
    list->push_back({tensors_[static_cast<size_t>(t)].data, s.offset, staging, s.bytes, half_[static_cast<size_t>(t)] != 0});
    staging = align_up(staging + s.bytes, 16);
  };
  for (int32_t t : g.inputs) transfer(t, &ins_);
  for (int32_t t : g.outputs) transfer(t, &outs_);
  if (!arena_.mapped && staging) {
    TERN_ASSIGN_OR_RETURN(staging_, ctx_->create_buffer(staging, true));
  }
  return Status::ok();
}

Status VulkanExecutable::upload(const Subgraph& g) {
  // Constants and parameters: written through the mapping when the buffers are host-visible,
  // otherwise through one temporary staging buffer and a one-time command buffer.
  struct Up {
    vk::Buffer* dst;
    VkDeviceSize offset;
    const void* src;
    VkDeviceSize bytes;
  };
  std::vector<Up> ups;
  std::vector<std::vector<uint16_t>> halves;  // fp16 storage: the converted constants
  for (size_t t = 0; t < slots_.size(); ++t)
    if (slots_[t].where == Where::Constant && slots_[t].bytes) {
      if (!tensors_[t].data) return TERN_ERROR(kInternal, "constant tensor %zu has no data", t);
      const void* src = tensors_[t].data;
      if (half_[t]) {
        halves.emplace_back(static_cast<size_t>(tensors_[t].shape.numel()));
        to_half(src, halves.back().data(), halves.back().size());
        src = halves.back().data();
      }
      ups.push_back({&consts_, slots_[t].offset, src, slots_[t].bytes});
    }
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].params_count)
      ups.push_back({&params_, params_offsets_[i], params_words_.data() + steps_[i].params_begin, steps_[i].params_count * 4});
  std::vector<uint8_t> zeros(align_, 0);
  ups.push_back({&arena_, zero_offset_, zeros.data(), align_});

  VkDeviceSize staged = 0;
  for (const Up& u : ups) {
    if (u.dst->mapped) std::memcpy(static_cast<uint8_t*>(u.dst->mapped) + u.offset, u.src, u.bytes);
    else staged = align_up(staged + u.bytes, 16);
  }
  if (!staged) return Status::ok();
  TERN_ASSIGN_OR_RETURN(vk::Buffer st, ctx_->create_buffer(staged, true));
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.queueFamilyIndex = ctx_->queue_family;
  VkCommandPool pool;
  TERN_VK_CHECK(vkCreateCommandPool(ctx_->device, &pci, nullptr, &pool));
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = pool;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cb;
  vkAllocateCommandBuffers(ctx_->device, &cai, &cb);
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkBeginCommandBuffer(cb, &bi);
  VkDeviceSize at = 0;
  for (const Up& u : ups) {
    if (u.dst->mapped) continue;
    std::memcpy(static_cast<uint8_t*>(st.mapped) + at, u.src, u.bytes);
    VkBufferCopy c{at, u.offset, u.bytes};
    vkCmdCopyBuffer(cb, st.buffer, u.dst->buffer, 1, &c);
    at = align_up(at + u.bytes, 16);
  }
  vkEndCommandBuffer(cb);
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  VkResult r;
  {
    std::lock_guard<std::mutex> lock(ctx_->queue_mutex);
    r = vkQueueSubmit(ctx_->queue, 1, &si, VK_NULL_HANDLE);
    if (r == VK_SUCCESS) r = vkQueueWaitIdle(ctx_->queue);
  }
  vkDestroyCommandPool(ctx_->device, pool, nullptr);
  ctx_->destroy(st);
  if (r != VK_SUCCESS) return TERN_ERROR(kInternal, "uploading constants failed: %s", vk::result_name(r));
  return Status::ok();
}

VkDescriptorSetLayout VulkanExecutable::set_layout(uint32_t n) {
  auto it = set_layouts_.find(n);
  if (it != set_layouts_.end()) return it->second;
  std::vector<VkDescriptorSetLayoutBinding> b(n);
  for (uint32_t i = 0; i < n; ++i) {
    b[i].binding = i;
    b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b[i].descriptorCount = 1;
    b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  ci.bindingCount = n;
  ci.pBindings = b.data();
  VkDescriptorSetLayout l = VK_NULL_HANDLE;
  vkCreateDescriptorSetLayout(ctx_->device, &ci, nullptr, &l);
  set_layouts_[n] = l;
  VkPipelineLayoutCreateInfo pci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pci.setLayoutCount = 1;
  pci.pSetLayouts = &l;
  VkPipelineLayout pl = VK_NULL_HANDLE;
  vkCreatePipelineLayout(ctx_->device, &pci, nullptr, &pl);
  pipeline_layouts_[n] = pl;
  return l;
}

Status VulkanExecutable::create_pipelines() {
  for (const Step& s : steps_) {
    if (s.shader.empty()) continue;
    uint32_t nb = static_cast<uint32_t>(s.bindings.size() + 1);
    auto it = pipelines_.find(s.shader);
    if (it != pipelines_.end()) {
      if (it->second.bindings != nb)
        return TERN_ERROR(kInternal, "shader %s dispatched with %u and %u bindings", s.shader.c_str(), it->second.bindings, nb);
      continue;
    }
    const vk::ShaderCode* code = vk::find_shader(s.shader.c_str());
    if (!code) return TERN_ERROR(kInternal, "no embedded shader named '%s'", s.shader.c_str());
    Pipeline p;
    p.bindings = nb;
    set_layout(nb);
    VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mci.codeSize = code->bytes;
    mci.pCode = code->words;
    TERN_VK_CHECK(vkCreateShaderModule(ctx_->device, &mci, nullptr, &p.module));
    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = p.module;
    ci.stage.pName = "main";
    ci.layout = pipeline_layouts_[nb];
    VkResult r = vkCreateComputePipelines(ctx_->device, VK_NULL_HANDLE, 1, &ci, nullptr, &p.pipeline);
    pipelines_[s.shader] = p;
    if (r != VK_SUCCESS) return TERN_ERROR(kInternal, "creating the pipeline of shader %s failed: %s", s.shader.c_str(), vk::result_name(r));
    vk::counters().pipelines++;
  }
  return Status::ok();
}

VkDescriptorBufferInfo VulkanExecutable::binding_info(int32_t id) const {
  if (id < 0) return {arena_.buffer, zero_offset_, align_};
  const Slot& s = slots_[static_cast<size_t>(id)];
  return {s.where == Where::Constant ? consts_.buffer : arena_.buffer, s.offset, std::max<VkDeviceSize>(s.bytes, 4)};
}

Status VulkanExecutable::create_descriptors() {
  uint32_t sets = 0, descriptors = 0;
  for (const Step& s : steps_)
    if (!s.shader.empty()) {
      ++sets;
      descriptors += static_cast<uint32_t>(s.bindings.size() + 1);
    }
  sets_.assign(steps_.size(), VK_NULL_HANDLE);
  if (!sets) return Status::ok();
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, descriptors};
  VkDescriptorPoolCreateInfo pci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  pci.maxSets = sets;
  pci.poolSizeCount = 1;
  pci.pPoolSizes = &size;
  TERN_VK_CHECK(vkCreateDescriptorPool(ctx_->device, &pci, nullptr, &pool_));
  std::vector<VkDescriptorBufferInfo> infos;
  std::vector<VkWriteDescriptorSet> writes;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    if (s.shader.empty()) continue;
    uint32_t nb = static_cast<uint32_t>(s.bindings.size() + 1);
    VkDescriptorSetLayout l = set_layout(nb);
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pool_;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &l;
    TERN_VK_CHECK(vkAllocateDescriptorSets(ctx_->device, &ai, &sets_[i]));
    vk::counters().descriptor_sets++;
    infos.clear();
    infos.push_back({params_.buffer, params_offsets_[i], std::max<VkDeviceSize>(s.params_count * 4, 4)});
    for (int32_t b : s.bindings) infos.push_back(binding_info(b));
    writes.assign(nb, VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET});
    for (uint32_t k = 0; k < nb; ++k) {
      writes[k].dstSet = sets_[i];
      writes[k].dstBinding = k;
      writes[k].descriptorCount = 1;
      writes[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[k].pBufferInfo = &infos[k];
    }
    vkUpdateDescriptorSets(ctx_->device, nb, writes.data(), 0, nullptr);
  }
  return Status::ok();
}

Status VulkanExecutable::record() {
  VkDevice d = ctx_->device;
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.queueFamilyIndex = ctx_->queue_family;
  TERN_VK_CHECK(vkCreateCommandPool(d, &pci, nullptr, &cmd_pool_));
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = cmd_pool_;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  TERN_VK_CHECK(vkAllocateCommandBuffers(d, &cai, &cmd_));
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  TERN_VK_CHECK(vkCreateFence(d, &fci, nullptr, &fence_));
  if (ctx_->timestamps) {
    VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qci.queryCount = 2;
    TERN_VK_CHECK(vkCreateQueryPool(d, &qci, nullptr, &queries_));
  }

  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  TERN_VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  // Every step may read what any earlier one wrote: a full compute/transfer memory barrier
  // between consecutive steps keeps the ordering simple and correct.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  auto barrier = [&] { vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr); };
  if (queries_) {
    vkCmdResetQueryPool(cmd_, queries_, 0, 2);
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
  }
  if (staging_.buffer && !ins_.empty()) {
    std::vector<VkBufferCopy> c;
    for (const Transfer& t : ins_) c.push_back({t.staging_offset, t.device_offset, t.bytes});
    vkCmdCopyBuffer(cmd_, staging_.buffer, arena_.buffer, static_cast<uint32_t>(c.size()), c.data());
    barrier();
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    if (i) barrier();
    if (s.shader.empty()) {
      const Slot& a = slots_[static_cast<size_t>(s.src)];
      const Slot& b = slots_[static_cast<size_t>(s.dst)];
      VkBufferCopy c{a.offset + s.src_offset, b.offset + s.dst_offset, s.bytes};
      vkCmdCopyBuffer(cmd_, a.where == Where::Constant ? consts_.buffer : arena_.buffer, arena_.buffer, 1, &c);
      continue;
    }
    const Pipeline& p = pipelines_[s.shader];
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layouts_[p.bindings], 0, 1, &sets_[i], 0, nullptr);
    vkCmdDispatch(cmd_, s.groups[0], s.groups[1], s.groups[2]);
  }
  if (staging_.buffer && !outs_.empty()) {
    barrier();
    std::vector<VkBufferCopy> c;
    for (const Transfer& t : outs_) c.push_back({t.device_offset, t.staging_offset, t.bytes});
    vkCmdCopyBuffer(cmd_, arena_.buffer, staging_.buffer, static_cast<uint32_t>(c.size()), c.data());
  }
  // Make the results visible to the host reads after the fence.
  VkMemoryBarrier hb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  hb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  hb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, stages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, nullptr, 0, nullptr);
  if (queries_) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 1);
  TERN_VK_CHECK(vkEndCommandBuffer(cmd_));
  vk::counters().command_buffers_recorded++;
  return Status::ok();
}

Status VulkanExecutable::execute() {
  uint8_t* host_side = static_cast<uint8_t*>(arena_.mapped ? arena_.mapped : staging_.mapped);
  for (const Transfer& t : ins_) {
    uint8_t* dst = host_side + (arena_.mapped ? t.device_offset : t.staging_offset);
    if (t.half) to_half(t.host, dst, t.bytes / 2);
    else std::memcpy(dst, t.host, t.bytes);
  }
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  {
    std::lock_guard<std::mutex> lock(ctx_->queue_mutex);
    TERN_VK_CHECK(vkQueueSubmit(ctx_->queue, 1, &si, fence_));
  }
  vk::counters().submits++;
  TERN_VK_CHECK(vkWaitForFences(ctx_->device, 1, &fence_, VK_TRUE, UINT64_MAX));
  TERN_VK_CHECK(vkResetFences(ctx_->device, 1, &fence_));
  for (const Transfer& t : outs_) {
    const uint8_t* src = host_side + (arena_.mapped ? t.device_offset : t.staging_offset);
    if (t.half) from_half(src, t.host, t.bytes / 2);
    else std::memcpy(t.host, src, t.bytes);
  }
  if (queries_) {
    uint64_t ts[2] = {0, 0};
    if (vkGetQueryPoolResults(ctx_->device, queries_, 0, 2, sizeof(ts), ts, sizeof(uint64_t), VK_QUERY_RESULT_64_BIT) == VK_SUCCESS &&
        ts[1] >= ts[0]) {
      g_gpu_ns += static_cast<uint64_t>(static_cast<double>(ts[1] - ts[0]) * ctx_->props.limits.timestampPeriod);
      g_gpu_runs++;
    }
  }
  return check_validation("execute");
}

class VulkanBackend final : public Backend {
 public:
  const char* name() const override { return "vulkan"; }
  bool is_available() const override {
    if (!probed_) {
      probed_ = true;
      Result<std::shared_ptr<vk::Context>> c = vk::Context::get();
      if (c.is_ok()) ctx_ = std::move(c).value();
    }
    return ctx_ != nullptr;
  }
  bool supports(const NodeQuery& q, std::string* why) const override {
    const TensorInfo* x = vk::qin(q, 0);
    const vk::OpEntry* e = vk::entry_for(q.op, x ? x->dtype : DType::Float32);
    std::string reason;
    bool ok = e ? e->supports(q, &reason) : vk::decline(&reason, std::string("no Vulkan kernel for ") + ops::op_name(q.op));
    // TERN_VULKAN_DISABLE=Op,Op,... keeps those ops off Vulkan (triage of correctness or speed).
    if (ok)
      if (const char* off = std::getenv("TERN_VULKAN_DISABLE")) {
        const std::string list = std::string(",") + off + ",", me = std::string(",") + ops::op_name(q.op) + ",";
        if (list.find(me) != std::string::npos) ok = vk::decline(&reason, "disabled by TERN_VULKAN_DISABLE");
      }
    // TERN_VULKAN_LOG_DECLINES=1 prints every declined node (to see what an op suite or a model
    // leaves on the CPU).
    static const bool log = std::getenv("TERN_VULKAN_LOG_DECLINES") != nullptr;
    if (!ok && log) std::fprintf(stderr, "[tern vulkan] declines %s: %s\n", ops::op_name(q.op), reason.c_str());
    if (!ok && why) *why = reason;
    return ok;
  }
  Result<std::unique_ptr<Executable>> prepare(const Subgraph& g, const BackendOptions& opts) override {
    if (!is_available()) {
      Result<std::shared_ptr<vk::Context>> c = vk::Context::get();
      return c.is_ok() ? TERN_ERROR(kInternal, "Vulkan context") : c.status();
    }
    // TERN_VULKAN_NO_FP16=1 treats the device as lacking 16-bit storage (tests of this error).
    if (opts.fp16_storage && (!ctx_->storage16 || std::getenv("TERN_VULKAN_NO_FP16")))
      return TERN_ERROR(kUnsupported,
                        "the plan stores this Vulkan partition in float16 (compiled with --fp16) but %s lacks 16-bit storage "
                        "(storageBuffer16BitAccess); recompile without --fp16",
                        ctx_->props.deviceName);
    auto e = std::make_unique<VulkanExecutable>(ctx_);
    TERN_RETURN_IF_ERROR(e->init(g, opts));
    return std::unique_ptr<Executable>(std::move(e));
  }

 private:
  mutable bool probed_ = false;
  mutable std::shared_ptr<vk::Context> ctx_;
};

}  // namespace

std::unique_ptr<Backend> make_vulkan_backend() { return std::make_unique<VulkanBackend>(); }

VulkanTimes vulkan_times() { return {g_gpu_ns.load(), g_gpu_runs.load()}; }

namespace vk {

void Recorder::dispatch_threads(const char* shader, std::initializer_list<int32_t> bindings, const Params& params, uint64_t threads,
                                uint32_t local) {
  uint64_t groups = (threads + local - 1) / local;
  dispatch_groups(shader, bindings, params, groups);
}

void Recorder::dispatch_groups(const char* shader, std::initializer_list<int32_t> bindings, const Params& params, uint64_t groups) {
  if (!groups) return;
  const uint64_t kMaxX = 65535;
  uint32_t gx = static_cast<uint32_t>(std::min(groups, kMaxX));
  uint32_t gy = static_cast<uint32_t>((groups + gx - 1) / gx);
  dispatch(shader, bindings, params, gx, gy, 1);
}

Status OpCall::error(const char* what) const {
  return TERN_ERROR(kUnsupported, "node '%s' (%s): %s", node->name, ops::op_name(node->op), what);
}

bool all_f32(const NodeQuery& q, std::string* why) {
  for (const TensorInfo* t : q.inputs)
    if (t && t->dtype != DType::Float32) return decline(why, std::string("input is ") + dtype_name(t->dtype) + "; float32 only");
  for (const TensorInfo* t : q.outputs)
    if (t && t->dtype != DType::Float32) return decline(why, std::string("output is ") + dtype_name(t->dtype) + "; float32 only");
  return true;
}

}  // namespace vk

}  // namespace tern
