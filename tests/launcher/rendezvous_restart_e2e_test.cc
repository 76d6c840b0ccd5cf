// End to end, real tplaunch and tprdzvd processes: a node interrupted during
// the rendezvous leaves no slot behind (issue #10 item 4), and, riding through
// a daemon SIGKILL + restart without --state-dir (--on-daemon-restart
// ride-through; the default restart is daemon_restart_e2e_test's), a node
// starting later is late, never a second world (item 1), and the exit barrier
// completes across such a restart (item 10). Every wait is on a condition (a
// log line, a file).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
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

using testing::Daemon;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::Runfile;
using testing::Subprocess;
using testing::Tplaunch;
using testing::TwoNodeTplaunch;
using testing::WaitFor;
using testing::WriteFile;

// Whether `p`'s stderr shows `text` within 30 s.
bool ErrShows(const Subprocess& p, const std::string& text) {
  return WaitFor([&] { return absl::StrContains(p.err(), text); },
                 absl::Seconds(30));
}

TEST_CASE("a node SIGTERMed during the join does not poison the run id") {
  Daemon d;
  const std::vector<std::string> program = {
      "/bin/sh", "-c", "echo node=$GROUP_RANK of=$GROUP_WORLD_SIZE"};
  // --heartbeat-timeout far above the test's bound: only the withdrawal can
  // free the slot.
  const std::vector<std::string> extra = {"--rdzv-timeout", "60",
                                          "--heartbeat-timeout", "120"};
  Subprocess interrupted(TwoNodeTplaunch(d, "poison", 1, extra, program));
  REQUIRE(ErrShows(interrupted, "waiting for 1 more node"));
  interrupted.Kill(SIGTERM);
  REQUIRE(interrupted.Wait(absl::Seconds(20)) == 128 + SIGTERM);

  const absl::Time t = absl::Now();
  Subprocess b(TwoNodeTplaunch(d, "poison", 1, extra, program));
  Subprocess c(TwoNodeTplaunch(d, "poison", 1, extra, program));
  REQUIRE(b.Wait(absl::Seconds(40)) == 0);
  REQUIRE(c.Wait(absl::Seconds(40)) == 0);
  CHECK(absl::Now() - t < absl::Seconds(30));
  const std::string out = b.out() + c.out();
  INFO(out << b.err() << c.err());
  CHECK_THAT(out, Catch::Contains("node=0 of=2"));
  CHECK_THAT(out, Catch::Contains("node=1 of=2"));
}

TEST_CASE("a node SIGKILLed during the join does not poison the run id") {
  Daemon d;
  const std::vector<std::string> program = {
      "/bin/sh", "-c", "echo node=$GROUP_RANK of=$GROUP_WORLD_SIZE"};
  const std::vector<std::string> extra = {"--rdzv-timeout",       "60",
                                          "--heartbeat-interval", "0.2",
                                          "--heartbeat-timeout",  "2"};
  Subprocess killed(TwoNodeTplaunch(d, "killed", 1, extra, program));
  REQUIRE(ErrShows(killed, "waiting for 1 more node"));
  killed.Kill(SIGKILL);  // No chance to withdraw.
  REQUIRE(killed.Wait(absl::Seconds(20)) == 128 + SIGKILL);

  Subprocess b(TwoNodeTplaunch(d, "killed", 1, extra, program));
  Subprocess c(TwoNodeTplaunch(d, "killed", 1, extra, program));
  REQUIRE(b.Wait(absl::Seconds(40)) == 0);
  REQUIRE(c.Wait(absl::Seconds(40)) == 0);
  const std::string out = b.out() + c.out();
  INFO(out << b.err() << c.err());
  CHECK_THAT(out, Catch::Contains("node=0 of=2"));
  CHECK_THAT(out, Catch::Contains("node=1 of=2"));
}

// A port no one listens on now, for a daemon that must restart on it.
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

// tprdzvd on 127.0.0.1:`port`, once it says it listens.
std::unique_ptr<Subprocess> StartDaemon(int port) {
  auto p = std::make_unique<Subprocess>(
      std::vector<std::string>{Runfile("rendezvous/tprdzvd"), "--host",
                               "127.0.0.1", "--port", absl::StrCat(port)});
  REQUIRE(WaitFor([&] { return absl::StrContains(p->out(), "listening on"); },
                  absl::Seconds(20)));
  return p;
}

TEST_CASE(
    "after a daemon restart without --state-dir a later node is late, "
    "never a second world, and exits 0 only when its own workers did") {
  const int port = FreePort();
  const std::string endpoint = absl::StrCat("127.0.0.1:", port);
  const std::string dir = MakeTempDir();
  auto daemon = StartDaemon(port);
  auto node = [&] {
    return Tplaunch(
        {"--nnodes", "1:2", "--nproc", "1", "--rdzv-endpoint", endpoint,
         "--rdzv-id", "restarted", "--local-addr", "127.0.0.1",
         "--rdzv-last-call", "1", "--rdzv-timeout", "60", "--on-daemon-restart",
         "ride-through",
         // The store's outage must not end the job: only the rendezvous
         // logic is under test here.
         "--heartbeat-interval", "0.2", "--heartbeat-timeout", "60", "/bin/sh",
         "-c",
         "if [ $TPLAUNCH_ATTEMPT = 0 ]; then echo $$ > $D/a0; exec sleep 120; "
         "fi; echo attempt=$TPLAUNCH_ATTEMPT rank=$RANK world=$WORLD_SIZE"});
  };
  // gRPC's channel otherwise retries a restarted server only every 5 s.
  const std::map<std::string, std::string> env = {
      {"D", dir}, {"GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100"}};
  Subprocess a(node(), env);
  REQUIRE(WaitFor([&] { return !ReadFile(dir + "/a0").empty(); },
                  absl::Seconds(30)));
  daemon->Kill(SIGKILL);
  REQUIRE(daemon->Wait(absl::Seconds(10)).has_value());
  daemon = StartDaemon(port);
  INFO(a.err());
  REQUIRE(ErrShows(a, "re-asserted its membership"));

  Subprocess b(node(), env);
  REQUIRE(a.Wait(absl::Seconds(60)) == 0);
  REQUIRE(b.Wait(absl::Seconds(60)) == 0);
  const std::string errs = a.err() + b.err();
  INFO(errs);
  CHECK_THAT(b.err(), Catch::Contains("already closed with 1 node(s)"));
  CHECK_THAT(b.err(), !Catch::Contains("node 0 of 1"));
  CHECK_THAT(a.err(), Catch::Contains("membership change"));
  // Both nodes ran attempt 1 together: one rank 0 and one rank 1 of 2.
  const std::string out = a.out() + b.out();
  CHECK_THAT(out, Catch::Contains("attempt=1 rank=0 world=2"));
  CHECK_THAT(out, Catch::Contains("attempt=1 rank=1 world=2"));
  CHECK_THAT(out, !Catch::Contains("world=1"));
}

TEST_CASE(
    "the exit barrier completes across a daemon restart without --state-dir") {
  const int port = FreePort();
  const std::string endpoint = absl::StrCat("127.0.0.1:", port);
  const std::string dir = MakeTempDir();
  auto daemon = StartDaemon(port);
  auto node = [&] {
    return Tplaunch(
        {"--nnodes", "2", "--nproc", "1", "--rdzv-endpoint", endpoint,
         "--rdzv-id", "barrier", "--local-addr", "127.0.0.1",
         "--heartbeat-interval", "0.2", "--heartbeat-timeout", "60",
         "--exit-barrier-timeout", "120", "--on-daemon-restart", "ride-through",
         "/bin/sh", "-c",
         // Rank 0 finishes at once; rank 1 when the test says so.
         "if [ $RANK = 1 ]; then touch $D/started-1; "
         "while [ ! -e $D/go ]; do sleep 0.05; done; fi; echo finished-$RANK"});
  };
  const std::map<std::string, std::string> env = {
      {"D", dir}, {"GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100"}};
  Subprocess a(node(), env);
  Subprocess b(node(), env);
  // Both nodes run their workers, and one waits in the barrier: its
  // heartbeat says "done".
  REQUIRE(WaitFor(
      [&] {
        if (access((dir + "/started-1").c_str(), F_OK) != 0) return false;
        Subprocess status(Tplaunch(
            {"status", "--rdzv-endpoint", endpoint, "--rdzv-id", "barrier"}));
        return status.Wait(absl::Seconds(10)) == 0 &&
               absl::StrContains(status.out(), "(done, #");
      },
      absl::Seconds(30)));
  daemon->Kill(SIGKILL);
  REQUIRE(daemon->Wait(absl::Seconds(10)).has_value());
  daemon = StartDaemon(port);
  WriteFile(dir + "/go", "");
  const absl::Time t = absl::Now();
  const std::optional<int> a_exit = a.Wait(absl::Seconds(60));
  const std::optional<int> b_exit = b.Wait(absl::Seconds(60));
  const std::string errs = a.err() + b.err();
  INFO(errs);
  REQUIRE(a_exit == 0);
  REQUIRE(b_exit == 0);
  CHECK(absl::Now() - t < absl::Seconds(30));
  CHECK_THAT(errs, !Catch::Contains("other nodes still running"));
  CHECK_THAT(a.out() + b.out(), Catch::Contains("finished-1"));
}

TEST_CASE("an ok end of another world never makes a node exit 0") {
  Daemon d;
  const std::string dir = MakeTempDir();
  Subprocess a(Tplaunch({"--nnodes", "1:2", "--nproc", "1", "--rdzv-endpoint",
                         d.endpoint(), "--rdzv-id", "foreign", "--local-addr",
                         "127.0.0.1", "--rdzv-last-call", "1", "/bin/sh", "-c",
                         "echo $$ > $D/a0; exec sleep 120"}),
               {{"D", dir}});
  REQUIRE(WaitFor([&] { return !ReadFile(dir + "/a0").empty(); },
                  absl::Seconds(30)));
  // What a second world's exit barrier writes under the same run id.
  Subprocess set({Runfile("rendezvous/tprdzvctl"), "--endpoint", d.endpoint(),
                  "--job", "foreign", "set", "foreign/a0/end",
                  "end/v1\tok\t0\t"});
  REQUIRE(set.Wait(absl::Seconds(20)) == 0);
  REQUIRE(a.Wait(absl::Seconds(30)) == 1);
  CHECK_THAT(a.err(),
             Catch::Contains("ended as a success while this node's workers "
                             "still run"));
}

}  // namespace
}  // namespace tplaunch
