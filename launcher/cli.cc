#include "launcher/cli.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launcher/cli_env.h"
#include "launcher/cli_options.h"
#include "launcher/scheduler/apply.h"
#include "launcher/status_command.h"

namespace tplaunch {
namespace {

// What torchrun's workers get as MASTER_PORT when only --master-addr is given.
constexpr int kDefaultMasterPort = 29500;

// clang-format off
constexpr char kDescription[] =
    "tplaunch: a torchrun-compatible launcher.\n"
    "Starts PROGRAM nproc-per-node times on every node with torchrun's environment "
    "(RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...).";

constexpr char kFooter[] =
    "Options may also come from the environment as TPLAUNCH_<OPTION> (upper case, underscores) "
    "or torchrun's PET_<OPTION>; the command line wins over TPLAUNCH_, TPLAUNCH_ over PET_. "
    "Durations: 30, 30s, 1.5s, 200ms, 2m.\n"
    "PROGRAM: a .py file, or -m MODULE, runs as PYTHON -u PROGRAM ARGS (PYTHON: $PYTHON_EXEC, "
    "else python3 on PATH); anything else, or with --no-python, runs as given.\n"
    "Exit codes: 0 all workers succeeded; 2 usage error; "
    "1 launcher error (rendezvous, peer failure); "
    "otherwise the first failed worker's exit code (128+N when it died of signal N). "
    "See docs/cli.md.";
// clang-format on

// The options given, by canonical name ("--nnodes"), with their raw values.
using GivenOptions = std::map<std::string, RawValue>;

absl::StatusOr<bool> ParseEnvBool(const RawValue& raw) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v.empty() || v == "0" || v == "false" || v == "no" || v == "off") {
    return false;
  }
  return InvalidValue(raw, "expected 1/true/yes/on or 0/false/no/off");
}

// CLI11 2.1 has no App::usage(); its usage line cannot show PROGRAM [ARGS...].
class UsageFormatter final : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return absl::StrCat("Usage: tplaunch [OPTIONS] PROGRAM [ARGS...]\n",
                        "       ", kStatusUsage, "\n");
  }
};

// --help and --version before PROGRAM; after it they are PROGRAM's.
std::optional<CliAction> HelpOrVersion(const std::vector<std::string>& argv) {
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].empty() || argv[i][0] != '-') break;
    if (argv[i] == "-h" || argv[i] == "--help") return CliAction::kHelp;
    if (argv[i] == "--version") return CliAction::kVersion;
  }
  return std::nullopt;
}

// Runs CLI11 over argv with every option of the table, then fills in each
// option not on the command line from the environment (cli_env.h). Sets
// config.program to what follows the options.
absl::StatusOr<GivenOptions> CollectOptions(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env, LaunchConfig& config) {
  const std::vector<OptionDef>& defs = CommandLineOptions();
  CLI::App app("tplaunch", "tplaunch");
  app.set_help_flag();
  // Everything from the first positional on is PROGRAM's.
  app.prefix_command();
  std::vector<std::string> values(defs.size());
  auto flags = std::make_unique<bool[]>(defs.size());
  std::vector<CLI::Option*> opts(defs.size());
  for (size_t i = 0; i < defs.size(); ++i) {
    if (defs[i].kind == OptionKind::kValue) {
      opts[i] = app.add_option(defs[i].names, values[i])
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    } else {
      flags[i] = false;
      opts[i] = app.add_flag(defs[i].names, flags[i]);
    }
  }
  // CLI11 takes the arguments reversed, without argv[0].
  std::vector<std::string> args(argv.rbegin(), argv.rend() - 1);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  config.program = app.remaining();
  if (!config.program.empty() && config.program.front() == "--") {
    config.program.erase(config.program.begin());
  } else if (!config.program.empty() && !config.program.front().empty() &&
             config.program.front()[0] == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown option '", config.program.front(), "'"));
  }

  GivenOptions given;
  for (size_t i = 0; i < defs.size(); ++i) {
    const OptionDef& def = defs[i];
    const std::string name = CanonicalName(def);
    if (opts[i]->count() > 0) {
      given[name] =
          RawValue{def.kind == OptionKind::kValue ? values[i] : "1", name};
      continue;
    }
    std::optional<RawValue> raw = OptionFromEnvironment(def, env);
    if (!raw) continue;
    if (def.kind != OptionKind::kValue) {
      absl::StatusOr<bool> on = ParseEnvBool(*raw);
      if (!on.ok()) return on.status();
      if (!*on) continue;
    }
    given[name] = *std::move(raw);
  }
  std::vector<std::string> unknown = UnknownPetVariables(env);
  if (!unknown.empty()) {
    config.warnings.push_back(absl::StrCat(
        "ignoring ", absl::StrJoin(unknown, ", "),
        ": no tplaunch option of that name (PET_<NAME> sets --<name>)"));
  }
  return given;
}

// -m, --no-python and --run-path against each other and PROGRAM.
absl::Status CheckProgramFlags(const LaunchConfig& config) {
  // torchrun's rule; --run-path wins over both.
  if (config.module && config.no_python && !config.run_path) {
    return absl::InvalidArgumentError(
        "-m/--module and --no-python exclude each other: -m runs PROGRAM "
        "through Python");
  }
  const std::string& module = config.program.front();
  if (config.module && !config.run_path &&
      (module.find('/') != std::string::npos ||
       absl::EndsWith(module, ".py"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "-m '", module,
        "': expected a module name such as pkg.train; drop -m to run a file"));
  }
  return absl::OkStatus();
}

// The rules that involve several options, checked after every row applied.
absl::Status CheckCombinations(const GivenOptions& given,
                               LaunchConfig& config) {
  if (!config.master_addr.empty() && config.master_port == 0) {
    config.master_port = kDefaultMasterPort;
  }
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--heartbeat-timeout (", absl::FormatDuration(config.heartbeat_timeout),
        ") must be longer than --heartbeat-interval (",
        absl::FormatDuration(config.heartbeat_interval), ")"));
  }
  const bool agent_store = config.torch_store == TorchStoreHost::kAgent;
  if (config.standalone && config.rdzv_endpoint) {
    return absl::InvalidArgumentError(
        "--standalone and --rdzv-endpoint exclude each other: "
        "standalone runs its own rendezvous server");
  }
  if (!config.http_host.empty() && config.http_port < 0) {
    return absl::InvalidArgumentError("--http-host needs --http-port");
  }
  if (config.http_port >= 0 && config.rdzv_endpoint &&
      config.rdzv_is_host == false) {
    return absl::InvalidArgumentError(
        "--http-port serves the rendezvous server this launcher embeds, and "
        "with --rdzv-conf is_host=false it embeds none: open the live view "
        "of tprdzvd (tprdzvd --http-port) or of the hosting node instead");
  }
  if (config.torch_store_endpoint && !agent_store) {
    return absl::InvalidArgumentError(
        "--torch-store-endpoint needs --torch-store agent");
  }
  if (config.torch_store_endpoint && !config.rdzv_endpoint) {
    return absl::InvalidArgumentError(
        "--torch-store-endpoint needs --rdzv-endpoint "
        "(standalone runs its own TCPStore listener)");
  }
  if (agent_store &&
      (given.count("--master-addr") > 0 || given.count("--master-port") > 0)) {
    return absl::InvalidArgumentError(
        "--master-addr/--master-port exclude --torch-store agent: "
        "with the agent store MASTER_ADDR/MASTER_PORT name the TCPStore "
        "listener");
  }
  if (!config.rdzv_endpoint) {
    if (config.max_nodes > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--nnodes ", given.at("--nnodes").value,
          " needs --rdzv-endpoint HOST[:PORT] (a tprdzvd every node can "
          "reach); without it tplaunch runs one node"));
    }
    if (!config.token_file.empty()) {
      return absl::InvalidArgumentError(
          "--token-file needs --rdzv-endpoint "
          "(standalone makes its own token)");
    }
    config.standalone = true;
  } else if (config.rdzv_id.empty()) {
    return absl::InvalidArgumentError(
        "--rdzv-endpoint needs --rdzv-id ID, "
        "the same on every node of the job");
  }
  if (config.program.empty()) {
    return absl::InvalidArgumentError("missing PROGRAM to launch");
  }
  return CheckProgramFlags(config);
}

}  // namespace

absl::StatusOr<LaunchConfig> ParseCommandLine(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env) {
  if (argv.size() >= 2 && argv[1] == "status") {
    return ParseStatusCommand(argv, env);
  }
  if (std::optional<CliAction> action = HelpOrVersion(argv)) {
    LaunchConfig config;
    config.action = *action;
    return config;
  }

  LaunchConfig config;
  absl::StatusOr<GivenOptions> given = CollectOptions(argv, env, config);
  if (!given.ok()) return given.status();
  for (const OptionDef& def : CommandLineOptions()) {
    auto it = given->find(CanonicalName(def));
    absl::Status applied = absl::OkStatus();
    if (it != given->end()) {
      applied = def.apply(it->second, config);
    } else if (def.default_value != nullptr) {
      applied =
          def.apply(RawValue{def.default_value, CanonicalName(def)}, config);
    }
    if (!applied.ok()) return applied;
  }
  absl::Status scheduled = ApplyScheduler(env, *given, config);
  if (!scheduled.ok()) return scheduled;
  absl::Status combined = CheckCombinations(*given, config);
  if (!combined.ok()) return combined;
  return config;
}

std::string VersionText() { return "tplaunch 0.1.0"; }

std::string UsageText() {
  CLI::App app(kDescription, "tplaunch");
  app.formatter(std::make_shared<UsageFormatter>());
  app.set_help_flag("-h,--help", "Print this help and exit.");
  app.set_version_flag("--version", VersionText(),
                       "Print the version and exit.");
  // CLI11 wants somewhere to store values; --help never parses.
  std::string ignored;
  bool ignored_flag = false;
  for (const OptionDef& def : CommandLineOptions()) {
    std::string help = absl::StrCat(def.help, " [env ", EnvName(def), "]");
    if (def.kind == OptionKind::kValue) {
      app.add_option(def.names, ignored, help);
    } else {
      app.add_flag(def.names, ignored_flag, help);
    }
  }
  app.footer(kFooter);
  return app.help();
}

absl::Status ResolveNprocPerNode(LaunchConfig& config, int cpu_count,
                                 int gpu_count, int xpu_count) {
  switch (config.nproc_mode) {
    case NprocMode::kCount:
      return absl::OkStatus();
    case NprocMode::kAuto:
      config.nproc_per_node = gpu_count > 0   ? gpu_count
                              : xpu_count > 0 ? xpu_count
                                              : std::max(1, cpu_count);
      return absl::OkStatus();
    case NprocMode::kCpu:
      config.nproc_per_node = std::max(1, cpu_count);
      return absl::OkStatus();
    case NprocMode::kGpu:
      if (gpu_count <= 0) {
        return absl::FailedPreconditionError(
            "--nproc-per-node gpu: no GPU found on this node "
            "(no /proc/driver/nvidia/gpus entries or CUDA_VISIBLE_DEVICES is "
            "empty)");
      }
      config.nproc_per_node = gpu_count;
      return absl::OkStatus();
    case NprocMode::kXpu:
      if (xpu_count <= 0) {
        return absl::FailedPreconditionError(
            "--nproc-per-node xpu: no XPU found on this node (no Intel GPU "
            "render node under /sys/class/drm driven by i915 or xe, or "
            "ZE_AFFINITY_MASK names none of them)");
      }
      config.nproc_per_node = xpu_count;
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace tplaunch
