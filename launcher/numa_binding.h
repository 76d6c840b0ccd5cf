// numa_binding: which CPUs each worker is bound to with --numa-binding, as
// torchrun 2.8+ (torch/numa/binding.py) chooses them. Pure: a function of a
// CpuTopology (host_topology.h reads the real one with hwloc), so synthetic
// machines test every mode. Only CPUs are bound, as torchrun does (numactl
// --physcpubind, no memory policy): the kernel's first-touch policy then puts
// a worker's memory on the node it runs on.
#ifndef TPLAUNCH_LAUNCHER_NUMA_BINDING_H_
#define TPLAUNCH_LAUNCHER_NUMA_BINDING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/launch_config.h"

namespace tplaunch {

// The parts of a machine's topology the modes look at. CPUs are logical CPU
// numbers (the kernel's, as sched_setaffinity takes them), already limited to
// those the launcher may use.
struct CpuTopology {
  struct NumaNode {
    int index = 0;          // The kernel's NUMA node number.
    int socket = 0;         // Its package (physical_package_id).
    std::vector<int> cpus;  // Allowed CPUs of the node, ascending.
  };
  // Every NUMA node, ascending by index; nodes without allowed CPUs included
  // (memory-only nodes), the modes skip them.
  std::vector<NumaNode> nodes;
  // CPU -> its physical core, named by the core's lowest CPU (hyperthread
  // siblings share one). Missing: the CPU is its own core.
  std::map<int, int> core_of;
  // CPU -> its largest data/unified cache (the L3 of a core complex), named by
  // the cache's lowest CPU. Missing: the whole NUMA node is one domain.
  std::map<int, int> cache_of;
  // The NUMA node of each GPU, in the order the workers use them (worker with
  // local rank i uses GPU i, as in torchrun); empty: no GPU topology.
  std::vector<int> gpu_nodes;
  // Why gpu_nodes is empty ("no NVIDIA GPU found by hwloc"), for the log.
  std::string no_gpu_reason;
};

struct NumaPlacement {
  // CPUs of local rank i, ascending, never empty.
  std::vector<std::vector<int>> cpus;
  // The NUMA node each local rank was placed on.
  std::vector<int> node;
  // Without GPU topology: local ranks were spread round-robin over the NUMA
  // nodes that have CPUs (each node's workers standing in for its GPUs).
  bool by_local_rank = false;
};

// The CPUs of each of `nproc` workers under `mode` (not kNone). Errors
// (InvalidArgument, naming the node and counts): more workers than GPUs, a
// GPU's node without allowed CPUs, exclusive with fewer physical cores on a
// node than GPUs (or workers) sharing it, no NUMA node with CPUs at all.
absl::StatusOr<NumaPlacement> PlanNumaBinding(const CpuTopology& topology,
                                              NumaBinding mode, int nproc);

// "node", "socket", "exclusive", "core-complex" ("none" for kNone).
std::string NumaBindingName(NumaBinding mode);

// {0,1,2,4,6,7} -> "0-2,4,6-7", the kernel's cpulist format (the one
// /proc/self/status shows as Cpus_allowed_list).
std::string FormatCpuList(const std::vector<int>& cpus);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_NUMA_BINDING_H_
