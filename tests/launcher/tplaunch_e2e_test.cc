// End to end: the real tplaunch binary (and tprdzvd for multi-node), real
// workers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Daemon;
using testing::DaemonOptions;
using testing::IsAlive;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::ReadPids;
using testing::Runfile;
using testing::Subprocess;
using testing::Tplaunch;
using testing::WaitFor;

TEST_CASE("tplaunch --nproc 4 gives every worker torchrun's environment") {
  Subprocess p(Tplaunch({"--nproc", "4", Runfile("examples/check_env.sh")}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  std::string out = p.out();
  for (int r = 0; r < 4; ++r) {
    INFO(out << p.err());
    CHECK_THAT(out, Catch::Contains(
                        absl::StrCat("[rank", r, "]: check_env ok: rank=", r,
                                     " local_rank=", r, " world_size=4")));
  }
  CHECK_THAT(p.err(), Catch::Contains("OMP_NUM_THREADS=1"));
}

TEST_CASE(
    "usage errors exit 2 and name the problem; --help and --version exit 0") {
  Subprocess bad(Tplaunch({"--nnodes", "3:1", "prog"}));
  REQUIRE(bad.Wait(absl::Seconds(10)) == 2);
  CHECK_THAT(bad.err(), Catch::Contains("Usage: tplaunch"));
  CHECK_THAT(bad.err(), Catch::Contains("--nnodes '3:1'"));
  Subprocess none(Tplaunch({}));
  REQUIRE(none.Wait(absl::Seconds(10)) == 2);
  CHECK_THAT(none.err(), Catch::Contains("missing PROGRAM"));
  Subprocess help(Tplaunch({"--help"}));
  REQUIRE(help.Wait(absl::Seconds(10)) == 0);
  CHECK_THAT(help.out(), Catch::Contains("--heartbeat-timeout"));
  Subprocess version(Tplaunch({"--version"}));
  REQUIRE(version.Wait(absl::Seconds(10)) == 0);
  CHECK_THAT(version.out(), Catch::StartsWith("tplaunch "));
  Subprocess missing(Tplaunch({"no-such-program-xyz"}));
  REQUIRE(missing.Wait(absl::Seconds(10)) == 127);
  CHECK_THAT(missing.err(), Catch::Contains("no-such-program-xyz"));
}

TEST_CASE(
    "a failing worker: its exit code, a root cause, error.json and log files") {
  std::string dir = MakeTempDir();
  Subprocess p(Tplaunch(
      {"--nproc", "3", "--log-dir", dir, "--rdzv-id", "failjob",
       "--grace-period", "10", "/bin/sh", "-c",
       "if [ $RANK = 1 ]; then echo 'ValueError: bad input' >&2; exit 7; fi; "
       "echo started; exec sleep 30"}));
  const absl::Time t = absl::Now();
  REQUIRE(p.Wait(absl::Seconds(30)) == 7);
  CHECK(absl::Now() - t < absl::Seconds(8));  // SIGTERM stopped the sleepers.
  std::string err = p.err();
  INFO(err);
  CHECK_THAT(err, Catch::Contains("root cause"));
  CHECK_THAT(err, Catch::Contains("rank       : 1 (local rank 1)"));
  CHECK_THAT(err, Catch::Contains("exit code  : 7"));
  CHECK_THAT(err, Catch::Contains("ValueError: bad input"));
  std::string json = ReadFile(dir + "/failjob/error.json");
  CHECK_THAT(json, Catch::Contains("\"rank\": 1"));
  CHECK_THAT(json, Catch::Contains("\"exit_code\": 7"));
  CHECK_THAT(json, Catch::Contains("ValueError: bad input"));
  CHECK(ReadFile(dir + "/failjob/attempt_0/rank_1/stderr.log") ==
        "ValueError: bad input\n");
}

TEST_CASE(
    "--max-restarts 1: fails on attempt 0, succeeds on attempt 1, exits 0") {
  Subprocess p(
      Tplaunch({"--nproc", "2", "--max-restarts", "1", "/bin/sh", "-c",
                "if [ $TORCHELASTIC_RESTART_COUNT = 0 ] && [ $RANK = 1 ]; "
                "then exit 3; fi; "
                "echo attempt=$TPLAUNCH_ATTEMPT"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  CHECK_THAT(p.out(), Catch::Contains("[rank0]: attempt=1"));
  CHECK_THAT(p.out(), Catch::Contains("[rank1]: attempt=1"));
  CHECK_THAT(p.err(), Catch::Contains("restarting every worker as attempt 1"));
}

TEST_CASE("SIGINT to tplaunch reaches the workers and leaves no worker alive") {
  std::string dir = MakeTempDir();
  Subprocess p(
      Tplaunch(
          {"--nproc", "2", "/bin/sh", "-c",
           "trap 'echo got-int > $D/int.$RANK; exit 0' INT; "
           "sleep 30 & echo $! > $D/child$RANK; echo $$ > $D/pid$RANK; wait"}),
      {{"D", dir}});
  REQUIRE(WaitFor(
      [&] {
        return ReadPids(dir, "pid", 2).size() == 2 &&
               ReadPids(dir, "child", 2).size() == 2;
      },
      absl::Seconds(20)));
  std::vector<pid_t> pids = ReadPids(dir, "pid", 2);
  std::vector<pid_t> children = ReadPids(dir, "child", 2);
  p.Kill(SIGINT);
  REQUIRE(p.Wait(absl::Seconds(20)) == 130);
  CHECK(ReadFile(dir + "/int.0") == "got-int\n");
  CHECK(ReadFile(dir + "/int.1") == "got-int\n");
  for (pid_t pid : pids)
    CHECK(WaitFor([&] { return !IsAlive(pid); }, absl::Seconds(5)));
  for (pid_t pid : children)
    CHECK(WaitFor([&] { return !IsAlive(pid); }, absl::Seconds(5)));
}

TEST_CASE("SIGKILL of tplaunch kills its workers (PR_SET_PDEATHSIG)") {
  std::string dir = MakeTempDir();
  Subprocess p(Tplaunch({"--nproc", "2", "/bin/sh", "-c",
                         "echo $$ > $D/pid$RANK; exec sleep 30"}),
               {{"D", dir}});
  REQUIRE(WaitFor([&] { return ReadPids(dir, "pid", 2).size() == 2; },
                  absl::Seconds(20)));
  p.Kill(SIGKILL);
  REQUIRE(p.Wait(absl::Seconds(10)).has_value());
  for (pid_t pid : ReadPids(dir, "pid", 2)) {
    CHECK(WaitFor([&] { return !IsAlive(pid); }, absl::Seconds(5)));
  }
}

TEST_CASE("SIGINT while waiting for other nodes exits at once") {
  Daemon d;
  Subprocess a(Tplaunch({"--nnodes", "2", "--rdzv-endpoint", d.endpoint(),
                         "--rdzv-id", "lonely", "/bin/true"}));
  REQUIRE(WaitFor(
      [&] { return absl::StrContains(a.err(), "waiting for 1 more node"); },
      absl::Seconds(20)));
  a.Kill(SIGINT);
  REQUIRE(a.Wait(absl::Seconds(5)) == 130);
}

TEST_CASE("two nodes against one tprdzvd on loopback") {
  Daemon d;
  auto node = [&](const std::string& job) {
    return TwoNodeTplaunch(d, job, 2, {}, {Runfile("examples/check_env.sh")});
  };
  Subprocess a(node("two"));
  Subprocess b(node("two"));
  REQUIRE(a.Wait(absl::Seconds(30)) == 0);
  REQUIRE(b.Wait(absl::Seconds(30)) == 0);
  std::string out = a.out() + b.out();
  std::set<std::string> masters;
  for (int r = 0; r < 4; ++r) {
    INFO(out);
    CHECK_THAT(out, Catch::Contains(absl::StrCat(
                        " rank", r, "]: check_env ok: rank=", r, " ")));
  }
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    size_t m = line.find("master=");
    if (m != absl::string_view::npos)
      masters.insert(std::string(line.substr(m, line.find(' ', m) - m)));
  }
  CHECK(masters.size() ==
        1);  // Every rank got node 0's MASTER_ADDR:MASTER_PORT.
  CHECK_THAT(a.err() + b.err(), Catch::Contains("node 1 of 2"));
}

TEST_CASE("a failure on one node restarts both as a new attempt") {
  Daemon d;
  auto node = [&] {
    return TwoNodeTplaunch(
        d, "restart", 2, {"--max-restarts", "1"},
        {"/bin/sh", "-c",
         "if [ $TPLAUNCH_ATTEMPT = 0 ] && [ $RANK = 3 ]; then exit 9; fi; "
         "if [ $TPLAUNCH_ATTEMPT = 0 ]; then exec sleep 30; fi; echo "
         "done-$RANK"});
  };
  Subprocess a(node());
  Subprocess b(node());
  REQUIRE(a.Wait(absl::Seconds(30)) == 0);
  REQUIRE(b.Wait(absl::Seconds(30)) == 0);
  std::string out = a.out() + b.out();
  for (int r = 0; r < 4; ++r)
    CHECK_THAT(out, Catch::Contains(absl::StrCat("done-", r)));
}

TEST_CASE("without restarts every node exits with the failing rank's code") {
  Daemon d;
  auto node = [&] {
    return TwoNodeTplaunch(
        d, "fail", 1, {},
        {"/bin/sh", "-c", "if [ $RANK = 1 ]; then exit 5; fi; exec sleep 30"});
  };
  Subprocess a(node());
  Subprocess b(node());
  REQUIRE(a.Wait(absl::Seconds(30)) == 5);
  REQUIRE(b.Wait(absl::Seconds(30)) == 5);
  CHECK_THAT(a.err() + b.err(),
             Catch::Contains("rank 1 (local rank 0, node 1"));
}

TEST_CASE(
    "SIGKILL of one node: the other tears down within the heartbeat timeout") {
  Daemon d;
  std::string dir = MakeTempDir();
  auto node = [&] {
    return TwoNodeTplaunch(
        d, "kill", 2,
        {"--heartbeat-interval", "0.2", "--heartbeat-timeout", "1.5"},
        {"/bin/sh", "-c", "echo $$ > $D/pid$RANK; exec sleep 60"});
  };
  Subprocess a(node(), {{"D", dir}});
  Subprocess b(node(), {{"D", dir}});
  REQUIRE(WaitFor([&] { return ReadPids(dir, "pid", 4).size() == 4; },
                  absl::Seconds(20)));
  std::vector<pid_t> workers = ReadPids(dir, "pid", 4);
  // Status shows both nodes while they run.
  Subprocess status(Tplaunch(
      {"status", "--rdzv-endpoint", d.endpoint(), "--rdzv-id", "kill"}));
  REQUIRE(status.Wait(absl::Seconds(20)) == 0);
  CHECK_THAT(status.out(), Catch::Contains("rendezvous closed with 2 node(s)"));
  CHECK_THAT(status.out(), Catch::Contains("last heartbeat"));

  b.Kill(SIGKILL);
  const absl::Time t = absl::Now();
  auto code = a.Wait(absl::Seconds(15));
  const absl::Duration took = absl::Now() - t;
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  CHECK(took < absl::Seconds(1.5) + absl::Seconds(2));
  CHECK_THAT(a.err(), Catch::Contains("stopped heartbeating"));
  for (pid_t pid : workers)
    CHECK(WaitFor([&] { return !IsAlive(pid); }, absl::Seconds(5)));
}

TEST_CASE("--nnodes 1:2: a node joining late restarts the job with both") {
  Daemon d;
  auto node = [&] {
    return Tplaunch(
        {"--nnodes", "1:2", "--rdzv-endpoint", d.endpoint(), "--rdzv-id",
         "elastic", "--rdzv-last-call", "0.1", "--heartbeat-interval", "0.1",
         "--heartbeat-timeout", "3", "/bin/sh", "-c",
         "echo size=$GROUP_WORLD_SIZE > $D/started.$TPLAUNCH_ATTEMPT.$RANK; "
         "if [ $GROUP_WORLD_SIZE = 2 ]; then echo both-$RANK; else exec sleep "
         "30; fi"});
  };
  std::string dir = MakeTempDir();
  Subprocess a(node(), {{"D", dir}});
  REQUIRE(WaitFor([&] { return !ReadFile(dir + "/started.0.0").empty(); },
                  absl::Seconds(20)));
  Subprocess b(node(), {{"D", dir}});
  REQUIRE(a.Wait(absl::Seconds(30)) == 0);
  REQUIRE(b.Wait(absl::Seconds(30)) == 0);
  CHECK_THAT(a.out() + b.out(), Catch::Contains("both-0"));
  CHECK_THAT(a.out() + b.out(), Catch::Contains("both-1"));
  CHECK_THAT(a.err(), Catch::Contains("membership changed"));
}

bool HasIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

TEST_CASE("an IPv6 endpoint works ([::1]:PORT)") {
  if (!HasIpv6Loopback()) {
    WARN("skipped: ::1 is not available on this host");
    return;
  }
  DaemonOptions v6;
  v6.host = "::1";
  Daemon d(v6);
  REQUIRE(absl::StartsWith(d.endpoint(), "[::1]:"));
  auto node = [&] {
    return Tplaunch({"--nnodes", "2", "--rdzv-endpoint", d.endpoint(),
                     "--rdzv-id", "v6", "/bin/sh", "-c",
                     "echo addr=$TPLAUNCH_LOCAL_ADDR master=$MASTER_ADDR"});
  };
  Subprocess a(node());
  Subprocess b(node());
  REQUIRE(a.Wait(absl::Seconds(30)) == 0);
  REQUIRE(b.Wait(absl::Seconds(30)) == 0);
  CHECK_THAT(a.out() + b.out(), Catch::Contains("addr=::1 master=::1"));
}

}  // namespace
}  // namespace tplaunch
