// Two nodes on loopback: two tplaunch processes with two workers each against
// one real tprdzvd, running the unmodified examples/torch_ddp_check.py.
#include <catch2/catch.hpp>

#include "absl/time/time.h"
#include "tests/dropin/torch_dropin.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

using Catch::Contains;

constexpr absl::Duration kRunTimeout = absl::Seconds(60);

TEST_CASE("two nodes x 2 workers run an unmodified torch.distributed script") {
  if (!TorchAvailable()) return;
  Daemon d;
  Subprocess a(TwoNodeTplaunch(d, "dropin2x2", 2, {}, TorchCheck()));
  Subprocess b(TwoNodeTplaunch(d, "dropin2x2", 2, {}, TorchCheck()));
  std::optional<int> code_a = a.Wait(kRunTimeout);
  std::optional<int> code_b = b.Wait(kRunTimeout);
  INFO("node A stdout:\n" << a.out() << "node A stderr:\n" << a.err());
  INFO("node B stdout:\n" << b.out() << "node B stderr:\n" << b.err());
  if (!code_a || !code_b)
    FAIL("a tplaunch did not exit within " << kRunTimeout);
  CHECK(*code_a == 0);
  CHECK(*code_b == 0);
  // Rank 0 checked that all four ranks saw one job: two nodes, consecutive
  // ranks per node, one MASTER_ADDR:MASTER_PORT and run id.
  CHECK_THAT(a.out() + b.out(),
             Contains("torch_ddp_check: OK world_size=4 nodes=2 backend=gloo "
                      "master=127.0.0.1:"));
  CHECK_THAT(a.out() + b.out(), Contains(" run_id=dropin2x2 attempt=0 "));
}

TEST_CASE(
    "two nodes: a failing rank on one node stops both, and both name it") {
  if (!TorchAvailable()) return;
  Daemon d;
  const std::string pids = MakeTempDir();
  const std::string logs_a = MakeTempDir();
  const std::string logs_b = MakeTempDir();
  const std::vector<std::string> program =
      TorchCheck({"--fail-rank", "2"}, pids);
  Subprocess a(
      TwoNodeTplaunch(d, "dropfail2x2", 2, {"--log-dir", logs_a}, program));
  Subprocess b(
      TwoNodeTplaunch(d, "dropfail2x2", 2, {"--log-dir", logs_b}, program));
  std::optional<int> code_a = a.Wait(kRunTimeout);
  std::optional<int> code_b = b.Wait(kRunTimeout);
  const std::string err = a.err() + b.err();
  INFO("node A stderr:\n" << a.err());
  INFO("node B stderr:\n" << b.err());
  if (!code_a || !code_b)
    FAIL("a tplaunch did not exit within " << kRunTimeout);
  CHECK(*code_a == 1);
  CHECK(*code_b == 1);
  // Rank 2 is node 1's local rank 0, whichever process became node 1.
  CHECK_THAT(err, Contains("worker failed: rank 2 on node 1"));
  CHECK_THAT(err, Contains("rank       : 2 (local rank 0)"));
  CHECK_THAT(err,
             Contains("error      : RuntimeError: injected failure on rank 2"));
  CHECK_THAT(err, Contains("| RuntimeError: injected failure on rank 2\n"));
  const std::string json = ReadFile(logs_a + "/dropfail2x2/error.json") +
                           ReadFile(logs_b + "/dropfail2x2/error.json");
  INFO("error.json files:\n" << json);
  CHECK_THAT(json, Contains("\"error_message\": \"RuntimeError: injected "
                            "failure on rank 2\""));

  const std::vector<pid_t> workers = ReadPids(pids, "pid", 4);
  REQUIRE(workers.size() == 4);
  for (pid_t pid : workers) {
    INFO("worker pid " << pid);
    CHECK_FALSE(IsAlive(pid));
  }
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
