// Two nodes on loopback with PyTorch 2.x workers and no daemon: the node whose
// address the --rdzv-endpoint is hosts the rendezvous in its own tplaunch (as
// torchrun 2.x's c10d backend hosts the store in the agent), with PyTorch's
// store in rank 0 and, as torchrun >= 2.4 does, in the hosting launcher
// (--torch-store agent, the listener published through the rendezvous).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/dropin/torch2/torch2_root.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {
namespace {

using Catch::Contains;

constexpr absl::Duration kRunTimeout = absl::Seconds(120);
// What the hosting node logs (launcher/topology).
constexpr char kHosting[] = "hosting the rendezvous endpoint";

// A port free a moment ago; a stranger may take it before a node binds it,
// so each test retries with a new one.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// Runs two nodes of 2 workers each against a self-hosted endpoint on
// 127.0.0.1; returns false when neither node hosted (the port was taken).
bool RunSelfHosted(const std::string& run_id,
                   const std::vector<std::string>& extra,
                   const std::vector<std::string>& script_args,
                   const std::map<std::string, std::string>& env) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", FreePort());
  auto node = [&] {
    std::vector<std::string> args = {
        "--nnodes",       "2",    "--nproc",         "2",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
        "--rdzv-id",      run_id, "--local-addr",    "127.0.0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Concat(Tplaunch(args), Torch2Check(script_args));
  };
  Subprocess a(node(), Torch2Env(env));
  Subprocess b(node(), Torch2Env(env));
  std::optional<int> code_a = a.Wait(kRunTimeout);
  std::optional<int> code_b = b.Wait(kRunTimeout);
  INFO("node A stdout:\n" << a.out() << "node A stderr:\n" << a.err());
  INFO("node B stdout:\n" << b.out() << "node B stderr:\n" << b.err());
  if (!code_a || !code_b) {
    FAIL("a tplaunch did not exit within " << kRunTimeout);
  }
  const bool a_hosts = absl::StrContains(a.err(), kHosting);
  const bool b_hosts = absl::StrContains(b.err(), kHosting);
  if (!a_hosts && !b_hosts) return false;
  CHECK(a_hosts != b_hosts);
  CHECK(*code_a == 0);
  CHECK(*code_b == 0);
  CHECK_THAT(a.out() + b.out(),
             Contains("torch_ddp_check: OK world_size=4 nodes=2 backend=gloo "
                      "master=127.0.0.1:"));
  CHECK_THAT(a.out() + b.out(), Contains(absl::StrCat(" run_id=", run_id)));
  return true;
}

TEST_CASE("PyTorch 2.x on two nodes through a self-hosted c10d endpoint") {
  if (!Torch2Available()) return;
  for (int tries = 0; tries < 3; ++tries) {
    if (RunSelfHosted("t2hosted", {}, {}, {})) return;
  }
  FAIL("three free ports were all taken before a node could bind one");
}

TEST_CASE(
    "PyTorch 2.x on two nodes, --torch-store agent served by the self-hosting "
    "node") {
  // The shim: PyTorch 2.6 builds the agent store's client without use_libuv.
  if (!Torch2Available()) return;
  for (int tries = 0; tries < 3; ++tries) {
    if (RunSelfHosted("t2hosted_agent", {"--torch-store", "agent"},
                      {"--agent-store"}, {{"PYTHONPATH", Torch2LibuvShim()}})) {
      return;
    }
  }
  FAIL("three free ports were all taken before a node could bind one");
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
