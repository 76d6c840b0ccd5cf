// One node with PyTorch 2.x workers: the unmodified examples/torch_ddp_check.py
// (gloo init_process_group from env://, collectives, a DDP step) run by the
// Debian 13 root's Python under the real tplaunch binary on the host, with
// PyTorch's store in rank 0 and in the launcher, across a restart, and with a
// rank raising inside @record.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "tests/dropin/torch2/torch2_root.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

using Catch::Contains;

// Generous: four PyTorch 2.x imports on two shared cores take several seconds.
constexpr absl::Duration kRunTimeout = absl::Seconds(120);

TEST_CASE("tplaunch --nproc 4 runs a PyTorch 2.x script, store in rank 0") {
  if (!Torch2Available()) return;
  CHECK(absl::StartsWith(Torch2Version(), "2."));
  Subprocess p(Concat(Tplaunch({"--nproc", "4", "--rdzv-id", "t2worker"}),
                      Torch2Check()),
               Torch2Env());
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 0);
  CHECK_THAT(p.out(), Contains("torch_ddp_check: OK world_size=4 nodes=1 "
                               "backend=gloo master=127.0.0.1:"));
  CHECK_THAT(p.out(), Contains("run_id=t2worker attempt=0 omp_threads=1 "));
  CHECK_THAT(p.err(), !Contains("Traceback"));
}

TEST_CASE(
    "tplaunch --torch-store agent: PyTorch 2.x ranks all connect to the "
    "launcher's TCPStore (TORCHELASTIC_USE_AGENT_STORE=True)") {
  if (!Torch2Available()) return;
  // --agent-store: the script asserts that PyTorch itself reads
  // use_agent_store=True, so rank 0 hosts nothing. The shim: PyTorch 2.6
  // builds the agent store's client without use_libuv (see the next test).
  Subprocess p(Concat(Tplaunch({"--nproc", "2", "--torch-store", "agent",
                                "--rdzv-id", "t2agent"}),
                      Torch2Check({"--agent-store"})),
               Torch2Env({{"PYTHONPATH", Torch2LibuvShim()}}));
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 0);
  CHECK_THAT(p.out(), Contains("torch_ddp_check: OK world_size=2 nodes=1 "
                               "backend=gloo master=127.0.0.1:"));
  CHECK_THAT(p.out(), Contains("run_id=t2agent attempt=0 "));
}

TEST_CASE(
    "Debian's PyTorch 2.x with the agent store and no shim: every rank fails "
    "in PyTorch's TCPStore client (no libuv), and the root cause says so") {
  if (!Torch2Available()) return;
  // What torchrun 2.x users on Debian's build hit too (it sets
  // TORCHELASTIC_USE_AGENT_STORE=True): env:// connects to the agent store
  // with TCPStore's default use_libuv=True, whatever USE_LIBUV says.
  Subprocess p(Concat(Tplaunch({"--nproc", "2", "--torch-store", "agent",
                                "--rdzv-id", "t2noshim"}),
                      Torch2Check({"--agent-store"})),
               Torch2Env());
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 1);
  CHECK_THAT(p.err(), Contains("error      : RuntimeError: use_libuv was "
                               "requested but PyTorch was build without libuv "
                               "support"));
  CHECK_THAT(p.out(), !Contains("torch_ddp_check: OK"));
}

TEST_CASE(
    "--max-restarts 1 with PyTorch 2.x: attempt 0 fails, attempt 1 succeeds") {
  if (!Torch2Available()) return;
  // Rank 1 raises in attempt 0 only (TORCHELASTIC_RESTART_COUNT is 0 there).
  const std::vector<std::string> program =
      Concat({"/bin/sh", "-c",
              "if [ \"$TORCHELASTIC_RESTART_COUNT\" = 0 ]; then "
              "exec \"$@\" --fail-rank 1; fi; exec \"$@\"",
              "sh"},
             Torch2Check());
  Subprocess p(Concat(Tplaunch({"--nproc", "2", "--max-restarts", "1",
                                "--rdzv-id", "t2restart"}),
                      program),
               Torch2Env());
  std::optional<int> code = p.Wait(kRunTimeout);
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << p.err());
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 0);
  CHECK_THAT(p.err(), Contains("RuntimeError: injected failure on rank 1"));
  CHECK_THAT(p.err(), Contains("restarting every worker as attempt 1"));
  CHECK_THAT(p.out(), Contains("torch_ddp_check: OK world_size=2 nodes=1 "));
  CHECK_THAT(p.out(), Contains("run_id=t2restart attempt=1 "));
  CHECK_THAT(p.out(), !Contains("attempt=0 omp"));
}

TEST_CASE(
    "a PyTorch 2.x rank raising inside @record: the root cause names the rank "
    "and the message from 2.x's error file") {
  if (!Torch2Available()) return;
  const std::string logs = MakeTempDir();
  Subprocess p(Concat(Tplaunch({"--nproc", "4", "--log-dir", logs, "--rdzv-id",
                                "t2fail"}),
                      Torch2Check({"--fail-rank", "2"})),
               Torch2Env());
  std::optional<int> code = p.Wait(kRunTimeout);
  const std::string err = p.err();
  INFO("tplaunch stdout:\n" << p.out() << "tplaunch stderr:\n" << err);
  if (!code) FAIL("tplaunch did not exit within " << kRunTimeout);
  CHECK(*code == 1);
  CHECK_THAT(err, Contains("worker failed: rank 2 on node 0"));
  CHECK_THAT(err, Contains("rank       : 2 (local rank 2)"));
  CHECK_THAT(err, Contains("exit code  : 1"));
  CHECK_THAT(err,
             Contains("error      : RuntimeError: injected failure on rank 2"));
  // The rank's last stderr lines; PyTorch 2.x prefixes its own "[rankN]: ".
  CHECK_THAT(err,
             Contains("| [rank2]: RuntimeError: injected failure on rank 2\n"));

  const std::string json = ReadFile(logs + "/t2fail/error.json");
  INFO("error.json:\n" << json);
  CHECK_THAT(json, Contains("\"rank\": 2,"));
  CHECK_THAT(json, Contains("\"error_message\": \"RuntimeError: injected "
                            "failure on rank 2\""));
  // PyTorch 2.x's own error file: {"message": {"message": ..., "extraInfo":
  // {"py_callstack": ..., "timestamp": ...}}}, as 2.x's @record writes it.
  const std::string rank_json =
      ReadFile(logs + "/t2fail/attempt_0/rank_2/error.json");
  INFO("rank 2's error.json:\n" << rank_json);
  CHECK_THAT(rank_json, Contains("\"message\": \"RuntimeError: injected "
                                 "failure on rank 2\""));
  CHECK_THAT(rank_json, Contains("\"extraInfo\""));
  CHECK_THAT(rank_json, Contains("\"py_callstack\""));
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
