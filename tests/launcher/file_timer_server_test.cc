// FileTimerServer with real processes and a real FIFO: a worker past its
// deadline gets its signal and KillOf names it, a descendant is traced to its
// worker's rank, a release is honoured, and foreign pids and malformed lines
// are dropped with the reason, never signalled.
#include "launcher/file_timer_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <mutex>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::WaitFor;

// Collects the server's notices (its thread) for the test's thread.
class Notices {
 public:
  std::function<void(const std::string&)> Sink() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
  }
  bool Has(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// One FileTimerClient write: open non-blocking, one line, close.
void Send(const std::string& fifo, const std::string& line) {
  int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  REQUIRE(fd >= 0);
  const std::string data = line + "\n";
  REQUIRE(write(fd, data.data(), data.size()) ==
          static_cast<ssize_t>(data.size()));
  close(fd);
}

std::string Acquire(pid_t pid, const std::string& scope, absl::Duration in,
                    int signal) {
  return absl::StrCat(
      R"({"version": 1, "pid": )", pid, R"(, "scope_id": ")", scope,
      R"(", "expiration_time": )",
      absl::StrFormat(
          "%.6f", absl::ToDoubleSeconds(absl::Now() + in - absl::UnixEpoch())),
      R"(, "signal": )", signal, "}");
}

std::string Release(pid_t pid, const std::string& scope) {
  return absl::StrCat(R"({"version": 1, "pid": )", pid, R"(, "scope_id": ")",
                      scope, R"(", "expiration_time": -1, "signal": 0})");
}

TEST_CASE("a worker past its deadline is signalled and named") {
  const std::string dir = MakeTempDir();
  Notices notices;
  FileTimerServerOptions o;
  o.path = dir + "/timer";
  o.on_notice = notices.Sink();
  auto server = FileTimerServer::Create(o);
  REQUIRE(server.ok());
  struct stat st;
  REQUIRE(stat(o.path.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));

  Subprocess worker({"/bin/sleep", "60"});
  // A worker whose child asks: the rank is the worker's.
  const std::string pid_file = dir + "/child.pid";
  Subprocess parent(
      {"/bin/sh", "-c",
       absl::StrCat("sleep 60 & echo $! > ", pid_file, "; wait $!")});
  REQUIRE(WaitFor([&] { return !ReadFile(pid_file).empty(); }));
  int child = 0;
  REQUIRE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(pid_file)), &child));
  Subprocess spared({"/bin/sleep", "60"});
  Subprocess stranger({"/bin/sleep", "60"});

  // Written before Start: they wait in the FIFO.
  Send(o.path, Acquire(worker.pid(), "step", absl::Milliseconds(200), SIGKILL));
  (*server)->Start({{worker.pid(), 3}, {parent.pid(), 5}, {spared.pid(), 6}});
  Send(o.path, Acquire(child, "io", absl::Milliseconds(100), SIGTERM));
  Send(o.path,
       Acquire(spared.pid(), "quick", absl::Milliseconds(300), SIGKILL));
  Send(o.path, Release(spared.pid(), "quick"));
  Send(o.path, Acquire(stranger.pid(), "evil", absl::ZeroDuration(), SIGKILL));
  Send(o.path, "{not json");

  REQUIRE(worker.Wait(absl::Seconds(10)) == 128 + SIGKILL);
  auto kill = (*server)->KillOf(3);
  REQUIRE(kill.has_value());
  CHECK(kill->pid == worker.pid());
  CHECK(kill->scope_id == "step");
  CHECK(kill->signal == SIGKILL);
  CHECK_THAT(kill->Describe(), Catch::Contains("sent SIGKILL to rank 3") &&
                                   Catch::Contains("scope 'step'"));

  REQUIRE(parent.Wait(absl::Seconds(10)) == 128 + SIGTERM);
  auto traced = (*server)->KillOf(5);
  REQUIRE(traced.has_value());
  CHECK(traced->pid == child);

  REQUIRE(WaitFor([&] { return notices.Has("{not json"); }));
  CHECK(notices.Has("dropped request '{not json': expected"));
  CHECK(notices.Has(
      absl::StrCat("pid ", stranger.pid(), " is not a worker of this node")));
  CHECK(testing::IsAlive(stranger.pid()));
  // Released before its deadline: still running well after it.
  CHECK_FALSE(WaitFor([&] { return !testing::IsAlive(spared.pid()); },
                      absl::Milliseconds(600)));
  CHECK_FALSE((*server)->KillOf(6).has_value());

  server->reset();
  CHECK(stat(o.path.c_str(), &st) != 0);  // The FIFO is removed.
}

TEST_CASE("a line over the size limit is dropped, the next one is read") {
  const std::string dir = MakeTempDir();
  Notices notices;
  FileTimerServerOptions o;
  o.path = dir + "/timer";
  o.on_notice = notices.Sink();
  auto server = FileTimerServer::Create(o);
  REQUIRE(server.ok());
  (*server)->Start({});
  int fd = open(o.path.c_str(), O_WRONLY | O_NONBLOCK);
  REQUIRE(fd >= 0);
  const std::string big(10000, 'a');
  REQUIRE(write(fd, big.data(), big.size()) ==
          static_cast<ssize_t>(big.size()));
  REQUIRE(write(fd, "\nnext\n", 6) == 6);
  close(fd);
  REQUIRE(WaitFor([&] { return notices.Has("dropped request 'next'"); }));
  CHECK(notices.Has("over the 4096-byte limit"));
}

}  // namespace
}  // namespace tplaunch
