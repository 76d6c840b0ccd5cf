#include "rendezvous/torch_store/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rate_limit.h"
#include "rendezvous/listen_socket.h"
#include "rendezvous/logger.h"
#include "rendezvous/torch_store/notice.h"
#include "rendezvous/torch_store/session.h"
#include "store/endpoint.h"

namespace tplaunch {
namespace {

using torch_store::Notice;
using torch_store::NoticeSink;
using torch_store::Session;
using torch_store::StoreContext;

constexpr uint64_t kListenTag = 0;
constexpr uint64_t kWakeTag = 1;
constexpr size_t kReadChunk = 64 * 1024;
// Reads per readiness event, so that one busy client cannot monopolise a loop.
constexpr int kReadsPerEvent = 4;
// Accepts per readiness event, for the same reason.
constexpr int kAcceptsPerEvent = 64;
// Output buffers above this are released once drained.
constexpr size_t kKeepOutputCapacity = 1 << 20;

// The loop's inbox: notices from any thread, signalled through an eventfd.
// Shared with KvTable callbacks, which may outlive the loop; a closed mailbox
// drops what it is given.
class Mailbox final : public NoticeSink {
 public:
  explicit Mailbox(int event_fd) : event_fd_(event_fd) {}

  void Post(uint64_t session_id, Notice notice) override {
    bool was_empty = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      was_empty = items_.empty();
      items_.emplace_back(session_id, std::move(notice));
    }
    if (was_empty) Signal();
  }

  void Signal() {
    const uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the loop will wake anyway.
    ssize_t ignored = write(event_fd_, &one, sizeof(one));
    (void)ignored;
  }

  void Take(std::vector<std::pair<uint64_t, Notice>>* items) {
    std::lock_guard<std::mutex> lock(mu_);
    items->swap(items_);
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    items_.clear();
  }

 private:
  const int event_fd_;
  std::mutex mu_;
  bool closed_ = false;
  std::vector<std::pair<uint64_t, Notice>> items_;
};

struct Shared {
  Shared(const TorchStoreListenerOptions& options, KvTable* table)
      : options(options),
        context(table, options.job, options.limits, options.max_queue_bytes) {}

  const TorchStoreListenerOptions options;
  StoreContext context;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{2};
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> closed_for_cause{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> accept_backoffs{0};
  // Reply bytes produced and not yet sent, all connections together.
  std::atomic<int64_t> unsent_bytes{0};
  // Shared by the loops: one line per interval for each kind of refusal.
  RateLimiter refused_log;
  RateLimiter out_of_fds_log;
};

class Loop final {
 public:
  explicit Loop(Shared* shared) : shared_(shared) {}

  ~Loop() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (event_fd_ >= 0) close(event_fd_);
  }

  absl::Status Init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || event_fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("epoll/eventfd: ", std::strerror(errno)));
    }
    mailbox_ = std::make_shared<Mailbox>(event_fd_);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeTag;
    epoll_event listen{};
    // EPOLLEXCLUSIVE: one loop wakes per incoming connection, not all of them.
    listen.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen.data.u64 = kListenTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &wake) != 0 ||
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, shared_->listen_fd, &listen) != 0) {
      return absl::UnavailableError(
          absl::StrCat("epoll_ctl: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    mailbox_->Signal();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Conn {
    int fd = -1;
    std::unique_ptr<Session> session;
    std::string out;
    size_t out_sent = 0;
    // Input left over while output was backed up.
    std::string pending_in;
    absl::Time last_input;
    // When the peer last took reply bytes (or the output first backed up).
    absl::Time last_drain;
    // This connection's share of Shared::unsent_bytes.
    int64_t accounted = 0;
    uint32_t events = 0;
  };

  void Run() {
    const absl::Duration timeout = shared_->options.stalled_request_timeout;
    const int sweep_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(timeout / 4), 10, 1000));
    absl::Time next_sweep = absl::Now() + absl::Milliseconds(sweep_ms);
    std::vector<epoll_event> events(256);
    std::vector<char> buffer(kReadChunk);
    while (!shared_->stopping.load(std::memory_order_acquire)) {
      int wait_ms = sweep_ms;
      if (accept_paused_) {
        const int64_t left =
            absl::ToInt64Milliseconds(resume_accept_at_ - absl::Now());
        wait_ms = static_cast<int>(std::clamp<int64_t>(left, 0, sweep_ms));
      }
      const int n = epoll_wait(epoll_fd_, events.data(),
                               static_cast<int>(events.size()), wait_ms);
      if (n < 0 && errno != EINTR) {
        RendezvousLogger().error("torch store: epoll_wait: {}",
                                 std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kListenTag) {
          Accept();
        } else if (tag == kWakeTag) {
          DrainMailbox();
        } else {
          HandleEvent(tag, events[i].events, buffer);
        }
      }
      const absl::Time now = absl::Now();
      if (accept_paused_ && now >= resume_accept_at_) ResumeAccept();
      if (now >= next_sweep) {
        SweepStalled(now);
        next_sweep = now + absl::Milliseconds(sweep_ms);
      }
    }
    mailbox_->Close();
    for (auto& [id, conn] : conns_) {
      conn->session.reset();
      close(conn->fd);
      shared_->connections.fetch_sub(1);
    }
    conns_.clear();
  }

  void Accept() {
    for (int i = 0; i < kAcceptsPerEvent; ++i) {
      const int fd = accept4(shared_->listen_fd, nullptr, nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (IsOutOfDescriptors(errno)) PauseAccept(errno);
        return;  // EAGAIN: another loop took it, or none left.
      }
      shared_->accepted.fetch_add(1);
      if (shared_->connections.load() >= shared_->options.max_connections) {
        shared_->refused.fetch_add(1);
        if (RateLimiter::Verdict v = shared_->refused_log.Allow()) {
          RendezvousLogger().warn(
              "torch store: refusing connection from {}: {} connections open "
              "(--max-connections){}",
              PeerName(fd), shared_->options.max_connections,
              v.Suffix(shared_->refused_log.every()));
        }
        close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto conn = std::make_unique<Conn>();
      const uint64_t id = shared_->next_id.fetch_add(1);
      conn->fd = fd;
      conn->session =
          std::make_unique<Session>(&shared_->context, mailbox_, id);
      conn->last_input = absl::Now();
      conn->last_drain = conn->last_input;
      conn->events = EPOLLIN | EPOLLRDHUP;
      epoll_event event{};
      event.events = conn->events;
      event.data.u64 = id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
        close(fd);
        continue;
      }
      shared_->connections.fetch_add(1);
      conns_.emplace(id, std::move(conn));
    }
  }

  // Out of descriptors: the listen socket stays readable, so watching it
  // would spin. Unwatch it for kAcceptBackoff; clients wait in the backlog.
  void PauseAccept(int error) {
    shared_->accept_backoffs.fetch_add(1);
    if (RateLimiter::Verdict v = shared_->out_of_fds_log.Allow()) {
      RendezvousLogger().warn(
          "torch store: accept: {}; new clients wait in the backlog, retrying "
          "every {}{}",
          std::strerror(error), absl::FormatDuration(kAcceptBackoff),
          v.Suffix(shared_->out_of_fds_log.every()));
    }
    if (!accept_paused_) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, shared_->listen_fd, nullptr);
      accept_paused_ = true;
    }
    resume_accept_at_ = absl::Now() + kAcceptBackoff;
  }

  void ResumeAccept() {
    epoll_event listen{};
    listen.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen.data.u64 = kListenTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, shared_->listen_fd, &listen) != 0) {
      // Out of memory for the epoll entry: try again after another backoff.
      resume_accept_at_ = absl::Now() + kAcceptBackoff;
      return;
    }
    accept_paused_ = false;
  }

  void HandleEvent(uint64_t id, uint32_t events, std::vector<char>& buffer) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& conn = *it->second;
    if (events & EPOLLOUT) {
      if (!Flush(conn)) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (!(conn.events & EPOLLIN)) {
        // Backed up: input waits, but a dead peer is closed now (HUP and ERR
        // are reported whatever was asked for).
        if (events & (EPOLLHUP | EPOLLERR)) Close(conn);
        return;
      }
      for (int i = 0; i < kReadsPerEvent; ++i) {
        const ssize_t got = read(conn.fd, buffer.data(), buffer.size());
        if (got > 0) {
          conn.last_input = absl::Now();
          absl::string_view input(buffer.data(), static_cast<size_t>(got));
          if (!Process(conn, input)) return;
          if (!(conn.events & EPOLLIN)) break;
          if (static_cast<size_t>(got) < buffer.size()) break;
          continue;
        }
        if (got == 0) {
          if (conn.session->mid_request()) {
            CloseForCause(conn, "peer closed the connection mid-request");
          } else {
            Close(conn);
          }
          return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) {
          Close(conn);
        } else {
          CloseForCause(conn, absl::StrCat("read: ", std::strerror(errno)));
        }
        return;
      }
      Flush(conn);
    }
  }

  // Runs the session over `input`; keeps what it could not take yet. False
  // when the connection was closed.
  bool Process(Conn& conn, absl::string_view input) {
    const size_t limit = static_cast<size_t>(shared_->options.max_output_bytes);
    absl::Status status = conn.session->Consume(&input, &conn.out, limit);
    if (!status.ok()) {
      CloseForCause(conn, std::string(status.message()));
      return false;
    }
    if (!input.empty()) {
      conn.pending_in.append(input.data(), input.size());
      // Only writability matters until the replies drain.
      if (conn.events & EPOLLIN) conn.last_drain = absl::Now();
      SetEvents(conn, EPOLLOUT);
    }
    return true;
  }

  // Writes what it can. False when the connection was closed.
  bool Flush(Conn& conn) {
    while (conn.out_sent < conn.out.size()) {
      const ssize_t sent = send(conn.fd, conn.out.data() + conn.out_sent,
                                conn.out.size() - conn.out_sent, MSG_NOSIGNAL);
      if (sent > 0) {
        conn.out_sent += static_cast<size_t>(sent);
        conn.last_drain = absl::Now();
        continue;
      }
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (sent < 0 && errno == EINTR) continue;
      Close(conn);  // The peer went away; nothing to report.
      return false;
    }
    if (conn.out_sent == conn.out.size()) {
      conn.out.clear();
      conn.out_sent = 0;
      if (conn.out.capacity() > kKeepOutputCapacity) {
        std::string().swap(conn.out);
      }
      if (!conn.pending_in.empty()) {
        // Resume input held back while output was backed up.
        std::string pending;
        pending.swap(conn.pending_in);
        SetEvents(conn, conn.events | EPOLLIN | EPOLLRDHUP);
        if (!Process(conn, pending)) return false;
        return Flush(conn);
      }
      if (conn.events & EPOLLOUT) SetEvents(conn, conn.events & ~EPOLLOUT);
    } else if (!(conn.events & EPOLLOUT)) {
      SetEvents(conn, conn.events | EPOLLOUT);
    }
    return Account(conn);
  }

  // Keeps Shared::unsent_bytes in step with the memory this connection's
  // output holds (the buffer's capacity: a partly sent reply keeps all of it),
  // and closes a connection held back at its own cap while the listener's
  // total is over max_total_output_bytes: many clients that each stay under
  // their cap must not add up to gigabytes. False when it closed the
  // connection.
  bool Account(Conn& conn) {
    const int64_t held = conn.out_sent < conn.out.size()
                             ? static_cast<int64_t>(conn.out.capacity())
                             : 0;
    const int64_t total =
        shared_->unsent_bytes.fetch_add(held - conn.accounted) + held -
        conn.accounted;
    conn.accounted = held;
    if (!(conn.events & EPOLLIN) && held > 0 &&
        total > shared_->options.max_total_output_bytes) {
      CloseForCause(
          conn,
          absl::StrCat(
              "it does not read its replies: ", conn.out.size() - conn.out_sent,
              " bytes unsent, while all connections' unsent replies "
              "hold ",
              total, " bytes, over the limit of ",
              shared_->options.max_total_output_bytes,
              " (--torch-store-max-total-output-bytes)"));
      return false;
    }
    return true;
  }

  void SetEvents(Conn& conn, uint32_t events) {
    if (events == conn.events) return;
    conn.events = events;
    epoll_event event{};
    event.events = events;
    event.data.u64 = conn.session->id();
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
  }

  void DrainMailbox() {
    uint64_t counter = 0;
    ssize_t ignored = read(event_fd_, &counter, sizeof(counter));
    (void)ignored;
    notices_.clear();
    mailbox_->Take(&notices_);
    touched_.clear();
    for (auto& [id, notice] : notices_) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn& conn = *it->second;
      absl::Status status =
          conn.session->OnNotice(std::move(notice), &conn.out);
      if (!status.ok()) {
        if (absl::IsUnavailable(status)) {
          RendezvousLogger().debug("torch store: closing {}: {}",
                                   PeerName(conn.fd),
                                   std::string(status.message()));
          Close(conn);
        } else {
          CloseForCause(conn, std::string(status.message()));
        }
        continue;
      }
      const int64_t unsent =
          static_cast<int64_t>(conn.out.size() - conn.out_sent);
      if (unsent > 2 * shared_->options.max_output_bytes) {
        CloseForCause(conn,
                      absl::StrCat("it does not read its replies: ", unsent,
                                   " bytes unsent, over twice the limit of ",
                                   shared_->options.max_output_bytes,
                                   " (--torch-store-max-output-bytes)"));
        continue;
      }
      touched_.push_back(id);
    }
    // One write per connection for all the replies this batch produced.
    for (uint64_t id : touched_) {
      auto it = conns_.find(id);
      if (it != conns_.end()) Flush(*it->second);
    }
  }

  void SweepStalled(absl::Time now) {
    const absl::Duration timeout = shared_->options.stalled_request_timeout;
    std::vector<uint64_t> stalled;
    for (const auto& [id, conn] : conns_) {
      if ((conn->events & EPOLLIN) && conn->session->mid_request() &&
          now - conn->last_input >= timeout) {
        stalled.push_back(id);
      }
    }
    for (uint64_t id : stalled) {
      CloseForCause(*conns_.at(id),
                    absl::StrCat("stalled mid-request: no byte for ",
                                 absl::FormatDuration(timeout)));
    }
    // Held back at max_output_bytes and still not reading.
    const absl::Duration output_timeout = shared_->options.output_stall_timeout;
    std::vector<uint64_t> not_reading;
    for (const auto& [id, conn] : conns_) {
      if (!(conn->events & EPOLLIN) &&
          now - conn->last_drain >= output_timeout) {
        not_reading.push_back(id);
      }
    }
    for (uint64_t id : not_reading) {
      Conn& conn = *conns_.at(id);
      CloseForCause(conn, absl::StrCat("it does not read its replies: ",
                                       conn.out.size() - conn.out_sent,
                                       " bytes unsent and none taken for ",
                                       absl::FormatDuration(output_timeout),
                                       " (--torch-store-max-output-bytes ",
                                       shared_->options.max_output_bytes, ")"));
    }
  }

  void CloseForCause(Conn& conn, const std::string& reason) {
    shared_->closed_for_cause.fetch_add(1);
    RendezvousLogger().warn(
        "torch store: closing connection from {} ({}): {}", PeerName(conn.fd),
        torch_store::DialectName(conn.session->dialect()), reason);
    Close(conn);
  }

  void Close(Conn& conn) {
    const uint64_t id = conn.session->id();
    shared_->unsent_bytes.fetch_sub(conn.accounted);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
    close(conn.fd);
    shared_->connections.fetch_sub(1);
    conns_.erase(id);  // Destroys the session: parked waits are cancelled.
  }

  Shared* const shared_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::shared_ptr<Mailbox> mailbox_;
  std::thread thread_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<std::pair<uint64_t, Notice>> notices_;
  std::vector<uint64_t> touched_;
  // Set while the listen socket is unwatched after EMFILE/ENFILE.
  bool accept_paused_ = false;
  absl::Time resume_accept_at_;
};

absl::Status ValidateOptions(const TorchStoreListenerOptions& options,
                             KvTable* table) {
  if (table == nullptr) return absl::InvalidArgumentError("table is null");
  if (options.host.empty()) return absl::InvalidArgumentError("host is empty");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", options.port, " is outside 0..65535"));
  }
  if (options.job.empty()) return absl::InvalidArgumentError("job is empty");
  if (options.threads < 0 || options.threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads ", options.threads, " is outside 0..256"));
  }
  const torch_store::DecoderLimits& limits = options.limits;
  // A key this long could make a 1.x SET look like a 2.x VALIDATE.
  if (limits.max_key_bytes <= 0 ||
      limits.max_key_bytes >=
          static_cast<int64_t>(torch_store::kValidateMagic)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_key_bytes ", limits.max_key_bytes, " must be in 1..",
                     torch_store::kValidateMagic - 1));
  }
  if (limits.max_value_bytes <= 0 || limits.max_keys_per_request <= 0 ||
      limits.max_request_bytes <= 0 || options.max_queue_bytes <= 0 ||
      options.max_output_bytes <= 0 || options.max_total_output_bytes <= 0 ||
      options.max_connections <= 0 ||
      options.output_stall_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("limits must be positive");
  }
  if (options.stalled_request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "stalled_request_timeout must be positive");
  }
  return absl::OkStatus();
}

class TorchStoreListenerImpl final : public TorchStoreListener {
 public:
  TorchStoreListenerImpl(const TorchStoreListenerOptions& options,
                         KvTable* table)
      : shared_(options, table) {}

  ~TorchStoreListenerImpl() override { Shutdown(); }

  absl::Status Start() {
    absl::StatusOr<ListenSocket> socket =
        BindListenSocket(shared_.options.host, shared_.options.port);
    if (!socket.ok()) return socket.status();
    shared_.listen_fd = socket->fd;
    port_ = socket->port;
    address_ = JoinListenHostPort(shared_.options.host, port_);
    int threads = shared_.options.threads;
    if (threads == 0) {
      threads = std::clamp<int>(
          static_cast<int>(std::thread::hardware_concurrency()), 1, 4);
    }
    for (int i = 0; i < threads; ++i) {
      auto loop = std::make_unique<Loop>(&shared_);
      if (absl::Status status = loop->Init(); !status.ok()) {
        Shutdown();
        return status;
      }
      loops_.push_back(std::move(loop));
    }
    for (auto& loop : loops_) loop->Start();
    RendezvousLogger().info(
        "torch store: serving TCPStore clients on {} (job \"{}\", {} loop "
        "threads)",
        address_, shared_.options.job, threads);
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  std::string address() const override { return address_; }

  TorchStoreListenerStats stats() const override {
    TorchStoreListenerStats stats;
    stats.connections = shared_.connections.load();
    stats.accepted = shared_.accepted.load();
    stats.closed_for_cause = shared_.closed_for_cause.load();
    stats.refused = shared_.refused.load();
    stats.accept_backoffs = shared_.accept_backoffs.load();
    return stats;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    shared_.stopping.store(true, std::memory_order_release);
    for (auto& loop : loops_) loop->Stop();
    loops_.clear();
    if (shared_.listen_fd >= 0) {
      close(shared_.listen_fd);
      shared_.listen_fd = -1;
      RendezvousLogger().info("torch store: stopped serving on {}", address_);
    }
  }

 private:
  Shared shared_;
  int port_ = 0;
  std::string address_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TorchStoreListener>> StartTorchStoreListener(
    const TorchStoreListenerOptions& options, KvTable* table) {
  if (absl::Status status = ValidateOptions(options, table); !status.ok()) {
    return status;
  }
  auto listener = std::make_unique<TorchStoreListenerImpl>(options, table);
  if (absl::Status status = listener->Start(); !status.ok()) return status;
  return std::unique_ptr<TorchStoreListener>(std::move(listener));
}

}  // namespace tplaunch
