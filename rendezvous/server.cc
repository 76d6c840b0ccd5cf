#include "rendezvous/server.h"

#include <errno.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fd_limit.h"
#include "common/status_macros.h"
#include "rendezvous/grpc_acceptor.h"
#include "rendezvous/http/http_server.h"
#include "rendezvous/http/rpc_metrics.h"
#include "rendezvous/incarnation.h"
#include "rendezvous/listen_socket.h"
#include "rendezvous/logger.h"
#include "rendezvous/rendezvous_service.h"
#include "rendezvous/tls.h"
#include "rendezvous/torch_store/listener.h"
#include "store/endpoint.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

// ServerOptions::listen_fd as a ListenSocket: its bound port.
absl::StatusOr<ListenSocket> AdoptListenSocket(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen_fd ", fd, ": getsockname: ", strerror(errno)));
  }
  ListenSocket socket;
  socket.fd = fd;
  socket.port = ntohs(addr.ss_family == AF_INET6
                          ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return socket;
}

// How long Shutdown lets in-flight (non-parked) calls finish before cancelling
// them.
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);
// gRPC refuses messages over 4 MiB by default; a MultiSet carries several
// values.
constexpr int64_t kMessageOverheadBytes = 1 << 20;
// /metrics' tprdzvd_build_info label.
constexpr char kDaemonVersion[] = "0.1.0 (protocol tplaunch.rendezvous.v1)";

// --host may be given bracketed ("[::1]"), as gRPC accepts it; JoinHostPort
// adds its own brackets.
std::string Unbracketed(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.host.empty()) return absl::InvalidArgumentError("host is empty");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", options.port, " is outside 0..65535"));
  }
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate and a key; only one was given");
  }
  if (!options.tls_client_ca_pem.empty() && options.tls_cert_pem.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client CA requires TLS: give a server certificate and key too");
  }
  if (options.max_key_bytes <= 0 || options.max_value_bytes <= 0 ||
      options.max_keys_per_job <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limits must be positive: max_key_bytes=", options.max_key_bytes,
        " max_value_bytes=", options.max_value_bytes,
        " max_keys_per_job=", options.max_keys_per_job));
  }
  if (options.torch_store_port < -1 || options.torch_store_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("torch_store_port ", options.torch_store_port,
                     " is outside -1 (off) and 0..65535"));
  }
  if (options.torch_store_port >= 0 && options.torch_store_job.empty()) {
    return absl::InvalidArgumentError("torch_store_job is empty");
  }
  if (options.max_connections < 0 || options.max_parked_bytes <= 0 ||
      options.torch_store_max_output_bytes <= 0 ||
      options.torch_store_max_total_output_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_connections must be >= 0 (0: derived), max_parked_bytes and "
        "torch_store_max_output_bytes positive: got ",
        options.max_connections, ", ", options.max_parked_bytes, ", ",
        options.torch_store_max_output_bytes));
  }
  if (options.max_blocking_timeout <= absl::ZeroDuration() ||
      options.torch_store_output_stall_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "max_blocking_timeout and torch_store_output_stall_timeout must be "
        "positive");
  }
  if (options.http_port < -1 || options.http_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http_port ", options.http_port, " is outside -1 (off) and 0..65535"));
  }
  if (options.job_idle_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_idle_ttl must be positive, got ",
                     absl::FormatDuration(options.job_idle_ttl)));
  }
  if (!options.tls_cert_pem.empty()) {
    return ValidateTlsMaterial(options.tls_cert_pem, options.tls_key_pem,
                               options.tls_client_ca_pem);
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      options.tls_client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.tls_client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
  return grpc::SslServerCredentials(ssl);
}

KvTableOptions TableOptions(const ServerOptions& options, KvJournal* journal) {
  KvTableOptions table;
  table.journal = journal;
  table.max_key_bytes = options.max_key_bytes;
  table.max_value_bytes = options.max_value_bytes;
  table.max_keys_per_job = options.max_keys_per_job;
  table.job_idle_ttl = options.job_idle_ttl;
  // TCPStore clients stay connected for a whole run and may be silent for days.
  if (options.torch_store_port >= 0)
    table.jobs_without_idle_ttl.insert(options.torch_store_job);
  return table;
}

TorchStoreListenerOptions ListenerOptions(const ServerOptions& options,
                                          int64_t max_connections) {
  TorchStoreListenerOptions listener;
  listener.max_connections = max_connections;
  listener.max_output_bytes = options.torch_store_max_output_bytes;
  listener.max_total_output_bytes = options.torch_store_max_total_output_bytes;
  listener.output_stall_timeout = options.torch_store_output_stall_timeout;
  listener.host = options.host;
  listener.port = options.torch_store_port;
  listener.job = options.torch_store_job;
  listener.limits.max_key_bytes = options.max_key_bytes;
  listener.limits.max_value_bytes = options.max_value_bytes;
  // One request may carry a key and a value at their limits (COMPARE_SET two).
  listener.limits.max_request_bytes =
      std::max(listener.limits.max_request_bytes,
               options.max_key_bytes + 2 * options.max_value_bytes);
  return listener;
}

RendezvousServiceLimits ServiceLimits(const ServerOptions& options) {
  RendezvousServiceLimits limits;
  limits.max_parked_bytes = options.max_parked_bytes;
  limits.max_blocking_timeout = options.max_blocking_timeout;
  return limits;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" ||
         absl::StartsWith(host, "127.");
}

class RendezvousServerImpl final : public RendezvousServer {
 public:
  // `state` is null without options.state_dir.
  RendezvousServerImpl(const ServerOptions& options,
                       std::unique_ptr<StateStore> state,
                       std::string incarnation)
      : options_(options),
        state_(std::move(state)),
        incarnation_(std::move(incarnation)),
        table_(TableOptions(options, state_.get())),
        service_(
            &table_, options.token,
            [this](absl::Time deadline) { WakeTimerBy(deadline); },
            incarnation_, ServiceLimits(options)) {}

  // Before Start: nothing is served until the table holds what was saved.
  absl::Status Recover() {
    if (state_ == nullptr) return absl::OkStatus();
    ASSIGN_OR_RETURN(const StateRecovery recovered,
                     state_->Recover(table_, absl::Now()));
    RendezvousLogger().info(
        "state dir {}: recovered {} job(s), {} key(s); incarnation {}",
        options_.state_dir, recovered.jobs, recovered.keys, incarnation_);
    return absl::OkStatus();
  }

  ~RendezvousServerImpl() override { Shutdown(); }

  absl::Status Start() {
    max_connections_ = options_.max_connections;
    if (max_connections_ == 0) {
      absl::StatusOr<FdLimit> limit = CurrentFdLimit();
      max_connections_ =
          DefaultMaxConnections(limit.ok() ? limit->soft : 1024,
                                options_.torch_store_port >= 0 ? 2 : 1);
    }
    const int ports = options_.torch_store_port >= 0 ? 2 : 1;
    if (absl::StatusOr<FdLimit> limit = CurrentFdLimit();
        limit.ok() &&
        max_connections_ > DefaultMaxConnections(limit->soft, ports)) {
      RendezvousLogger().warn(
          "max connections {} per port is more than the descriptor limit {} "
          "leaves room for ({} per port): accepting will pause on EMFILE "
          "before the cap is reached",
          max_connections_, limit->soft,
          DefaultMaxConnections(limit->soft, ports));
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    // Bound and accepted by us (see rendezvous/grpc_acceptor.h), never by
    // gRPC's own listener. BindListenSocket never sets SO_REUSEPORT, so a
    // second daemon fails with "address in use" instead of sharing the port.
    absl::StatusOr<ListenSocket> socket =
        options_.listen_fd >= 0
            ? AdoptListenSocket(options_.listen_fd)
            : BindListenSocket(options_.host, options_.port);
    if (!socket.ok()) return socket.status();
    port_ = socket->port;
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
        builder.experimental().AddExternalConnectionAcceptor(
            grpc::ServerBuilder::experimental_type::ExternalConnectionType::
                FROM_FD,
            MakeCredentials(options_));
    // Parked calls can last minutes: probe idle clients so a vanished one is
    // noticed (its call is cancelled and its waiter removed), and accept
    // clients' own pings.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30 * 1000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(
        GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5 * 1000);
    const int64_t max_message = std::min<int64_t>(
        INT32_MAX, 2 * options_.max_value_bytes + kMessageOverheadBytes);
    builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
    builder.SetMaxSendMessageSize(-1);
    builder.RegisterService(&service_);
    // Counts every call by method and status for /metrics, without touching
    // the handlers.
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewRpcMetricsInterceptorFactory(&rpc_metrics_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) {
      close(socket->fd);
      return absl::UnavailableError(absl::StrCat(
          "cannot serve on ", JoinHostPort(Unbracketed(options_.host), port_),
          ": the gRPC server did not start"));
    }
    external_acceptor_ = std::move(acceptor);
    absl::StatusOr<std::unique_ptr<GrpcAcceptor>> accepting =
        StartGrpcAcceptor(*socket, external_acceptor_.get(), max_connections_);
    if (!accepting.ok()) return accepting.status();
    acceptor_ = *std::move(accepting);
    address_ = JoinHostPort(Unbracketed(options_.host), port_);
    timer_ = std::thread([this] { TimerLoop(); });
    RendezvousLogger().info(
        "serving on {} (tls: {}, token: {}, max connections per port: {}, "
        "state dir: {}, incarnation {})",
        address_, options_.tls_cert_pem.empty() ? "off" : "on",
        options_.token.empty() ? "off" : "on", max_connections_,
        options_.state_dir.empty() ? "none" : options_.state_dir, incarnation_);
    if (options_.torch_store_port >= 0) RETURN_IF_ERROR(StartTorchStore());
    if (options_.http_port >= 0) return StartHttp();
    return absl::OkStatus();
  }

  // Last, so the live view never shows a daemon that is not yet serving.
  absl::Status StartHttp() {
    HttpServerOptions http;
    http.host = options_.http_host.empty() ? options_.host : options_.http_host;
    http.port = options_.http_port;
    http.tls_cert_pem = options_.tls_cert_pem;
    http.tls_key_pem = options_.tls_key_pem;
    LiveSources sources;
    sources.table = &table_;
    sources.rpcs = &rpc_metrics_;
    sources.token = options_.token;
    sources.incarnation = incarnation_;
    sources.version = kDaemonVersion;
    sources.local_jobs = options_.local_jobs;
    sources.counters = [this] {
      const ServerStats now = stats();
      DaemonCounters counters;
      counters.grpc_connections = now.grpc_connections;
      counters.grpc_refused = now.grpc_refused;
      counters.torch_store_connections = now.torch_store_connections;
      counters.parked_bytes = now.parked_bytes;
      counters.waiters = now.waiters;
      counters.keys = now.keys;
      counters.jobs = now.jobs;
      counters.calls = now.calls;
      return counters;
    };
    ASSIGN_OR_RETURN(http_, StartHttpServer(http, std::move(sources)));
    RendezvousLogger().info("live view on {}://{}/ (token: {})",
                            options_.tls_cert_pem.empty() ? "http" : "https",
                            http_->address(),
                            options_.token.empty() ? "off" : "on");
    return absl::OkStatus();
  }

  // After gRPC is up, so a bind failure here shuts a fully started server down
  // the ordinary way (the caller destroys it).
  absl::Status StartTorchStore() {
    auto listener = StartTorchStoreListener(
        ListenerOptions(options_, max_connections_), &table_);
    if (!listener.ok()) {
      return absl::Status(listener.status().code(),
                          absl::StrCat("TCPStore listener (--torch-store-port ",
                                       options_.torch_store_port,
                                       "): ", listener.status().message()));
    }
    torch_store_ = *std::move(listener);
    service_.SetTorchStore(options_.torch_store_job, torch_store_->port());
    if (!options_.token.empty() || !options_.tls_cert_pem.empty()) {
      // The explicit port is the opt-in; say loudly what it does not protect.
      // A loopback listener is reachable from this host only (the launcher's
      // embedded server), so it is not worth a warning there.
      RendezvousLogger().log(
          IsLoopbackHost(options_.host) ? spdlog::level::info
                                        : spdlog::level::warn,
          "the TCPStore listener on {} has no authentication and no TLS "
          "(PyTorch's TCPStore protocol has neither): the token and TLS "
          "protect the gRPC port only; anyone who can reach {} can read and "
          "change the keys of job \"{}\"",
          torch_store_->address(), torch_store_->address(),
          options_.torch_store_job);
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  const std::string& incarnation() const override { return incarnation_; }
  std::string address() const override { return address_; }
  std::string torch_store_address() const override {
    return torch_store_ == nullptr ? "" : torch_store_->address();
  }
  int torch_store_port() const override {
    return torch_store_ == nullptr ? 0 : torch_store_->port();
  }

  std::string http_address() const override {
    return http_ == nullptr ? "" : http_->address();
  }

  ServerStats stats() const override {
    const KvTableStats table = table_.Stats();
    ServerStats stats;
    stats.jobs = table.jobs;
    stats.keys = table.keys;
    stats.waiters = table.waiters;
    stats.calls = service_.calls();
    if (torch_store_ != nullptr) {
      stats.torch_store_connections = torch_store_->stats().connections;
    }
    if (acceptor_ != nullptr) {
      const GrpcAcceptorStats accepted = acceptor_->stats();
      stats.grpc_connections = accepted.connections;
      stats.grpc_refused = accepted.refused;
    }
    stats.parked_bytes = service_.parked_bytes();
    stats.max_connections = max_connections_;
    return stats;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // The live view first: it reads the table and the stats.
    if (http_ != nullptr) http_->Shutdown();
    if (server_ != nullptr) {
      if (auto* health = server_->GetHealthCheckService()) {
        health->SetServingStatus(false);
      }
    }
    // The listener before the table: its connections' parked WAITs leave the
    // table, and its loop threads stop touching it. Its clients see the
    // connection close at once (TCPStore has no error reply).
    if (torch_store_ != nullptr) torch_store_->Shutdown();
    // No new gRPC connections from here on.
    if (acceptor_ != nullptr) acceptor_->Stop();
    // Parked calls first, so they end with UNAVAILABLE rather than being cut
    // off by the server's own shutdown deadline.
    table_.Shutdown();
    if (server_ != nullptr) {
      server_->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
    }
    {
      std::lock_guard<std::mutex> timer_lock(timer_mu_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
    if (server_ != nullptr)
      RendezvousLogger().info("stopped serving on {}", address_);
  }

 private:
  // Sleeps until the earliest waiter deadline or the next idle-job sweep,
  // whichever is first; WakeTimerBy shortens the sleep when an earlier deadline
  // is parked.
  void TimerLoop() {
    const absl::Duration sweep_every = std::clamp(
        options_.job_idle_ttl / 10, absl::Milliseconds(10), absl::Seconds(60));
    absl::Time next_sweep = absl::Now() + sweep_every;
    std::unique_lock<std::mutex> lock(timer_mu_);
    while (!timer_stop_) {
      const absl::Time now = absl::Now();
      // Bounded so the chrono conversion never sees InfiniteFuture.
      timer_wake_at_ = std::min(
          {table_.NextDeadline(), next_sweep, now + absl::Seconds(60)});
      timer_poked_ = false;
      timer_cv_.wait_until(lock, absl::ToChronoTime(timer_wake_at_),
                           [this] { return timer_stop_ || timer_poked_; });
      if (timer_stop_) break;
      lock.unlock();
      const absl::Time later = absl::Now();
      table_.ExpireDeadlines(later);
      if (later >= next_sweep) {
        const int64_t expired = table_.ExpireIdleJobs(later);
        if (expired > 0)
          RendezvousLogger().info("expired {} idle job(s)", expired);
        next_sweep = later + sweep_every;
      }
      lock.lock();
    }
  }

  void WakeTimerBy(absl::Time deadline) {
    std::lock_guard<std::mutex> lock(timer_mu_);
    if (deadline < timer_wake_at_) {
      timer_poked_ = true;
      timer_cv_.notify_one();
    }
  }

  const ServerOptions options_;
  // Declared before table_: the table journals into it until destroyed.
  const std::unique_ptr<StateStore> state_;
  const std::string incarnation_;
  KvTable table_;
  // Fed by the gRPC server's interceptor; outlives server_.
  RpcMetrics rpc_metrics_;
  RendezvousService service_;
  std::unique_ptr<grpc::Server>
      server_;  // Destroyed before service_ and table_.
  // Owned by the server's builder state; outlives acceptor_, which feeds it.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>
      external_acceptor_;
  // Declared after server_, so it is destroyed (its thread joined) first.
  std::unique_ptr<GrpcAcceptor> acceptor_;
  int64_t max_connections_ = 0;
  // Declared after table_, so it is destroyed (and its threads joined) first.
  // Set once by Start, before the server is shared.
  std::unique_ptr<TorchStoreListener> torch_store_;
  int port_ = 0;
  std::string address_;
  // Declared last: destroyed (its threads joined) before what it reads.
  std::unique_ptr<HttpServer> http_;

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  absl::Time timer_wake_at_ = absl::InfinitePast();
  bool timer_poked_ = false;
  bool timer_stop_ = false;
  std::thread timer_;

  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

}  // namespace

int64_t DefaultMaxConnections(int64_t fd_limit, int ports) {
  return std::max<int64_t>(1, (fd_limit - kReservedFds) / std::max(1, ports));
}

absl::Status ValidateServerOptions(const ServerOptions& options) {
  return ValidateOptions(options);
}

absl::StatusOr<std::unique_ptr<RendezvousServer>> StartRendezvousServer(
    const ServerOptions& options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) {
    return status;
  }
  std::unique_ptr<StateStore> state;
  std::string incarnation;
  if (!options.state_dir.empty()) {
    StateStoreOptions state_options;
    state_options.dir = options.state_dir;
    state_options.sync = options.state_sync;
    ASSIGN_OR_RETURN(state, OpenStateStore(state_options));
    incarnation = state->incarnation();
  } else {
    ASSIGN_OR_RETURN(incarnation, NewIncarnation());
  }
  auto server = std::make_unique<RendezvousServerImpl>(
      options, std::move(state), std::move(incarnation));
  RETURN_IF_ERROR(server->Recover());
  if (absl::Status status = server->Start(); !status.ok()) return status;
  return std::unique_ptr<RendezvousServer>(std::move(server));
}

}  // namespace tplaunch
