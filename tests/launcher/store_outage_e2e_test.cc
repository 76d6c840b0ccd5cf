// End to end: two real tplaunch nodes against a real tprdzvd that is killed and
// restarted on the same port, or frozen (SIGSTOP) and thawed, while the job
// runs or between its attempts. Every step waits for a condition the processes
// make visible (a file a worker wrote, a line a launcher logged), never a
// sleep.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/key_layout.h"
#include "common/records.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "tests/launcher/restartable_daemon.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::RestartableDaemon;
using testing::Subprocess;
using testing::WaitFor;

// Generous: a loaded 2-core machine runs two launchers, a daemon and workers.
constexpr absl::Duration kLong = absl::Seconds(60);

// A worker that says it started (a file per rank and attempt), then runs until
// the test creates $D/finish. With `fail_first`, attempt 0 instead exits 3
// once $D/fail exists.
std::vector<std::string> Worker(bool fail_first = false) {
  std::string script = "touch \"$D/started-$RANK-$TPLAUNCH_ATTEMPT\"; ";
  if (fail_first) {
    script +=
        "if [ \"$TPLAUNCH_ATTEMPT\" = 0 ]; then "
        "while [ ! -e \"$D/fail\" ]; do sleep 0.05; done; exit 3; fi; "
        "echo done-$RANK; exit 0";
  } else {
    script +=
        "while [ ! -e \"$D/finish\" ]; do sleep 0.05; done; "
        "echo finished-$RANK";
  }
  return {"/bin/sh", "-c", script};
}

struct Job {
  Job(const RestartableDaemon& daemon, const std::string& id,
      const std::vector<std::string>& extra, bool fail_first = false)
      : dir(testing::MakeTempDir()),
        a(Command(daemon, id, extra, fail_first), {{"D", dir}}),
        b(Command(daemon, id, extra, fail_first), {{"D", dir}}) {}

  static std::vector<std::string> Command(const RestartableDaemon& daemon,
                                          const std::string& id,
                                          const std::vector<std::string>& extra,
                                          bool fail_first) {
    std::vector<std::string> args = {"--nnodes",
                                     "2",
                                     "--nproc",
                                     "1",
                                     "--rdzv-endpoint",
                                     daemon.endpoint(),
                                     "--rdzv-id",
                                     id,
                                     "--local-addr",
                                     "127.0.0.1",
                                     "--heartbeat-interval",
                                     "200ms",
                                     "--heartbeat-timeout",
                                     "1s",
                                     "--grace-period",
                                     "2s"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::Concat(testing::Tplaunch(args), Worker(fail_first));
  }

  bool Started(int attempt) {
    return WaitFor(
        [&] {
          return Exists(absl::StrCat(dir, "/started-0-", attempt)) &&
                 Exists(absl::StrCat(dir, "/started-1-", attempt));
        },
        kLong);
  }
  // Both launchers logged `text`.
  bool BothSaid(const std::string& text) {
    return WaitFor(
        [&] {
          return absl::StrContains(a.err(), text) &&
                 absl::StrContains(b.err(), text);
        },
        kLong);
  }
  static bool Exists(const std::string& path) {
    return access(path.c_str(), F_OK) == 0;
  }
  void Touch(const std::string& name) {
    testing::WriteFile(absl::StrCat(dir, "/", name), "");
  }
  std::string Logs() const {
    return absl::StrCat("node a stderr:\n", a.err(), "\nnode b stderr:\n",
                        b.err());
  }

  std::string dir;
  Subprocess a;
  Subprocess b;
};

// What a launcher logs when the store has been silent for longer than the
// heartbeat timeout, and when it is back.
constexpr char kNotAnswered[] = "has not answered for";
constexpr char kAnswersAgain[] = "answers again after";

// Restarted without --state-dir the daemon has a new incarnation: riding
// through it is the opt-in (the default restarts the attempt:
// daemon_restart_e2e_test).
TEST_CASE(
    "a daemon SIGKILLed and restarted on the same port during a two-node job "
    "with --on-daemon-restart ride-through: the job succeeds",
    "[e2e][outage]") {
  RestartableDaemon daemon;
  Job job(daemon, "restart", {"--on-daemon-restart", "ride-through"});
  REQUIRE(job.Started(0));
  daemon.Kill();
  // Longer than --heartbeat-timeout without a store: the old launcher had
  // failed both nodes by now.
  INFO(job.Logs());
  REQUIRE(job.BothSaid(kNotAnswered));
  daemon.Restart();
  REQUIRE(job.BothSaid(kAnswersAgain));
  job.Touch("finish");
  REQUIRE(job.a.Wait(kLong) == 0);
  REQUIRE(job.b.Wait(kLong) == 0);
  CHECK_THAT(job.a.out() + job.b.out(), Catch::Contains("finished-0"));
  CHECK_THAT(job.a.out() + job.b.out(), Catch::Contains("finished-1"));
}

TEST_CASE(
    "a daemon frozen past the heartbeat timeout and thawed within "
    "--store-outage-timeout: the job succeeds",
    "[e2e][outage]") {
  RestartableDaemon daemon;
  Job job(daemon, "freeze", {"--store-outage-timeout", "60s"});
  REQUIRE(job.Started(0));
  daemon.Freeze();
  INFO(job.Logs());
  REQUIRE(job.BothSaid(kNotAnswered));
  daemon.Thaw();
  REQUIRE(job.BothSaid(kAnswersAgain));
  job.Touch("finish");
  REQUIRE(job.a.Wait(kLong) == 0);
  REQUIRE(job.b.Wait(kLong) == 0);
  CHECK_THAT(job.a.err() + job.b.err(),
             !Catch::Contains("stopped heartbeating"));
}

TEST_CASE(
    "a daemon frozen past --store-outage-timeout fails both nodes, naming the "
    "store and how long it was silent",
    "[e2e][outage]") {
  RestartableDaemon daemon;
  Job job(daemon, "frozen", {"--store-outage-timeout", "3s"});
  REQUIRE(job.Started(0));
  daemon.Freeze();
  const std::optional<int> a = job.a.Wait(kLong);
  const std::optional<int> b = job.b.Wait(kLong);
  daemon.Thaw();
  INFO(job.Logs());
  CHECK(a == 1);
  CHECK(b == 1);
  for (const std::string& err : {job.a.err(), job.b.err()}) {
    CHECK_THAT(err, Catch::Contains(absl::StrCat(
                        "the rendezvous store (tprdzvd at ", daemon.endpoint(),
                        ") has not answered for ")));
    CHECK_THAT(err, Catch::Contains("(--store-outage-timeout 3s)"));
    // The store was the problem, not a node (issue #10, item 6).
    CHECK_THAT(err, !Catch::Contains("stopped heartbeating"));
  }
}

TEST_CASE(
    "--max-restarts 1 with the daemon down at the restart waits for it and "
    "succeeds when it is back",
    "[e2e][outage]") {
  RestartableDaemon daemon;
  Job job(daemon, "restart-down", {"--max-restarts", "1"},
          /*fail_first=*/true);
  REQUIRE(job.Started(0));
  daemon.Kill();
  job.Touch("fail");  // Both workers of attempt 0 exit 3.
  INFO(job.Logs());
  REQUIRE(job.BothSaid("does not answer; waiting up to --rdzv-timeout"));
  daemon.Restart();
  REQUIRE(job.a.Wait(kLong) == 0);
  REQUIRE(job.b.Wait(kLong) == 0);
  CHECK_THAT(job.a.out() + job.b.out(), Catch::Contains("done-0"));
  CHECK_THAT(job.a.out() + job.b.out(), Catch::Contains("done-1"));
}

// What a daemon restarted without its state, or two worlds under one run id,
// look like to a node: its attempt ended "ok" while its own workers still run
// (issue #10, item 1: such a node used to exit 0 at once).
TEST_CASE(
    "an attempt ended ok while this node's workers still run is no success",
    "[e2e][outage]") {
  RestartableDaemon daemon;
  Job job(daemon, "false-ok", {});
  REQUIRE(job.Started(0));
  GrpcStoreOptions options;
  options.endpoint = *ParseEndpoint(daemon.endpoint(), 0);
  options.job = "false-ok";
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  REQUIRE(store.ok());
  AttemptEnd ok;
  ok.kind = AttemptEnd::Kind::kOk;
  REQUIRE((*store)->Set(EndKey("false-ok", 0), ok.Encode()).ok());
  const std::optional<int> a = job.a.Wait(kLong);
  const std::optional<int> b = job.b.Wait(kLong);
  INFO(job.Logs());
  CHECK(a == 1);
  CHECK(b == 1);
  CHECK_THAT(job.a.err(),
             Catch::Contains(
                 "ended as a success while this node's workers still run"));
  CHECK_THAT(job.b.err(),
             Catch::Contains(
                 "ended as a success while this node's workers still run"));
}

}  // namespace
}  // namespace tplaunch
