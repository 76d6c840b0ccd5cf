// End to end: signals that reach tplaunch while it stops its workers (the
// grace period between the stop signal and SIGKILL), as a scheduler sends
// them. slurmstepd repeats SIGTERM (time-limit notice, then termination) and
// only SIGKILLs after KillWait: the repeat must not cut the workers' handlers
// short. A second SIGTERM from anyone else still kills at once, and a USR1
// during the grace reaches the workers instead of killing them.
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::Subprocess;
using testing::Tplaunch;
using testing::WaitFor;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Two workers running `handlers` (sh), then marking themselves ready in
// $OUT and idling until a handler exits; tplaunch (this test is its parent)
// with a grace period far longer than any case needs.
struct TwoWorkers {
  explicit TwoWorkers(const std::string& handlers)
      : out(MakeTempDir()),
        p(Tplaunch({"--nproc", "2", "--grace-period", "60", "/bin/sh", "-c",
                    absl::StrCat(handlers,
                                 "; touch \"$OUT/ready.$RANK\"; "
                                 "while :; do sleep 1 & wait $!; done")}),
          {{"OUT", out}}) {}

  bool Ready() {
    return WaitFor(
        [&] { return Exists(out + "/ready.0") && Exists(out + "/ready.1"); },
        absl::Seconds(30));
  }

  std::string out;
  Subprocess p;
};

TEST_CASE("SIGTERM repeated by the parent lets every handler finish") {
  // Each handler takes a second, as a checkpoint would.
  TwoWorkers w(
      "trap 'sleep 1; echo done > \"$OUT/handled.$RANK\"; exit 0' TERM");
  REQUIRE(w.Ready());
  w.p.Kill(SIGTERM);
  // A second SIGTERM still pending would merge with the first: send it once
  // tplaunch has taken the first, as slurmstepd's comes milliseconds later.
  REQUIRE(
      WaitFor([&] { return absl::StrContains(w.p.err(), "received SIGTERM"); },
              absl::Seconds(20)));
  w.p.Kill(SIGTERM);
  const std::optional<int> rc = w.p.Wait(absl::Seconds(50));
  INFO(w.p.err());
  CHECK(rc == 128 + SIGTERM);
  CHECK(Exists(w.out + "/handled.0"));
  CHECK(Exists(w.out + "/handled.1"));
  CHECK(absl::StrContains(w.p.err(), "again from the parent process"));
}

TEST_CASE("a second SIGTERM from another process kills at once") {
  TwoWorkers w(
      "trap 'sleep 20; echo done > \"$OUT/handled.$RANK\"; exit 0' TERM");
  REQUIRE(w.Ready());
  const absl::Time t = absl::Now();
  w.p.Kill(SIGTERM);
  // Wait until tplaunch took the first one, so the second is a repeat.
  REQUIRE(
      WaitFor([&] { return absl::StrContains(w.p.err(), "received SIGTERM"); },
              absl::Seconds(20)));
  Subprocess kill({"/bin/kill", "-TERM", std::to_string(w.p.pid())});
  CHECK(kill.Wait(absl::Seconds(20)) == 0);
  const std::optional<int> rc = w.p.Wait(absl::Seconds(50));
  INFO(w.p.err());
  CHECK(rc == 128 + SIGTERM);
  CHECK(absl::Now() - t < absl::Seconds(15));  // Not the handlers' 20 s.
  CHECK_FALSE(Exists(w.out + "/handled.0"));
  CHECK(absl::StrContains(w.p.err(), "SIGKILL to the workers now"));
}

TEST_CASE("SIGUSR1 during the grace period reaches the workers") {
  // The TERM handler only notes the stop (and says so in $OUT); USR1 after it
  // ends the worker.
  TwoWorkers w(
      "trap 'term=1; touch \"$OUT/term.$RANK\"' TERM; trap '[ -n \"$term\" ] "
      "&& { echo usr1 > \"$OUT/usr1.$RANK\"; exit 0; }' USR1");
  REQUIRE(w.Ready());
  w.p.Kill(SIGTERM);
  // Both workers handled the TERM before the USR1 is sent: a shell runs the
  // traps of signals pending together in signal-number order, USR1 first.
  REQUIRE(WaitFor(
      [&] { return Exists(w.out + "/term.0") && Exists(w.out + "/term.1"); },
      absl::Seconds(20)));
  w.p.Kill(SIGUSR1);
  const std::optional<int> rc = w.p.Wait(absl::Seconds(50));
  INFO(w.p.err());
  CHECK(rc == 128 + SIGTERM);
  CHECK(Exists(w.out + "/usr1.0"));
  CHECK(Exists(w.out + "/usr1.1"));
}

}  // namespace
}  // namespace tplaunch
