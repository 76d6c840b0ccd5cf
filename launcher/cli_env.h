// cli_env: where an option not on the command line is read from in the
// environment, in this order (the first set wins):
//   TPLAUNCH_<NAME>     tplaunch's own (EnvName), empty counts as set
//   PET_<NAME>          torchrun's form, set by PyTorchJob and TorchX: one per
//                       long name of the option (--signals-to-handle ->
//                       PET_SIGNALS_TO_HANDLE) plus the Kubeflow operator's
//                       PET_N_PROC_PER_NODE; empty counts as unset
//   the fallback        torchrun's own variable for the setting, if the row
//                       names one (TORCH_ELASTIC_SHUTDOWN_TIMEOUT), non-empty
// PET_* names that match no option are reported, never an error: PyTorchJob
// sets them for whatever torchrun flags its release knows.
#ifndef TPLAUNCH_LAUNCHER_CLI_ENV_H_
#define TPLAUNCH_LAUNCHER_CLI_ENV_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "launcher/cli_options.h"

namespace tplaunch {

// "--nproc-per-node,--nproc_per_node,--nproc" -> PET_NPROC_PER_NODE,
// PET_NPROC, PET_N_PROC_PER_NODE (in that order of precedence).
std::vector<std::string> PetNames(const OptionDef& def);

// The option's value from `env`, its source naming the variable; nullopt when
// none of its variables is set.
std::optional<RawValue> OptionFromEnvironment(
    const OptionDef& def, const std::map<std::string, std::string>& env);

// The PET_* variables of `env` that name no option of the table, sorted.
std::vector<std::string> UnknownPetVariables(
    const std::map<std::string, std::string>& env);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_CLI_ENV_H_
