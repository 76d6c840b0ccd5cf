// End to end: unmodified PyTorch (/usr/bin/python3) under the real tplaunch
// with --torch-store agent, standalone (the embedded server's TCPStore
// listener) and on two nodes against the real tprdzvd's listener: workers get
// TORCHELASTIC_USE_AGENT_STORE=True and MASTER_ADDR/PORT of the listener, no
// rank hosts a store, and a second job (with a restart) on the same daemon is
// not confused by the first job's keys. Prints SKIP and passes when
// /usr/bin/python3 cannot import torch.distributed.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "tests/dropin/torch_dropin.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::Concat;
using testing::Daemon;
using testing::DaemonOptions;
using testing::kPython;
using testing::Runfile;
using testing::Subprocess;
using testing::TorchAvailable;
using testing::TorchCheck;
using testing::Tplaunch;
using testing::TwoNodeTplaunch;

constexpr absl::Duration kJobTimeout = absl::Seconds(60);

// The text after `prefix` up to the end of its word.
std::string After(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  const size_t start = at + prefix.size();
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

TEST_CASE(
    "--torch-store agent against a tprdzvd needs --torch-store-endpoint") {
  // A tprdzvd serves the endpoint, so no node hosts it and no node publishes
  // a listener (a self-hosted endpoint would: self_hosted_e2e_test).
  Daemon d;
  Subprocess p(Tplaunch({"--rdzv-endpoint", d.endpoint(), "--rdzv-id", "j",
                         "--local-addr", "127.0.0.1", "--rdzv-timeout", "2",
                         "--torch-store", "agent", "/bin/true"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 1);
  CHECK_THAT(p.err(), Catch::Contains("--torch-store-endpoint HOST:PORT"));
  CHECK_THAT(p.err(), Catch::Contains("--torch-store-port"));
}

TEST_CASE(
    "standalone --torch-store agent: the embedded listener is the store") {
  if (!TorchAvailable()) return;

  // The drop-in check script, 4 ranks; its --agent-store checks the variable
  // from PyTorch's side.
  Subprocess job(Concat(Tplaunch({"--torch-store", "agent", "--nproc", "4"}),
                        TorchCheck({"--agent-store"})));
  const auto job_rc = job.Wait(kJobTimeout);
  INFO(job.out() << job.err());
  REQUIRE(job_rc == 0);
  CHECK_THAT(job.out(), Catch::Contains("torch_ddp_check: OK world_size=4"));
  CHECK_THAT(job.err(),
             Catch::Contains("--torch-store agent: workers use the TCPStore "
                             "listener on 127.0.0.1:"));

  // No rank listens on MASTER_PORT, which is the listener the launcher named;
  // after a failure in attempt 0 the restart finds the listener emptied.
  Subprocess check(
      Tplaunch({"--torch-store", "agent", "--nproc", "2", "--max-restarts", "1",
                kPython, Runfile("tests/launcher/torch_agent_store_check.py"),
                "--fail-rank", "1", "--fail-attempt", "0"}));
  const auto check_rc = check.Wait(kJobTimeout);
  INFO(check.out() << check.err());
  REQUIRE(check_rc == 0);
  const std::string listener = After(check.err(), "TCPStore listener on ");
  REQUIRE(!listener.empty());
  for (int r = 0; r < 2; ++r) {
    CHECK_THAT(check.out(), Catch::Contains(absl::StrCat(
                                "agent_store_check: rank ", r,
                                " ok master=", listener, " attempt=1")));
  }
  CHECK_THAT(check.err(), Catch::Contains("attempt 1: removed "));
}

TEST_CASE(
    "two nodes against tprdzvd's listener; the next job and its restart start "
    "clean") {
  if (!TorchAvailable()) return;
  DaemonOptions with_listener;
  with_listener.torch_store = true;
  Daemon d(with_listener);
  const std::string script =
      Runfile("tests/launcher/torch_agent_store_check.py");
  // --torch-store agent against the daemon's listener; `script_args` go to
  // the check script.
  auto node = [&](const std::string& job,
                  const std::vector<std::string>& script_args) {
    return TwoNodeTplaunch(d, job, 1,
                           {"--torch-store", "agent", "--torch-store-endpoint",
                            d.torch_store(), "--max-restarts", "1"},
                           Concat({kPython, script}, script_args));
  };

  {
    Subprocess a(node("first", {}));
    Subprocess b(node("first", {}));
    const auto a_rc = a.Wait(kJobTimeout);
    const auto b_rc = b.Wait(kJobTimeout);
    const std::string out = a.out() + b.out();
    INFO(out << a.err() << b.err());
    REQUIRE(a_rc == 0);
    REQUIRE(b_rc == 0);
    for (int r = 0; r < 2; ++r) {
      CHECK_THAT(out, Catch::Contains(absl::StrCat(
                          "agent_store_check: rank ", r,
                          " ok master=", d.torch_store(), " attempt=0")));
    }
  }

  // The keys went to the daemon: its TCPStore job holds them now.
  Subprocess keys({Runfile("rendezvous/tprdzvctl"), "--endpoint", d.endpoint(),
                   "--job", "torch", "num-keys"});
  REQUIRE(keys.Wait(absl::Seconds(20)) == 0);
  int64_t num_keys = 0;
  REQUIRE(absl::SimpleAtoi(absl::StripAsciiWhitespace(keys.out()), &num_keys));
  CHECK(num_keys > 0);

  // Same daemon, same PyTorch key names: without node 0 emptying the listener
  // the second job reads the first job's Gloo addresses and barrier count.
  // Rank 1 fails once, so attempt 1 must start clean too.
  Subprocess a(node("second", {"--fail-rank", "1", "--fail-attempt", "0"}));
  Subprocess b(node("second", {"--fail-rank", "1", "--fail-attempt", "0"}));
  const auto a_rc = a.Wait(kJobTimeout);
  const auto b_rc = b.Wait(kJobTimeout);
  const std::string out = a.out() + b.out();
  const std::string err = a.err() + b.err();
  INFO(out << err);
  REQUIRE(a_rc == 0);
  REQUIRE(b_rc == 0);
  CHECK_THAT(out, Catch::Contains("failing in attempt 0 on purpose"));
  for (int r = 0; r < 2; ++r) {
    CHECK_THAT(out, Catch::Contains(absl::StrCat("agent_store_check: rank ", r,
                                                 " ok master=", d.torch_store(),
                                                 " attempt=1")));
  }
  CHECK_THAT(err, Catch::Contains("that an earlier job or attempt left in the "
                                  "TCPStore listener"));
  // PyTorch 1.13 puts the attempt in its keys, so only this line shows that
  // the restart, too, emptied the listener.
  CHECK_THAT(err, Catch::Contains("attempt 1: removed "));
}

}  // namespace
}  // namespace tplaunch
