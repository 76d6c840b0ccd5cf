// One node: the unmodified examples/torch_ddp_check.py (init_process_group
// "gloo" from env://, collectives, a DDP step, torchrun's environment as
// PyTorch reads it) under the real tplaunch binary.
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

// Generous: four PyTorch imports on two cores take a few seconds.
constexpr absl::Duration kRunTimeout = absl::Seconds(60);

TEST_CASE("tplaunch --nproc 4 runs an unmodified torch.distributed script") {
  if (!TorchAvailable()) return;
  Subprocess p(
      Concat(Tplaunch({"--nproc", "4", "--rdzv-id", "dropin4"}), TorchCheck()));
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 0);
  CHECK_THAT(p.out(), Contains("[rank0]: torch_ddp_check: OK world_size=4 "
                               "nodes=1 backend=gloo master=127.0.0.1:"));
  CHECK_THAT(p.out(), Contains("run_id=dropin4 attempt=0 omp_threads=1 "));
  CHECK_THAT(p.err(), !Contains("Traceback"));
}

TEST_CASE(
    "a failing rank: the group is torn down and the root cause names the rank "
    "and the Python exception") {
  if (!TorchAvailable()) return;
  const std::string logs = MakeTempDir();
  const std::string pids = MakeTempDir();
  Subprocess p(Concat(
      Tplaunch({"--nproc", "4", "--log-dir", logs, "--rdzv-id", "dropfail"}),
      TorchCheck({"--fail-rank", "2"}, pids)));
  std::optional<int> code = p.Wait(kRunTimeout);
  const std::string err = p.err();
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << err);
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  // Python exits 1 on an uncaught exception; tplaunch passes it on.
  CHECK(*code == 1);

  // The summary on stderr: the rank, the message @record wrote to
  // TORCHELASTIC_ERROR_FILE, and the traceback's last line.
  CHECK_THAT(err, Contains("worker failed: rank 2 on node 0"));
  CHECK_THAT(err, Contains("rank       : 2 (local rank 2)"));
  CHECK_THAT(err, Contains("exit code  : 1"));
  CHECK_THAT(err,
             Contains("error      : RuntimeError: injected failure on rank 2"));
  CHECK_THAT(err, Contains("| RuntimeError: injected failure on rank 2\n"));

  // The same in DIR/RUN_ID/error.json.
  const std::string json = ReadFile(logs + "/dropfail/error.json");
  INFO("error.json:\n" << json);
  CHECK_THAT(json, Contains("\"rank\": 2,"));
  CHECK_THAT(json, Contains("\"exit_code\": 1,"));
  CHECK_THAT(json, Contains("\"error_message\": \"RuntimeError: injected "
                            "failure on rank 2\""));
  CHECK_THAT(json, Contains("\"RuntimeError: injected failure on rank 2\"]"));
  // PyTorch's own error file (written by @record) and the rank's log.
  const std::string rank_dir = logs + "/dropfail/attempt_0/rank_2";
  CHECK_THAT(ReadFile(rank_dir + "/error.json"),
             Contains("\"message\": \"RuntimeError: injected failure on rank "
                      "2\""));
  CHECK_THAT(ReadFile(rank_dir + "/stderr.log"),
             Contains("Traceback (most recent call last):"));

  // Every worker had started (rank 2 fails after init_process_group, which
  // needs all four), and none outlives tplaunch.
  const std::vector<pid_t> workers = ReadPids(pids, "pid", 4);
  REQUIRE(workers.size() == 4);
  for (pid_t pid : workers) {
    INFO("worker pid " << pid);
    CHECK_FALSE(IsAlive(pid));
  }
}

TEST_CASE(
    "inherited launcher variables do not leak into PyTorch's view; "
    "OMP_NUM_THREADS is kept") {
  if (!TorchAvailable()) return;
  // As if tplaunch were started by another launcher: every value below would
  // break init_process_group or the script's checks if it reached a worker,
  // except OMP_NUM_THREADS, which the user may set.
  Subprocess p(Concat(Tplaunch({"--nproc", "2"}), TorchCheck()),
               {{"RANK", "7"},
                {"LOCAL_RANK", "7"},
                {"WORLD_SIZE", "99"},
                {"MASTER_ADDR", "192.0.2.1"},
                {"MASTER_PORT", "1"},
                {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                {"TORCHELASTIC_RUN_ID", "outer"},
                {"OMP_NUM_THREADS", "2"}});
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 0);
  CHECK_THAT(p.out(), Contains("torch_ddp_check: OK world_size=2 nodes=1 "
                               "backend=gloo master=127.0.0.1:"));
  CHECK_THAT(p.out(), Contains(" omp_threads=2 "));
  CHECK_THAT(p.out(), !Contains("run_id=outer"));
}

TEST_CASE("the script's environment checks fail when the contract is not met") {
  if (!TorchAvailable()) return;
  // --agent-store expects TORCHELASTIC_USE_AGENT_STORE=True, which tplaunch
  // sets only with --torch-store agent: every rank must refuse to start.
  Subprocess p(
      Concat(Tplaunch({"--nproc", "2"}), TorchCheck({"--agent-store"})));
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 1);
  CHECK_THAT(p.err(), Contains("AssertionError: rank "));
  CHECK_THAT(p.err(),
             Contains("PyTorch reads use_agent_store=False, expected True"));
  CHECK_THAT(p.out(), !Contains("torch_ddp_check: OK"));
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
