#include "rendezvous/grpc_acceptor.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rate_limit.h"
#include "rendezvous/logger.h"

namespace tplaunch {
namespace {

// Accepts per wake-up, so that Stop is never held up by a flood.
constexpr int kAcceptsPerRound = 256;
// Recounting the open connections costs one fstat each; at the cap it is done
// at most this often, so a flood of refused clients costs little.
constexpr absl::Duration kRecountEvery = absl::Milliseconds(50);

// A connection handed to gRPC, recognised later by its socket's inode: gRPC
// closes the descriptor without telling us, and the number may be reused.
struct Handed {
  int fd;
  dev_t dev;
  ino_t ino;
};

class GrpcAcceptorImpl final : public GrpcAcceptor {
 public:
  GrpcAcceptorImpl(ListenSocket socket,
                   grpc::experimental::ExternalConnectionAcceptor* acceptor,
                   int64_t max_connections)
      : socket_(socket), acceptor_(acceptor), max_(max_connections) {}

  ~GrpcAcceptorImpl() override { Stop(); }

  absl::Status Start() {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("eventfd: ", std::strerror(errno)));
    }
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  GrpcAcceptorStats stats() override {
    std::lock_guard<std::mutex> lock(mu_);
    RecountLocked();
    GrpcAcceptorStats stats;
    stats.connections = static_cast<int64_t>(handed_.size());
    stats.accepted = accepted_;
    stats.refused = refused_;
    return stats;
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (wake_fd_ >= 0) {
      const uint64_t one = 1;
      ssize_t ignored = write(wake_fd_, &one, sizeof(one));
      (void)ignored;
    }
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) close(wake_fd_);
    if (socket_.fd >= 0) close(socket_.fd);
    wake_fd_ = socket_.fd = -1;
  }

 private:
  void Run() {
    bool paused = false;
    while (!stopping_.load()) {
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {socket_.fd, POLLIN, 0}};
      // While backing off only the wake-up descriptor is watched: the listen
      // socket stays readable and would wake us at once.
      const int timeout_ms =
          paused ? static_cast<int>(absl::ToInt64Milliseconds(kAcceptBackoff))
                 : -1;
      const int n = poll(fds, paused ? 1 : 2, timeout_ms);
      if (stopping_.load()) break;
      if (n < 0 && errno != EINTR) {
        RendezvousLogger().error("gRPC port: poll: {}", std::strerror(errno));
        paused = true;
        continue;
      }
      paused = AcceptRound();
    }
  }

  // Accepts what is pending; true when out of descriptors (back off).
  bool AcceptRound() {
    for (int i = 0; i < kAcceptsPerRound && !stopping_.load(); ++i) {
      const int fd =
          accept4(socket_.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (IsOutOfDescriptors(errno)) {
          if (RateLimiter::Verdict v = out_of_fds_log_.Allow()) {
            RendezvousLogger().warn(
                "gRPC port: accept: {}; new clients wait in the backlog, "
                "retrying every {}{}",
                std::strerror(errno), absl::FormatDuration(kAcceptBackoff),
                v.Suffix(out_of_fds_log_.every()));
          }
          return true;
        }
        return false;  // EAGAIN: nothing left.
      }
      Handle(fd);
    }
    return false;
  }

  void Handle(int fd) {
    struct stat st {};
    bool refuse = false;
    int64_t open_now = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++accepted_;
      if (static_cast<int64_t>(handed_.size()) >= max_) RecountLocked();
      open_now = static_cast<int64_t>(handed_.size());
      refuse = open_now >= max_ || fstat(fd, &st) != 0;
      if (refuse) {
        ++refused_;
      } else {
        handed_.push_back(Handed{fd, st.st_dev, st.st_ino});
      }
    }
    if (refuse) {
      if (RateLimiter::Verdict v = refused_log_.Allow()) {
        RendezvousLogger().warn(
            "gRPC port: refusing connection from {}: {} connections open "
            "(--max-connections {}){}",
            PeerName(fd), open_now, max_, v.Suffix(refused_log_.every()));
      }
      close(fd);
      return;
    }
    // gRPC's own listener sets this too: small calls must not wait for
    // delayed ACKs.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters
        params;
    params.listener_fd = socket_.fd;
    params.fd = fd;
    acceptor_->HandleNewConnection(&params);
  }

  // Drops the connections gRPC has closed since the last recount.
  void RecountLocked() {
    const absl::Time now = absl::Now();
    if (now < next_recount_) return;
    next_recount_ = now + kRecountEvery;
    std::vector<Handed> open;
    open.reserve(handed_.size());
    for (const Handed& h : handed_) {
      struct stat st {};
      if (fstat(h.fd, &st) == 0 && st.st_dev == h.dev && st.st_ino == h.ino) {
        open.push_back(h);
      }
    }
    handed_.swap(open);
  }

  ListenSocket socket_;
  grpc::experimental::ExternalConnectionAcceptor* const acceptor_;
  const int64_t max_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  RateLimiter refused_log_;
  RateLimiter out_of_fds_log_;

  std::mutex mu_;
  std::vector<Handed> handed_;
  absl::Time next_recount_ = absl::InfinitePast();
  int64_t accepted_ = 0;
  int64_t refused_ = 0;

  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcAcceptor>> StartGrpcAcceptor(
    ListenSocket socket,
    grpc::experimental::ExternalConnectionAcceptor* acceptor,
    int64_t max_connections) {
  if (max_connections < 1) {
    close(socket.fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "max_connections must be at least 1, got ", max_connections));
  }
  auto impl =
      std::make_unique<GrpcAcceptorImpl>(socket, acceptor, max_connections);
  if (absl::Status status = impl->Start(); !status.ok()) return status;
  return std::unique_ptr<GrpcAcceptor>(std::move(impl));
}

}  // namespace tplaunch
