#include "tests/launcher/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace tplaunch {
namespace testing {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool IsAlive(pid_t pid) {
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.empty()) return false;
  size_t p = stat.rfind(')');
  return p != std::string::npos && p + 2 < stat.size() && stat[p + 2] != 'Z' &&
         stat[p + 2] != 'X';
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      absl::StrCat(base != nullptr ? base : "/tmp", "/e2e-XXXXXX");
  return mkdtemp(tmpl.data());
}

std::string Runfile(const std::string& path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* ws = getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr)
    return absl::StrCat(srcdir, "/", ws, "/", path);
  return path;
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> Tplaunch(std::vector<std::string> args) {
  args.insert(args.begin(), Runfile("launcher/tplaunch"));
  return args;
}

std::vector<pid_t> ReadPids(const std::string& dir, const std::string& prefix,
                            int n) {
  std::vector<pid_t> out;
  for (int i = 0; i < n; ++i) {
    pid_t p = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(
                             ReadFile(absl::StrCat(dir, "/", prefix, i))),
                         &p)) {
      out.push_back(p);
    }
  }
  return out;
}

Subprocess::Subprocess(std::vector<std::string> argv,
                       std::map<std::string, std::string> env) {
  std::string dir = MakeTempDir();
  out_path_ = dir + "/stdout";
  err_path_ = dir + "/stderr";
  std::map<std::string, std::string> full;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) full[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Keep whatever the child leaves behind when killed inside the test's
  // directory.
  if (const char* t = getenv("TEST_TMPDIR");
      t != nullptr && env.count("TMPDIR") == 0) {
    full["TMPDIR"] = t;
  }
  for (auto& [k, v] : env) full[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : full) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out, 1);
    dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out);
  close(err);
}

Subprocess::~Subprocess() {
  if (!status_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  if (status_) return status_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
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

std::vector<std::string> DaemonArgs(const std::string& host,
                                    bool with_torch_store) {
  std::vector<std::string> args = {Runfile("rendezvous/tprdzvd"), "--host",
                                   host, "--port", "0"};
  if (with_torch_store) {
    args.insert(args.end(), {"--torch-store-port", "0"});
  }
  return args;
}

}  // namespace

Daemon::Daemon(const std::string& host, bool with_torch_store)
    : proc_(DaemonArgs(host, with_torch_store)) {
  endpoint_ = LineValue(0, "listening on ");
  if (with_torch_store)
    torch_store_ = LineValue(1, "torch store listening on ");
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

std::vector<std::string> TwoNodeTplaunch(
    const Daemon& d, const std::string& job, int nproc,
    const std::vector<std::string>& extra,
    const std::vector<std::string>& program) {
  return Concat(
      Concat(Tplaunch({"--nnodes", "2", "--nproc", absl::StrCat(nproc),
                       "--rdzv-endpoint", d.endpoint(), "--rdzv-id", job}),
             extra),
      program);
}

}  // namespace testing
}  // namespace tplaunch
