// The real tplaunch over a real three-member etcd: SIGKILL of the leader while
// a two-node job with heartbeats runs (the job keeps its heartbeats going
// through the failover and exits 0), and while the nodes join.
#include <signal.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/launcher/etcd/etcd_launch.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/store/etcd/etcd_cluster.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {
namespace {

// Runs until the test writes `go` (a worker's gate: polling a file is its
// idle loop, not the test's synchronisation), and gives up after 120 s with a
// message naming the gate, so a test that never opens it leaves no worker
// spinning.
const char kWorker[] =
    "echo $$ > $D/pid$RANK; i=0; "
    "while [ ! -e $D/go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); "
    "done; [ -e $D/go ] || { echo \"no $D/go after 120 s\" >&2; exit 1; }";

TEST_CASE("SIGKILL of the etcd leader while a two-node job runs: exit 0") {
  EtcdCluster etcd(3);
  const std::string dir = MakeTempDir();
  // A heartbeat timeout well above etcd's election (1 s by default), so only
  // a rendezvous that did not fail over would lose a node.
  const std::vector<std::string> extra = {"--heartbeat-interval", "0.3",
                                          "--heartbeat-timeout", "10"};
  const std::vector<std::string> program = {"/bin/sh", "-c", kWorker};
  Subprocess a(EtcdNode(etcd, "failover", 1, extra, program), {{"D", dir}});
  Subprocess b(EtcdNode(etcd, "failover", 1, extra, program), {{"D", dir}});
  REQUIRE(WaitFor([&] { return ReadPids(dir, "pid", 2).size() == 2; },
                  absl::Seconds(60)));
  const int leader = etcd.Leader();
  REQUIRE(leader >= 0);
  etcd.Signal(leader, SIGKILL);
  REQUIRE(WaitFor([&] { return !etcd.IsAlive(leader); }, absl::Seconds(10)));
  const int next = etcd.Leader(absl::Seconds(30), leader);
  REQUIRE(next >= 0);
  CHECK(next != leader);
  // Heartbeats written after the new leader was elected: the run's values
  // change (the only writes of a running job are its heartbeats), and both
  // launchers are still running.
  const std::string before = RunKeys(etcd, "failover", next, true);
  REQUIRE_FALSE(absl::StartsWith(before, "?"));
  REQUIRE(WaitFor(
      [&] {
        const std::string now = RunKeys(etcd, "failover", next, true);
        return !absl::StartsWith(now, "?") && now != before;
      },
      absl::Seconds(10)));
  CHECK_FALSE(a.Wait(absl::ZeroDuration()).has_value());
  CHECK_FALSE(b.Wait(absl::ZeroDuration()).has_value());
  WriteFile(dir + "/go", "");
  const std::optional<int> ca = a.Wait(absl::Seconds(60));
  const std::optional<int> cb = b.Wait(absl::Seconds(30));
  INFO("a:\n" << a.err() << "\nb:\n" << b.err());
  CHECK(ca == 0);
  CHECK(cb == 0);
  CHECK(RunKeys(etcd, "failover", next).empty());
}

TEST_CASE("SIGKILL of the etcd leader while the nodes join: exit 0") {
  EtcdCluster etcd(3);
  const std::vector<std::string> program = {"/bin/true"};
  Subprocess a(EtcdNode(etcd, "joining", 1, {}, program));
  // a has joined and waits for b in etcd when the leader goes.
  REQUIRE(WaitFor(
      [&] { return absl::StrContains(a.err(), "waiting for 1 more node"); },
      absl::Seconds(60)));
  const int leader = etcd.Leader();
  REQUIRE(leader >= 0);
  etcd.Signal(leader, SIGKILL);
  Subprocess b(EtcdNode(etcd, "joining", 1, {}, program));
  const std::optional<int> ca = a.Wait(absl::Seconds(90));
  const std::optional<int> cb = b.Wait(absl::Seconds(30));
  INFO("a:\n" << a.err() << "\nb:\n" << b.err());
  CHECK(ca == 0);
  CHECK(cb == 0);
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
