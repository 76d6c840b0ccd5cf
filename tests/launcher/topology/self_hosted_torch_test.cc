// End to end with unmodified PyTorch (/usr/bin/python3, Debian's 1.13, gloo):
// two tplaunch nodes on 127.0.0.1, no daemon, --torch-store agent. The node
// whose address the endpoint is hosts the rendezvous server and its TCPStore
// listener; every rank of both nodes connects to that listener
// (TORCHELASTIC_USE_AGENT_STORE=True, MASTER_ADDR:MASTER_PORT = the published
// listener), with no --torch-store-endpoint. Prints SKIP and passes when
// /usr/bin/python3 cannot import torch.distributed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/dropin/torch_dropin.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::Concat;
using testing::Subprocess;
using testing::TorchAvailable;
using testing::TorchCheck;
using testing::Tplaunch;

constexpr absl::Duration kJobTimeout = absl::Seconds(90);
constexpr char kHosting[] = "hosting the rendezvous endpoint";
constexpr char kListener[] =
    "workers use the TCPStore listener of the self-hosted endpoint, ";

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

// The text after `prefix` up to the end of its word.
std::string After(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  const size_t start = at + prefix.size();
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

TEST_CASE("--torch-store agent through a self-hosted endpoint, gloo DDP") {
  if (!TorchAvailable()) return;
  for (int tries = 0; tries < 3; ++tries) {
    const std::string endpoint = absl::StrCat("127.0.0.1:", FreePort());
    auto node = [&] {
      return Concat(
          Tplaunch({"--nnodes", "2", "--nproc", "2", "--rdzv-endpoint",
                    endpoint, "--rdzv-id", "torchhosted", "--local-addr",
                    "127.0.0.1", "--torch-store", "agent"}),
          TorchCheck({"--agent-store"}));
    };
    Subprocess a(node());
    Subprocess b(node());
    const auto a_rc = a.Wait(kJobTimeout);
    const auto b_rc = b.Wait(kJobTimeout);
    INFO(a.out() << a.err() << b.out() << b.err());
    const bool a_hosts = absl::StrContains(a.err(), kHosting);
    const bool b_hosts = absl::StrContains(b.err(), kHosting);
    if (!a_hosts && !b_hosts) continue;  // A stranger took the port.
    REQUIRE(a_rc == 0);
    REQUIRE(b_rc == 0);
    CHECK(a_hosts != b_hosts);
    // Both nodes point their ranks at the one listener the host published.
    const std::string listener = After(a.err(), kListener);
    REQUIRE_FALSE(listener.empty());
    CHECK(After(b.err(), kListener) == listener);
    CHECK_THAT(listener, Catch::StartsWith("127.0.0.1:"));
    CHECK(listener != endpoint);
    CHECK_THAT(a.out() + b.out(),
               Catch::Contains(absl::StrCat(
                   "torch_ddp_check: OK world_size=4 nodes=2 backend=gloo "
                   "master=",
                   listener)));
    return;
  }
  FAIL("three free ports were all taken before a node could bind one");
}

}  // namespace
}  // namespace tplaunch
