#include "tests/launcher/restartable_daemon.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {

RestartableDaemon::RestartableDaemon(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  Start(0);
}

void RestartableDaemon::Start(int port) {
  std::vector<std::string> argv = {Runfile("rendezvous/tprdzvd"), "--host",
                                   "127.0.0.1", "--port", absl::StrCat(port)};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = std::make_unique<Subprocess>(argv);
  constexpr absl::string_view kPrefix = "listening on ";
  std::string line;
  const bool listening = WaitFor(
      [&] {
        const std::string out = proc_->out();
        const size_t eol = out.find('\n');
        if (eol == std::string::npos) return false;
        line = out.substr(0, eol);
        return true;
      },
      absl::Seconds(20));
  if (!listening || !absl::StartsWith(line, kPrefix)) {
    FAIL("tprdzvd --port " << port << " printed no 'listening on' line in "
                           << "20s; stdout: " << proc_->out()
                           << "; stderr: " << proc_->err());
  }
  endpoint_ = line.substr(kPrefix.size());
  const size_t colon = endpoint_.rfind(':');
  REQUIRE(colon != std::string::npos);
  REQUIRE(absl::SimpleAtoi(endpoint_.substr(colon + 1), &port_));
  if (port != 0) REQUIRE(port_ == port);
}

void RestartableDaemon::Kill() {
  proc_->Kill(SIGKILL);
  REQUIRE(proc_->Wait(absl::Seconds(10)).has_value());
}

void RestartableDaemon::Freeze() { proc_->Kill(SIGSTOP); }

void RestartableDaemon::Thaw() { proc_->Kill(SIGCONT); }

void RestartableDaemon::Restart() {
  Kill();
  Start(port_);
}

}  // namespace testing
}  // namespace tplaunch
