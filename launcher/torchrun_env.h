// torchrun_env: the environment variables of torchrun 2.x that are not
// options: what tplaunch reads for itself (LOGLEVEL,
// TORCHELASTIC_HEALTH_CHECK_PORT) and what it passes on to every worker
// (USE_LIBUV from --rdzv-conf, TORCHELASTIC_SIGNALS_TO_HANDLE). Options'
// variables (PET_*, TPLAUNCH_*) are cli_env.h's; PYTHON_EXEC is program.h's.
// Pure.
#ifndef TPLAUNCH_LAUNCHER_TORCHRUN_ENV_H_
#define TPLAUNCH_LAUNCHER_TORCHRUN_ENV_H_

#include <map>
#include <optional>
#include <string>

#include "launcher/launch_config.h"

namespace tplaunch {

using EnvVars = std::map<std::string, std::string>;

// Variables every worker gets on top of the launcher's environment, as torchrun
// 2.x gives them: USE_LIBUV=0|1 when --rdzv-conf use_libuv was given (PyTorch
// 2.x's TCPStore reads it; Debian's build has no libuv and needs 0), and
// TORCHELASTIC_SIGNALS_TO_HANDLE, the --signals-to-forward list as names
// ("SIGTERM,SIGINT,..."; numbers without a name are left out, Python's signal
// module could not resolve them).
EnvVars TorchrunWorkerVariables(const LaunchConfig& config);

struct LogLevelChoice {
  // An spdlog level name: trace, debug, info, warn, err, critical, off.
  std::string level = "info";
  // Non-empty when a variable held something unreadable (then level is info);
  // names the variable and its value.
  std::string problem;
};

// tplaunch's own verbosity: TPLAUNCH_LOG_LEVEL (spdlog's names) if set, else
// torchrun's LOGLEVEL (Python's names DEBUG, INFO, WARNING, ERROR, CRITICAL,
// or their numbers 10..50), else info. Never an error: LOGLEVEL is meant for
// the Python workers too, and a value they accept must not stop the launch.
LogLevelChoice LauncherLogLevel(const EnvVars& env);

// The line tplaunch logs when TORCHELASTIC_HEALTH_CHECK_PORT is set; nullopt
// when it is not. torchrun's open-source health-check server is a stub that
// serves nothing; tplaunch starts none either and says so.
std::optional<std::string> HealthCheckPortNote(const EnvVars& env);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_TORCHRUN_ENV_H_
