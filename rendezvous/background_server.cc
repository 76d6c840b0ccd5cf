#include "rendezvous/background_server.h"

#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "rendezvous/listen_socket.h"
#include "rendezvous/logger.h"

namespace tplaunch {
namespace {

class BackgroundServer final : public RendezvousServer {
 public:
  BackgroundServer(ServerOptions options, ListenSocket socket)
      : port_(socket.port),
        address_(JoinListenHostPort(options.host, socket.port)) {
    options.listen_fd = socket.fd;
    starting_ = std::thread([this, options = std::move(options)] {
      auto started = StartRendezvousServer(options);
      if (started.ok()) {
        server_ = *std::move(started);
        return;
      }
      // The failed start has closed the port (the options were checked
      // before), so clients fail at once, naming it.
      RendezvousLogger().error("the rendezvous server on {} did not start: {}",
                               address_, started.status().ToString());
    });
  }
  ~BackgroundServer() override {
    Ready();
    server_.reset();
  }

  int port() const override { return port_; }
  std::string address() const override { return address_; }
  std::string torch_store_address() const override {
    const RendezvousServer* s = Ready();
    return s == nullptr ? "" : s->torch_store_address();
  }
  int torch_store_port() const override {
    const RendezvousServer* s = Ready();
    return s == nullptr ? 0 : s->torch_store_port();
  }
  std::string http_address() const override {
    const RendezvousServer* s = Ready();
    return s == nullptr ? "" : s->http_address();
  }
  ServerStats stats() const override {
    const RendezvousServer* s = Ready();
    return s == nullptr ? ServerStats() : s->stats();
  }
  const std::string& incarnation() const override {
    const RendezvousServer* s = Ready();
    return s == nullptr ? no_incarnation_ : s->incarnation();
  }
  void Shutdown() override {
    if (RendezvousServer* s = Ready()) s->Shutdown();
  }

 private:
  // The server once its start has finished; nullptr if it failed.
  RendezvousServer* Ready() const {
    std::call_once(joined_, [this] { starting_.join(); });
    return server_.get();
  }

  const int port_;
  const std::string address_;
  const std::string no_incarnation_;
  // Written by starting_ only, read after it is joined.
  std::unique_ptr<RendezvousServer> server_;
  mutable std::thread starting_;
  mutable std::once_flag joined_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RendezvousServer>>
StartRendezvousServerInBackground(const ServerOptions& options) {
  if (options.torch_store_port >= 0 || options.http_port >= 0 ||
      !options.state_dir.empty() || options.listen_fd >= 0) {
    return StartRendezvousServer(options);
  }
  // Here, so that bad options fail the call (and never reach the thread
  // with the port bound).
  if (absl::Status valid = ValidateServerOptions(options); !valid.ok()) {
    return valid;
  }
  absl::StatusOr<ListenSocket> socket =
      BindListenSocket(options.host, options.port);
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<RendezvousServer>(
      new BackgroundServer(options, *socket));
}

}  // namespace tplaunch
