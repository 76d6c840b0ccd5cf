// tplaunch: wiring only. Parses the command line, sets up signals and logging,
// picks the store (an embedded server when standalone, tprdzvd otherwise) and
// runs the agent.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "launcher/agent.h"
#include "launcher/cli.h"
#include "launcher/exit_on_signal.h"
#include "launcher/host_info.h"
#include "launcher/job_status.h"
#include "launcher/logger.h"
#include "rendezvous/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/memory_store.h"

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

// Hex of n bytes from /dev/urandom: run ids and the standalone token.
std::string RandomHex(size_t n) {
  std::string bytes(n, '\0');
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t got = read(fd, bytes.data(), n);
    (void)got;
    close(fd);
  }
  return absl::BytesToHexString(bytes);
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file ", path, ": ", strerror(errno)));
  }
  std::string out(4096, '\0');
  ssize_t n = read(fd, out.data(), out.size());
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  std::string token(absl::StripAsciiWhitespace(out));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file ", path, " is empty"));
  }
  return token;
}

void SetUpLogging(const std::map<std::string, std::string>& env) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("tplaunch", sink);
  logger->set_pattern("%^[tplaunch %L]%$ %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (auto it = env.find("TPLAUNCH_LOG_LEVEL"); it != env.end()) {
    level = spdlog::level::from_str(it->second);
  }
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

int RunStatus(const LaunchConfig& config) {
  GrpcStoreOptions go;
  go.endpoint = *config.rdzv_endpoint;
  go.job = config.rdzv_id;
  go.connect_timeout = absl::Seconds(10);
  if (!config.token_file.empty()) {
    auto token = ReadTokenFile(config.token_file);
    if (!token.ok()) return UsageError(std::string(token.status().message()));
    go.token = *token;
  }
  auto store = ConnectGrpcStore(go);
  if (!store.ok()) {
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
  absl::Status nproc = ResolveNprocPerNode(config, CpuCount(), GpuCount(env));
  if (!nproc.ok()) return UsageError(std::string(nproc.message()));

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

  AgentOptions ao;
  ao.config = config;
  ao.base_env = env;
  ao.host = Hostname();
  ao.signal_fd = signal_fd;
  std::unique_ptr<RendezvousServer> server;
  std::unique_ptr<Store> store;
  // --torch-store agent: how to reach the daemon whose TCPStore listener the
  // workers use (the embedded server, or tprdzvd), for its admin calls.
  GrpcStoreOptions listener_daemon;
  if (config.standalone) {
    ao.run_id = config.rdzv_id.empty() ? RandomHex(8) : config.rdzv_id;
    // The embedded server's routine lines ("serving on ...") are noise here.
    auto quiet = spdlog::default_logger()->clone("rendezvous");
    quiet->set_level(
        std::max(spdlog::level::warn, spdlog::default_logger()->level()));
    spdlog::register_logger(quiet);
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.token = RandomHex(16);
    // --torch-store agent: PyTorch's ranks use the embedded server's TCPStore
    // listener, which starts empty with every launch.
    if (config.torch_store == TorchStoreHost::kAgent) so.torch_store_port = 0;
    auto started = StartRendezvousServer(so);
    if (!started.ok()) {
      LauncherLogger().error("cannot start the embedded rendezvous server: {}",
                             started.status().ToString());
      return 1;
    }
    server = *std::move(started);
    // This node is alone: it meets itself in memory; workers use the server.
    store = NewMemoryStore();
    ao.multi_node = false;
    ao.local_addr = config.local_addr.empty() ? "127.0.0.1" : config.local_addr;
    ao.worker_rdzv_endpoint = server->address();
    ao.worker_rdzv_token = so.token;
    if (config.torch_store == TorchStoreHost::kAgent) {
      ao.agent_store_addr = so.host;
      ao.agent_store_port = server->torch_store_port();
      listener_daemon.endpoint = Endpoint{so.host, server->port()};
      listener_daemon.token = so.token;
      LauncherLogger().info(
          "--torch-store agent: workers use the TCPStore listener on {} "
          "(TORCHELASTIC_USE_AGENT_STORE=True)",
          server->torch_store_address());
    }
  } else {
    ao.run_id = config.rdzv_id;
    const Endpoint& endpoint = *config.rdzv_endpoint;
    GrpcStoreOptions go;
    go.endpoint = endpoint;
    go.job = config.rdzv_id;
    go.connect_timeout = config.rdzv_timeout;
    if (!config.token_file.empty()) {
      auto token = ReadTokenFile(config.token_file);
      if (!token.ok()) return UsageError(std::string(token.status().message()));
      go.token = *token;
    }
    if (config.local_addr.empty()) {
      auto addr = RoutableAddressTowards(endpoint);
      if (!addr.ok()) {
        LauncherLogger().error("{}", addr.status().ToString());
        return 1;
      }
      ao.local_addr = *addr;
    } else {
      ao.local_addr = config.local_addr;
    }
    LauncherLogger().info("connecting to rendezvous endpoint {} (up to {})",
                          endpoint.ToString(),
                          absl::FormatDuration(config.rdzv_timeout));
    absl::StatusOr<std::unique_ptr<Store>> connected;
    {
      ExitOnSignalWhileBlocked exit_on_signal(signal_fd, nullptr);
      connected = ConnectGrpcStore(go);
    }
    if (!connected.ok()) {
      LauncherLogger().error("cannot reach the rendezvous endpoint: {}",
                             connected.status().ToString());
      return 1;
    }
    store = *std::move(connected);
    ao.multi_node = true;
    ao.worker_rdzv_endpoint = endpoint.ToString();
    ao.worker_rdzv_token = go.token;
    if (config.torch_store == TorchStoreHost::kAgent) {
      // The cli set it: --torch-store agent with --rdzv-endpoint needs it.
      ao.agent_store_addr = config.torch_store_endpoint->host;
      ao.agent_store_port = config.torch_store_endpoint->port;
      listener_daemon = go;
    }
  }
  if (config.torch_store == TorchStoreHost::kAgent) {
    // Every attempt starts with an empty store, as torchelastic's fresh store
    // per attempt: PyTorch >= 2 puts no attempt in its keys, and a shared
    // tprdzvd listener still holds the keys of the job before. The listener
    // serves one job of its daemon's table: DeleteJob empties it.
    const Endpoint listener{ao.agent_store_addr, ao.agent_store_port};
    listener_daemon.connect_timeout = listener_daemon.rpc_timeout =
        std::min(config.rdzv_timeout, absl::Seconds(30));
    ao.prepare_agent_store = [listener,
                              listener_daemon](int attempt) -> absl::Status {
      auto cleared = ClearTorchStoreJob(listener_daemon, listener.port);
      if (!cleared.ok()) {
        return absl::Status(
            cleared.status().code(),
            absl::StrCat("--torch-store agent, attempt ", attempt, ": ",
                         cleared.status().message()));
      }
      if (*cleared > 0) {
        LauncherLogger().info(
            "attempt {}: removed {} key(s) that an earlier job or attempt "
            "left in the TCPStore listener {}",
            attempt, *cleared, listener.ToString());
      }
      return absl::OkStatus();
    };
  }
  ao.store = store.get();
  int code = RunAgent(ao);
  std::fflush(stdout);
  // Workers are gone; skip the orderly teardown of gRPC's threads, which only
  // costs time at exit.
  spdlog::shutdown();
  _exit(code);
}

}  // namespace
}  // namespace tplaunch

int main(int argc, char** argv) { return tplaunch::Main(argc, argv); }
