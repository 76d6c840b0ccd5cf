#include "launcher/numa_binding.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tplaunch {
namespace {

using Group = std::vector<int>;

const CpuTopology::NumaNode* FindNode(const CpuTopology& t, int index) {
  for (const auto& n : t.nodes) {
    if (n.index == index) return &n;
  }
  return nullptr;
}

// The node's CPUs grouped by `key_of` (CPU -> group name; a missing CPU is
// keyed by `missing`), groups in ascending name order.
std::vector<Group> GroupBy(const Group& cpus, const std::map<int, int>& key_of,
                           std::function<int(int)> missing) {
  std::map<int, Group> groups;
  for (int cpu : cpus) {
    auto it = key_of.find(cpu);
    groups[it != key_of.end() ? it->second : missing(cpu)].push_back(cpu);
  }
  std::vector<Group> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return out;
}

Group Flatten(std::vector<Group>::const_iterator begin,
              std::vector<Group>::const_iterator end) {
  Group out;
  for (auto it = begin; it != end; ++it) {
    out.insert(out.end(), it->begin(), it->end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// torchrun's exclusive mode: the node's physical cores split evenly among the
// `sharers` that use it, the lowest ones getting one more when it does not
// divide; `position` is this worker's index among them.
absl::StatusOr<Group> ExclusiveShare(const CpuTopology& t,
                                     const CpuTopology::NumaNode& node,
                                     int position, int sharers,
                                     const char* sharer_name) {
  const std::vector<Group> cores =
      GroupBy(node.cpus, t.core_of, [](int cpu) { return cpu; });
  const int per = static_cast<int>(cores.size()) / sharers;
  const int extra = static_cast<int>(cores.size()) % sharers;
  if (per < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--numa-binding exclusive: NUMA node ", node.index, " has ",
        cores.size(), " physical core(s) this launcher may use for ", sharers,
        " ", sharer_name,
        "; give each worker a core or use "
        "--numa-binding node"));
  }
  const int start = position * per + std::min(position, extra);
  const int end = start + per + (position < extra ? 1 : 0);
  return Flatten(cores.begin() + start, cores.begin() + end);
}

// torchrun's core-complex mode: one cache domain of the node, the biggest
// first (then the lowest CPU), a different one for each sharer while there are
// enough.
Group CoreComplex(const CpuTopology& t, const CpuTopology::NumaNode& node,
                  int position) {
  std::vector<Group> caches =
      GroupBy(node.cpus, t.cache_of, [&](int) { return node.cpus.front(); });
  std::stable_sort(
      caches.begin(), caches.end(),
      [](const Group& a, const Group& b) { return a.size() > b.size(); });
  return caches[position % caches.size()];
}

Group SocketCpus(const CpuTopology& t, int socket) {
  Group out;
  for (const auto& n : t.nodes) {
    if (n.socket == socket) out.insert(out.end(), n.cpus.begin(), n.cpus.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<NumaPlacement> PlanNumaBinding(const CpuTopology& t,
                                              NumaBinding mode, int nproc) {
  NumaPlacement plan;
  // Who shares each node: its GPUs (torchrun), or without GPU topology the
  // local ranks placed on it.
  std::vector<int> node_of(nproc);
  std::map<int, std::vector<int>> sharers;  // Node -> GPU or rank indices.
  const char* sharer_name = "GPUs";
  if (!t.gpu_nodes.empty()) {
    if (nproc > static_cast<int>(t.gpu_nodes.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--numa-binding: ", nproc, " workers but ",
                       t.gpu_nodes.size(), " GPU(s): local rank ",
                       t.gpu_nodes.size(), " has no GPU to be placed near"));
    }
    for (int i = 0; i < static_cast<int>(t.gpu_nodes.size()); ++i) {
      sharers[t.gpu_nodes[i]].push_back(i);
    }
    for (int lr = 0; lr < nproc; ++lr) node_of[lr] = t.gpu_nodes[lr];
  } else {
    std::vector<int> with_cpus;
    for (const auto& n : t.nodes) {
      if (!n.cpus.empty()) with_cpus.push_back(n.index);
    }
    if (with_cpus.empty()) {
      return absl::InvalidArgumentError(
          "--numa-binding: no NUMA node has a CPU this launcher may use");
    }
    plan.by_local_rank = true;
    sharer_name = "workers";
    for (int lr = 0; lr < nproc; ++lr) {
      node_of[lr] = with_cpus[lr % with_cpus.size()];
      sharers[node_of[lr]].push_back(lr);
    }
  }
  for (int lr = 0; lr < nproc; ++lr) {
    const CpuTopology::NumaNode* node = FindNode(t, node_of[lr]);
    if (node == nullptr || node->cpus.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--numa-binding: the GPU of local rank ", lr, " is on NUMA node ",
          node_of[lr], ", which has no CPU this launcher may use"));
    }
    const std::vector<int>& on_node = sharers[node_of[lr]];
    const int position = static_cast<int>(
        std::find(on_node.begin(), on_node.end(), lr) - on_node.begin());
    Group cpus;
    switch (mode) {
      case NumaBinding::kNone:
      case NumaBinding::kNode:
        cpus = node->cpus;
        break;
      case NumaBinding::kSocket:
        cpus = SocketCpus(t, node->socket);
        break;
      case NumaBinding::kExclusive: {
        absl::StatusOr<Group> share = ExclusiveShare(
            t, *node, position, static_cast<int>(on_node.size()), sharer_name);
        if (!share.ok()) return share.status();
        cpus = *std::move(share);
        break;
      }
      case NumaBinding::kCoreComplex:
        cpus = CoreComplex(t, *node, position);
        break;
    }
    plan.cpus.push_back(std::move(cpus));
    plan.node.push_back(node_of[lr]);
  }
  return plan;
}

std::string NumaBindingName(NumaBinding mode) {
  switch (mode) {
    case NumaBinding::kNone:
      return "none";
    case NumaBinding::kNode:
      return "node";
    case NumaBinding::kSocket:
      return "socket";
    case NumaBinding::kExclusive:
      return "exclusive";
    case NumaBinding::kCoreComplex:
      return "core-complex";
  }
  return "?";
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::vector<int> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::string> ranges;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    ranges.push_back(j == i ? absl::StrCat(sorted[i])
                            : absl::StrCat(sorted[i], "-", sorted[j]));
    i = j + 1;
  }
  return absl::StrJoin(ranges, ",");
}

}  // namespace tplaunch
