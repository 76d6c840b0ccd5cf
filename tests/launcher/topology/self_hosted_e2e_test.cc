// End to end, real tplaunch (and tprdzvd) binaries on 127.0.0.1: two nodes
// given --rdzv-endpoint 127.0.0.1:PORT where nothing listens meet in the
// server one of them hosts (docs/rendezvous.md, "Self-hosted endpoint"). Every
// wait is on a process exit or a line it logged. Ports are picked free and the
// case is run again on another one when something else took it meanwhile.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Concat;
using testing::Daemon;
using testing::MakeTempDir;
using testing::Subprocess;
using testing::Tplaunch;
using testing::WaitFor;
using testing::WriteFile;

// Generous: a loaded 2-core machine runs two launchers and their workers.
constexpr absl::Duration kLong = absl::Seconds(60);
constexpr char kHosting[] = "hosting the rendezvous endpoint";
constexpr char kTaken[] = "is taken on this host";

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

// Runs `scenario` on a free port; again on another (at most three times) when
// it returns false: the port was taken by a stranger before a node bound it.
void OnFreePort(const std::function<bool(int port)>& scenario) {
  for (int i = 0; i < 3; ++i) {
    if (scenario(FreePort())) return;
    WARN("port taken by another process meanwhile; trying another");
  }
  FAIL("three free ports were all taken before a node could bind one");
}

// One node of a two-node job against `endpoint`.
std::vector<std::string> Node(const std::string& endpoint,
                              const std::string& job,
                              const std::vector<std::string>& extra,
                              const std::vector<std::string>& program) {
  return Concat(
      Concat(Tplaunch({"--nnodes", "2", "--nproc", "1", "--rdzv-endpoint",
                       endpoint, "--rdzv-id", job, "--local-addr", "127.0.0.1",
                       "--heartbeat-interval", "200ms"}),
             extra),
      program);
}

std::string Local(int port) { return absl::StrCat("127.0.0.1:", port); }

bool Says(const Subprocess& p, const std::string& text) {
  return absl::StrContains(p.err(), text);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("two nodes, no daemon: one hosts, both succeed") {
  OnFreePort([](int port) {
    const std::vector<std::string> program = {"/bin/sh", "-c",
                                              "echo rank=$RANK of=$WORLD_SIZE"};
    Subprocess a(Node(Local(port), "pair", {}, program));
    Subprocess b(Node(Local(port), "pair", {}, program));
    const auto a_rc = a.Wait(kLong);
    const auto b_rc = b.Wait(kLong);
    INFO(a.err() << b.err());
    if (!Says(a, kHosting) && !Says(b, kHosting)) return false;
    REQUIRE(a_rc == 0);
    REQUIRE(b_rc == 0);
    // Exactly one served; the other joined it as a client.
    CHECK(Says(a, kHosting) != Says(b, kHosting));
    const Subprocess& host = Says(a, kHosting) ? a : b;
    const Subprocess& client = Says(a, kHosting) ? b : a;
    CHECK(Says(client, kTaken));
    // Without --token-file: one warning, on the host.
    CHECK(Count(host.err(), "is unauthenticated") == 1);
    CHECK_FALSE(Says(client, "is unauthenticated"));
    // It stayed until the other had left.
    CHECK(Says(host, "every node has left"));
    const std::string out = a.out() + b.out();
    CHECK_THAT(out, Catch::Contains("rank=0 of=2"));
    CHECK_THAT(out, Catch::Contains("rank=1 of=2"));
    return true;
  });
}

TEST_CASE(
    "the host's workers fail: both exit with that code, and the host stays "
    "until the other has learned it") {
  OnFreePort([](int port) {
    const std::string dir = MakeTempDir();
    // The host's worker fails once the other node's worker runs; the other's
    // ignores SIGTERM, so that node takes its --grace-period to stop.
    const std::vector<std::string> program = {
        "/bin/sh", "-c",
        "if [ \"$FAIL\" = 1 ]; then "
        "while [ ! -e \"$D/other-started\" ]; do sleep 0.05; done; exit 3; "
        "fi; trap '' TERM; touch \"$D/other-started\"; "
        "while true; do sleep 0.05; done"};
    const std::vector<std::string> extra = {"--grace-period", "2s"};
    Subprocess host(Node(Local(port), "fail", extra, program),
                    {{"D", dir}, {"FAIL", "1"}});
    if (!WaitFor([&] { return Says(host, kHosting) || Says(host, kTaken); },
                 kLong)) {
      FAIL("the first node neither hosted nor joined: " << host.err());
    }
    if (!Says(host, kHosting)) return false;
    Subprocess other(Node(Local(port), "fail", extra, program), {{"D", dir}});
    const auto other_rc = other.Wait(kLong);
    const auto host_rc = host.Wait(kLong);
    INFO(host.err() << other.err());
    CHECK(other_rc == 3);
    CHECK(host_rc == 3);
    CHECK_THAT(
        other.err(),
        Catch::Contains("stopping workers: rank 0 (local rank 0, node "));
    CHECK_THAT(other.err(), Catch::Contains("exited with exit code 3"));
    // The other node never lost the server while it stopped its workers.
    CHECK_THAT(other.err(), !Catch::Contains("does not answer"));
    CHECK_THAT(other.err(), !Catch::Contains("has not answered"));
    CHECK_THAT(host.err(), Catch::Contains("keeping the rendezvous endpoint"));
    CHECK_THAT(host.err(), Catch::Contains("every node has left"));
    return true;
  });
}

TEST_CASE(
    "the host is SIGKILLed: the job dies with it, the other node within "
    "--store-outage-timeout, naming the store") {
  OnFreePort([](int port) {
    const std::string dir = MakeTempDir();
    const std::vector<std::string> program = {
        "/bin/sh", "-c",
        "touch \"$D/started-$RANK\"; while true; do sleep 0.05; done"};
    const std::vector<std::string> extra = {"--store-outage-timeout", "2s"};
    Subprocess host(Node(Local(port), "killed", extra, program), {{"D", dir}});
    REQUIRE(WaitFor([&] { return Says(host, kHosting) || Says(host, kTaken); },
                    kLong));
    if (!Says(host, kHosting)) return false;
    Subprocess other(Node(Local(port), "killed", extra, program), {{"D", dir}});
    REQUIRE(WaitFor(
        [&] {
          return access((dir + "/started-0").c_str(), F_OK) == 0 &&
                 access((dir + "/started-1").c_str(), F_OK) == 0;
        },
        kLong));
    host.Kill(SIGKILL);
    const absl::Time killed = absl::Now();
    const auto other_rc = other.Wait(kLong);
    INFO(other.err());
    CHECK(other_rc == 1);
    CHECK(absl::Now() - killed < absl::Seconds(30));
    CHECK_THAT(other.err(),
               Catch::Contains(absl::StrCat("has not answered for ")));
    CHECK_THAT(other.err(), Catch::Contains("(--store-outage-timeout 2s)"));
    CHECK_THAT(other.err(), Catch::Contains(Local(port)));
    return true;
  });
}

TEST_CASE("a tprdzvd holds the port: both nodes join it as clients") {
  Daemon d;
  const std::vector<std::string> program = {"/bin/sh", "-c", "echo rank=$RANK"};
  Subprocess a(Node(d.endpoint(), "daemon", {}, program));
  Subprocess b(Node(d.endpoint(), "daemon", {}, program));
  const auto a_rc = a.Wait(kLong);
  const auto b_rc = b.Wait(kLong);
  INFO(a.err() << b.err());
  REQUIRE(a_rc == 0);
  REQUIRE(b_rc == 0);
  CHECK(Says(a, kTaken));
  CHECK(Says(b, kTaken));
  CHECK_FALSE(Says(a, kHosting));
  CHECK_FALSE(Says(b, kHosting));
  CHECK_FALSE(Says(a, "keeping the rendezvous endpoint"));
}

TEST_CASE("is_host=false on both, no daemon: a timeout naming the endpoint") {
  const int port = FreePort();
  const std::vector<std::string> extra = {"--rdzv-conf", "is_host=false",
                                          "--rdzv-timeout", "2s"};
  Subprocess a(Node(Local(port), "nobody", extra, {"/bin/true"}));
  Subprocess b(Node(Local(port), "nobody", extra, {"/bin/true"}));
  const auto a_rc = a.Wait(kLong);
  const auto b_rc = b.Wait(kLong);
  INFO(a.err() << b.err());
  CHECK(a_rc == 1);
  CHECK(b_rc == 1);
  for (const Subprocess* p : {&a, &b}) {
    CHECK_THAT(p->err(),
               Catch::Contains("cannot reach the rendezvous endpoint"));
    CHECK_THAT(p->err(),
               Catch::Contains(absl::StrCat("nothing serves ", Local(port))));
    CHECK_THAT(p->err(), Catch::Contains("node 127.0.0.1 should host it"));
    CHECK_THAT(p->err(), Catch::Contains("or tprdzvd should run there"));
    CHECK_THAT(p->err(), Catch::Contains("is_host=false"));
  }
}

TEST_CASE("--token-file on both works; a wrong token is a clear auth error") {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/right", "s3cret\n");
  WriteFile(dir + "/wrong", "guess\n");
  const std::vector<std::string> program = {"/bin/sh", "-c", "echo rank=$RANK"};
  OnFreePort([&](int port) {
    const std::vector<std::string> token = {"--token-file", dir + "/right"};
    Subprocess a(Node(Local(port), "token", token, program));
    Subprocess b(Node(Local(port), "token", token, program));
    const auto a_rc = a.Wait(kLong);
    const auto b_rc = b.Wait(kLong);
    INFO(a.err() << b.err());
    if (!Says(a, kHosting) && !Says(b, kHosting)) return false;
    CHECK(a_rc == 0);
    CHECK(b_rc == 0);
    CHECK_FALSE(Says(a, "is unauthenticated"));
    CHECK_FALSE(Says(b, "is unauthenticated"));
    return true;
  });
  OnFreePort([&](int port) {
    Subprocess host(Node(
        Local(port), "token",
        {"--token-file", dir + "/right", "--rdzv-timeout", "5s"}, program));
    REQUIRE(WaitFor([&] { return Says(host, kHosting) || Says(host, kTaken); },
                    kLong));
    if (!Says(host, kHosting)) return false;
    Subprocess wrong(
        Node(Local(port), "token", {"--token-file", dir + "/wrong"}, program));
    const auto wrong_rc = wrong.Wait(kLong);
    const auto host_rc = host.Wait(kLong);
    INFO(host.err() << wrong.err());
    CHECK(wrong_rc == 1);
    CHECK_THAT(wrong.err(), Catch::Contains(absl::StrCat(
                                "the rendezvous endpoint ", Local(port),
                                " rejected this node's token")));
    CHECK_THAT(wrong.err(), Catch::Contains("wrong token"));
    // The host never met a second node: its rendezvous times out.
    CHECK(host_rc == 1);
    return true;
  });
}

}  // namespace
}  // namespace tplaunch
