// The shared test helpers themselves: WaitFor's deadline, file round trips,
// and Subprocess's environment, stdin and exit statuses (with /bin/sh).
#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {
namespace {

TEST_CASE("WaitFor: true as soon as the condition holds, false at the deadline",
          "[testing]") {
  int calls = 0;
  CHECK(WaitFor([&] { return ++calls == 3; }, absl::Seconds(10)));
  CHECK(calls == 3);

  const absl::Time start = absl::Now();
  CHECK_FALSE(WaitFor([] { return false; }, absl::Milliseconds(50)));
  const absl::Duration waited = absl::Now() - start;
  CHECK(waited >= absl::Milliseconds(50));
  CHECK(waited < absl::Seconds(5));
}

TEST_CASE("files: bytes round trip, a missing file reads empty", "[testing]") {
  const std::string dir = MakeTempDir();
  CHECK(dir != MakeTempDir());
  const std::string bytes("a\0b\n\xff", 5);
  WriteFile(dir + "/f", bytes);
  CHECK(ReadFile(dir + "/f") == bytes);
  WriteFile(dir + "/f", "short");
  CHECK(ReadFile(dir + "/f") == "short");
  CHECK(ReadFile(dir + "/missing").empty());
}

TEST_CASE("Subprocess: exit codes, signals, output and environment",
          "[testing]") {
  Subprocess ok({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(ok.Wait(absl::Seconds(30)) == 3);
  CHECK(ok.out() == "out\n");
  CHECK(ok.err() == "err\n");

  Subprocess killed({"/bin/sh", "-c", "kill -TERM $$"});
  CHECK(killed.Wait(absl::Seconds(30)) == 128 + SIGTERM);

  Subprocess missing({"/nonexistent/binary"});
  CHECK(missing.Wait(absl::Seconds(30)) == 127);

  setenv("TESTING_TEST_DROPPED", "inherited", 1);
  setenv("TESTING_TEST_KEPT", "inherited", 1);
  SubprocessOptions options;
  options.env = {{"TESTING_TEST_ADDED", "added"}};
  options.unset_prefixes = {"TESTING_TEST_DROP"};
  options.stdin_bytes = "from stdin";
  Subprocess env({"/bin/sh", "-c",
                  "echo \"$TESTING_TEST_ADDED ${TESTING_TEST_DROPPED-unset} "
                  "$TESTING_TEST_KEPT $(cat)\""},
                 options);
  REQUIRE(env.Wait(absl::Seconds(30)) == 0);
  CHECK(env.out() == "added unset inherited from stdin\n");
}

TEST_CASE("Subprocess: a running child is alive until killed", "[testing]") {
  Subprocess sleeper({"/bin/sh", "-c", "exec sleep 600"});
  CHECK(IsAlive(sleeper.pid()));
  CHECK_FALSE(sleeper.Wait(absl::Milliseconds(10)).has_value());
  sleeper.Kill(SIGKILL);
  CHECK(sleeper.Wait(absl::Seconds(30)) == 128 + SIGKILL);
  CHECK_FALSE(IsAlive(sleeper.pid()));
}

}  // namespace
}  // namespace testing
}  // namespace tplaunch
