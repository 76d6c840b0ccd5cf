// torchrun's variables that are not options (launcher/torchrun_env.h).
#include "launcher/torchrun_env.h"

#include <signal.h>

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("workers get USE_LIBUV from --rdzv-conf and the signals by name") {
  LaunchConfig c;
  c.signals_to_forward = {SIGTERM, SIGINT, SIGUSR1};
  EnvVars v = TorchrunWorkerVariables(c);
  CHECK(v.count("USE_LIBUV") == 0);
  CHECK(v.at("TORCHELASTIC_SIGNALS_TO_HANDLE") == "SIGTERM,SIGINT,SIGUSR1");
  c.use_libuv = false;
  CHECK(TorchrunWorkerVariables(c).at("USE_LIBUV") == "0");
  c.use_libuv = true;
  CHECK(TorchrunWorkerVariables(c).at("USE_LIBUV") == "1");
  // Python's signal module has no name for a bare real-time number.
  c.signals_to_forward = {SIGRTMIN + 1, SIGHUP};
  CHECK(TorchrunWorkerVariables(c).at("TORCHELASTIC_SIGNALS_TO_HANDLE") ==
        "SIGHUP");
}

TEST_CASE("tplaunch's log level: TPLAUNCH_LOG_LEVEL, else Python's LOGLEVEL") {
  CHECK(LauncherLogLevel({}).level == "info");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "DEBUG"}}).level == "debug");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "WARNING"}}).level == "warn");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "error"}}).level == "err");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "CRITICAL"}}).level == "critical");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "30"}}).level == "warn");
  CHECK(LauncherLogLevel({{"LOGLEVEL", "15"}}).level == "debug");
  CHECK(LauncherLogLevel({{"LOGLEVEL", ""}}).level == "info");
  CHECK(
      LauncherLogLevel({{"TPLAUNCH_LOG_LEVEL", "trace"}, {"LOGLEVEL", "ERROR"}})
          .level == "trace");
  LogLevelChoice bad = LauncherLogLevel({{"LOGLEVEL", "loud"}});
  CHECK(bad.level == "info");
  CHECK_THAT(bad.problem, Catch::Contains("LOGLEVEL 'loud'"));
  LogLevelChoice bad_own = LauncherLogLevel({{"TPLAUNCH_LOG_LEVEL", "x"}});
  CHECK(bad_own.level == "info");
  CHECK_THAT(bad_own.problem, Catch::Contains("TPLAUNCH_LOG_LEVEL 'x'"));
  CHECK(LauncherLogLevel({{"LOGLEVEL", "INFO"}}).problem.empty());
}

TEST_CASE("TORCHELASTIC_HEALTH_CHECK_PORT is noted, not served") {
  CHECK_FALSE(HealthCheckPortNote({}).has_value());
  auto note = HealthCheckPortNote({{"TORCHELASTIC_HEALTH_CHECK_PORT", "9"}});
  REQUIRE(note.has_value());
  CHECK_THAT(*note, Catch::Contains("TORCHELASTIC_HEALTH_CHECK_PORT=9"));
  CHECK_THAT(*note, Catch::Contains("tplaunch status"));
}

}  // namespace
}  // namespace tplaunch
