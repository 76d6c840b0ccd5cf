// TorchStoreListener: a TCP listener that speaks PyTorch's TCPStore protocol
// (1.x and >= 2.2, told apart per connection) over a KvTable shared with the
// gRPC service, so that PyTorch ranks can use tprdzvd as their store.
//
// Event-driven: a few loop threads, each with its own epoll set, accept and
// serve non-blocking connections; a parked WAIT costs a KvTable waiter, not a
// thread; replies produced on other threads (a gRPC Set releasing a waiter)
// reach the owning loop through an eventfd-signalled mailbox. A connection
// that sends malformed or over-limit bytes, stalls mid-request, or asks for
// something PyTorch's server would drop it for is closed with one log line;
// the others are unaffected.
//
// Every TCPStore key lives in one KvTable job (options.job, "torch" by
// default) under its exact bytes: PyTorch's "/" prefix is part of the key, so
// a gRPC client of that job sees "/foo" for store.set("foo", ...).
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_LISTENER_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_LISTENER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rendezvous/torch_store/protocol.h"
#include "store/kv_table.h"

namespace tplaunch {

struct TorchStoreListenerOptions {
  // Address to bind: IPv4, IPv6 ("::1", "::" = all, dual-stack) or a host name.
  std::string host = "127.0.0.1";
  // 0 picks a free port; see TorchStoreListener::port().
  int port = 0;
  // KvTable job that holds every key of this listener's clients.
  std::string job = "torch";
  // Event-loop threads; 0 means min(4, hardware threads).
  int threads = 0;
  // Per-request bounds (key, value, keys per request, bytes per request).
  torch_store::DecoderLimits limits;
  // Bytes all QUEUE_PUSHed items may hold together.
  int64_t max_queue_bytes = 256 * 1024 * 1024;
  // A connection whose unsent replies reach this many bytes is not read from
  // until the peer drains them, so a client that never reads costs at most
  // this (plus one reply). Notices (a WAIT released, a watched key changed)
  // that take it over twice this close the connection at once.
  int64_t max_output_bytes = 16 * 1024 * 1024;
  // Unsent reply bytes all connections together may hold: a connection held
  // back at max_output_bytes while the total is over this is closed at once.
  int64_t max_total_output_bytes = 256 * 1024 * 1024;
  // A connection held back at max_output_bytes whose peer reads nothing for
  // this long is closed, with one log line naming the peer.
  absl::Duration output_stall_timeout = absl::Seconds(30);
  // A connection holding part of a request with no new byte for this long is
  // closed (a client that sends half a message and stalls).
  absl::Duration stalled_request_timeout = absl::Seconds(60);
  // Connections beyond this are accepted and closed at once, with one
  // rate-limited log line. accept() failing with EMFILE/ENFILE pauses
  // accepting for kAcceptBackoff (rendezvous/listen_socket.h), never spins.
  int64_t max_connections = 65536;
};

struct TorchStoreListenerStats {
  int64_t connections = 0;       // Open now.
  int64_t accepted = 0;          // Since start.
  int64_t closed_for_cause = 0;  // Malformed, over a limit, stalled, ...
  int64_t refused = 0;           // Closed at once: max_connections open.
  int64_t accept_backoffs = 0;   // Times accepting paused on EMFILE/ENFILE.
};

class TorchStoreListener {
 public:
  virtual ~TorchStoreListener() = default;

  // The bound port (the real one when options.port was 0).
  virtual int port() const = 0;
  // "host:port" as clients should dial it ("[::1]:port" for IPv6).
  virtual std::string address() const = 0;
  virtual TorchStoreListenerStats stats() const = 0;
  // Stops accepting, closes every connection (their parked waits leave the
  // KvTable) and joins the loop threads. Idempotent; run by the destructor.
  // Call it before shutting the KvTable down.
  virtual void Shutdown() = 0;
};

// Binds and starts serving. `table` must outlive the listener. Errors:
// InvalidArgument (bad options), Unavailable (the address cannot be bound;
// the message names it and the reason).
absl::StatusOr<std::unique_ptr<TorchStoreListener>> StartTorchStoreListener(
    const TorchStoreListenerOptions& options, KvTable* table);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_LISTENER_H_
