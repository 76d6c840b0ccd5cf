// End to end, real tplaunch and tprdzvd processes: what two nodes do when the
// daemon is SIGKILLed and restarted on the same port while their workers run
// (issue #10, "without --state-dir a restart is detected and handled").
// Without --state-dir the daemon comes back with a new incarnation and the
// default --on-daemon-restart restart ends the attempt on every node: a new
// attempt within --max-restarts, else exit 1 naming the restart. With
// --state-dir the incarnation is kept and the job rides through in attempt 0.
// Riding through a restart without --state-dir (--on-daemon-restart
// ride-through) is tested by rendezvous_restart_e2e_test and
// store_outage_e2e_test. Workers block on files the test creates; every wait
// is on a condition.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/key_layout.h"
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

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Two nodes of run `id`, each with its own --log-dir ($D/logs-a, $D/logs-b).
// Attempt 0's workers say they started, then wait for $D/finish; a later
// attempt's print what they were told and exit 0.
struct Job {
  Job(const RestartableDaemon& daemon, const std::string& id,
      const std::vector<std::string>& extra)
      : id(id),
        dir(testing::MakeTempDir()),
        a(Command(daemon, "a", extra), {{"D", dir}}),
        b(Command(daemon, "b", extra), {{"D", dir}}) {}

  std::vector<std::string> Command(const RestartableDaemon& daemon,
                                   const std::string& node,
                                   const std::vector<std::string>& extra) {
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
                                     "2s",
                                     "--grace-period",
                                     "2s",
                                     "--log-dir",
                                     absl::StrCat(dir, "/logs-", node)};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::Concat(
        testing::Tplaunch(args),
        {"/bin/sh", "-c",
         "touch \"$D/started-$RANK-$TPLAUNCH_ATTEMPT\"; "
         "if [ \"$TPLAUNCH_ATTEMPT\" = 0 ]; then "
         "while [ ! -e \"$D/finish\" ]; do sleep 0.05; done; "
         "echo finished-$RANK; exit 0; fi; "
         "echo restart_count=$TORCHELASTIC_RESTART_COUNT rank=$RANK "
         "world=$WORLD_SIZE"});
  }

  bool Started(int attempt) const {
    return WaitFor(
        [&] {
          return Exists(absl::StrCat(dir, "/started-0-", attempt)) &&
                 Exists(absl::StrCat(dir, "/started-1-", attempt));
        },
        kLong);
  }
  std::string Out() const { return a.out() + b.out(); }
  std::string Logs() const {
    return absl::StrCat("node a stderr:\n", a.err(), "\nnode b stderr:\n",
                        b.err());
  }

  const std::string id;
  const std::string dir;
  Subprocess a;
  Subprocess b;
};

// The start of what a node says when the daemon came back empty.
std::string RestartMessage(const RestartableDaemon& daemon) {
  return absl::StrCat("tprdzvd at ", daemon.endpoint(),
                      " restarted without the job's state (incarnation ");
}

TEST_CASE(
    "a daemon restarted without --state-dir, --max-restarts 0: every node "
    "exits 1 naming the daemon restart",
    "[e2e][daemon-restart]") {
  RestartableDaemon daemon;
  Job job(daemon, "no-restarts", {"--max-restarts", "0"});
  if (!job.Started(0))
    FAIL("attempt 0 never started on both nodes\n" << job.Logs());
  daemon.Restart();
  const std::optional<int> a = job.a.Wait(kLong);
  const std::optional<int> b = job.b.Wait(kLong);
  INFO(job.Logs());
  CHECK(a == 1);
  CHECK(b == 1);
  for (const std::string& err : {job.a.err(), job.b.err()}) {
    CHECK_THAT(err, Catch::Contains(RestartMessage(daemon)));
    CHECK_THAT(err, Catch::Contains("allows no restart: failing"));
  }
  for (const std::string node : {"a", "b"}) {
    const std::string report = testing::ReadFile(
        absl::StrCat(job.dir, "/logs-", node, "/", job.id, "/error.json"));
    INFO(node << ": " << report);
    CHECK_THAT(report, Catch::Contains("restarted without the job's state"));
    CHECK_THAT(report, Catch::Contains("\"store_restart\""));
  }
  CHECK_FALSE(Exists(job.dir + "/started-0-1"));
  CHECK_FALSE(Exists(job.dir + "/started-1-1"));
  CHECK_THAT(job.Out(), !Catch::Contains("finished-"));
}

TEST_CASE(
    "a daemon restarted without --state-dir, --max-restarts 1: both nodes "
    "re-join at the new daemon and attempt 1 succeeds",
    "[e2e][daemon-restart]") {
  RestartableDaemon daemon;
  Job job(daemon, "one-restart", {"--max-restarts", "1"});
  if (!job.Started(0))
    FAIL("attempt 0 never started on both nodes\n" << job.Logs());
  daemon.Restart();
  const std::optional<int> a = job.a.Wait(kLong);
  const std::optional<int> b = job.b.Wait(kLong);
  INFO(job.Logs());
  CHECK(a == 0);
  CHECK(b == 0);
  CHECK_THAT(job.a.err(), Catch::Contains(RestartMessage(daemon)));
  CHECK_THAT(job.b.err(), Catch::Contains(RestartMessage(daemon)));
  CHECK_THAT(job.a.err(), Catch::Contains("attempt 1: node "));
  CHECK_THAT(job.b.err(), Catch::Contains("attempt 1: node "));
  // One world of two in attempt 1: a rank 0 and a rank 1.
  const std::string out = job.Out();
  CHECK_THAT(out, Catch::Contains("restart_count=1 rank=0 world=2"));
  CHECK_THAT(out, Catch::Contains("restart_count=1 rank=1 world=2"));
  CHECK_THAT(out, !Catch::Contains("world=1"));
  CHECK_THAT(out, !Catch::Contains("finished-"));
}

// Whether both nodes' attempt-0 heartbeats in the daemon changed twice since
// the first read: each node then finished a whole liveness round (heartbeat,
// peers, incarnation check) against the restarted daemon.
bool BothHeartbeatTwice(const RestartableDaemon& daemon,
                        const std::string& id) {
  GrpcStoreOptions options;
  options.endpoint = *ParseEndpoint(daemon.endpoint(), 0);
  options.job = id;
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectGrpcStore(options);
  if (!store.ok()) return false;
  std::vector<std::string> last(2);
  std::vector<int> changes(2, -1);  // The first read is no change.
  return WaitFor(
      [&] {
        for (int slot = 0; slot < 2; ++slot) {
          absl::StatusOr<std::string> v =
              (*store)->TryGet(HeartbeatKey(id, 0, slot));
          if (!v.ok()) continue;
          if (changes[slot] < 0 || *v != last[slot]) ++changes[slot];
          last[slot] = *v;
        }
        return changes[0] >= 2 && changes[1] >= 2;
      },
      kLong);
}

TEST_CASE(
    "a daemon restarted with --state-dir keeps its incarnation: the job "
    "rides through in attempt 0 and succeeds",
    "[e2e][daemon-restart]") {
  const std::string state = testing::MakeTempDir();
  RestartableDaemon daemon({"--state-dir", state});
  Job job(daemon, "state-dir", {"--max-restarts", "1"});
  if (!job.Started(0))
    FAIL("attempt 0 never started on both nodes\n" << job.Logs());
  daemon.Restart();
  INFO(job.Logs());
  REQUIRE(BothHeartbeatTwice(daemon, job.id));
  testing::WriteFile(job.dir + "/finish", "");
  REQUIRE(job.a.Wait(kLong) == 0);
  REQUIRE(job.b.Wait(kLong) == 0);
  CHECK_THAT(job.Out(), Catch::Contains("finished-0"));
  CHECK_THAT(job.Out(), Catch::Contains("finished-1"));
  CHECK_THAT(job.a.err() + job.b.err(),
             !Catch::Contains("restarted without the job's state"));
  CHECK_THAT(job.a.err() + job.b.err(), !Catch::Contains("re-asserted"));
  CHECK_FALSE(Exists(job.dir + "/started-0-1"));
  CHECK_FALSE(Exists(job.dir + "/started-1-1"));
}

TEST_CASE(
    "--on-daemon-restart: ride-through with --torch-store agent on a remote "
    "daemon, or an unknown value, is a usage error",
    "[e2e][daemon-restart]") {
  Subprocess agent_store(testing::Tplaunch(
      {"--nnodes", "2", "--rdzv-endpoint", "127.0.0.1:1", "--rdzv-id", "j",
       "--torch-store", "agent", "--torch-store-endpoint", "127.0.0.1:2",
       "--on-daemon-restart", "ride-through", "/bin/true"}));
  REQUIRE(agent_store.Wait(kLong) == 2);
  CHECK_THAT(agent_store.err(),
             Catch::Contains("--on-daemon-restart ride-through excludes "
                             "--torch-store agent with --rdzv-endpoint"));
  Subprocess bad(
      testing::Tplaunch({"--on-daemon-restart", "ignore", "/bin/true"}));
  REQUIRE(bad.Wait(kLong) == 2);
  CHECK_THAT(bad.err(), Catch::Contains("--on-daemon-restart 'ignore': "
                                        "expected restart or ride-through"));
}

}  // namespace
}  // namespace tplaunch
