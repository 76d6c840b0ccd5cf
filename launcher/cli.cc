#include "launcher/cli.h"

#include <algorithm>
#include <memory>
#include <set>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/duration.h"
#include "launcher/log_prefix.h"
#include "launcher/signals.h"
#include "store/endpoint.h"

namespace tplaunch {
namespace {

constexpr int kDefaultMasterPort = 29500;

// One command line option: its CLI11 names (the first long name is canonical;
// the environment variable is TPLAUNCH_ plus that name in upper case with
// underscores).
struct OptionDef {
  const char* names;
  const char* help;
  bool is_flag = false;
};

// The table every option is registered from, so --help, the environment and the
// parser never disagree.
const std::vector<OptionDef>& Options() {
  static const auto* options = new std::vector<OptionDef>{
      {"--nproc-per-node,--nproc_per_node,--nproc",
       "Workers on this node: N, auto (GPUs if any, else CPUs), gpu or cpu. "
       "Default 1."},
      {"--nnodes", "Number of nodes: N or MIN:MAX (elastic). Default 1."},
      {"--node-rank,--node_rank",
       "This node's rank (0..MAX-1). Default: assigned by the rendezvous in a "
       "stable "
       "order (hostname, address)."},
      {"--rdzv-endpoint,--rdzv_endpoint",
       "tprdzvd address HOST[:PORT] (port 29400; IPv6 as [ADDR]:PORT). Omit "
       "for a "
       "single-node job with an embedded server."},
      {"--rdzv-id,--rdzv_id",
       "Job (run) id shared by all nodes. Required with --rdzv-endpoint; "
       "random when "
       "standalone."},
      {"--rdzv-backend,--rdzv_backend",
       "Accepted for torchrun compatibility: c10d, static or tprdzv (all use "
       "tprdzvd)."},
      {"--rdzv-conf,--rdzv_conf",
       "torchrun's K=V,... : join_timeout and last_call_timeout map to "
       "--rdzv-timeout "
       "and --rdzv-last-call; read_timeout and close_timeout are accepted and "
       "ignored."},
      {"--standalone",
       "Single node with an embedded rendezvous server on 127.0.0.1 "
       "(the default without --rdzv-endpoint).",
       true},
      {"--rdzv-timeout,--rdzv_timeout",
       "How long joining the rendezvous may take. Default 600s."},
      {"--rdzv-last-call,--rdzv_last_call",
       "With --nnodes MIN:MAX: how long to wait for more nodes once MIN have "
       "joined. "
       "Default 30s."},
      {"--max-restarts,--max_restarts",
       "Restart all workers on all nodes as a new attempt up to this many "
       "times. "
       "Default 0."},
      {"--monitor-interval,--monitor_interval",
       "Accepted for torchrun compatibility; tplaunch reacts to worker exits "
       "at once."},
      {"--log-dir,--log_dir",
       "Directory for per attempt and rank logs: "
       "DIR/RUN_ID/attempt_N/rank_R/{stdout,stderr}.log, "
       "DIR/RUN_ID/error.json."},
      {"-t,--tee",
       "Streams written to the console and to log files: 0/none 1/stdout "
       "2/stderr "
       "3/all."},
      {"-r,--redirects",
       "Streams written to log files only (not the console): 0/none 1/stdout "
       "2/stderr "
       "3/all."},
      {"--local-ranks-filter,--local_ranks_filter",
       "Comma-separated local ranks whose output reaches the console. Default "
       "all."},
      {"--log-prefix,--log_prefix",
       "Console line prefix template; fields ${rank} ${local_rank} "
       "${node_rank} "
       "${role_name} ${host} ${attempt}. Default '[rank${rank}]:' "
       "('[${host} rank${rank}]:' on several nodes)."},
      {"--role", "ROLE_NAME of the workers. Default 'default'."},
      {"--master-addr,--master_addr",
       "MASTER_ADDR for the workers. Default: node 0's address."},
      {"--master-port,--master_port",
       "MASTER_PORT for the workers. Default: a free port reserved on node 0 "
       "for each "
       "attempt."},
      {"--local-addr,--local_addr",
       "This node's address as other nodes reach it (TPLAUNCH_LOCAL_ADDR). "
       "Default: "
       "the address of the interface that routes to the rendezvous endpoint."},
      {"--grace-period,--grace_period",
       "SIGTERM to SIGKILL delay when stopping workers. Default 30s."},
      {"--signals-to-forward,--signals_to_forward,--signals-to-handle,"
       "--signals_to_handle",
       "Signals forwarded to every worker's process group. Default "
       "TERM,INT,HUP,QUIT,USR1,USR2."},
      {"--heartbeat-interval,--heartbeat_interval",
       "How often a node heartbeats. Default 1s."},
      {"--heartbeat-timeout,--heartbeat_timeout",
       "A node silent this long is declared dead and every node stops. Default "
       "5s."},
      {"--exit-barrier-timeout,--exit_barrier_timeout",
       "On success, how long to wait for the other nodes to finish. Default "
       "300s."},
      {"--token-file,--token_file",
       "File with the rendezvous daemon's bearer token."},
      {"--torch-store,--torch_store",
       "Who hosts PyTorch's TCPStore: worker (rank 0, PyTorch's default) or "
       "agent (the rendezvous server's TCPStore listener; workers get "
       "TORCHELASTIC_USE_AGENT_STORE=True)."},
      {"--torch-store-endpoint,--torch_store_endpoint",
       "With --torch-store agent and --rdzv-endpoint: HOST:PORT of tprdzvd's "
       "TCPStore listener, as its 'torch store listening on' line prints it "
       "(tprdzvd --torch-store-port)."},
      {"--no-python,--no_python",
       "Accepted for torchrun compatibility; tplaunch always runs PROGRAM as "
       "given.",
       true},
      {"-m,--module",
       "Rejected: tplaunch runs executables; write `python3 -m MODULE` "
       "instead.",
       true},
  };
  return *options;
}

// "--nproc-per-node,--nproc_per_node,--nproc" -> "--nproc-per-node".
std::string CanonicalName(const OptionDef& def) {
  for (absl::string_view name : absl::StrSplit(def.names, ',')) {
    if (absl::StartsWith(name, "--")) return std::string(name);
  }
  return def.names;
}

std::string EnvName(const OptionDef& def) {
  std::string name = CanonicalName(def).substr(2);
  std::replace(name.begin(), name.end(), '-', '_');
  return absl::StrCat("TPLAUNCH_", absl::AsciiStrToUpper(name));
}

// A raw value and where it came from, for error messages.
struct RawValue {
  bool present = false;
  std::string value;
  std::string source;  // "--nnodes" or "TPLAUNCH_NNODES"
};

absl::Status Bad(const RawValue& raw, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(raw.source, " '", raw.value, "': ", expected));
}

absl::StatusOr<int> ParseInt(const RawValue& raw, int min, int max) {
  int v = 0;
  if (!absl::SimpleAtoi(raw.value, &v) || v < min || v > max) {
    return Bad(raw, absl::StrCat("expected an integer in ", min, "..", max));
  }
  return v;
}

absl::StatusOr<absl::Duration> ParseDuration(const RawValue& raw,
                                             bool allow_zero) {
  auto d = ParseDurationFlag(raw.value);
  if (!d.ok()) return Bad(raw, d.status().message());
  if (*d < absl::ZeroDuration() ||
      (!allow_zero && *d == absl::ZeroDuration())) {
    return Bad(raw, allow_zero ? "must not be negative" : "must be positive");
  }
  return *d;
}

absl::StatusOr<StdStreams> ParseStd(const RawValue& raw) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "0" || v == "none") return StdStreams::kNone;
  if (v == "1" || v == "stdout" || v == "out") return StdStreams::kOut;
  if (v == "2" || v == "stderr" || v == "err") return StdStreams::kErr;
  if (v == "3" || v == "all" || v == "both") return StdStreams::kAll;
  if (v.find(':') != std::string::npos) {
    return Bad(
        raw,
        "per-local-rank values (torchrun's '0:1,1:2') are not supported; "
        "give one of 0..3 for all ranks");
  }
  return Bad(raw, "expected 0/none, 1/stdout, 2/stderr or 3/all");
}

absl::StatusOr<bool> ParseEnvBool(const RawValue& raw) {
  std::string v = absl::AsciiStrToLower(raw.value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v.empty() || v == "0" || v == "false" || v == "no" || v == "off")
    return false;
  return Bad(raw, "expected 1/true/yes/on or 0/false/no/off");
}

// CLI11 2.1 has no App::usage(); its usage line cannot show PROGRAM [ARGS...].
class UsageFormatter final : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: tplaunch [OPTIONS] PROGRAM [ARGS...]\n"
           "       tplaunch status --rdzv-endpoint HOST[:PORT] --rdzv-id ID "
           "[--token-file FILE]\n";
  }
};

// Parses the `status` subcommand's own small command line.
absl::StatusOr<LaunchConfig> ParseStatus(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env) {
  CLI::App app(
      "tplaunch status: show a job's nodes, ranks, attempt and heartbeats",
      "tplaunch status");
  std::string endpoint, id, token_file;
  app.add_option("--rdzv-endpoint,--rdzv_endpoint", endpoint,
                 "tprdzvd HOST[:PORT]");
  app.add_option("--rdzv-id,--rdzv_id", id, "the job's run id");
  app.add_option("--token-file,--token_file", token_file, "bearer token file");
  std::vector<std::string> args(argv.rbegin(), argv.rend() - 2);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(absl::StrCat("status: ", e.what()));
  }
  auto from_env = [&](std::string& field, const char* name) {
    auto it = env.find(name);
    if (field.empty() && it != env.end()) field = it->second;
  };
  from_env(endpoint, "TPLAUNCH_RDZV_ENDPOINT");
  from_env(id, "TPLAUNCH_RDZV_ID");
  from_env(token_file, "TPLAUNCH_TOKEN_FILE");
  if (endpoint.empty() || id.empty()) {
    return absl::InvalidArgumentError(
        "status needs --rdzv-endpoint HOST[:PORT] and --rdzv-id ID");
  }
  auto hp = ParseEndpoint(endpoint, kDefaultRendezvousPort);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rdzv-endpoint: ", hp.status().message()));
  }
  LaunchConfig config;
  config.action = CliAction::kStatus;
  config.rdzv_endpoint = *hp;
  config.rdzv_id = id;
  config.token_file = token_file;
  return config;
}

}  // namespace

std::string VersionText() { return "tplaunch 0.1.0"; }

std::string UsageText() {
  CLI::App app(
      "tplaunch: a torchrun-compatible launcher.\n"
      "Starts PROGRAM nproc-per-node times on every node with torchrun's "
      "environment "
      "(RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...).",
      "tplaunch");
  app.formatter(std::make_shared<UsageFormatter>());
  app.set_help_flag("-h,--help", "Print this help and exit.");
  app.set_version_flag("--version", VersionText(),
                       "Print the version and exit.");
  std::string ignored;
  bool ignored_flag = false;
  for (const auto& def : Options()) {
    std::string help = absl::StrCat(def.help, " [env ", EnvName(def), "]");
    if (def.is_flag) {
      app.add_flag(def.names, ignored_flag, help);
    } else {
      app.add_option(def.names, ignored, help);
    }
  }
  app.footer(
      "Options may also come from the environment as TPLAUNCH_<OPTION> (upper "
      "case, "
      "underscores); the command line wins. Durations: 30, 30s, 1.5s, 200ms, "
      "2m.\n"
      "Exit codes: 0 all workers succeeded; 2 usage error; 1 launcher error "
      "(rendezvous, peer failure); otherwise the first failed worker's exit "
      "code "
      "(128+N when it died of signal N). See docs/cli.md.");
  return app.help();
}

absl::Status ResolveNprocPerNode(LaunchConfig& config, int cpu_count,
                                 int gpu_count) {
  switch (config.nproc_mode) {
    case NprocMode::kCount:
      return absl::OkStatus();
    case NprocMode::kAuto:
      config.nproc_per_node =
          gpu_count > 0 ? gpu_count : std::max(1, cpu_count);
      return absl::OkStatus();
    case NprocMode::kCpu:
      config.nproc_per_node = std::max(1, cpu_count);
      return absl::OkStatus();
    case NprocMode::kGpu:
      if (gpu_count <= 0) {
        return absl::FailedPreconditionError(
            "--nproc-per-node gpu: no GPU found on this node (no "
            "/proc/driver/nvidia/gpus entries or CUDA_VISIBLE_DEVICES is "
            "empty)");
      }
      config.nproc_per_node = gpu_count;
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<LaunchConfig> ParseCommandLine(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env) {
  if (argv.size() >= 2 && argv[1] == "status") return ParseStatus(argv, env);
  for (size_t i = 1; i < argv.size(); ++i) {
    // Only options before PROGRAM are ours.
    if (argv[i].empty() || argv[i][0] != '-') break;
    if (argv[i] == "-h" || argv[i] == "--help") {
      LaunchConfig c;
      c.action = CliAction::kHelp;
      return c;
    }
    if (argv[i] == "--version") {
      LaunchConfig c;
      c.action = CliAction::kVersion;
      return c;
    }
  }

  const auto& defs = Options();
  CLI::App app("tplaunch", "tplaunch");
  app.set_help_flag();
  app.prefix_command();
  std::vector<std::string> cli_values(defs.size());
  std::vector<bool> cli_flags(defs.size());
  std::vector<CLI::Option*> opts(defs.size());
  auto flag_storage = std::make_unique<bool[]>(defs.size());
  for (size_t i = 0; i < defs.size(); ++i) {
    if (defs[i].is_flag) {
      flag_storage[i] = false;
      opts[i] = app.add_flag(defs[i].names, flag_storage[i]);
    } else {
      opts[i] = app.add_option(defs[i].names, cli_values[i])
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
  std::vector<std::string> args(argv.rbegin(), argv.rend() - 1);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  LaunchConfig config;
  config.program = app.remaining();
  if (!config.program.empty() && config.program.front() == "--") {
    config.program.erase(config.program.begin());
  } else if (!config.program.empty() && !config.program.front().empty() &&
             config.program.front()[0] == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown option '", config.program.front(), "'"));
  }

  // Raw values by canonical name, from the command line or else the
  // environment.
  std::map<std::string, RawValue> raw;
  for (size_t i = 0; i < defs.size(); ++i) {
    std::string name = CanonicalName(defs[i]);
    RawValue r;
    if (opts[i]->count() > 0) {
      r.present = true;
      r.source = name;
      r.value = defs[i].is_flag ? "1" : cli_values[i];
    } else if (auto it = env.find(EnvName(defs[i])); it != env.end()) {
      r.present = true;
      r.source = EnvName(defs[i]);
      r.value = it->second;
      if (defs[i].is_flag) {
        auto b = ParseEnvBool(r);
        if (!b.ok()) return b.status();
        r.present = *b;
      }
    }
    raw[name] = r;
  }
  auto get = [&](const char* name) -> const RawValue& { return raw.at(name); };

  if (get("--module").present) {
    return absl::InvalidArgumentError(
        "-m/--module is not supported: tplaunch runs executables; write "
        "`tplaunch ... python3 -m MODULE ARGS` instead");
  }
  config.standalone = get("--standalone").present;

  if (const auto& r = get("--nproc-per-node"); r.present) {
    std::string v = absl::AsciiStrToLower(r.value);
    if (v == "auto") {
      config.nproc_mode = NprocMode::kAuto;
    } else if (v == "gpu") {
      config.nproc_mode = NprocMode::kGpu;
    } else if (v == "cpu") {
      config.nproc_mode = NprocMode::kCpu;
    } else {
      int n = 0;
      if (!absl::SimpleAtoi(v, &n) || n < 1 || n > 4096) {
        return Bad(r, "expected a count in 1..4096, auto, gpu or cpu");
      }
      config.nproc_per_node = n;
    }
    if (config.nproc_mode != NprocMode::kCount) config.nproc_per_node = 0;
  }
  if (const auto& r = get("--nnodes"); r.present) {
    std::vector<std::string> parts = absl::StrSplit(r.value, ':');
    int lo = 0, hi = 0;
    bool ok =
        parts.size() == 1 ? absl::SimpleAtoi(parts[0], &lo) && (hi = lo, true)
        : parts.size() == 2
            ? absl::SimpleAtoi(parts[0], &lo) && absl::SimpleAtoi(parts[1], &hi)
            : false;
    if (!ok || lo < 1 || hi < lo || hi > 100000) {
      return Bad(r, "expected N or MIN:MAX with 1 <= MIN <= MAX");
    }
    config.min_nodes = lo;
    config.max_nodes = hi;
  }
  if (const auto& r = get("--node-rank"); r.present) {
    auto v = ParseInt(r, 0, 99999);
    if (!v.ok()) return v.status();
    if (*v >= config.max_nodes) {
      return Bad(
          r, absl::StrCat("must be below the number of nodes (--nnodes max ",
                          config.max_nodes, ")"));
    }
    config.node_rank = *v;
  }
  if (const auto& r = get("--rdzv-endpoint"); r.present) {
    auto hp = ParseEndpoint(r.value, kDefaultRendezvousPort);
    if (!hp.ok()) return Bad(r, hp.status().message());
    config.rdzv_endpoint = *hp;
  }
  if (const auto& r = get("--rdzv-id"); r.present) {
    if (r.value.empty() || r.value.find('/') != std::string::npos ||
        r.value.size() > 128) {
      return Bad(
          r, "expected a non-empty id of at most 128 characters without '/'");
    }
    config.rdzv_id = r.value;
  }
  if (const auto& r = get("--rdzv-backend"); r.present) {
    std::string v = absl::AsciiStrToLower(r.value);
    if (v != "c10d" && v != "static" && v != "tprdzv") {
      return Bad(
          r,
          "tplaunch always rendezvouses through tprdzvd; accepted values "
          "are c10d, static and tprdzv");
    }
  }
  if (const auto& r = get("--rdzv-timeout"); r.present) {
    auto d = ParseDuration(r, false);
    if (!d.ok()) return d.status();
    config.rdzv_timeout = *d;
  }
  if (const auto& r = get("--rdzv-last-call"); r.present) {
    auto d = ParseDuration(r, true);
    if (!d.ok()) return d.status();
    config.rdzv_last_call = *d;
  }
  if (const auto& r = get("--rdzv-conf"); r.present) {
    for (absl::string_view kv :
         absl::StrSplit(r.value, ',', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> p =
          absl::StrSplit(kv, absl::MaxSplits('=', 1));
      RawValue item{true, p.second, absl::StrCat(r.source, " ", p.first)};
      if (p.first == "join_timeout" || p.first == "last_call_timeout") {
        auto d = ParseDuration(item, p.first == "last_call_timeout");
        if (!d.ok()) return d.status();
        (p.first == "join_timeout" ? config.rdzv_timeout
                                   : config.rdzv_last_call) = *d;
      } else if (p.first != "read_timeout" && p.first != "close_timeout" &&
                 p.first != "timeout" && p.first != "is_host") {
        return Bad(
            r, absl::StrCat("unknown key '", p.first,
                            "'; known: join_timeout, last_call_timeout, "
                            "read_timeout, close_timeout, timeout, is_host"));
      }
    }
  }
  if (const auto& r = get("--max-restarts"); r.present) {
    auto v = ParseInt(r, 0, 1000000);
    if (!v.ok()) return v.status();
    config.max_restarts = *v;
  }
  if (const auto& r = get("--monitor-interval"); r.present) {
    auto d = ParseDuration(r, false);
    if (!d.ok()) return d.status();
    config.monitor_interval = *d;
  }
  if (const auto& r = get("--log-dir"); r.present) {
    if (r.value.empty()) return Bad(r, "expected a directory");
    config.log_dir = r.value;
  }
  if (const auto& r = get("--tee"); r.present) {
    auto s = ParseStd(r);
    if (!s.ok()) return s.status();
    config.tee = *s;
  }
  if (const auto& r = get("--redirects"); r.present) {
    auto s = ParseStd(r);
    if (!s.ok()) return s.status();
    config.redirects = *s;
  }
  if (const auto& r = get("--local-ranks-filter"); r.present) {
    for (absl::string_view item : absl::StrSplit(r.value, ',')) {
      int v = 0;
      if (!absl::SimpleAtoi(item, &v) || v < 0) {
        return Bad(r, "expected comma-separated local ranks such as 0,1,3");
      }
      if (config.nproc_mode == NprocMode::kCount &&
          v >= config.nproc_per_node) {
        return Bad(r, absl::StrCat("local rank ", v,
                                   " does not exist with "
                                   "--nproc-per-node ",
                                   config.nproc_per_node));
      }
      config.local_ranks_filter.push_back(v);
    }
  }
  if (const auto& r = get("--log-prefix"); r.present) {
    absl::Status s = ValidateLogPrefixTemplate(r.value);
    if (!s.ok()) return Bad(r, s.message());
    config.has_log_prefix = true;
    config.log_prefix = r.value;
  } else if (auto it = env.find("TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE");
             it != env.end() && !it->second.empty()) {
    RawValue tr{true, it->second, "TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE"};
    absl::Status s = ValidateLogPrefixTemplate(tr.value);
    if (!s.ok()) return Bad(tr, s.message());
    config.has_log_prefix = true;
    config.log_prefix = tr.value;
  }
  if (const auto& r = get("--role"); r.present) {
    if (r.value.empty()) return Bad(r, "expected a non-empty role name");
    config.role = r.value;
  }
  if (const auto& r = get("--master-addr"); r.present) {
    if (r.value.empty()) return Bad(r, "expected a host name or address");
    config.master_addr = r.value;
  }
  if (const auto& r = get("--master-port"); r.present) {
    auto v = ParseInt(r, 0, 65535);
    if (!v.ok()) return v.status();
    config.master_port = *v;
  }
  if (!config.master_addr.empty() && config.master_port == 0) {
    config.master_port = kDefaultMasterPort;
  }
  if (const auto& r = get("--local-addr"); r.present) {
    std::string v = r.value;
    if (v.size() > 2 && v.front() == '[' && v.back() == ']')
      v = v.substr(1, v.size() - 2);
    if (!IsIpLiteral(v)) {
      return Bad(
          r,
          "expected an IPv4 or IPv6 address of this node (workers bind to "
          "it, so it must be an address, not a host name)");
    }
    config.local_addr = v;
  }
  if (const auto& r = get("--grace-period"); r.present) {
    auto d = ParseDuration(r, true);
    if (!d.ok()) return d.status();
    config.grace_period = *d;
  }
  {
    const auto& r = get("--signals-to-forward");
    auto sigs =
        ParseSignalList(r.present ? r.value : "TERM,INT,HUP,QUIT,USR1,USR2");
    if (!sigs.ok()) return Bad(r, sigs.status().message());
    config.signals_to_forward = *sigs;
  }
  if (const auto& r = get("--heartbeat-interval"); r.present) {
    auto d = ParseDuration(r, false);
    if (!d.ok()) return d.status();
    config.heartbeat_interval = *d;
  }
  if (const auto& r = get("--heartbeat-timeout"); r.present) {
    auto d = ParseDuration(r, false);
    if (!d.ok()) return d.status();
    config.heartbeat_timeout = *d;
  }
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--heartbeat-timeout (", absl::FormatDuration(config.heartbeat_timeout),
        ") must be longer than --heartbeat-interval (",
        absl::FormatDuration(config.heartbeat_interval), ")"));
  }
  if (const auto& r = get("--exit-barrier-timeout"); r.present) {
    auto d = ParseDuration(r, true);
    if (!d.ok()) return d.status();
    config.exit_barrier_timeout = *d;
  }
  if (const auto& r = get("--token-file"); r.present) {
    if (r.value.empty()) return Bad(r, "expected a file name");
    config.token_file = r.value;
  }
  if (const auto& r = get("--torch-store"); r.present) {
    std::string v = absl::AsciiStrToLower(r.value);
    if (v != "worker" && v != "agent")
      return Bad(r, "expected worker or agent");
    config.torch_store =
        v == "agent" ? TorchStoreHost::kAgent : TorchStoreHost::kWorker;
  }
  if (const auto& r = get("--torch-store-endpoint"); r.present) {
    // The listener has no default port.
    auto hp = ParseEndpoint(r.value, 0);
    if (!hp.ok()) return Bad(r, hp.status().message());
    config.torch_store_endpoint = *hp;
  }

  // Combinations.
  if (config.standalone && config.rdzv_endpoint) {
    return absl::InvalidArgumentError(
        "--standalone and --rdzv-endpoint exclude each other: standalone runs "
        "its own "
        "rendezvous server");
  }
  if (config.torch_store_endpoint &&
      config.torch_store != TorchStoreHost::kAgent) {
    return absl::InvalidArgumentError(
        "--torch-store-endpoint needs --torch-store agent");
  }
  if (config.torch_store_endpoint && !config.rdzv_endpoint) {
    return absl::InvalidArgumentError(
        "--torch-store-endpoint needs --rdzv-endpoint (standalone runs its own "
        "TCPStore listener)");
  }
  if (config.torch_store == TorchStoreHost::kAgent &&
      (get("--master-addr").present || get("--master-port").present)) {
    return absl::InvalidArgumentError(
        "--master-addr/--master-port exclude --torch-store agent: with the "
        "agent "
        "store MASTER_ADDR/MASTER_PORT name the TCPStore listener");
  }
  if (config.torch_store == TorchStoreHost::kAgent && config.rdzv_endpoint &&
      !config.torch_store_endpoint) {
    return absl::InvalidArgumentError(
        "--torch-store agent with --rdzv-endpoint needs --torch-store-endpoint "
        "HOST:PORT: the TCPStore listener of the tprdzvd (start it with "
        "--torch-store-port; it prints 'torch store listening on HOST:PORT')");
  }
  if (!config.rdzv_endpoint) {
    if (config.max_nodes > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--nnodes ", get("--nnodes").value,
                       " needs --rdzv-endpoint HOST[:PORT] (a tprdzvd every "
                       "node can reach); "
                       "without it tplaunch runs one node"));
    }
    if (!config.token_file.empty()) {
      return absl::InvalidArgumentError(
          "--token-file needs --rdzv-endpoint (standalone makes its own "
          "token)");
    }
    config.standalone = true;
  } else if (config.rdzv_id.empty()) {
    return absl::InvalidArgumentError(
        "--rdzv-endpoint needs --rdzv-id ID, the same on every node of the "
        "job");
  }
  if (config.program.empty()) {
    return absl::InvalidArgumentError("missing PROGRAM to launch");
  }
  return config;
}

}  // namespace tplaunch
