// status_command: the command line of `tplaunch status` (show a job's
// rendezvous state) -> LaunchConfig with action kStatus. Pure, like cli.h,
// which hands argv over when argv[1] is "status"; main() runs the command.
#ifndef TPLAUNCH_LAUNCHER_STATUS_COMMAND_H_
#define TPLAUNCH_LAUNCHER_STATUS_COMMAND_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/launch_config.h"

namespace tplaunch {

// The usage line of the subcommand, for tplaunch's help.
inline constexpr char kStatusUsage[] =
    "tplaunch status --rdzv-endpoint HOST[:PORT] --rdzv-id ID "
    "[--token-file FILE]";

// argv is tplaunch's whole argv: {"tplaunch", "status", OPTIONS...}. Reads
// --rdzv-endpoint, --rdzv-id and --token-file (underscore spellings too), each
// falling back to its TPLAUNCH_<NAME> variable in `env`. Sets action,
// rdzv_endpoint, rdzv_id and token_file. InvalidArgument for an unknown option,
// a missing endpoint or id, or a bad endpoint.
absl::StatusOr<LaunchConfig> ParseStatusCommand(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_STATUS_COMMAND_H_
