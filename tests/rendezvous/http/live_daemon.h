// LiveDaemon: the real tprdzvd binary (runfile rendezvous/tprdzvd) on free
// ports with its live view on (--http-port 0), and a small HTTP client for
// it. Killed at scope exit.
#ifndef TPLAUNCH_TESTS_RENDEZVOUS_HTTP_LIVE_DAEMON_H_
#define TPLAUNCH_TESTS_RENDEZVOUS_HTTP_LIVE_DAEMON_H_

#include <httplib.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {

// The port after the last ':' of the stdout line starting with `prefix`; 0
// while there is none.
inline int PortAfter(const std::string& out, const std::string& prefix) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  lines.pop_back();  // The last piece is still open.
  for (const std::string& line : lines) {
    if (!absl::StartsWith(line, prefix)) continue;
    int port = 0;
    if (absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &port)) return port;
  }
  return 0;
}

class LiveDaemon final {
 public:
  explicit LiveDaemon(const std::vector<std::string>& flags)
      : proc_(Concat({Runfile("rendezvous/tprdzvd"), "--host", "127.0.0.1",
                      "--port", "0", "--http-port", "0", "--log-level", "warn"},
                     flags),
              NoTokenEnv()) {
    const bool up = WaitFor(
        [&] { return PortAfter(proc_.out(), "http listening on ") != 0; },
        absl::Seconds(30));
    INFO("stdout: " << proc_.out() << "; stderr: " << proc_.err());
    REQUIRE(up);
    grpc_port_ = PortAfter(proc_.out(), "listening on 127.0.0.1:");
    http_port_ = PortAfter(proc_.out(), "http listening on 127.0.0.1:");
    REQUIRE(grpc_port_ > 0);
  }

  std::string endpoint() const {
    return absl::StrCat("127.0.0.1:", grpc_port_);
  }
  int http_port() const { return http_port_; }
  std::string out() const { return proc_.out(); }
  std::string err() const { return proc_.err(); }

  // GET `path` with `headers`; a failed request returns status -1.
  struct Reply {
    int status = -1;
    std::string body;
    std::string set_cookie;
  };
  Reply Get(const std::string& path,
            const httplib::Headers& headers = {}) const {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_connection_timeout(10);
    client.set_read_timeout(30);
    Reply reply;
    if (auto res = client.Get(path.c_str(), headers)) {
      reply.status = res->status;
      reply.body = res->body;
      reply.set_cookie = res->get_header_value("Set-Cookie");
    }
    return reply;
  }

 private:
  static SubprocessOptions NoTokenEnv() {
    SubprocessOptions options;
    options.unset_prefixes = {"TPLAUNCH_RDZV_"};
    return options;
  }

  Subprocess proc_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_RENDEZVOUS_HTTP_LIVE_DAEMON_H_
