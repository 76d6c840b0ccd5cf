// Two nodes in two network namespaces joined by a veth pair, each with its own
// address: the advertised addresses must be the veth ones, not loopback. Needs
// root and `ip netns`; skipped with a message where that is not permitted.
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Runfile;
using testing::Subprocess;
using testing::WaitFor;

bool Run(const std::string& cmd) {
  return system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

class Namespaces {
 public:
  Namespaces() {
    const int id = getpid() % 200 + 20;
    a_ = absl::StrCat("tpl-a-", getpid());
    b_ = absl::StrCat("tpl-b-", getpid());
    addr_a_ = absl::StrCat("10.77.", id, ".1");
    addr_b_ = absl::StrCat("10.77.", id, ".2");
    std::string va = absl::StrCat("tva", getpid() % 100000);
    std::string vb = absl::StrCat("tvb", getpid() % 100000);
    ok_ = Run("ip netns add " + a_) && Run("ip netns add " + b_) &&
          Run(absl::StrCat("ip link add ", va, " type veth peer name ", vb)) &&
          Run(absl::StrCat("ip link set ", va, " netns ", a_)) &&
          Run(absl::StrCat("ip link set ", vb, " netns ", b_)) &&
          Run(absl::StrCat("ip -n ", a_, " addr add ", addr_a_, "/24 dev ",
                           va)) &&
          Run(absl::StrCat("ip -n ", b_, " addr add ", addr_b_, "/24 dev ",
                           vb)) &&
          Run(absl::StrCat("ip -n ", a_, " link set ", va, " up")) &&
          Run(absl::StrCat("ip -n ", b_, " link set ", vb, " up")) &&
          Run(absl::StrCat("ip -n ", a_, " link set lo up")) &&
          Run(absl::StrCat("ip -n ", b_, " link set lo up"));
  }
  ~Namespaces() {
    Run("ip netns del " + a_);
    Run("ip netns del " + b_);
  }
  bool ok() const { return ok_; }
  std::vector<std::string> Exec(const std::string& ns,
                                std::vector<std::string> argv) const {
    std::vector<std::string> out = {"/usr/bin/env", "ip", "netns", "exec", ns};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  const std::string& addr_a() const { return addr_a_; }
  const std::string& addr_b() const { return addr_b_; }

 private:
  bool ok_ = false;
  std::string a_, b_, addr_a_, addr_b_;
};

TEST_CASE("two nodes in two network namespaces advertise their own addresses") {
  if (geteuid() != 0) {
    WARN("skipped: creating network namespaces needs root");
    return;
  }
  Namespaces ns;
  if (!ns.ok()) {
    WARN("skipped: `ip netns add` / veth setup is not permitted here");
    return;
  }
  Subprocess daemon(ns.Exec(ns.a(), {Runfile("rendezvous/tprdzvd"), "--host",
                                     ns.addr_a(), "--port", "0"}));
  REQUIRE(WaitFor([&] { return absl::StrContains(daemon.out(), "\n"); },
                  absl::Seconds(20)));
  std::string line = daemon.out().substr(0, daemon.out().find('\n'));
  REQUIRE(absl::StartsWith(line, "listening on "));
  const std::string endpoint = line.substr(strlen("listening on "));
  auto node = [&](const std::string& name) {
    return ns.Exec(
        name, {Runfile("launcher/tplaunch"), "--nnodes", "2", "--nproc", "2",
               "--rdzv-endpoint", endpoint, "--rdzv-id", "netns",
               Runfile("examples/check_env.sh")});
  };
  Subprocess a(node(ns.a()));
  Subprocess b(node(ns.b()));
  REQUIRE(a.Wait(absl::Seconds(30)) == 0);
  REQUIRE(b.Wait(absl::Seconds(30)) == 0);
  const std::string all = a.out() + b.out() + a.err() + b.err();
  INFO(all);
  // Every rank's MASTER_ADDR is node 0's veth address; both addresses were
  // advertised.
  const bool a_first = absl::StrContains(all, "master=" + ns.addr_a());
  CHECK((a_first || absl::StrContains(all, "master=" + ns.addr_b())));
  CHECK_THAT(all, !Catch::Contains("master=127."));
  CHECK_THAT(all, Catch::Contains("check_env ok: rank=3"));
}

}  // namespace
}  // namespace tplaunch
