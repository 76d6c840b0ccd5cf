// host_topology: this machine's CpuTopology (numa_binding.h) as hwloc sees it:
// NUMA nodes, sockets, physical cores, the largest cache of each CPU, and the
// NUMA node of each NVIDIA GPU (PCI vendor 0x10de, display class) in the order
// CUDA_VISIBLE_DEVICES selects them. The only file that includes hwloc.
#ifndef TPLAUNCH_LAUNCHER_HOST_TOPOLOGY_H_
#define TPLAUNCH_LAUNCHER_HOST_TOPOLOGY_H_

#include <string>

#include "absl/status/statusor.h"
#include "launcher/numa_binding.h"
#include "launcher/worker_env.h"

namespace tplaunch {

// Reads the topology, keeping only the CPUs this process may run on
// (sched_getaffinity; torchrun intersects the same way). GPUs: all NVIDIA PCI
// display devices in PCI bus order (nvidia-smi's order), narrowed to `env`'s
// CUDA_VISIBLE_DEVICES when it lists indices; when it lists UUIDs (which hwloc
// cannot map without NVML) gpu_nodes stays empty and no_gpu_reason says why.
// Errors: Internal when hwloc cannot load the topology, InvalidArgument when
// CUDA_VISIBLE_DEVICES names an index beyond the GPUs found.
absl::StatusOr<CpuTopology> ReadHostTopology(const EnvMap& env);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_HOST_TOPOLOGY_H_
