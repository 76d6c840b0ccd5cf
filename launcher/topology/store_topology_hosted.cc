// StoreTopology's self-hosting half: hosting --rdzv-endpoint when no tprdzvd
// serves it and HOST is this node's (hosting.h), publishing it to the other
// nodes, and leaving the job (job_leave.h). See docs/rendezvous.md,
// "Self-hosted endpoint".
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "launcher/exit_on_signal.h"
#include "launcher/host_info.h"
#include "launcher/logger.h"
#include "launcher/topology/hosting.h"
#include "launcher/topology/local_proxy.h"
#include "launcher/topology/store_topology.h"
#include "rendezvous/server.h"

namespace tplaunch {
namespace {

// How long a client waits for the host's HostedServerKey: the host sets it
// right after it binds, before it could have answered anyone's connect.
constexpr absl::Duration kHostedKeyWait = absl::Seconds(10);

std::string Dur(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
}

}  // namespace

absl::Status StoreTopology::HttpNeedsServer(const TopologyPlan& plan) const {
  if (plan.http_port < 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--http-port serves the rendezvous server this launcher embeds, and "
      "this node embeds none (it joins ",
      plan.rdzv_endpoint.ToString(), " as a client: ", client_reason_,
      "): open the live view of tprdzvd (tprdzvd --http-port) or of the "
      "hosting node instead"));
}

absl::Status StoreTopology::HostIfMine(const TopologyPlan& plan,
                                       const TopologyInputs& inputs) {
  const Endpoint& e = plan.rdzv_endpoint;
  const std::string endpoint = e.ToString();
  std::vector<std::string> addresses;
  bool local = false;
  absl::StatusOr<std::vector<std::string>> resolved =
      ResolveHostAddresses(e.host);
  if (resolved.ok()) {
    addresses = *resolved;
    absl::StatusOr<std::vector<std::string>> mine = LocalInterfaceAddresses();
    local = AddressesAreLocal(addresses,
                              mine.ok() ? *mine : std::vector<std::string>());
  }
  const HostingRole role = DecideHosting(plan.is_host, local);
  if (role == HostingRole::kClient) {
    if (plan.is_host.has_value()) {
      client_reason_ = "--rdzv-conf is_host=false";
    } else if (resolved.ok()) {
      client_reason_ =
          absl::StrCat(e.host, " is not one of this node's addresses");
    } else {
      client_reason_ = std::string(resolved.status().message());
    }
    return HttpNeedsServer(plan);
  }
  const std::string bind = HostingBindAddress(e.host, addresses);
  auto taken = [&]() -> bool {
    absl::StatusOr<bool> in_use = PortInUse(bind, e.port);
    if (!in_use.ok() || !*in_use) return false;
    client_reason_ = absl::StrCat(
        "port ", e.port,
        " is already served on this host (a tprdzvd, or another node's "
        "tplaunch)");
    LauncherLogger().info(
        "rendezvous endpoint {}: port {} is taken on this host (a tprdzvd or "
        "another node's tplaunch serves it); joining it as a client",
        endpoint, e.port);
    return true;
  };
  if (role == HostingRole::kHostIfFree && taken()) {
    return HttpNeedsServer(plan);
  }
  ServerOptions so;
  so.host = bind;
  so.port = e.port;
  so.token = inputs.token;
  if (plan.agent_store == AgentStoreSource::kHostedListener) {
    so.torch_store_port = 0;
  }
  AddHttp(plan, so);
  absl::StatusOr<std::unique_ptr<RendezvousServer>> started =
      StartRendezvousServer(so);
  if (!started.ok()) {
    if (role == HostingRole::kHost) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--rdzv-conf is_host=true: cannot host the rendezvous endpoint ",
          endpoint, ": ", started.status().message()));
    }
    // Another node of this host bound it between the check and now.
    if (taken()) return HttpNeedsServer(plan);
    return absl::Status(
        started.status().code(),
        absl::StrCat("cannot host the rendezvous endpoint ", endpoint, " (",
                     e.host, " is this node's and nothing serves it): ",
                     started.status().message(),
                     "; --rdzv-conf is_host=false joins it as a client"));
  }
  server_ = *std::move(started);
  hosting_ = true;
  SayHttpListening("");
  LauncherLogger().info(
      "hosting the rendezvous endpoint {} in this tplaunch (listening on {}): "
      "nothing served it and {} is this node's; the job needs this node until "
      "every node has left",
      endpoint, server_->address(), e.host);
  if (inputs.token.empty()) {
    LauncherLogger().warn(
        "the rendezvous endpoint {} is unauthenticated: anyone who can reach "
        "it can join or disturb the job (as with torchrun's c10d store); give "
        "every node the same --token-file to require a token",
        endpoint);
  }
  return absl::OkStatus();
}

absl::Status StoreTopology::ClientConnectError(
    const TopologyPlan& plan, const absl::Status& status) const {
  const Endpoint& e = plan.rdzv_endpoint;
  return absl::Status(
      status.code(),
      absl::StrCat(
          status.message(), "; nothing serves ", e.ToString(), ": node ",
          e.host, " should host it (its tplaunch does when ", e.host,
          " is one of its addresses and the port is free, or with "
          "--rdzv-conf is_host=true) or tprdzvd should run there; this node "
          "does not host it: ",
          client_reason_));
}

void StoreTopology::SetLeaveOptions(const TopologyPlan& plan) {
  leave_.run_id = run_id_;
  leave_.host = Hostname();
  leave_.addr = local_addr_;
  leave_.pid = getpid();
  leave_.heartbeat_timeout = plan.heartbeat_timeout;
  leave_.poll_interval =
      std::clamp(plan.heartbeat_interval / 4, absl::Milliseconds(20),
                 absl::Milliseconds(250));
  leave_.linger_timeout =
      std::max(plan.exit_barrier_timeout, plan.heartbeat_timeout);
}

absl::Status StoreTopology::AfterConnect(const TopologyPlan& plan,
                                         const TopologyInputs& inputs) {
  SetLeaveOptions(plan);
  const std::string endpoint = plan.rdzv_endpoint.ToString();
  const std::string key = HostedServerKey(run_id_);
  if (hosting_) {
    absl::Status published =
        store_->Set(key, absl::StrCat(server_->torch_store_port()));
    if (!published.ok()) {
      return absl::Status(published.code(),
                          absl::StrCat("cannot publish the self-hosted "
                                       "rendezvous endpoint ",
                                       endpoint, ": ", published.message()));
    }
  } else {
    // The first call: a wrong or missing token is said here, plainly.
    absl::StatusOr<std::string> probe = store_->TryGet(key);
    if (absl::IsUnauthenticated(probe.status())) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the rendezvous endpoint ", endpoint, " rejected this node's ",
          inputs.token.empty() ? "missing token" : "token (--token-file)", ": ",
          probe.status().message(),
          "; every node needs the same --token-file"));
    }
  }
  if (hosting_ && plan.agent_store == AgentStoreSource::kRemoteListener) {
    // Node 0 empties the listener through the --rdzv-endpoint server, which
    // must therefore be the listener's tprdzvd.
    return absl::FailedPreconditionError(absl::StrCat(
        "--torch-store-endpoint names a tprdzvd's TCPStore listener, but no "
        "tprdzvd serves --rdzv-endpoint ",
        endpoint,
        " (this node hosts it): drop --torch-store-endpoint to use the "
        "listener of the self-hosted endpoint, or run that tprdzvd at ",
        endpoint));
  }
  if (plan.agent_store != AgentStoreSource::kHostedListener) {
    return absl::OkStatus();
  }
  int port = 0;
  if (hosting_) {
    port = server_->torch_store_port();
  } else {
    absl::StatusOr<std::string> v =
        store_->Get(key, std::min(plan.connect_timeout, kHostedKeyWait));
    if (!v.ok()) {
      if (absl::IsUnauthenticated(v.status())) return v.status();
      return absl::NotFoundError(absl::StrCat(
          "--torch-store agent without --torch-store-endpoint: no node hosts "
          "the rendezvous endpoint ",
          endpoint,
          " with a TCPStore listener (a tprdzvd serves it: pass "
          "--torch-store-endpoint HOST:PORT of its --torch-store-port "
          "listener): ",
          v.status().message()));
    }
    if (!absl::SimpleAtoi(*v, &port) || port <= 0 || port > 65535) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--torch-store agent: the node hosting the rendezvous endpoint ",
          endpoint,
          " serves no TCPStore listener; give every node --torch-store agent"));
    }
  }
  agent_store_ = Endpoint{plan.rdzv_endpoint.host, port};
  listener_daemon_.endpoint = plan.rdzv_endpoint;
  listener_daemon_.job = run_id_;
  listener_daemon_.token = inputs.token;
  LauncherLogger().info(
      "--torch-store agent: workers use the TCPStore listener of the "
      "self-hosted endpoint, {} (TORCHELASTIC_USE_AGENT_STORE=True)",
      agent_store_->ToString());
  return absl::OkStatus();
}

void StoreTopology::Leave(int signal_fd) {
  if (!multi_node_) return;
  // The workers are gone: their proxy's socket and directory go now (main
  // _exits without destructors).
  if (local_proxy_ != nullptr) local_proxy_->Shutdown();
  if (!etcd_endpoints_.empty()) {
    ExitOnSignalWhileBlocked exit_on_signal(signal_fd, nullptr);
    LeaveEtcd();
    return;
  }
  Store& store = liveness_store_ != nullptr ? *liveness_store_ : *store_;
  // Against a tprdzvd nobody waits for this node.
  if (!hosting_ && !store.TryGet(HostedServerKey(run_id_)).ok()) return;
  ExitOnSignalWhileBlocked exit_on_signal(signal_fd, nullptr);
  absl::StatusOr<std::optional<FinalAttempt>> final =
      FindFinalAttempt(store, leave_);
  if (!final.ok() || !final->has_value()) return;
  if (absl::Status left = ReportLeft(store, leave_, **final); !left.ok()) {
    LauncherLogger().debug("could not report leaving: {}", left.ToString());
  }
  if (!hosting_) return;
  const int others = static_cast<int>((*final)->closed.members.size()) -
                     ((*final)->self ? 1 : 0);
  if (others <= 0) return;
  const std::string endpoint = worker_rdzv_endpoint_.ToString();
  LauncherLogger().info(
      "keeping the rendezvous endpoint {} up until the other {} node(s) have "
      "left (at most {})",
      endpoint, others, Dur(leave_.linger_timeout));
  absl::StatusOr<LingerOutcome> out =
      WaitForMembersToLeave(store, leave_, **final);
  if (!out.ok()) {
    LauncherLogger().warn("stopped waiting for the other nodes: {}",
                          out.status().ToString());
  } else if (!out->still_there.empty()) {
    LauncherLogger().warn(
        "closing the rendezvous endpoint {} after {}: {} node(s) still there "
        "will lose it",
        endpoint, Dur(out->waited), out->still_there.size());
  } else {
    LauncherLogger().info(
        "every node has left after {}; closing the rendezvous endpoint {}",
        Dur(out->waited), endpoint);
  }
}

}  // namespace tplaunch
