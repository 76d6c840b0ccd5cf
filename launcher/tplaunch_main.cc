// tplaunch: wiring only. Parses the command line, sets up signals and logging,
// has launcher/topology set up the store (an embedded server when standalone,
// tprdzvd otherwise) and runs the agent.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd_limit.h"
#include "common/status_macros.h"
#include "common/token_file.h"
#include "launcher/agent.h"
#include "launcher/cli.h"
#include "launcher/host_info.h"
#include "launcher/job_status.h"
#include "launcher/launch_config.h"
#include "launcher/logger.h"
#include "launcher/process_tree.h"
#include "launcher/program.h"
#include "launcher/topology/store_topology.h"
#include "launcher/torchrun_env.h"
#include "launcher/watchdog.h"
#include "launcher/xpu_devices.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "store/etcd/etcd_store.h"
#include "store/grpc/grpc_store.h"

extern char** environ;

namespace tplaunch {
namespace {

constexpr int kUsageExit = 2;

int UsageError(const std::string& message) {
  std::fprintf(
      stderr,
      "Usage: tplaunch [OPTIONS] PROGRAM [ARGS...]\n"
      "       tplaunch status --rdzv-endpoint HOST[:PORT] --rdzv-id ID\n"
      "tplaunch: error: %s\n"
      "Run `tplaunch --help` for every option.\n",
      message.c_str());
  return kUsageExit;
}

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

void SetUpLogging(const std::map<std::string, std::string>& env) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("tplaunch", sink);
  logger->set_pattern("%^[tplaunch %L]%$ %v");
  LogLevelChoice level = LauncherLogLevel(env);
  logger->set_level(spdlog::level::from_str(level.level));
  spdlog::set_default_logger(logger);
  if (!level.problem.empty()) LauncherLogger().warn("{}", level.problem);
}

// PROGRAM as the workers will execute it (program.h), said once when Python
// runs it. An error is not reported here but by every node of the job: the
// returned starter fails the attempt with it (exit 127 or 126), as a native
// PROGRAM that cannot be executed does, so no node waits for this one.
WorkerStarter ResolveProgram(LaunchConfig& config,
                             const std::map<std::string, std::string>& env) {
  ProgramInputs in;
  in.program = config.program;
  in.no_python = config.no_python;
  in.module = config.module;
  in.run_path = config.run_path;
  in.env = env;
  absl::StatusOr<WorkerCommand> command = ResolveWorkerCommand(in);
  if (!command.ok()) {
    return
        [status = command.status()](std::vector<WorkerSpec>)
            -> absl::StatusOr<std::unique_ptr<WorkerGroup>> { return status; };
  }
  if (!command->interpreter.empty()) {
    LauncherLogger().info("running {} ({}) with {} -u ({})", config.program[0],
                          command->reason, command->interpreter,
                          command->interpreter_source);
  }
  config.program = command->argv;
  return nullptr;
}

// Two pipes and a pidfd per worker, a log file per stream, gRPC's sockets: a
// 1024 soft limit ends --nproc 256 with EMFILE although the hard limit allows
// far more.
void RaiseDescriptorLimit() {
  auto before = CurrentFdLimit();
  auto after = RaiseFdLimit();
  if (!after.ok()) {
    LauncherLogger().warn("{}", after.status().ToString());
  } else if (before.ok() && before->soft != after->soft) {
    LauncherLogger().info("raised the soft descriptor limit from {} to {}",
                          before->soft, after->soft);
  }
}

// Tracks every process the workers start, and forks the watchdog that kills
// them should this process be SIGKILLed. Must run before any thread starts.
absl::StatusOr<std::unique_ptr<ProcessTree>> TrackProcesses(
    const std::map<std::string, std::string>& env) {
  ProcessTreeOptions po;
  if (auto it = env.find(kProcessTreeEnv); it != env.end())
    po.inherited = it->second;
  auto tree = ProcessTree::Create(po);
  if (!tree.ok()) return tree.status();
  auto watchdog = StartWatchdog(**tree, WatchdogOptions());
  if (!watchdog.ok()) return watchdog.status();
  LauncherLogger().debug("{}; watchdog pid {}", (*tree)->Describe(), *watchdog);
  return tree;
}

// The embedded server's routine lines ("serving on ...") are noise in a
// standalone launch; a self-hosting one says what it hosts itself.
void QuietEmbeddedServer() {
  auto quiet = spdlog::default_logger()->clone("rendezvous");
  quiet->set_level(
      std::max(spdlog::level::warn, spdlog::default_logger()->level()));
  spdlog::register_logger(quiet);
}

// The job's store as status reads it: over etcd read-only, so looking at a
// run grants no lease and keeps none alive.
absl::StatusOr<std::unique_ptr<Store>> ConnectStatusStore(
    const LaunchConfig& config) {
  if (config.rdzv_backend == RdzvBackend::kEtcdV3) {
    EtcdStoreOptions eo;
    eo.endpoints = config.etcd_endpoints;
    eo.run_id = config.rdzv_id;
    eo.rpc_timeout = absl::Seconds(10);
    eo.read_only = true;
    return ConnectEtcdStore(eo);
  }
  GrpcStoreOptions go;
  go.endpoint = *config.rdzv_endpoint;
  go.job = config.rdzv_id;
  go.connect_timeout = absl::Seconds(10);
  if (!config.token_file.empty()) {
    ASSIGN_OR_RETURN(go.token, ReadTokenFile(config.token_file));
  }
  return ConnectGrpcStore(go);
}

int RunStatus(const LaunchConfig& config) {
  auto store = ConnectStatusStore(config);
  if (!store.ok()) {
    if (absl::IsInvalidArgument(store.status())) {
      return UsageError(std::string(store.status().message()));
    }
    LauncherLogger().error("{}", store.status().ToString());
    return 1;
  }
  auto text = DescribeJob(store->get(), config.rdzv_id);
  if (!text.ok()) {
    LauncherLogger().error("{}", text.status().ToString());
    return 1;
  }
  std::fputs(text->c_str(), stdout);
  return 0;
}

int Main(int argc, char** argv) {
  const auto env = Environment();
  auto parsed =
      ParseCommandLine(std::vector<std::string>(argv, argv + argc), env);
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  LaunchConfig config = *std::move(parsed);
  switch (config.action) {
    case CliAction::kHelp:
      std::fputs(UsageText().c_str(), stdout);
      return 0;
    case CliAction::kVersion:
      std::printf("%s\n", VersionText().c_str());
      return 0;
    case CliAction::kStatus:
      SetUpLogging(env);
      return RunStatus(config);
    case CliAction::kRun:
      break;
  }
  SetUpLogging(env);
  if (!config.scheduler_summary.empty()) {
    LauncherLogger().info("{}", config.scheduler_summary);
  }
  for (const std::string& warning : config.warnings) {
    LauncherLogger().warn("{}", warning);
  }
  if (auto note = HealthCheckPortNote(env)) LauncherLogger().info("{}", *note);
  absl::Status nproc =
      ResolveNprocPerNode(config, CpuCount(), GpuCount(env), XpuCount(env));
  if (!nproc.ok()) return UsageError(std::string(nproc.message()));
  WorkerStarter program_error = ResolveProgram(config, env);
  RaiseDescriptorLimit();
  auto tree = TrackProcesses(env);
  if (!tree.ok()) {
    LauncherLogger().error("{}", tree.status().ToString());
    return 1;
  }

  // Signals are blocked before any thread starts (gRPC's threads inherit the
  // mask), so they reach only the signalfd the agent polls. Workers unblock
  // them before exec.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : config.signals_to_forward) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  int signal_fd = signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK);
  // A closed console must not kill the launcher (and with it the workers).
  signal(SIGPIPE, SIG_IGN);

  auto plan = PlanStoreTopology(config);
  if (!plan.ok()) return UsageError(std::string(plan.status().message()));
  TopologyInputs inputs;
  inputs.signal_fd = signal_fd;
  if (!plan->token_file.empty()) {
    auto token = ReadTokenFile(plan->token_file);
    if (!token.ok()) return UsageError(std::string(token.status().message()));
    inputs.token = *token;
  }
  QuietEmbeddedServer();
  auto topology = StoreTopology::SetUp(*plan, inputs);
  if (!topology.ok()) {
    // --http-port on a node that turned out to embed no server.
    if (config.http_port >= 0 && absl::IsInvalidArgument(topology.status())) {
      return UsageError(std::string(topology.status().message()));
    }
    LauncherLogger().error("{}", std::string(topology.status().message()));
    return 1;
  }

  AgentOptions ao;
  ao.config = config;
  ao.base_env = env;
  for (auto& [name, value] : TorchrunWorkerVariables(config)) {
    ao.base_env[name] = value;
  }
  ao.host = Hostname();
  ao.signal_fd = signal_fd;
  (*topology)->ApplyTo(ao);
  ao.supervisor.tree = tree->get();
  ao.start_workers = std::move(program_error);
  std::vector<LogLoss> lost_logs;
  ao.supervisor.lost_logs = &lost_logs;
  // Workers start with these at their default disposition, whatever this
  // process inherited; SIGTERM is what stopping the workers sends.
  ao.supervisor.default_signals = config.signals_to_forward;
  ao.supervisor.default_signals.push_back(SIGTERM);
  int code = RunAgent(ao);
  // Every attempt killed its tree; this catches what an early exit left.
  (*tree)->KillAll(absl::Seconds(10));
  // A self-hosting node keeps serving until the others have left.
  (*topology)->Leave(signal_fd);
  for (const LogLoss& l : lost_logs) {
    LauncherLogger().error("logs lost: {} bytes of rank {}'s output to {} ({})",
                           l.bytes_lost, l.rank, l.path, l.error);
  }
  if (!lost_logs.empty() && code == 0) {
    LauncherLogger().error(
        "the workers succeeded but their logs are incomplete: exit code {}",
        kLogsLostExit);
    code = kLogsLostExit;
  }
  std::fflush(stdout);
  // Workers are gone; skip the orderly teardown of gRPC's threads, which only
  // costs time at exit.
  spdlog::shutdown();
  _exit(code);
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Main(argc, argv); }
