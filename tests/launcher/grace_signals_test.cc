// What a signal does while tplaunch stops its workers (launcher/grace_signals).
#include "launcher/grace_signals.h"

#include <signal.h>

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

constexpr pid_t kParent = 4242;

TEST_CASE("a non-terminating signal is forwarded, from anyone") {
  for (int sig : {SIGUSR1, SIGUSR2, SIGWINCH}) {
    CHECK(ActionDuringGrace({sig, kParent, SI_USER}, kParent) ==
          GraceSignalAction::kForward);
    CHECK(ActionDuringGrace({sig, 7, SI_USER}, kParent) ==
          GraceSignalAction::kForward);
  }
}

TEST_CASE("the parent repeating its stop signal lets the grace go on") {
  // slurmstepd: SIGTERM for the time-limit notice, again for the termination.
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    CHECK(ActionDuringGrace({sig, kParent, SI_USER}, kParent) ==
          GraceSignalAction::kIgnore);
  }
}

TEST_CASE("a second stop from anyone else kills at once") {
  CHECK(ActionDuringGrace({SIGTERM, 77, SI_USER}, kParent) ==
        GraceSignalAction::kKillNow);
  // A sender outside our pid namespace reads as pid 0.
  CHECK(ActionDuringGrace({SIGTERM, 0, SI_USER}, kParent) ==
        GraceSignalAction::kKillNow);
}

TEST_CASE("a terminal's Ctrl-C kills at once even when the parent is 0") {
  CHECK(ActionDuringGrace({SIGINT, 0, SI_KERNEL}, kParent) ==
        GraceSignalAction::kKillNow);
  CHECK(ActionDuringGrace({SIGINT, 0, SI_KERNEL}, 0) ==
        GraceSignalAction::kKillNow);
}

TEST_CASE("without a real parent (init, orphaned) no sender is the parent") {
  CHECK(ActionDuringGrace({SIGTERM, 1, SI_USER}, 1) ==
        GraceSignalAction::kKillNow);
  CHECK(ActionDuringGrace({SIGTERM, 0, SI_USER}, 0) ==
        GraceSignalAction::kKillNow);
}

}  // namespace
}  // namespace tplaunch
