// cli: tplaunch's command line (and the TPLAUNCH_<NAME> / PET_<NAME>
// environment, cli_env.h) into a LaunchConfig.
//
// Pure: no I/O except what the caller passes in. The options are the rows of
// cli_options.h; `tplaunch status` has its own small parser
// (status_command.h). Option names follow torchrun's, with dashes; torchrun's
// underscore spellings are accepted as aliases so pasted torchrun lines work.
// Every problem is reported as InvalidArgument whose message names the option
// (or environment variable), the bad value and what was expected; tplaunch's
// main() prints the usage plus that message and exits with code 2.
#ifndef TPLAUNCH_LAUNCHER_CLI_H_
#define TPLAUNCH_LAUNCHER_CLI_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/launch_config.h"

namespace tplaunch {

// Parses argv (argv[0] is the program name) and the environment
// (TPLAUNCH_<NAME>, then PET_<NAME> variables; the command line wins).
// InvalidArgument names the problem. PROGRAM is kept as given; how it is run is
// program.h's.
absl::StatusOr<LaunchConfig> ParseCommandLine(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env);

// The usage text printed by --help and before every command line error.
std::string UsageText();

// The version line printed by --version.
std::string VersionText();

// Fills in nproc_per_node for auto/gpu/cpu/xpu. FailedPrecondition for `gpu`
// with no GPU and `xpu` with no XPU.
absl::Status ResolveNprocPerNode(LaunchConfig& config, int cpu_count,
                                 int gpu_count, int xpu_count = 0);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_CLI_H_
