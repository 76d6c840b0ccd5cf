// cli_options: the table of tplaunch's options, one row per option: its names
// (torchrun's underscore spellings as aliases), its help text and how its value
// is parsed into a LaunchConfig field. The parser (cli.cc), --help and the
// TPLAUNCH_<NAME> / PET_<NAME> environment (cli_env.h) all read this one
// table, so they never disagree.
// Checks that need several options at once are cli.cc's, after the table.
#ifndef TPLAUNCH_LAUNCHER_CLI_OPTIONS_H_
#define TPLAUNCH_LAUNCHER_CLI_OPTIONS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "launcher/launch_config.h"

namespace tplaunch {

// A value as the user gave it, and where: "--nnodes", "TPLAUNCH_NNODES" or
// "PET_NNODES", so that a message names what the user typed or set.
struct RawValue {
  std::string value;
  std::string source;
};

// InvalidArgument "<source> '<value>': <expected>", the shape of every error
// about one option's value.
absl::Status InvalidValue(const RawValue& raw, absl::string_view expected);

enum class OptionKind {
  kValue,  // Takes a value: --nnodes 2, --nnodes=2, TPLAUNCH_NNODES=2.
  kFlag,   // Takes none; TPLAUNCH_<NAME> reads 1/true/yes/on or 0/false/no/off.
};

// Parses `raw` into the field(s) of `config` that the option sets. Rows are
// applied in table order, each only when its option was given (or has a
// default_value), so a row may read fields that earlier rows set (--node-rank
// checks against --nnodes).
using ApplyOption =
    std::function<absl::Status(const RawValue& raw, LaunchConfig& config)>;

struct OptionDef {
  // CLI11 names, e.g. "--rdzv-id,--rdzv_id". The first long name is canonical:
  // messages and the environment variable (EnvName) use it.
  const char* names = "";
  OptionKind kind = OptionKind::kValue;
  ApplyOption apply;
  // One line of --help, without the default's environment variable, which
  // UsageText adds.
  const char* help = "";
  // Applied when neither the command line nor the environment gives the
  // option; null keeps LaunchConfig's own default.
  const char* default_value = nullptr;
  // torchrun's own variable for the setting, read when neither TPLAUNCH_<NAME>
  // nor PET_<NAME> is set and this one is non-empty; null for none.
  const char* fallback_env = nullptr;
};

// Every option, in the order rows are applied and --help lists them.
const std::vector<OptionDef>& CommandLineOptions();

// "--nproc-per-node,--nproc_per_node,--nproc" -> "--nproc-per-node".
std::string CanonicalName(const OptionDef& def);

// "--nproc-per-node" -> "TPLAUNCH_NPROC_PER_NODE".
std::string EnvName(const OptionDef& def);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_CLI_OPTIONS_H_
