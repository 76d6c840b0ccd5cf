// End to end: the real tprdzvd binary on port 0, driven by the real tprdzvctl
// binary, both found in the test's runfiles and run as child processes. Every
// read from a child has a deadline, so a hung binary fails the test instead of
// stalling it.
#include <signal.h>

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Concat;
using testing::Daemon;
using testing::DaemonOptions;
using testing::MakeTempDir;
using testing::Runfile;
using testing::Subprocess;
using testing::SubprocessOptions;
using testing::WaitFor;
using testing::WriteFile;

// Generous for a loaded 2-core machine; a healthy run takes milliseconds per
// command.
constexpr absl::Duration kCommandTimeout = absl::Seconds(30);

// A path for `name` in this test's own scratch directory.
std::string TempPath(const std::string& name) {
  static const std::string* dir = new std::string(MakeTempDir());
  return absl::StrCat(*dir, "/", name);
}

// The tprdzvctl binary followed by `args`.
std::vector<std::string> CtlArgv(const std::vector<std::string>& args) {
  return Concat({Runfile("rendezvous/tprdzvctl")}, args);
}

// The test's environment without the variables tprdzvctl reads, plus
// `extra_env`, so the test controls exactly which token and endpoint a child
// sees; stdin: `stdin_bytes`, then end of file.
SubprocessOptions CtlOptions(std::map<std::string, std::string> extra_env = {},
                             const std::string& stdin_bytes = "") {
  SubprocessOptions options;
  options.env = std::move(extra_env);
  options.unset_prefixes = {"TPLAUNCH_RDZV_"};
  options.stdin_bytes = stdin_bytes;
  return options;
}

// The exit status, or -1 (and the process killed at scope exit) when it did not
// finish within `timeout`.
int Finish(Subprocess& child, absl::Duration timeout = kCommandTimeout) {
  return child.Wait(timeout).value_or(-1);
}

struct Result {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs tprdzvctl with `args` and returns what it did.
Result Ctl(const std::vector<std::string>& args,
           std::map<std::string, std::string> extra_env = {},
           const std::string& stdin_bytes = "") {
  Subprocess child(CtlArgv(args),
                   CtlOptions(std::move(extra_env), stdin_bytes));
  const int code = Finish(child);
  return {code, child.out(), child.err()};
}

// A tprdzvd on 127.0.0.1, port 0, that requires the token in `token_file`.
DaemonOptions WithToken(const std::string& token_file) {
  DaemonOptions options;
  options.extra_args = {"--token-file", token_file, "--log-level", "warn"};
  return options;
}

// Waits until the daemon has parked `n` calls, so that what the test does next
// really releases a waiting call.
bool WaitersReach(const std::vector<std::string>& ctl, int n) {
  return WaitFor(
      [&] {
        return absl::StrContains(Ctl(Concat(ctl, {"stats"})).out,
                                 absl::StrCat("\"waiters\": ", n));
      },
      kCommandTimeout);
}

#define REQUIRE_CTL(result, code, stdout_text)            \
  do {                                                    \
    const Result& r_ = (result);                          \
    INFO("stdout: " << r_.out << "\nstderr: " << r_.err); \
    REQUIRE(r_.exit_code == (code));                      \
    REQUIRE(r_.out == (stdout_text));                     \
  } while (false)

TEST_CASE("tprdzvd + tprdzvctl: a session against the real binaries", "[e2e]") {
  const std::string token_file = TempPath("token");
  WriteFile(token_file,
            "e2e-secret\n");  // A trailing newline, as editors leave one.
  Daemon daemon(WithToken(token_file));
  REQUIRE(absl::StartsWith(daemon.endpoint(), "127.0.0.1:"));
  const std::vector<std::string> ctl = {"--endpoint",   daemon.endpoint(),
                                        "--token-file", token_file,
                                        "--job",        "e2e"};

  REQUIRE_CTL(Ctl(Concat(ctl, {"set", "a", "hello"})), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"get", "a"})), 0, "hello");
  REQUIRE_CTL(Ctl(Concat(ctl, {"try-get", "a"})), 0, "hello");
  REQUIRE_CTL(Ctl(Concat(ctl, {"add", "n", "5"})), 0, "5\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"add", "n"})), 0, "6\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"--timeout", "5s", "wait", "a", "n"})), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"check", "a", "n"})), 0, "true\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"check", "a", "missing"})), 0, "false\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"keys"})), 0, "a\nn\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"keys", "n"})), 0, "n\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"num-keys"})), 0, "2\n");

  // Values are bytes: "-" reads one from stdin, get prints it back unchanged.
  const std::string binary("\0\x01\xff\n tail", 9);
  REQUIRE_CTL(Ctl(Concat(ctl, {"set", "blob", "-"}), {}, binary), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"get", "blob"})), 0, binary);

  SECTION("a blocked get is released by a set from another process") {
    Subprocess getter(CtlArgv(Concat(ctl, {"--timeout", "30s", "get", "late"})),
                      CtlOptions());
    REQUIRE(WaitersReach(ctl, 1));
    REQUIRE_CTL(Ctl(Concat(ctl, {"set", "late", "arrived"})), 0, "");
    REQUIRE(Finish(getter) == 0);
    REQUIRE(getter.out() == "arrived");
  }

  SECTION("failures exit 1 with the daemon's error on stderr") {
    const Result timed_out =
        Ctl(Concat(ctl, {"--timeout", "200ms", "get", "nope"}));
    REQUIRE(timed_out.exit_code == 1);
    CHECK(absl::StrContains(timed_out.err, "DEADLINE_EXCEEDED"));
    CHECK(absl::StrContains(timed_out.err, "'nope'"));
    CHECK(absl::StrContains(timed_out.err, "200ms"));

    const Result not_found = Ctl(Concat(ctl, {"try-get", "nope"}));
    REQUIRE(not_found.exit_code == 1);
    CHECK(absl::StrContains(not_found.err, "NOT_FOUND"));

    const Result not_a_number = Ctl(Concat(ctl, {"add", "a", "1"}));
    REQUIRE(not_a_number.exit_code == 1);
    CHECK(absl::StrContains(not_a_number.err, "FAILED_PRECONDITION"));
  }

  SECTION("the token is checked") {
    const std::string wrong_file = TempPath("wrong_token");
    WriteFile(wrong_file, "not-the-secret");
    const Result wrong = Ctl({"--endpoint", daemon.endpoint(), "--token-file",
                              wrong_file, "--job", "e2e", "get", "a"});
    INFO(wrong.err);
    REQUIRE(wrong.exit_code == 1);
    CHECK(wrong.out.empty());
    CHECK(absl::StrContains(wrong.err, "UNAUTHENTICATED"));

    const Result missing =
        Ctl({"--endpoint", daemon.endpoint(), "--job", "e2e", "set", "a", "x"});
    REQUIRE(missing.exit_code == 1);
    CHECK(absl::StrContains(missing.err, "UNAUTHENTICATED"));
    REQUIRE_CTL(Ctl(Concat(ctl, {"get", "a"})), 0,
                "hello");  // Not overwritten.

    // The token and endpoint may come from the environment instead of flags.
    REQUIRE_CTL(Ctl({"--job", "e2e", "try-get", "a"},
                    {{"TPLAUNCH_RDZV_TOKEN", "e2e-secret"},
                     {"TPLAUNCH_RDZV_ENDPOINT", daemon.endpoint()}}),
                0, "hello");
  }

  SECTION("command-line mistakes exit 2 with a usage message") {
    const std::vector<std::vector<std::string>> mistakes = {
        {"--endpoint", daemon.endpoint()},               // No subcommand.
        Concat(ctl, {"frobnicate"}),                     // Unknown one.
        Concat(ctl, {"get"}),                            // Missing KEY.
        Concat(ctl, {"--no-such-flag", "get", "a"}),     // Unknown flag.
        Concat(ctl, {"--timeout", "soon", "get", "a"}),  // Bad duration.
        Concat(ctl, {"add", "n", "lots"}),               // Bad DELTA.
        {"--endpoint", daemon.endpoint(), "get", "a"},   // No --job.
        {"--endpoint", "host:notaport", "--job", "e2e", "get",
         "a"},                         // Bad endpoint.
        {"--job", "e2e", "get", "a"},  // No endpoint.
        Concat(ctl, {"--token-file", TempPath("absent"), "get", "a"}),
    };
    for (const std::vector<std::string>& args : mistakes) {
      const Result usage = Ctl(args);
      INFO("args: " << absl::StrJoin(args, " ") << "\nstderr: " << usage.err);
      REQUIRE(usage.exit_code == 2);
      CHECK(usage.out.empty());
      CHECK(absl::StrContains(usage.err, "Usage:"));
    }
    const Result help = Ctl({"--help"});
    REQUIRE(help.exit_code == 0);
    CHECK(absl::StrContains(help.out, "Usage:"));
  }

  SECTION("delete-key, delete-job, stats and health") {
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-key", "a"})), 0, "true\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-key", "a"})), 0, "false\n");
    const Result stats = Ctl(Concat(ctl, {"stats"}));
    REQUIRE(stats.exit_code == 0);
    CHECK(absl::StrContains(stats.out, "\"jobs\": 1"));
    CHECK(absl::StrContains(stats.out, "\"keys\": 2"));
    REQUIRE_CTL(Ctl(Concat(ctl, {"health"})), 0, "SERVING\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-job"})), 0, "2\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"num-keys"})), 0, "0\n");
  }

  const int exit_code = daemon.Terminate().value_or(-1);
  INFO("daemon stderr: " << daemon.err());
  REQUIRE(exit_code == 0);
}

TEST_CASE("tprdzvd + tprdzvctl: SIGTERM releases a blocked get at once",
          "[e2e]") {
  const std::string token_file = TempPath("token");
  WriteFile(token_file, "e2e-secret");
  Daemon daemon(WithToken(token_file));
  REQUIRE(absl::StartsWith(daemon.endpoint(), "127.0.0.1:"));
  const std::vector<std::string> ctl = {"--endpoint",   daemon.endpoint(),
                                        "--token-file", token_file,
                                        "--job",        "e2e"};
  Subprocess getter(CtlArgv(Concat(ctl, {"--timeout", "60s", "get", "never"})),
                    CtlOptions());
  REQUIRE(WaitersReach(ctl, 1));
  const absl::Time terminated_at = absl::Now();
  REQUIRE(daemon.Terminate().value_or(-1) == 0);
  REQUIRE(Finish(getter, absl::Seconds(10)) == 1);
  CHECK(absl::Now() - terminated_at < absl::Seconds(10));
  INFO(getter.err());
  CHECK((absl::StrContains(getter.err(), "UNAVAILABLE") ||
         absl::StrContains(getter.err(), "CANCELLED")));
}

TEST_CASE("tprdzvctl: an unreachable daemon exits 1 after --connect-timeout",
          "[e2e]") {
  // Port 1 on loopback: nothing listens there and connecting is refused at
  // once.
  const Result result = Ctl({"--endpoint", "127.0.0.1:1", "--connect-timeout",
                             "300ms", "--job", "e2e", "get", "a"});
  INFO(result.err);
  REQUIRE(result.exit_code == 1);
  CHECK(absl::StrContains(result.err, "UNAVAILABLE"));
  CHECK(absl::StrContains(result.err, "127.0.0.1:1"));
}

}  // namespace
}  // namespace tplaunch
