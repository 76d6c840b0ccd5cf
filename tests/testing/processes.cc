#include "tests/testing/processes.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/files.h"
#include "tests/testing/wait_for.h"

extern char** environ;

namespace tplaunch {
namespace testing {

std::string Runfile(const std::string& path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return path;
  return absl::StrCat(srcdir, "/",
                      workspace != nullptr ? workspace : "tplaunch", "/", path);
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool IsAlive(pid_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.empty()) return false;
  // The state follows the parenthesised command name, which may hold spaces.
  const size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() &&
         stat[close_paren + 2] != 'Z' && stat[close_paren + 2] != 'X';
}

Subprocess::Subprocess(std::vector<std::string> argv,
                       std::map<std::string, std::string> env)
    : Subprocess(std::move(argv), [&] {
        SubprocessOptions options;
        options.env = std::move(env);
        return options;
      }()) {}

Subprocess::Subprocess(std::vector<std::string> argv,
                       const SubprocessOptions& options) {
  const std::string dir = MakeTempDir();
  out_path_ = dir + "/stdout";
  err_path_ = dir + "/stderr";
  std::map<std::string, std::string> full;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = kv.substr(0, eq);
    bool keep = true;
    for (const std::string& prefix : options.unset_prefixes) {
      if (absl::StartsWith(name, prefix)) keep = false;
    }
    if (keep) full[name] = kv.substr(eq + 1);
  }
  if (const char* t = getenv("TEST_TMPDIR");
      t != nullptr && options.env.count("TMPDIR") == 0) {
    full["TMPDIR"] = t;
  }
  for (const auto& [k, v] : options.env) full[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : full) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // stdin from a file: the child reads it at its own pace and the test never
  // blocks on a full pipe.
  int in = -1;
  if (options.stdin_bytes) {
    const std::string in_path = dir + "/stdin";
    WriteFile(in_path, *options.stdin_bytes);
    in = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(in >= 0);
  }
  const int out =
      open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err =
      open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  REQUIRE(err >= 0);
  pid_ = fork();
  if (pid_ == 0) {
    if (in >= 0) dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (in >= 0) close(in);
  close(out);
  close(err);
  INFO("fork for " << argv[0]);
  REQUIRE(pid_ > 0);
}

Subprocess::~Subprocess() {
  if (!status_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

std::string Subprocess::out() const { return ReadFile(out_path_); }

std::string Subprocess::err() const { return ReadFile(err_path_); }

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  if (status_) return status_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
      return status_;
    }
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(2));
  }
}

void Subprocess::Kill(int signo) {
  if (!status_) kill(pid_, signo);
}

namespace {

std::vector<std::string> DaemonArgs(const DaemonOptions& options) {
  std::vector<std::string> args = {Runfile("rendezvous/tprdzvd"), "--host",
                                   options.host, "--port", "0"};
  if (options.torch_store) {
    args.insert(args.end(), {"--torch-store-port", "0"});
  }
  return Concat(args, options.extra_args);
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : proc_(DaemonArgs(options)) {
  endpoint_ = LineValue(0, "listening on ");
  if (options.torch_store) {
    torch_store_ = LineValue(1, "torch store listening on ");
  }
}

std::optional<int> Daemon::Terminate(absl::Duration timeout) {
  proc_.Kill(SIGTERM);
  return proc_.Wait(timeout);
}

std::string Daemon::LineValue(size_t index, const std::string& prefix) {
  std::vector<std::string> lines;
  // The last piece is the line still being written.
  const bool complete = WaitFor(
      [&] {
        lines = absl::StrSplit(proc_.out(), '\n');
        return lines.size() > index + 1;
      },
      absl::Seconds(20));
  if (!complete) {
    FAIL("tprdzvd printed no line " << index + 1 << " ('" << prefix
                                    << "...') in 20s; stdout: " << proc_.out()
                                    << "; stderr: " << proc_.err());
  }
  if (!absl::StartsWith(lines[index], prefix)) {
    FAIL("tprdzvd's line " << index + 1 << " is not '" << prefix
                           << "...': " << lines[index]);
  }
  return lines[index].substr(prefix.size());
}

}  // namespace testing
}  // namespace tplaunch
