#include "launcher/host_topology.h"

#include <hwloc.h>
#include <sched.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tplaunch {
namespace {

constexpr unsigned kNvidiaVendor = 0x10de;
constexpr unsigned kDisplayClass = 0x03;  // VGA 0x0300, 3D 0x0302.

std::set<int> AllowedCpus() {
  std::set<int> out;
  const int max_cpus = 1 << 15;
  cpu_set_t* set = CPU_ALLOC(max_cpus);
  const size_t size = CPU_ALLOC_SIZE(max_cpus);
  CPU_ZERO_S(size, set);
  if (sched_getaffinity(0, size, set) == 0) {
    for (int c = 0; c < max_cpus; ++c) {
      if (CPU_ISSET_S(c, size, set)) out.insert(c);
    }
  }
  CPU_FREE(set);
  return out;
}

// Frees the topology on every path.
class Topology {
 public:
  Topology() { ok_ = hwloc_topology_init(&t_) == 0; }
  ~Topology() {
    if (ok_) hwloc_topology_destroy(t_);
  }
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  bool ok() const { return ok_; }
  hwloc_topology_t get() const { return t_; }

 private:
  hwloc_topology_t t_;
  bool ok_ = false;
};

struct Gpu {
  std::tuple<unsigned, unsigned, unsigned, unsigned> bus_id;
  int node = 0;
};

std::vector<Gpu> NvidiaGpus(hwloc_topology_t t) {
  std::vector<Gpu> gpus;
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(t, nullptr); pci != nullptr;
       pci = hwloc_get_next_pcidev(t, pci)) {
    const auto& a = pci->attr->pcidev;
    if (a.vendor_id != kNvidiaVendor || (a.class_id >> 8) != kDisplayClass) {
      continue;
    }
    Gpu g;
    g.bus_id = {a.domain, a.bus, a.dev, a.func};
    // The closest normal object; its first NUMA node is the GPU's (the whole
    // machine, hence node 0, when the kernel knows no locality: torchrun maps
    // numa_node -1 to 0 the same way).
    hwloc_obj_t near = hwloc_get_non_io_ancestor_obj(t, pci);
    int node = near != nullptr ? hwloc_bitmap_first(near->nodeset) : 0;
    g.node = std::max(node, 0);
    gpus.push_back(g);
  }
  std::sort(gpus.begin(), gpus.end(),
            [](const Gpu& a, const Gpu& b) { return a.bus_id < b.bus_id; });
  return gpus;
}

// The GPUs the workers use: CUDA_VISIBLE_DEVICES' indices into `gpus`.
absl::Status SelectVisible(const EnvMap& env, const std::vector<Gpu>& gpus,
                           CpuTopology& out) {
  if (gpus.empty()) {
    out.no_gpu_reason = "hwloc found no NVIDIA GPU (PCI vendor 0x10de)";
    return absl::OkStatus();
  }
  auto visible = env.find("CUDA_VISIBLE_DEVICES");
  if (visible == env.end()) {
    for (const Gpu& g : gpus) out.gpu_nodes.push_back(g.node);
    return absl::OkStatus();
  }
  for (absl::string_view item : absl::StrSplit(visible->second, ',')) {
    int index = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &index)) {
      out.gpu_nodes.clear();
      out.no_gpu_reason = absl::StrCat(
          "CUDA_VISIBLE_DEVICES='", visible->second,
          "' names devices by UUID, which hwloc cannot map to PCI devices");
      return absl::OkStatus();
    }
    if (index < 0 || index >= static_cast<int>(gpus.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--numa-binding: CUDA_VISIBLE_DEVICES='",
                       visible->second, "' names GPU ", index,
                       ", but hwloc found ", gpus.size(), " NVIDIA GPU(s)"));
    }
    out.gpu_nodes.push_back(gpus[index].node);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CpuTopology> ReadHostTopology(const EnvMap& env) {
  Topology topo;
  if (!topo.ok()) return absl::InternalError("hwloc_topology_init failed");
  hwloc_topology_t t = topo.get();
  // hwloc's linux component reads PCI devices (vendor, class, bus id, NUMA
  // locality: all this file uses) from sysfs by itself. The optional plugins
  // (Debian's libhwloc-plugins) add nothing it needs and cost: the pci one
  // leaks libpciaccess's state on every load (LeakSanitizer fails a test on a
  // machine that has them), and the GPU ones initialise CUDA, NVML or OpenCL
  // in the launcher. Not installed ones fail to exclude, which is fine.
  for (const char* plugin :
       {"pci", "opencl", "gl", "cuda", "nvml", "rsmi", "levelzero"}) {
    hwloc_topology_set_components(t, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
                                  plugin);
  }
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (hwloc_topology_load(t) != 0) {
    return absl::InternalError("hwloc could not load this machine's topology");
  }
  const std::set<int> allowed = AllowedCpus();
  CpuTopology out;
  for (hwloc_obj_t n =
           hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, nullptr);
       n != nullptr; n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n)) {
    CpuTopology::NumaNode node;
    node.index = static_cast<int>(n->os_index);
    hwloc_obj_t package =
        hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, n);
    node.socket = package != nullptr ? static_cast<int>(package->os_index) : 0;
    unsigned cpu;
    hwloc_bitmap_foreach_begin(cpu, n->cpuset) {
      if (allowed.count(static_cast<int>(cpu)) != 0) {
        node.cpus.push_back(static_cast<int>(cpu));
      }
    }
    hwloc_bitmap_foreach_end();
    out.nodes.push_back(std::move(node));
  }
  std::sort(out.nodes.begin(), out.nodes.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_PU, nullptr);
       pu != nullptr; pu = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_PU, pu)) {
    const int cpu = static_cast<int>(pu->os_index);
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, pu);
    if (core != nullptr) out.core_of[cpu] = hwloc_bitmap_first(core->cpuset);
    // The deepest-level data or unified cache above the CPU (its L3 on most
    // machines), as torchrun picks the highest cache level in sysfs.
    hwloc_obj_t largest = nullptr;
    for (hwloc_obj_t a = pu->parent; a != nullptr; a = a->parent) {
      if (hwloc_obj_type_is_dcache(a->type) &&
          (largest == nullptr ||
           a->attr->cache.depth > largest->attr->cache.depth)) {
        largest = a;
      }
    }
    if (largest != nullptr) {
      out.cache_of[cpu] = hwloc_bitmap_first(largest->cpuset);
    }
  }
  absl::Status gpus = SelectVisible(env, NvidiaGpus(t), out);
  if (!gpus.ok()) return gpus;
  return out;
}

}  // namespace tplaunch
