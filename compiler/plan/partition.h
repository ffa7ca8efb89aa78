// Placement: splits the node list (execution order) into maximal runs of nodes per backend.
//
// Target "cpu": one CPU partition. Target "vulkan": every node the Vulkan backend's `supports`
// accepts (decided from dtypes, shapes and options alone: no device is needed to compile) goes to
// a "vulkan" partition, every other node to a "cpu" partition whose reason names the first node
// that fell back and why. The runtime prepares each partition on its backend and moves only the
// partitions' boundary tensors between host and device.
//
// fp16_storage (target vulkan, `tern compile --fp16`): Vulkan partitions are marked to store their
// float32 tensors as float16; a node the backend declines for fp16 storage (NodeQuery::fp16_storage)
// but runs in float32 gets a float32 Vulkan partition of its own, whose reason names it. So do a
// tern.LIF and every node it depends on: a spike is a threshold test, and float16 rounding
// anywhere upstream (~5e-4 relative) can flip spikes that float32 keeps (the zoo's spiking models
// have membrane potentials within 1e-4 of the threshold), so spikes are computed from float32.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "emit/plan_writer.h"
#include "ir/graph.h"

namespace tern::compiler {

struct PartitionStats {
  size_t nodes_on_target = 0, nodes_fallback = 0;
};

Result<std::vector<PartitionSpec>> partition_graph(const ir::Graph& g, const std::string& target, PartitionStats* stats = nullptr,
                                                   bool fp16_storage = false);

}  // namespace tern::compiler
