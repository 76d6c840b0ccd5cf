// RendezvousServer: tprdzvd's gRPC server, embeddable in-process (the launcher's
// standalone mode) or run by tprdzvd's main().
#ifndef TPLAUNCH_RENDEZVOUS_SERVER_H_
#define TPLAUNCH_RENDEZVOUS_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tplaunch {

struct ServerOptions {
  // Address to bind: IPv4, IPv6 ("::1", "::") or a host name.
  std::string host = "127.0.0.1";
  // 0 picks a free port; see RendezvousServer::port().
  int port = 29400;
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
};

struct ServerStats {
  int64_t jobs = 0;
  int64_t keys = 0;
  int64_t waiters = 0;  // Calls parked in Get, Wait or MultiGet.
};

class RendezvousServer {
 public:
  virtual ~RendezvousServer() = default;

  // The bound port (the real one when options.port was 0).
  virtual int port() const = 0;
  // "host:port" as clients should dial it ("[::1]:port" for IPv6).
  virtual std::string address() const = 0;
  virtual ServerStats stats() const = 0;
  // Releases every parked call with UNAVAILABLE, then stops. Idempotent; also run by
  // the destructor.
  virtual void Shutdown() = 0;
};

// Binds and starts serving. Errors: InvalidArgument (bad options, unreadable TLS
// material), Unavailable (the address cannot be bound; the message names it).
absl::StatusOr<std::unique_ptr<RendezvousServer>> StartRendezvousServer(
    const ServerOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_SERVER_H_
