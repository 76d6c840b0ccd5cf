// TorchStoreClient: a blocking-style TCPStore test client over a real socket:
// raw bytes or encoded requests out, every read with a deadline. Shared by the
// TCPStore listener's tests and the daemon's TCPStore tests.
#ifndef TPLAUNCH_TESTS_TESTING_TORCH_STORE_CLIENT_H_
#define TPLAUNCH_TESTS_TESTING_TORCH_STORE_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rendezvous/torch_store/encoder.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"

namespace tplaunch {
namespace testing {

class TorchStoreClient {
 public:
  static constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);

  explicit TorchStoreClient(int port, const char* host = "127.0.0.1",
                            int family = AF_INET) {
    fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    int rc;
    if (family == AF_INET6) {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, host, &addr.sin6_addr);
      rc = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host, &addr.sin_addr);
      rc = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    }
    REQUIRE(rc == 0);
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TorchStoreClient() {
    if (fd_ >= 0) close(fd_);
  }
  TorchStoreClient(const TorchStoreClient&) = delete;
  TorchStoreClient& operator=(const TorchStoreClient&) = delete;

  void SendHex(absl::string_view hex) { Send(torch_store::Hex(hex)); }
  void Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      sent += static_cast<size_t>(n);
    }
  }

  // Reads exactly n bytes; returns fewer only if the peer closed or the
  // deadline passed.
  std::string Read(size_t n, absl::Duration timeout = kDefaultTimeout) {
    std::string out;
    const absl::Time deadline = absl::Now() + timeout;
    while (out.size() < n) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buffer[65536];
      const ssize_t got =
          read(fd_, buffer, std::min(sizeof(buffer), n - out.size()));
      if (got <= 0) break;
      out.append(buffer, static_cast<size_t>(got));
    }
    return out;
  }
  std::string ReadHex(size_t n) { return torch_store::ToHex(Read(n)); }
  // Sends `request` encoded in PyTorch 1.x's layout.
  void Send(const torch_store::Request& request) {
    Send(torch_store::EncodeRequest(torch_store::Dialect::kV1, request));
  }
  // A 1.x blob reply: u64 length, then the bytes.
  std::string ReadBlob() {
    const std::string length = Read(8);
    REQUIRE(length.size() == 8);
    uint64_t n = 0;
    std::memcpy(&n, length.data(), 8);
    return Read(n);
  }

  // True when nothing arrives within `timeout` (the connection stays open).
  bool Quiet(absl::Duration timeout) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) ==
           0;
  }

  // True when the server closes the connection before the deadline.
  bool ClosedByPeer(absl::Duration timeout = kDefaultTimeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t got = read(fd_, buffer, sizeof(buffer));
      if (got == 0 || (got < 0 && errno == ECONNRESET)) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TESTING_TORCH_STORE_CLIENT_H_
