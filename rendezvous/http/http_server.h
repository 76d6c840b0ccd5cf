// HttpServer: tprdzvd's live view over HTTP(S) (cpp-httplib), on its own
// port and its own bounded thread pool, with read and write timeouts, so a
// slow or hostile HTTP client holds at most one of those threads for a few
// seconds and never a gRPC or TCPStore listener thread.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_HTTP_SERVER_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rendezvous/http/routes.h"

namespace tplaunch {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port.
  // PEM certificate and key: both set serves HTTPS (tprdzvd --tls-cert).
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Threads serving requests; connections beyond them queue. A dashboard, a
  // scraper and a curl need few.
  int threads = 4;
  // Longest a request may take to arrive and a reply to be taken; a client
  // slower than this is closed.
  absl::Duration io_timeout = absl::Seconds(5);
  // An idle keep-alive connection is closed after this, freeing its thread.
  absl::Duration keep_alive_timeout = absl::Seconds(2);
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // "host:port" ("[::1]:port" for IPv6).
  virtual std::string address() const = 0;
  // Stops accepting and joins the threads. Idempotent; also the destructor's.
  virtual void Shutdown() = 0;
};

// Binds and serves `sources` in the background. Errors: InvalidArgument
// (unreadable TLS material), Unavailable (the address cannot be bound).
absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const HttpServerOptions& options, LiveSources sources);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_HTTP_SERVER_H_
