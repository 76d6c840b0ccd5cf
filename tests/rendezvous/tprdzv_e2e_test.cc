// End to end: the real tprdzvd binary on port 0, driven by the real tprdzvctl
// binary, both found in the test's runfiles and run as child processes. Every
// read from a child has a deadline, so a hung binary fails the test instead of
// stalling it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace tplaunch {
namespace {

// Generous for a loaded 2-core machine; a healthy run takes milliseconds per
// command.
constexpr absl::Duration kCommandTimeout = absl::Seconds(30);

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  REQUIRE(srcdir != nullptr);
  REQUIRE(workspace != nullptr);
  return absl::StrCat(srcdir, "/", workspace, "/", path);
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  REQUIRE(out.good());
}

// This process's environment without the variables tprdzvctl reads, plus
// `extra`, so the test controls exactly which token and endpoint a child sees.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** var = environ; *var != nullptr; ++var) {
    if (absl::StartsWith(*var, "TPLAUNCH_RDZV_")) continue;
    env.push_back(*var);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// A child process with its stdout and stderr on pipes (stdin: the given bytes).
class Child {
 public:
  Child(std::vector<std::string> argv,
        const std::vector<std::string>& extra_env = {},
        const std::string& stdin_bytes = "") {
    int out[2], err[2], in[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<std::string> env = ChildEnvironment(extra_env);
    std::vector<char*> c_argv = CStrings(argv);
    std::vector<char*> c_env = CStrings(env);
    const int rc = posix_spawn(&pid_, c_argv[0], &actions, nullptr,
                               c_argv.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    close(in[0]);
    INFO("spawning " << argv[0] << ": " << std::strerror(rc));
    REQUIRE(rc == 0);
    out_fd_ = out[0];
    err_fd_ = err[0];
    // Small inputs fit the pipe buffer, so this never blocks on the child.
    if (!stdin_bytes.empty()) {
      REQUIRE(write(in[1], stdin_bytes.data(), stdin_bytes.size()) ==
              static_cast<ssize_t>(stdin_bytes.size()));
    }
    close(in[1]);
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads stdout until it holds a full line or `timeout` passes; returns the
  // line.
  std::string ReadLine(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (out_.find('\n') == std::string::npos) {
      if (!Pump(deadline)) break;
    }
    const size_t newline = out_.find('\n');
    if (newline == std::string::npos) return "";
    std::string line = out_.substr(0, newline);
    out_.erase(0, newline + 1);
    return line;
  }

  // Reads both pipes to EOF, then reaps the child. Returns its exit code, or -1
  // (after killing it) when it did not finish within `timeout`.
  int Finish(absl::Duration timeout = kCommandTimeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      if (!Pump(deadline)) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return -1;
      }
    }
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

 private:
  // Waits for output until `deadline`; false when the deadline passed first.
  bool Pump(absl::Time deadline) {
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) return false;
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) return false;
    const int ready = poll(fds, n, static_cast<int>(wait_ms));
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      int& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
      std::string& sink = fds[i].fd == out_fd_ ? out_ : err_;
      char buffer[4096];
      const ssize_t got = read(fd, buffer, sizeof(buffer));
      if (got > 0) {
        sink.append(buffer, got);
      } else if (got == 0 || errno != EINTR) {
        close(fd);
        fd = -1;
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

struct Result {
  int exit_code;
  std::string out;
  std::string err;
};

// A running tprdzvd on 127.0.0.1, port 0, with a token.
class Daemon {
 public:
  explicit Daemon(const std::string& token_file)
      : child_({Runfile("rendezvous/tprdzvd"), "--host", "127.0.0.1", "--port",
                "0", "--token-file", token_file, "--log-level", "warn"}) {
    const std::string line = child_.ReadLine(kCommandTimeout);
    INFO("first stdout line: '" << line << "', stderr: " << child_.err());
    REQUIRE(absl::StartsWith(line, "listening on "));
    endpoint_ = std::string(absl::StripPrefix(line, "listening on "));
    REQUIRE(absl::StartsWith(endpoint_, "127.0.0.1:"));
  }

  const std::string& endpoint() const { return endpoint_; }

  // SIGTERM; returns the exit code (-1 if it did not exit in time).
  int Terminate() {
    REQUIRE(kill(child_.pid(), SIGTERM) == 0);
    return child_.Finish();
  }

  const std::string& err() const { return child_.err(); }

 private:
  Child child_;
  std::string endpoint_;
};

// Runs tprdzvctl with `args` and returns what it did.
Result Ctl(const std::vector<std::string>& args,
           const std::vector<std::string>& extra_env = {},
           const std::string& stdin_bytes = "") {
  std::vector<std::string> argv = {Runfile("rendezvous/tprdzvctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  Child child(argv, extra_env, stdin_bytes);
  const int code = child.Finish();
  return {code, child.out(), child.err()};
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

#define REQUIRE_CTL(result, code, stdout_text)            \
  do {                                                    \
    const Result& r_ = (result);                          \
    INFO("stdout: " << r_.out << "\nstderr: " << r_.err); \
    REQUIRE(r_.exit_code == (code));                      \
    REQUIRE(r_.out == (stdout_text));                     \
  } while (false)

TEST_CASE("tprdzvd + tprdzvctl: a session against the real binaries", "[e2e]") {
  const std::string token_file = TempPath("token");
  WriteFile(token_file,
            "e2e-secret\n");  // A trailing newline, as editors leave one.
  Daemon daemon(token_file);
  const std::vector<std::string> ctl = {"--endpoint",   daemon.endpoint(),
                                        "--token-file", token_file,
                                        "--job",        "e2e"};

  REQUIRE_CTL(Ctl(Concat(ctl, {"set", "a", "hello"})), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"get", "a"})), 0, "hello");
  REQUIRE_CTL(Ctl(Concat(ctl, {"try-get", "a"})), 0, "hello");
  REQUIRE_CTL(Ctl(Concat(ctl, {"add", "n", "5"})), 0, "5\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"add", "n"})), 0, "6\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"--timeout", "5s", "wait", "a", "n"})), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"check", "a", "n"})), 0, "true\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"check", "a", "missing"})), 0, "false\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"keys"})), 0, "a\nn\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"keys", "n"})), 0, "n\n");
  REQUIRE_CTL(Ctl(Concat(ctl, {"num-keys"})), 0, "2\n");

  // Values are bytes: "-" reads one from stdin, get prints it back unchanged.
  const std::string binary("\0\x01\xff\n tail", 9);
  REQUIRE_CTL(Ctl(Concat(ctl, {"set", "blob", "-"}), {}, binary), 0, "");
  REQUIRE_CTL(Ctl(Concat(ctl, {"get", "blob"})), 0, binary);

  SECTION("a blocked get is released by a set from another process") {
    Child getter(Concat({Runfile("rendezvous/tprdzvctl")},
                        Concat(ctl, {"--timeout", "30s", "get", "late"})));
    // Wait until the daemon has parked the get, so the set really releases it.
    const absl::Time deadline = absl::Now() + kCommandTimeout;
    while (
        !absl::StrContains(Ctl(Concat(ctl, {"stats"})).out, "\"waiters\": 1")) {
      REQUIRE(absl::Now() < deadline);
    }
    REQUIRE_CTL(Ctl(Concat(ctl, {"set", "late", "arrived"})), 0, "");
    REQUIRE(getter.Finish() == 0);
    REQUIRE(getter.out() == "arrived");
  }

  SECTION("failures exit 1 with the daemon's error on stderr") {
    const Result timed_out =
        Ctl(Concat(ctl, {"--timeout", "200ms", "get", "nope"}));
    REQUIRE(timed_out.exit_code == 1);
    CHECK(absl::StrContains(timed_out.err, "DEADLINE_EXCEEDED"));
    CHECK(absl::StrContains(timed_out.err, "'nope'"));
    CHECK(absl::StrContains(timed_out.err, "200ms"));

    const Result not_found = Ctl(Concat(ctl, {"try-get", "nope"}));
    REQUIRE(not_found.exit_code == 1);
    CHECK(absl::StrContains(not_found.err, "NOT_FOUND"));

    const Result not_a_number = Ctl(Concat(ctl, {"add", "a", "1"}));
    REQUIRE(not_a_number.exit_code == 1);
    CHECK(absl::StrContains(not_a_number.err, "FAILED_PRECONDITION"));
  }

  SECTION("the token is checked") {
    const std::string wrong_file = TempPath("wrong_token");
    WriteFile(wrong_file, "not-the-secret");
    const Result wrong = Ctl({"--endpoint", daemon.endpoint(), "--token-file",
                              wrong_file, "--job", "e2e", "get", "a"});
    INFO(wrong.err);
    REQUIRE(wrong.exit_code == 1);
    CHECK(wrong.out.empty());
    CHECK(absl::StrContains(wrong.err, "UNAUTHENTICATED"));

    const Result missing =
        Ctl({"--endpoint", daemon.endpoint(), "--job", "e2e", "set", "a", "x"});
    REQUIRE(missing.exit_code == 1);
    CHECK(absl::StrContains(missing.err, "UNAUTHENTICATED"));
    REQUIRE_CTL(Ctl(Concat(ctl, {"get", "a"})), 0,
                "hello");  // Not overwritten.

    // The token and endpoint may come from the environment instead of flags.
    REQUIRE_CTL(
        Ctl({"--job", "e2e", "try-get", "a"},
            {"TPLAUNCH_RDZV_TOKEN=e2e-secret",
             absl::StrCat("TPLAUNCH_RDZV_ENDPOINT=", daemon.endpoint())}),
        0, "hello");
  }

  SECTION("command-line mistakes exit 2 with a usage message") {
    const std::vector<std::vector<std::string>> mistakes = {
        {"--endpoint", daemon.endpoint()},               // No subcommand.
        Concat(ctl, {"frobnicate"}),                     // Unknown one.
        Concat(ctl, {"get"}),                            // Missing KEY.
        Concat(ctl, {"--no-such-flag", "get", "a"}),     // Unknown flag.
        Concat(ctl, {"--timeout", "soon", "get", "a"}),  // Bad duration.
        Concat(ctl, {"add", "n", "lots"}),               // Bad DELTA.
        {"--endpoint", daemon.endpoint(), "get", "a"},   // No --job.
        {"--endpoint", "host:notaport", "--job", "e2e", "get",
         "a"},                         // Bad endpoint.
        {"--job", "e2e", "get", "a"},  // No endpoint.
        Concat(ctl, {"--token-file", TempPath("absent"), "get", "a"}),
    };
    for (const std::vector<std::string>& args : mistakes) {
      const Result usage = Ctl(args);
      INFO("args: " << absl::StrJoin(args, " ") << "\nstderr: " << usage.err);
      REQUIRE(usage.exit_code == 2);
      CHECK(usage.out.empty());
      CHECK(absl::StrContains(usage.err, "Usage:"));
    }
    const Result help = Ctl({"--help"});
    REQUIRE(help.exit_code == 0);
    CHECK(absl::StrContains(help.out, "Usage:"));
  }

  SECTION("delete-key, delete-job, stats and health") {
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-key", "a"})), 0, "true\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-key", "a"})), 0, "false\n");
    const Result stats = Ctl(Concat(ctl, {"stats"}));
    REQUIRE(stats.exit_code == 0);
    CHECK(absl::StrContains(stats.out, "\"jobs\": 1"));
    CHECK(absl::StrContains(stats.out, "\"keys\": 2"));
    REQUIRE_CTL(Ctl(Concat(ctl, {"health"})), 0, "SERVING\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"delete-job"})), 0, "2\n");
    REQUIRE_CTL(Ctl(Concat(ctl, {"num-keys"})), 0, "0\n");
  }

  const int exit_code = daemon.Terminate();
  INFO("daemon stderr: " << daemon.err());
  REQUIRE(exit_code == 0);
}

TEST_CASE("tprdzvd + tprdzvctl: SIGTERM releases a blocked get at once",
          "[e2e]") {
  const std::string token_file = TempPath("token");
  WriteFile(token_file, "e2e-secret");
  Daemon daemon(token_file);
  const std::vector<std::string> ctl = {"--endpoint",   daemon.endpoint(),
                                        "--token-file", token_file,
                                        "--job",        "e2e"};
  Child getter(Concat({Runfile("rendezvous/tprdzvctl")},
                      Concat(ctl, {"--timeout", "60s", "get", "never"})));
  const absl::Time deadline = absl::Now() + kCommandTimeout;
  while (
      !absl::StrContains(Ctl(Concat(ctl, {"stats"})).out, "\"waiters\": 1")) {
    REQUIRE(absl::Now() < deadline);
  }
  const absl::Time terminated_at = absl::Now();
  REQUIRE(daemon.Terminate() == 0);
  REQUIRE(getter.Finish(absl::Seconds(10)) == 1);
  CHECK(absl::Now() - terminated_at < absl::Seconds(10));
  INFO(getter.err());
  CHECK((absl::StrContains(getter.err(), "UNAVAILABLE") ||
         absl::StrContains(getter.err(), "CANCELLED")));
}

TEST_CASE("tprdzvctl: an unreachable daemon exits 1 after --connect-timeout",
          "[e2e]") {
  // Port 1 on loopback: nothing listens there and connecting is refused at
  // once.
  const Result result = Ctl({"--endpoint", "127.0.0.1:1", "--connect-timeout",
                             "300ms", "--job", "e2e", "get", "a"});
  INFO(result.err);
  REQUIRE(result.exit_code == 1);
  CHECK(absl::StrContains(result.err, "UNAVAILABLE"));
  CHECK(absl::StrContains(result.err, "127.0.0.1:1"));
}

}  // namespace
}  // namespace tplaunch
