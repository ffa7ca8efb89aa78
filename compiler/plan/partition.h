// Placement: splits the node list (execution order) into maximal runs of nodes per backend.
//
// Target "cpu": one CPU partition. Target "vulkan": every node the Vulkan backend's `supports`
// accepts (decided from dtypes, shapes and options alone: no device is needed to compile) goes to
// a "vulkan" partition, every other node to a "cpu" partition whose reason names the first node
// that fell back and why. The runtime prepares each partition on its backend and moves only the
// partitions' boundary tensors between host and device.
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

Result<std::vector<PartitionSpec>> partition_graph(const ir::Graph& g, const std::string& target, PartitionStats* stats = nullptr);

}  // namespace tern::compiler
