// Tprdzvd: the real daemon binary (runfile rendezvous/tprdzvd: list
// //rendezvous:tprdzvd in the test's data) as a child process on a given or a
// free port, for tests that kill and restart it.
#ifndef TPLAUNCH_TESTS_RENDEZVOUS_TPRDZVD_PROCESS_H_
#define TPLAUNCH_TESTS_RENDEZVOUS_TPRDZVD_PROCESS_H_

#include <signal.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {

// Generous for a loaded 2-core machine; a start takes milliseconds.
inline constexpr absl::Duration kStartTimeout = absl::Seconds(30);

inline int PortOf(const std::string& line, const std::string& prefix) {
  REQUIRE(absl::StartsWith(line, prefix));
  int port = 0;
  REQUIRE(absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &port));
  return port;
}

// One tprdzvd run on 127.0.0.1:`port` (0: a free one) with `flags`; with
// `torch_store`, flags start its TCPStore listener too.
class Tprdzvd final {
 public:
  Tprdzvd(int port, const std::vector<std::string>& flags,
          bool torch_store = false)
      : proc_(Concat({Runfile("rendezvous/tprdzvd"), "--host", "127.0.0.1",
                      "--port", absl::StrCat(port), "--log-level", "warn"},
                     flags)) {
    const size_t want = torch_store ? 2 : 1;
    std::vector<std::string> lines;
    const bool up = WaitFor(
        [&] {
          lines = absl::StrSplit(proc_.out(), '\n');
          return lines.size() > want;  // The last piece is still open.
        },
        kStartTimeout);
    INFO("stdout: " << proc_.out() << "; stderr: " << proc_.err());
    REQUIRE(up);
    port_ = PortOf(lines[0], "listening on 127.0.0.1:");
    endpoint_ = absl::StrCat("127.0.0.1:", port_);
    if (torch_store) {
      torch_port_ = PortOf(lines[1], "torch store listening on 127.0.0.1:");
    }
  }

  const std::string& endpoint() const { return endpoint_; }
  int port() const { return port_; }
  int torch_port() const { return torch_port_; }
  std::string err() const { return proc_.err(); }

  void Kill() {
    proc_.Kill(SIGKILL);
    REQUIRE(proc_.Wait(kStartTimeout) == 128 + SIGKILL);
  }

 private:
  Subprocess proc_;
  std::string endpoint_;
  int port_ = 0;
  int torch_port_ = 0;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_RENDEZVOUS_TPRDZVD_PROCESS_H_
