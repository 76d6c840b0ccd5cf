#include "launcher/scheduler/hostlist.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using Hosts = std::vector<std::string>;

Hosts Expand(const std::string& text) {
  absl::StatusOr<Hosts> hosts = ExpandHostlist(text);
  INFO(text);
  REQUIRE(hosts.ok());
  return *hosts;
}

// Each expectation is what `scontrol show hostnames` (Slurm 22.05, Debian 12)
// printed for the list.
TEST_CASE("hostlists expand as scontrol show hostnames prints them") {
  CHECK(Expand("gpu[01-04,07]") ==
        Hosts{"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"});
  CHECK(Expand("a[1-2]-b[3-4]") == Hosts{"a1-b3", "a1-b4", "a2-b3", "a2-b4"});
  CHECK(Expand("gpu[01-02],cpu-a[1-2]") ==
        Hosts{"gpu01", "gpu02", "cpu-a1", "cpu-a2"});
  CHECK(Expand("node1,node2") == Hosts{"node1", "node2"});
  CHECK(Expand("a,b[1-2],c") == Hosts{"a", "b1", "b2", "c"});
  CHECK(Expand("n[1-3,5-6]") == Hosts{"n1", "n2", "n3", "n5", "n6"});
  CHECK(Expand("host.example.com") == Hosts{"host.example.com"});
  CHECK(Expand("[1-2]") == Hosts{"1", "2"});
  CHECK(Expand("N-[1-2]") == Hosts{"N-1", "N-2"});
  CHECK(Expand("n[7-7]") == Hosts{"n7"});
  CHECK(Expand("n[1]") == Hosts{"n1"});
  CHECK(Expand("") == Hosts{});
}

TEST_CASE("a range is padded to its low bound's width") {
  CHECK(Expand("n[8-11]") == Hosts{"n8", "n9", "n10", "n11"});
  CHECK(Expand("n[098-101]") == Hosts{"n098", "n099", "n100", "n101"});
  CHECK(Expand("n[00-02]") == Hosts{"n00", "n01", "n02"});
  CHECK(Expand("n[01-2]") == Hosts{"n01", "n02"});
  CHECK(Expand("n[1-02]") == Hosts{"n1", "n2"});
  CHECK(Expand("n[001-3]") == Hosts{"n001", "n002", "n003"});
  CHECK(Expand("n[8-012]") == Hosts{"n8", "n9", "n10", "n11", "n12"});
}

TEST_CASE("duplicates, order and empty groups are kept as Slurm keeps them") {
  CHECK(Expand("n[2,1]") == Hosts{"n2", "n1"});
  CHECK(Expand("n[1,1]") == Hosts{"n1", "n1"});
  CHECK(Expand("n1,n1") == Hosts{"n1", "n1"});
  CHECK(Expand("n[1-2],,m") == Hosts{"n1", "n2", "m"});
  CHECK(Expand(",n1") == Hosts{"n1"});
  CHECK(Expand("n1 n2") == Hosts{"n1", "n2"});
}

TEST_CASE(
    "with several bracket groups the last varies fastest, then the first") {
  CHECK(Expand("n[1-2][3-4]") == Hosts{"n13", "n14", "n23", "n24"});
  CHECK(Expand("rack[1-2]-n[01,03]") ==
        Hosts{"rack1-n01", "rack1-n03", "rack2-n01", "rack2-n03"});
  CHECK(Expand("n[1-2,4]-x[01-02]") ==
        Hosts{"n1-x01", "n1-x02", "n2-x01", "n2-x02", "n4-x01", "n4-x02"});
  CHECK(Expand("a[1-2]b[3-4]c[5-6]") == Hosts{"a1b3c5", "a1b3c6", "a2b3c5",
                                              "a2b3c6", "a1b4c5", "a1b4c6",
                                              "a2b4c5", "a2b4c6"});
  CHECK(Expand("a[1-2]b[3-4],z[1-2]") ==
        Hosts{"a1b3", "a1b4", "a2b3", "a2b4", "z1", "z2"});
}

TEST_CASE("malformed hostlists are errors naming the list") {
  for (const char* bad :
       {"x[0-2]y", "pre[001-003]suf", "a[1-2]-b", "n[1-2].ex.com", "n[3-1]",
        "n[a-b]", "n[1-2-3]", "n[]", "n[1-3", "n]1", "n[[1]]", "n[ 1-2]",
        "n[1-2000000]", "n[1-1024][1-1025]"}) {
    absl::StatusOr<Hosts> hosts = ExpandHostlist(bad);
    INFO(bad);
    REQUIRE_FALSE(hosts.ok());
    CHECK(absl::IsInvalidArgument(hosts.status()));
    CHECK_THAT(std::string(hosts.status().message()),
               Catch::Contains(std::string("hostlist '") + bad + "'"));
  }
}

TEST_CASE("SLURM_TASKS_PER_NODE's run-length form") {
  CHECK(*ExpandTasksPerNode("2(x3),1") == std::vector<int>{2, 2, 2, 1});
  CHECK(*ExpandTasksPerNode("8") == std::vector<int>{8});
  CHECK(*ExpandTasksPerNode("1(x4)") == std::vector<int>{1, 1, 1, 1});
  CHECK(*ExpandTasksPerNode("3,1(x2),2") == std::vector<int>{3, 1, 1, 2});
  for (const char* bad :
       {"", "0", "2(3)", "2(x)", "2(x0)", "x2", "2(x3", "2,,1", "-1", "a"}) {
    INFO(bad);
    absl::StatusOr<std::vector<int>> counts = ExpandTasksPerNode(bad);
    REQUIRE_FALSE(counts.ok());
    CHECK_THAT(std::string(counts.status().message()),
               Catch::Contains("tasks per node"));
  }
}

// The same lists through the real `scontrol show hostnames`, where Slurm's
// client is installed (scripts/setup.sh installs it); it needs a slurm.conf
// but no controller.
TEST_CASE("hostlists agree with the real scontrol") {
  const std::string scontrol = "/usr/bin/scontrol";
  if (access(scontrol.c_str(), X_OK) != 0) {
    WARN("skipped: " << scontrol
                     << " is not installed (apt-get install slurm-client)");
    return;
  }
  const std::string dir = testing::MakeTempDir();
  const std::string conf = dir + "/slurm.conf";
  testing::WriteFile(conf,
                     "ClusterName=hostlist\nSlurmctldHost=localhost\n"
                     "NodeName=localhost CPUs=1 State=UNKNOWN\n"
                     "PartitionName=p Nodes=localhost Default=YES\n");
  const std::vector<std::string> lists = {
      "gpu[01-04,07]",
      "a[1-2]-b[3-4]",
      "gpu[01-02],cpu-a[1-2]",
      "n[8-11]",
      "n[098-101]",
      "rack[1-2]-n[01,03]",
      "a,b[1-2],c",
      "n[1-3,5-6],m[7]",
      "n[2,1],n1",
      "n[01-2],n[1-02],n[8-012]",
      "n[1-2][3-4]",
      "a[1-2]b[3-4]c[5-6]d[7-8]",
      "x[0-3]y[1-2]z[5]",
      "node[0001-0012],login1",
  };
  for (const std::string& list : lists) {
    testing::Subprocess sc({scontrol, "show", "hostnames", list},
                           {{"SLURM_CONF", conf}});
    std::optional<int> code = sc.Wait(absl::Seconds(30));
    INFO(list << "\nscontrol stderr: " << sc.err());
    REQUIRE(code == 0);
    Hosts printed = absl::StrSplit(sc.out(), '\n', absl::SkipEmpty());
    CHECK(Expand(list) == printed);
  }
}

}  // namespace
}  // namespace tplaunch
