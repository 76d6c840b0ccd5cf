// --numa-binding's planner over synthetic machines (every mode, several NUMA
// nodes and GPUs, uneven splits, the errors), and hwloc's view of this one.
#include "launcher/numa_binding.h"

#include <sched.h>

#include <catch2/catch.hpp>
#include <set>

#include "launcher/host_topology.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

std::vector<int> Range(int lo, int hi) {  // [lo, hi]
  std::vector<int> out;
  for (int c = lo; c <= hi; ++c) out.push_back(c);
  return out;
}

// Two sockets of two NUMA nodes each; 8 physical cores per node with two
// hyperthreads (cpu c and c+64 share a core); each node two L3 domains of 4
// cores; GPUs 0,1 on node 0, 2,3 on node 1, 4..7 on node 3 (none on node 2).
CpuTopology BigMachine() {
  CpuTopology t;
  for (int n = 0; n < 4; ++n) {
    CpuTopology::NumaNode node;
    node.index = n;
    node.socket = n / 2;
    node.cpus = Range(n * 8, n * 8 + 7);
    for (int c : Range(n * 8 + 64, n * 8 + 71)) node.cpus.push_back(c);
    for (int c = n * 8; c < n * 8 + 8; ++c) {
      t.core_of[c] = c;
      t.core_of[c + 64] = c;
      const int l3 = c < n * 8 + 4 ? n * 8 : n * 8 + 4;
      t.cache_of[c] = l3;
      t.cache_of[c + 64] = l3;
    }
    t.nodes.push_back(node);
  }
  t.gpu_nodes = {0, 0, 1, 1, 3, 3, 3, 3};
  return t;
}

TEST_CASE("node: every CPU of the GPU's NUMA node") {
  auto plan = PlanNumaBinding(BigMachine(), NumaBinding::kNode, 8);
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->by_local_rank);
  CHECK(FormatCpuList(plan->cpus[0]) == "0-7,64-71");
  CHECK(FormatCpuList(plan->cpus[1]) == "0-7,64-71");
  CHECK(FormatCpuList(plan->cpus[3]) == "8-15,72-79");
  CHECK(FormatCpuList(plan->cpus[7]) == "24-31,88-95");
  CHECK(plan->node == std::vector<int>{0, 0, 1, 1, 3, 3, 3, 3});
}

TEST_CASE("socket: every CPU of the NUMA nodes of the GPU's socket") {
  auto plan = PlanNumaBinding(BigMachine(), NumaBinding::kSocket, 8);
  REQUIRE(plan.ok());
  CHECK(FormatCpuList(plan->cpus[2]) == "0-15,64-79");
  CHECK(FormatCpuList(plan->cpus[4]) == "16-31,80-95");
}

TEST_CASE("exclusive: the node's physical cores split among its GPUs") {
  auto plan = PlanNumaBinding(BigMachine(), NumaBinding::kExclusive, 8);
  REQUIRE(plan.ok());
  // Node 0: 8 cores for GPUs 0 and 1, siblings kept together.
  CHECK(FormatCpuList(plan->cpus[0]) == "0-3,64-67");
  CHECK(FormatCpuList(plan->cpus[1]) == "4-7,68-71");
  // Node 3: 8 cores for 4 GPUs.
  CHECK(FormatCpuList(plan->cpus[4]) == "24-25,88-89");
  CHECK(FormatCpuList(plan->cpus[7]) == "30-31,94-95");
  // Fewer workers than GPUs: the shares are still the GPUs' (torchrun).
  auto one = PlanNumaBinding(BigMachine(), NumaBinding::kExclusive, 1);
  REQUIRE(one.ok());
  CHECK(FormatCpuList(one->cpus[0]) == "0-3,64-67");
}

TEST_CASE("exclusive: an uneven split gives the lowest GPUs one more core") {
  CpuTopology t;
  t.nodes = {{0, 0, Range(0, 6)}};  // 7 cores, no hyperthreads.
  t.gpu_nodes = {0, 0, 0};
  auto plan = PlanNumaBinding(t, NumaBinding::kExclusive, 3);
  REQUIRE(plan.ok());
  CHECK(FormatCpuList(plan->cpus[0]) == "0-2");
  CHECK(FormatCpuList(plan->cpus[1]) == "3-4");
  CHECK(FormatCpuList(plan->cpus[2]) == "5-6");
}

TEST_CASE("core-complex: one L3 domain each, round-robin when short") {
  auto plan = PlanNumaBinding(BigMachine(), NumaBinding::kCoreComplex, 8);
  REQUIRE(plan.ok());
  CHECK(FormatCpuList(plan->cpus[0]) == "0-3,64-67");
  CHECK(FormatCpuList(plan->cpus[1]) == "4-7,68-71");
  // Node 3 has two domains for four GPUs.
  CHECK(FormatCpuList(plan->cpus[4]) == "24-27,88-91");
  CHECK(FormatCpuList(plan->cpus[5]) == "28-31,92-95");
  CHECK(FormatCpuList(plan->cpus[6]) == "24-27,88-91");
  // The bigger domain first: CPUs the launcher may not use shrink one.
  CpuTopology t;
  t.nodes = {{0, 0, {0, 1, 4, 5, 6}}};
  t.cache_of = {{0, 0}, {1, 0}, {4, 4}, {5, 4}, {6, 4}};
  t.gpu_nodes = {0};
  auto small = PlanNumaBinding(t, NumaBinding::kCoreComplex, 1);
  REQUIRE(small.ok());
  CHECK(FormatCpuList(small->cpus[0]) == "4-6");
}

TEST_CASE("without GPU topology: local ranks round-robin over NUMA nodes") {
  CpuTopology t = BigMachine();
  t.gpu_nodes.clear();
  t.nodes[2].cpus.clear();  // A node without CPUs (memory only) is skipped.
  auto plan = PlanNumaBinding(t, NumaBinding::kNode, 4);
  REQUIRE(plan.ok());
  CHECK(plan->by_local_rank);
  CHECK(plan->node == std::vector<int>{0, 1, 3, 0});
  // Exclusive: the node's cores split among the workers placed on it.
  auto ex = PlanNumaBinding(t, NumaBinding::kExclusive, 6);
  REQUIRE(ex.ok());
  CHECK(FormatCpuList(ex->cpus[0]) == "0-3,64-67");
  CHECK(FormatCpuList(ex->cpus[3]) == "4-7,68-71");
  CHECK(FormatCpuList(ex->cpus[2]) == "24-27,88-91");
}

TEST_CASE("what cannot be placed is an error naming it") {
  auto more = PlanNumaBinding(BigMachine(), NumaBinding::kNode, 9);
  REQUIRE_FALSE(more.ok());
  CHECK_THAT(std::string(more.status().message()),
             Catch::Contains("9 workers but 8 GPU(s)"));

  CpuTopology t;
  t.nodes = {{0, 0, {0, 1}}};
  auto cores = PlanNumaBinding(t, NumaBinding::kExclusive, 3);
  REQUIRE_FALSE(cores.ok());
  CHECK(cores.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(cores.status().message()),
             Catch::Contains("NUMA node 0 has 2 physical core(s)") &&
                 Catch::Contains("for 3 workers"));

  CpuTopology empty_node = BigMachine();
  empty_node.nodes[1].cpus.clear();
  auto gpu_far = PlanNumaBinding(empty_node, NumaBinding::kNode, 3);
  REQUIRE_FALSE(gpu_far.ok());
  CHECK_THAT(std::string(gpu_far.status().message()),
             Catch::Contains("local rank 2 is on NUMA node 1"));
}

TEST_CASE("CPU lists in the kernel's format") {
  CHECK(FormatCpuList({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7");
  CHECK(FormatCpuList({5}) == "5");
  CHECK(FormatCpuList({3, 1, 2, 2}) == "1-3");
}

TEST_CASE("hwloc reads this machine: every allowed CPU in one NUMA node") {
  auto t = ReadHostTopology({});
  REQUIRE(t.ok());
  REQUIRE_FALSE(t->nodes.empty());
  std::set<int> seen;
  for (const auto& n : t->nodes) {
    for (int c : n.cpus) CHECK(seen.insert(c).second);
  }
  cpu_set_t mine;
  REQUIRE(sched_getaffinity(0, sizeof(mine), &mine) == 0);
  CHECK(static_cast<int>(seen.size()) == CPU_COUNT(&mine));
  for (int c : seen) CHECK(CPU_ISSET(c, &mine));
  if (t->gpu_nodes.empty()) {
    WARN("no GPU topology here: " << t->no_gpu_reason);
  }
  // UUIDs cannot be mapped without NVML; indices beyond the GPUs are errors.
  auto uuids = ReadHostTopology({{"CUDA_VISIBLE_DEVICES", "GPU-1234"}});
  REQUIRE(uuids.ok());
  CHECK(uuids->gpu_nodes.empty());
}

// hwloc reads HWLOC_XMLFILE instead of this machine while it is set.
// testdata/two_gpu_nodes.xml is a synthetic two-socket machine: CPU 0 on
// socket 0 / NUMA node 0, CPU 1 on socket 1 / NUMA node 1. The NVIDIA GPU on
// bus 0x9a sits on node 0, the one on bus 0x18 on node 1, so in PCI bus order
// GPU 0 is on node 1. An NVSwitch (10de, class 0680) on node 0 is not a GPU.
// The file holds no XML comment: hwloc's built-in parser (used when Debian's
// libhwloc-plugins, with its libxml2 one, is not installed) rejects them.
class FakeMachine {
 public:
  FakeMachine() {
    setenv(
        "HWLOC_XMLFILE",
        testing::Runfile("tests/launcher/testdata/two_gpu_nodes.xml").c_str(),
        1);
  }
  ~FakeMachine() { unsetenv("HWLOC_XMLFILE"); }
};

bool MayUseCpus01() {
  cpu_set_t mine;
  return sched_getaffinity(0, sizeof(mine), &mine) == 0 &&
         CPU_ISSET(0, &mine) && CPU_ISSET(1, &mine);
}

TEST_CASE("hwloc: GPUs in PCI bus order, each on its NUMA node") {
  if (!MayUseCpus01()) {
    WARN("needs CPUs 0 and 1 (the fake machine's); not run");
    return;
  }
  FakeMachine fake;
  auto t = ReadHostTopology({});
  REQUIRE(t.ok());
  REQUIRE(t->nodes.size() == 2);
  CHECK(t->nodes[0].cpus == std::vector<int>{0});
  CHECK(t->nodes[1].cpus == std::vector<int>{1});
  CHECK(t->nodes[1].socket == 1);
  CHECK(t->cache_of.at(1) == 1);
  CHECK(t->core_of.at(1) == 1);
  // Bus 0x18 (node 1) before bus 0x9a (node 0); the NVSwitch is no GPU.
  CHECK(t->gpu_nodes == std::vector<int>{1, 0});
  // CUDA_VISIBLE_DEVICES indices select among them, in its order.
  auto one = ReadHostTopology({{"CUDA_VISIBLE_DEVICES", "1"}});
  REQUIRE(one.ok());
  CHECK(one->gpu_nodes == std::vector<int>{0});
  auto beyond = ReadHostTopology({{"CUDA_VISIBLE_DEVICES", "0,2"}});
  REQUIRE_FALSE(beyond.ok());
  CHECK_THAT(std::string(beyond.status().message()),
             Catch::Contains("names GPU 2, but hwloc found 2 NVIDIA GPU(s)"));
}

}  // namespace
}  // namespace tplaunch
