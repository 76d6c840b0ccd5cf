// The real tplaunch over a real one-member etcd (--rdzv-backend etcd-v3): a
// two-node worker_lib Gloo job, the loss of one node's launcher, and a
// cluster that is down.
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

TEST_CASE("two nodes over etcd run a Gloo job, then remove the run's keys") {
  EtcdCluster etcd(1);
  const std::vector<std::string> train = {Runfile("examples/train"), "--steps",
                                          "5", "--timeout", "60"};
  Subprocess a(EtcdNode(etcd, "gloo", 1, {}, train));
  Subprocess b(EtcdNode(etcd, "gloo", 1, {}, train));
  const std::optional<int> ca = a.Wait(absl::Seconds(90));
  const std::optional<int> cb = b.Wait(absl::Seconds(30));
  INFO("a:\n" << a.out() << a.err() << "\nb:\n" << b.out() << b.err());
  REQUIRE(ca == 0);
  REQUIRE(cb == 0);
  // The workers reached etcd through TPLAUNCH_RDZV_ENDPOINT=etcd-v3://...
  CHECK_THAT(a.out() + b.out(),
             Catch::Contains("train: backend=gloo world_size=2") &&
                 Catch::Contains("bit-identical on all 2 ranks"));
  CHECK_THAT(a.err() + b.err(), Catch::Contains("removed run gloo's keys"));
  CHECK(RunKeys(etcd, "gloo").empty());
}

TEST_CASE("SIGKILL of one node's launcher: the other stops, naming it") {
  EtcdCluster etcd(1);
  const std::string dir = MakeTempDir();
  const std::vector<std::string> program = {
      "/bin/sh", "-c", "echo $$ > $D/pid$RANK; exec sleep 60"};
  const std::vector<std::string> hb = {"--heartbeat-interval", "0.2",
                                       "--heartbeat-timeout", "2"};
  Subprocess a(EtcdNode(etcd, "loss", 1, hb, program), {{"D", dir}});
  Subprocess b(EtcdNode(etcd, "loss", 1, hb, program), {{"D", dir}});
  REQUIRE(WaitFor([&] { return ReadPids(dir, "pid", 2).size() == 2; },
                  absl::Seconds(60)));
  // tplaunch status reads the running job from etcd and writes nothing: no
  // key and no lease of its own.
  const std::string keys_before = RunKeys(etcd, "loss");
  const std::string leases_before = Leases(etcd);
  Subprocess status({Runfile("launcher/tplaunch"), "status", "--rdzv-backend",
                     "etcd", "--rdzv-endpoint", etcd.EndpointFlag(),
                     "--rdzv-id", "loss"});
  REQUIRE(status.Wait(absl::Seconds(30)) == 0);
  INFO("status:\n" << status.out() << status.err());
  CHECK_THAT(status.out(),
             Catch::Contains("rendezvous closed with 2 node(s)") &&
                 Catch::Contains("last heartbeat"));
  CHECK(RunKeys(etcd, "loss") == keys_before);
  CHECK(Leases(etcd) == leases_before);
  b.Kill(SIGKILL);
  const absl::Time killed = absl::Now();
  const std::optional<int> code = a.Wait(absl::Seconds(30));
  const absl::Duration took = absl::Now() - killed;
  INFO("a:\n" << a.err());
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  // The heartbeat timeout, plus slack for a loaded machine.
  CHECK(took < absl::Seconds(2) + absl::Seconds(4));
  CHECK_THAT(a.err(), Catch::Contains("stopped heartbeating") &&
                          Catch::Contains("(--heartbeat-timeout 2s)"));
}

TEST_CASE("tplaunch status of a run etcd does not hold: exit 1, naming it") {
  EtcdCluster etcd(1);
  const std::string leases_before = Leases(etcd);
  REQUIRE_THAT(leases_before, !Catch::StartsWith("?"));
  Subprocess status({Runfile("launcher/tplaunch"), "status", "--rdzv-backend",
                     "etcd", "--rdzv-endpoint", etcd.EndpointFlag(),
                     "--rdzv-id", "nothing"});
  REQUIRE(status.Wait(absl::Seconds(30)) == 1);
  CHECK_THAT(status.err(), Catch::Contains("no job with run id 'nothing'"));
  // A read-only store: looking grants no lease.
  CHECK(Leases(etcd) == leases_before);
}

TEST_CASE(
    "every etcd member down: the rendezvous fails within --rdzv-timeout") {
  EtcdCluster etcd(1);
  const std::string members = etcd.EndpointFlag();
  etcd.Signal(0, SIGKILL);
  REQUIRE(WaitFor([&] { return !etcd.IsAlive(0); }, absl::Seconds(10)));
  const absl::Time start = absl::Now();
  Subprocess a(
      EtcdNode(etcd, "down", 1, {"--rdzv-timeout", "3"}, {"/bin/true"}));
  const std::optional<int> code = a.Wait(absl::Seconds(30));
  const absl::Duration took = absl::Now() - start;
  INFO(a.err());
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(took < absl::Seconds(3) + absl::Seconds(5));
  CHECK_THAT(a.err(), Catch::Contains("cannot reach the etcd rendezvous at " +
                                      members) &&
                          Catch::Contains("no etcd member answered within"));
}

TEST_CASE("--torch-store agent over etcd is a usage error") {
  EtcdCluster etcd(1);
  Subprocess a(
      EtcdNode(etcd, "agent", 1, {"--torch-store", "agent"}, {"/bin/true"}));
  REQUIRE(a.Wait(absl::Seconds(30)) == 2);
  CHECK_THAT(a.err(), Catch::Contains("--torch-store agent does not work "
                                      "with --rdzv-backend etcd-v3"));
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
