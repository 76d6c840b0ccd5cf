// End to end: a tplaunch started with INT and QUIT ignored (as a background
// job of a non-interactive shell, a script or a batch system starts it) still
// gives its workers the default disposition of every signal it forwards, so a
// forwarded SIGINT ends them at once instead of after the grace period.
#include <signal.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Runfile;
using testing::Subprocess;
using testing::WaitFor;

// `tplaunch args...` exec'd by a shell that ignores INT and QUIT: the ignored
// dispositions survive exec, as they do for `tplaunch ... &` in a script.
std::vector<std::string> IgnoringIntQuit(const std::vector<std::string>& args) {
  std::string cmd = "trap '' INT QUIT; exec \"$0\" \"$@\"";
  std::vector<std::string> argv = {"/bin/bash", "-c", cmd,
                                   Runfile("launcher/tplaunch")};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The SigIgn mask a worker printed ("SigIgn:\t0000000000000006").
uint64_t IgnoredMask(const std::string& out) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    size_t at = line.find("SigIgn:");
    if (at == absl::string_view::npos) continue;
    uint64_t mask = 0;
    if (absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line.substr(at + 7)),
                            &mask))
      return mask;
  }
  return ~uint64_t{0};
}

uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }

TEST_CASE("workers start with forwarded signals at their default disposition") {
  Subprocess p(IgnoringIntQuit(
      {"--nproc", "1", "/bin/sh", "-c", "grep SigIgn /proc/self/status"}));
  REQUIRE(p.Wait(absl::Seconds(20)) == 0);
  INFO(p.out() << p.err());
  const uint64_t mask = IgnoredMask(p.out());
  CHECK((mask & Bit(SIGINT)) == 0);
  CHECK((mask & Bit(SIGQUIT)) == 0);
  CHECK((mask & Bit(SIGPIPE)) == 0);
}

TEST_CASE("a signal that is not forwarded keeps the disposition it had") {
  // nohup's contract: an ignored signal tplaunch does not handle stays ignored.
  Subprocess p(
      IgnoringIntQuit({"--nproc", "1", "--signals-to-forward", "TERM",
                       "/bin/sh", "-c", "grep SigIgn /proc/self/status"}));
  REQUIRE(p.Wait(absl::Seconds(20)) == 0);
  INFO(p.out() << p.err());
  CHECK((IgnoredMask(p.out()) & Bit(SIGINT)) != 0);
}

TEST_CASE(
    "a forwarded SIGINT ends workers at once, though tplaunch's was "
    "ignored at start") {
  Subprocess p(
      IgnoringIntQuit({"--nproc", "2", "--grace-period", "30", "/bin/sh", "-c",
                       "echo ready; exec sleep 300"}));
  REQUIRE(WaitFor(
      [&] {
        const std::string out = p.out();
        return absl::StrContains(out, "[rank0]: ready") &&
               absl::StrContains(out, "[rank1]: ready");
      },
      absl::Seconds(20)));
  const absl::Time t = absl::Now();
  p.Kill(SIGINT);
  CHECK(p.Wait(absl::Seconds(40)) == 128 + SIGINT);
  INFO(p.err());
  // SIGINT killed the sleeps; no 30 s grace period ran out.
  CHECK(absl::Now() - t < absl::Seconds(10));
}

}  // namespace
}  // namespace tplaunch
