#include "launcher/topology/store_topology.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "launcher/exit_on_signal.h"
#include "launcher/host_info.h"
#include "launcher/logger.h"
#include "launcher/topology/local_proxy.h"
#include "rendezvous/background_server.h"
#include "rendezvous/server.h"
#include "store/grpc/grpc_store.h"
#include "store/grpc/rendezvous_admin.h"
#include "store/memory_store.h"

namespace tplaunch {
namespace {

constexpr absl::string_view kLoopback = "127.0.0.1";

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

}  // namespace

absl::StatusOr<TopologyPlan> PlanStoreTopology(const LaunchConfig& config) {
  TopologyPlan plan;
  plan.run_id = config.rdzv_id;
  plan.connect_timeout = config.rdzv_timeout;
  plan.heartbeat_interval = config.heartbeat_interval;
  plan.ride_through_daemon_restart =
      config.on_daemon_restart == LaunchConfig::DaemonRestart::kRideThrough;
  plan.heartbeat_timeout = config.heartbeat_timeout;
  plan.exit_barrier_timeout = config.exit_barrier_timeout;
  plan.http_port = config.http_port;
  // Who waits, on the daemon's live view: the node rank when requested (else
  // it is not known before the rendezvous), or the host.
  plan.caller_label = config.node_rank >= 0
                          ? absl::StrCat("node ", config.node_rank)
                          : absl::StrCat("node on ", Hostname());
  plan.http_host = config.http_host;
  const bool agent_store = config.torch_store == TorchStoreHost::kAgent;
  if (config.standalone) {
    plan.kind = TopologyKind::kEmbeddedServer;
    plan.local_addr =
        config.local_addr.empty() ? std::string(kLoopback) : config.local_addr;
    // PyTorch's ranks use the embedded server's TCPStore listener, which
    // starts empty with every launch.
    if (agent_store) plan.agent_store = AgentStoreSource::kEmbeddedListener;
    return plan;
  }
  if (config.rdzv_backend == RdzvBackend::kEtcdV3) {
    RETURN_IF_ERROR(PlanEtcdTopology(config, plan));
    return plan;
  }
  plan.kind = TopologyKind::kRemoteDaemon;
  if (!config.rdzv_endpoint) {
    return absl::InvalidArgumentError(
        "a multi-node launch needs --rdzv-endpoint HOST[:PORT]");
  }
  plan.rdzv_endpoint = *config.rdzv_endpoint;
  plan.token_file = config.token_file;
  plan.local_addr = config.local_addr;
  plan.is_host = config.rdzv_is_host;
  if (agent_store && config.torch_store_endpoint) {
    plan.agent_store = AgentStoreSource::kRemoteListener;
    plan.torch_store_listener = *config.torch_store_endpoint;
  } else if (agent_store) {
    // Without a tprdzvd listener named: the self-hosted server's.
    plan.agent_store = AgentStoreSource::kHostedListener;
  }
  if (agent_store && plan.ride_through_daemon_restart) {
    return absl::InvalidArgumentError(
        "--on-daemon-restart ride-through excludes --torch-store agent with "
        "--rdzv-endpoint: the workers' TCPStore is the rendezvous server's "
        "listener, which a daemon restart without --state-dir empties under "
        "the running workers, so their attempt cannot ride through it; use "
        "--on-daemon-restart restart (the default) or --torch-store worker");
  }
  return plan;
}

StoreTopology::~StoreTopology() = default;

absl::StatusOr<std::unique_ptr<StoreTopology>> StoreTopology::SetUp(
    const TopologyPlan& plan, const TopologyInputs& inputs) {
  std::unique_ptr<StoreTopology> t(new StoreTopology());
  absl::Status started;
  if (plan.kind == TopologyKind::kEtcd) {
    started = t->ConnectToEtcd(plan, inputs);
  } else if (plan.multi_node()) {
    started = t->HostIfMine(plan, inputs);
    if (started.ok()) {
      started = t->ConnectToDaemon(plan, inputs);
      if (absl::IsUnavailable(started) && !t->hosting_) {
        started = t->ClientConnectError(plan, started);
      }
    }
    if (started.ok()) started = t->AfterConnect(plan, inputs);
  } else {
    started = t->StartEmbeddedServer(plan);
  }
  if (!started.ok()) return started;
  if (plan.agent_store != AgentStoreSource::kNone) {
    t->PrepareAgentStore(std::min(plan.connect_timeout, absl::Seconds(30)));
  }
  return t;
}

absl::Status StoreTopology::StartEmbeddedServer(const TopologyPlan& plan) {
  run_id_ = plan.run_id.empty() ? RandomHex(8) : plan.run_id;
  ServerOptions so;
  so.host = std::string(kLoopback);
  so.port = 0;
  so.token = RandomHex(16);
  if (plan.agent_store == AgentStoreSource::kEmbeddedListener) {
    so.torch_store_port = 0;
  }
  // Workers need its port, not its threads: the rest starts beside them
  // (rendezvous/background_server.h).
  AddHttp(plan, so);
  auto started = StartRendezvousServerInBackground(so);
  if (!started.ok()) {
    return absl::Status(
        started.status().code(),
        absl::StrCat("cannot start the embedded rendezvous server: ",
                     started.status().ToString()));
  }
  server_ = *std::move(started);
  SayHttpListening(so.token);
  // This node is alone: it meets itself in memory; workers use the server.
  store_ = NewMemoryStore();
  multi_node_ = false;
  local_addr_ = plan.local_addr;
  worker_rdzv_endpoint_ = Endpoint{so.host, server_->port()};
  worker_rdzv_token_ = so.token;
  if (plan.agent_store == AgentStoreSource::kEmbeddedListener) {
    agent_store_ = Endpoint{so.host, server_->torch_store_port()};
    listener_daemon_.endpoint = Endpoint{so.host, server_->port()};
    listener_daemon_.token = so.token;
    LauncherLogger().info(
        "--torch-store agent: workers use the TCPStore listener on {} "
        "(TORCHELASTIC_USE_AGENT_STORE=True)",
        server_->torch_store_address());
  }
  return absl::OkStatus();
}

absl::Status StoreTopology::ConnectToDaemon(const TopologyPlan& plan,
                                            const TopologyInputs& inputs) {
  run_id_ = plan.run_id;
  const std::string endpoint = plan.rdzv_endpoint.ToString();
  GrpcStoreOptions go;
  go.endpoint = plan.rdzv_endpoint;
  go.job = plan.run_id;
  go.connect_timeout = plan.connect_timeout;
  go.token = inputs.token;
  go.caller_label = plan.caller_label;
  ride_through_daemon_restart_ = plan.ride_through_daemon_restart;
  incarnation_ = std::make_shared<IncarnationTracker>(
      [endpoint, ride_through = plan.ride_through_daemon_restart](
          const std::string& first, const std::string& now) {
        // Restarting, the liveness monitor says so when it ends the attempt.
        if (!ride_through) return;
        LauncherLogger().warn(
            "tprdzvd at {} restarted without the job's state (incarnation {}, "
            "now {}); riding through it (--on-daemon-restart ride-through): "
            "the running nodes re-assert their attempt's keys",
            endpoint, first, now);
      });
  go.incarnation = incarnation_;
  if (plan.local_addr.empty()) {
    auto addr = RoutableAddressTowards(plan.rdzv_endpoint);
    if (!addr.ok()) {
      return absl::Status(addr.status().code(), addr.status().ToString());
    }
    local_addr_ = *addr;
  } else {
    local_addr_ = plan.local_addr;
  }
  LauncherLogger().info("connecting to rendezvous endpoint {} (up to {})",
                        endpoint, absl::FormatDuration(plan.connect_timeout));
  absl::StatusOr<std::unique_ptr<Store>> connected;
  {
    ExitOnSignalWhileBlocked exit_on_signal(inputs.signal_fd, nullptr);
    connected = ConnectGrpcStore(go);
  }
  if (!connected.ok()) {
    return absl::Status(connected.status().code(),
                        absl::StrCat("cannot reach the rendezvous endpoint: ",
                                     connected.status().ToString()));
  }
  store_ = *std::move(connected);
  // Heartbeats get a deadline no longer than their interval (a second
  // connection: deadlines are per store).
  GrpcStoreOptions live = go;
  live.rpc_timeout = plan.heartbeat_interval;
  connected = ConnectGrpcStore(live);
  if (!connected.ok()) {
    return absl::Status(connected.status().code(),
                        absl::StrCat("cannot reach the rendezvous endpoint: ",
                                     connected.status().ToString()));
  }
  liveness_store_ = *std::move(connected);
  multi_node_ = true;
  worker_rdzv_token_ = inputs.token;
  // The workers go through this node's store proxy (local_proxy.h).
  absl::StatusOr<std::unique_ptr<LocalProxy>> proxy = StartLocalProxy(
      store_.get(), plan.run_id, inputs.token, plan.rdzv_endpoint);
  if (!proxy.ok()) return proxy.status();
  local_proxy_ = *std::move(proxy);
  worker_rdzv_endpoint_ = local_proxy_->worker_endpoint();
  daemon_endpoint_ = plan.rdzv_endpoint;
  if (plan.agent_store == AgentStoreSource::kRemoteListener) {
    agent_store_ = plan.torch_store_listener;
    listener_daemon_ = go;
  }
  return absl::OkStatus();
}

void StoreTopology::AddHttp(const TopologyPlan& plan, ServerOptions& options) {
  if (plan.http_port < 0) return;
  options.http_port = plan.http_port;
  options.http_host = plan.http_host;
  worker_board_ = std::make_shared<WorkerBoard>();
  options.local_jobs = worker_board_;
}

void StoreTopology::SayHttpListening(const std::string& minted_token) const {
  if (server_ == nullptr || server_->http_address().empty()) return;
  // On stdout, as tprdzvd says it: scripts wait for this line.
  std::printf("http listening on %s\n", server_->http_address().c_str());
  std::fflush(stdout);
  if (minted_token.empty()) return;
  // Nobody else knows the token this launch minted; opening this URL once
  // sets the page's cookie (as Jupyter prints its own).
  LauncherLogger().info("live view: http://{}/jobs/{}?token={}",
                        server_->http_address(), run_id_, minted_token);
}

void StoreTopology::PrepareAgentStore(absl::Duration timeout) {
  // Every attempt starts with an empty store, as torchelastic's fresh store
  // per attempt: PyTorch >= 2 puts no attempt in its keys, and a shared
  // tprdzvd listener still holds the keys of the job before. The listener
  // serves one job of its daemon's table: DeleteJob empties it.
  const Endpoint listener = *agent_store_;
  GrpcStoreOptions daemon = listener_daemon_;
  daemon.connect_timeout = daemon.rpc_timeout = timeout;
  prepare_agent_store_ = [listener, daemon](int attempt) -> absl::Status {
    auto cleared = ClearTorchStoreJob(daemon, listener.port);
    if (!cleared.ok()) {
      return absl::Status(cleared.status().code(),
                          absl::StrCat("--torch-store agent, attempt ", attempt,
                                       ": ", cleared.status().message()));
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

void StoreTopology::ApplyTo(AgentOptions& options) const {
  options.store = store_.get();
  options.liveness_store = liveness_store_.get();
  options.multi_node = multi_node_;
  options.run_id = run_id_;
  options.local_addr = local_addr_;
  options.worker_rdzv_endpoint = worker_rdzv_endpoint_;
  options.daemon_endpoint = daemon_endpoint_;
  options.worker_rdzv_token = worker_rdzv_token_;
  options.worker_rdzv_url = worker_rdzv_url_;
  options.agent_store = agent_store_;
  options.prepare_agent_store = prepare_agent_store_;
  options.worker_board = worker_board_.get();
  if (incarnation_ != nullptr && !ride_through_daemon_restart_) {
    options.store_incarnation = [tracker = incarnation_] {
      return tracker->Latest();
    };
  }
}

}  // namespace tplaunch
