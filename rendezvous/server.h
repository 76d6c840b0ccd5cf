// RendezvousServer: tprdzvd's gRPC server, embeddable in-process (the
// launcher's standalone mode) or run by tprdzvd's main(). Optionally also
// serves PyTorch's TCPStore protocol on a second port over the same KvTable
// (docs/torch_store.md).
#ifndef TPLAUNCH_RENDEZVOUS_SERVER_H_
#define TPLAUNCH_RENDEZVOUS_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rendezvous/http/local_jobs.h"
#include "rendezvous/state_store.h"

namespace tplaunch {

struct ServerOptions {
  // Address to bind: IPv4, IPv6 ("::1", "::") or a host name.
  std::string host = "127.0.0.1";
  // 0 picks a free port; see RendezvousServer::port().
  int port = 29400;
  // A socket already bound and listening (rendezvous/listen_socket.h) that
  // the gRPC port serves instead of binding host:port, so a caller can know
  // the port before the server is up (StartRendezvousServerInBackground).
  // The server owns it from StartRendezvousServer on. -1: bind host:port.
  int listen_fd = -1;
  // When non-empty every call must carry `authorization: Bearer <token>`.
  std::string token;
  // PEM server certificate and key; both non-empty enables TLS.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // PEM CA; non-empty requires and verifies client certificates.
  std::string tls_client_ca_pem;
  // Limits, enforced with InvalidArgument / ResourceExhausted.
  int64_t max_key_bytes = 8 * 1024;
  int64_t max_value_bytes = 8 * 1024 * 1024;
  int64_t max_keys_per_job = 1 << 20;
  // A job with no calls for this long is deleted (its waiters are cancelled).
  absl::Duration job_idle_ttl = absl::Hours(24);
  // PyTorch TCPStore listener on `host`: -1 off, 0 picks a free port. It has
  // no authentication and no TLS (the protocol has neither), whatever `token`
  // and the TLS fields say; the server logs a warning when they are set.
  int torch_store_port = -1;
  // KvTable job that holds every key of the TCPStore clients: TCPStore key
  // "foo" (sent as "/foo") is gRPC key "/foo" of this job.
  std::string torch_store_job = "torch";
  // Directory that keeps every key (tprdzvd --state-dir), recovered from at
  // start; empty: keys live in memory only and a restart loses them.
  std::string state_dir;
  // How each commit to state_dir reaches the disk; see StateSync.
  StateSync state_sync = StateSync::kFull;

  // Connections each port (gRPC, TCPStore) keeps open at most; more are
  // accepted and closed at once, with one rate-limited log line. 0 derives it
  // from RLIMIT_NOFILE at start (DefaultMaxConnections), so the two ports
  // together never run the process out of descriptors.
  int64_t max_connections = 0;
  // Bytes all parked gRPC calls may hold together (RESOURCE_EXHAUSTED above).
  int64_t max_parked_bytes = int64_t{1} << 30;
  // Longest deadline a blocking gRPC call may carry (INVALID_ARGUMENT above).
  absl::Duration max_blocking_timeout = absl::Hours(24 * 31);
  // Unsent reply bytes one TCPStore connection may hold: at this much the
  // listener stops reading from it; a peer that still has not drained it
  // after torch_store_output_stall_timeout is closed.
  int64_t torch_store_max_output_bytes = 16 * 1024 * 1024;
  // Unsent reply bytes all TCPStore connections together may hold; one held
  // back at its own cap while the total is over this is closed at once.
  int64_t torch_store_max_total_output_bytes = 256 * 1024 * 1024;
  absl::Duration torch_store_output_stall_timeout = absl::Seconds(30);

  // The live view (rendezvous/http, docs/observability.md): -1 off, 0 picks a
  // free port. Binds http_host, or `host` when empty. Needs `token` like the
  // gRPC port (but /healthz), and serves HTTPS with the TLS certificate.
  int http_port = -1;
  std::string http_host;
  // The workers of the launcher that embeds this server, shown on their job's
  // page (tplaunch --http-port); nullptr: none (tprdzvd).
  std::shared_ptr<const LocalJobSource> local_jobs;
};

// Descriptors kept free for everything that is not a client connection
// (gRPC's pollers and timers, the listener's epoll sets, log files, ...).
inline constexpr int64_t kReservedFds = 64;

// The max_connections that `fd_limit` (the soft RLIMIT_NOFILE) allows when
// `ports` ports accept clients: what is left after kReservedFds, shared
// evenly, at least 1.
int64_t DefaultMaxConnections(int64_t fd_limit, int ports);

struct ServerStats {
  int64_t jobs = 0;
  int64_t keys = 0;
  int64_t waiters = 0;  // Parked gRPC calls and TCPStore WAITs.
  // gRPC Rendezvous calls received since the server started.
  int64_t calls = 0;
  // TCPStore connections open now (0 when the listener is off).
  int64_t torch_store_connections = 0;
  // gRPC connections open now, and those refused at max_connections.
  int64_t grpc_connections = 0;
  int64_t grpc_refused = 0;
  // Estimated bytes the parked gRPC calls hold (see max_parked_bytes).
  int64_t parked_bytes = 0;
  // The connection cap in force on each port (max_connections or derived).
  int64_t max_connections = 0;
};

class RendezvousServer {
 public:
  virtual ~RendezvousServer() = default;

  // The bound port (the real one when options.port was 0).
  virtual int port() const = 0;
  // "host:port" as clients should dial it ("[::1]:port" for IPv6).
  virtual std::string address() const = 0;
  // The TCPStore listener's "host:port" and port; "" and 0 when it is off.
  virtual std::string torch_store_address() const = 0;
  virtual int torch_store_port() const = 0;
  // The live view's "host:port"; "" when it is off.
  virtual std::string http_address() const = 0;
  virtual ServerStats stats() const = 0;
  // The incarnation every reply carries: random per start, or the state dir's
  // own (kept across restarts) with state_dir.
  virtual const std::string& incarnation() const = 0;
  // Closes the TCPStore connections (their parked WAITs end), releases every
  // parked gRPC call with UNAVAILABLE, then stops. Idempotent; also run by the
  // destructor.
  virtual void Shutdown() = 0;
};

// Recovers state_dir (when set), then binds and starts serving (gRPC first,
// then the TCPStore listener when torch_store_port >= 0). Errors:
// InvalidArgument (bad options, unreadable TLS material), Unavailable (an
// address cannot be bound; the message names it), and OpenStateStore's and
// StateStore::Recover's errors for state_dir.
absl::StatusOr<std::unique_ptr<RendezvousServer>> StartRendezvousServer(
    const ServerOptions& options);

// The checks StartRendezvousServer makes of its options before anything else.
// Errors: InvalidArgument naming the option.
absl::Status ValidateServerOptions(const ServerOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_SERVER_H_
