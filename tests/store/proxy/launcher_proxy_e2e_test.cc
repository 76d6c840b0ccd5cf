// End to end, real tplaunch and tprdzvd binaries on 127.0.0.1: a two-node job
// whose workers reach the daemon through their node's store proxy
// (launcher/topology/local_proxy.h). Every wait is on a process exit or a
// line it printed.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::Daemon;
using testing::Runfile;
using testing::Subprocess;
using testing::TwoNodeTplaunch;
using testing::WaitFor;

// Generous: a loaded 2-core machine runs two launchers and their workers.
constexpr absl::Duration kLong = absl::Seconds(90);

// The launchers' TMPDIR: short, so the socket path fits sockaddr_un (Bazel's
// TEST_TMPDIR may not), and removed at the end.
class ShortTmpDir {
 public:
  ShortTmpDir() {
    std::string pattern = "/tmp/tpproxy-e2e-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~ShortTmpDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The proxy directories under `dir`.
std::vector<std::string> ProxyDirs(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "tplaunch-proxy-")) found.push_back(name);
  }
  return found;
}

// How often `what` occurs in `text`.
size_t Count(const std::string& text, const std::string& what) {
  const std::vector<absl::string_view> pieces = absl::StrSplit(text, what);
  return pieces.size() - 1;
}

const std::vector<std::string> kExtra = {"--local-addr", "127.0.0.1",
                                         "--heartbeat-interval", "200ms"};

TEST_CASE("two nodes: the workers train through their node's store proxy") {
  Daemon d;
  ShortTmpDir tmp;
  const std::map<std::string, std::string> env = {{"TMPDIR", tmp.path()}};
  const std::vector<std::string> program = {
      "/bin/sh", "-c",
      absl::StrCat("echo endpoint=$TPLAUNCH_RDZV_ENDPOINT; exec ",
                   Runfile("examples/train"), " --steps 5")};
  Subprocess a(TwoNodeTplaunch(d, "proxied", 2, kExtra, program), env);
  Subprocess b(TwoNodeTplaunch(d, "proxied", 2, kExtra, program), env);
  const auto a_rc = a.Wait(kLong);
  const auto b_rc = b.Wait(kLong);
  INFO(a.err() << b.err() << a.out() << b.out());
  REQUIRE(a_rc == 0);
  REQUIRE(b_rc == 0);
  // Every worker dialled a proxy socket in its launcher's private directory,
  // not the daemon; each launcher served one.
  const std::string socket_prefix =
      absl::StrCat("endpoint=unix:", tmp.path(), "/tplaunch-proxy-");
  CHECK(Count(a.out() + b.out(), socket_prefix) == 4);
  CHECK_FALSE(absl::StrContains(a.out() + b.out(),
                                absl::StrCat("endpoint=", d.endpoint())));
  CHECK(Count(a.err(), "store proxy for the local workers on unix:") == 1);
  CHECK(Count(b.err(), "store proxy for the local workers on unix:") == 1);
  // The proxies' directories went with their launchers.
  CHECK(ProxyDirs(tmp.path()).empty());
}

TEST_CASE("a SIGKILLed launcher's proxy directory goes with the next launch") {
  Daemon d;
  ShortTmpDir tmp;
  const std::map<std::string, std::string> env = {{"TMPDIR", tmp.path()}};
  {
    const std::vector<std::string> sleeper = {
        "/bin/sh", "-c",
        "echo endpoint=$TPLAUNCH_RDZV_ENDPOINT; exec sleep 120"};
    Subprocess a(TwoNodeTplaunch(d, "killed", 1, kExtra, sleeper), env);
    Subprocess b(TwoNodeTplaunch(d, "killed", 1, kExtra, sleeper), env);
    const bool started = WaitFor(
        [&] {
          return absl::StrContains(a.out(), "endpoint=unix:") &&
                 absl::StrContains(b.out(), "endpoint=unix:");
        },
        kLong);
    INFO(a.err() << b.err());
    REQUIRE(started);
    a.Kill(SIGKILL);
    b.Kill(SIGKILL);
    CHECK(a.Wait(kLong).has_value());
    CHECK(b.Wait(kLong).has_value());
  }
  // Nobody could remove them: a SIGKILL runs no cleanup.
  CHECK(ProxyDirs(tmp.path()).size() == 2);

  const std::vector<std::string> program = {"/bin/true"};
  Subprocess c(TwoNodeTplaunch(d, "next", 1, kExtra, program), env);
  Subprocess e(TwoNodeTplaunch(d, "next", 1, kExtra, program), env);
  const auto c_rc = c.Wait(kLong);
  const auto e_rc = e.Wait(kLong);
  INFO(c.err() << e.err());
  REQUIRE(c_rc == 0);
  REQUIRE(e_rc == 0);
  CHECK(absl::StrContains(
      c.err() + e.err(), "store proxy directories of launchers that are gone"));
  CHECK(ProxyDirs(tmp.path()).empty());
}

}  // namespace
}  // namespace tplaunch
