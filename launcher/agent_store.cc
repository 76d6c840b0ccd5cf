#include "launcher/agent_store.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rendezvous/torch_store/encoder.h"
#include "rendezvous/torch_store/protocol.h"
#include "store/endpoint.h"

namespace tplaunch {
namespace {

using torch_store::Dialect;
using torch_store::EncodeRequest;
using torch_store::Op;
using torch_store::Request;

// Keys LIST_KEYS may return: far above any real job, and it bounds what a
// misbehaving peer can make us allocate.
constexpr uint64_t kMaxKeys = 1 << 20;
constexpr uint64_t kMaxKeyBytes = 1 << 20;

// One blocking-style connection whose every step shares one deadline.
class Connection {
 public:
  Connection(std::string endpoint, absl::Time deadline)
      : endpoint_(std::move(endpoint)), deadline_(deadline) {}
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  absl::Status Connect(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = absl::StrCat(port);
    if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
        rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve the TCPStore listener ", endpoint_, ": ",
                       gai_strerror(rc)));
    }
    std::string last_error = "no address";
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      int fd =
          socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) continue;
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
          errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t len = sizeof(error);
      if (poll(&p, 1, MillisLeft()) != 1 ||
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 ||
          error != 0) {
        last_error = error != 0 ? std::strerror(error) : "timed out";
        close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fd_ = fd;
      break;
    }
    freeaddrinfo(found);
    if (fd_ < 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to the TCPStore listener ", endpoint_, ": ",
          last_error, " (is tprdzvd running with --torch-store-port?)"));
    }
    return absl::OkStatus();
  }

  absl::Status Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return Closed();
      if (absl::Status s = Ready(POLLOUT); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Read(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      const ssize_t r = read(fd_, out.data() + got, n - got);
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) return Closed();
      if (absl::Status s = Ready(POLLIN); !s.ok()) return s;
    }
    return out;
  }

  absl::StatusOr<int64_t> ReadI64() {
    auto bytes = Read(8);
    if (!bytes.ok()) return bytes.status();
    int64_t v = 0;
    std::memcpy(&v, bytes->data(), 8);  // Little-endian, as the host.
    return v;
  }

 private:
  int MillisLeft() const {
    const int64_t left = absl::ToInt64Milliseconds(deadline_ - absl::Now());
    return static_cast<int>(
        std::max<int64_t>(0, std::min<int64_t>(left, 1 << 30)));
  }

  // Waits for `events` until the deadline.
  absl::Status Ready(short events) {
    pollfd p{fd_, events, 0};
    const int rc = poll(&p, 1, MillisLeft());
    if (rc == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the TCPStore listener ", endpoint_, " did not answer in time"));
    }
    return absl::OkStatus();
  }

  absl::Status Closed() const {
    return absl::UnavailableError(absl::StrCat(
        "the TCPStore listener ", endpoint_, " closed the connection"));
  }

  std::string endpoint_;
  absl::Time deadline_;
  int fd_ = -1;
};

}  // namespace

absl::StatusOr<int64_t> ClearTorchStoreKeys(const Endpoint& listener,
                                            absl::string_view prefix,
                                            absl::Duration timeout) {
  const std::string endpoint = listener.ToString();
  Connection conn(endpoint, absl::Now() + timeout);
  if (absl::Status s = conn.Connect(listener.host, listener.port); !s.ok()) {
    return s;
  }

  Request validate;
  validate.op = Op::kValidate;
  validate.u32 = torch_store::kValidateMagic;
  Request list;
  list.op = Op::kListKeys;
  if (absl::Status s = conn.Send(EncodeRequest(Dialect::kV2, validate) +
                                 EncodeRequest(Dialect::kV2, list));
      !s.ok()) {
    return s;
  }
  auto count = conn.ReadI64();
  if (!count.ok()) return count.status();
  if (*count < 0 || static_cast<uint64_t>(*count) > kMaxKeys) {
    return absl::UnavailableError(absl::StrCat(
        "the TCPStore listener ", endpoint, " listed ", *count, " keys"));
  }
  std::vector<std::string> doomed;
  for (int64_t i = 0; i < *count; ++i) {
    auto length = conn.ReadI64();
    if (!length.ok()) return length.status();
    if (*length < 0 || static_cast<uint64_t>(*length) > kMaxKeyBytes) {
      return absl::UnavailableError(absl::StrCat("the TCPStore listener ",
                                                 endpoint, " sent a key of ",
                                                 *length, " bytes"));
    }
    auto key = conn.Read(static_cast<size_t>(*length));
    if (!key.ok()) return key.status();
    if (absl::StartsWith(*key, prefix)) doomed.push_back(*std::move(key));
  }

  // Pipelined: every DELETE_KEY at once, then their replies in order.
  std::string deletes;
  for (const std::string& key : doomed) {
    Request del;
    del.op = Op::kDeleteKey;
    del.keys = {key};
    deletes += EncodeRequest(Dialect::kV2, del);
  }
  if (absl::Status s = conn.Send(deletes); !s.ok()) return s;
  int64_t deleted = 0;
  for (size_t i = 0; i < doomed.size(); ++i) {
    auto existed = conn.ReadI64();
    if (!existed.ok()) return existed.status();
    deleted += *existed;
  }
  return deleted;
}

}  // namespace tplaunch
