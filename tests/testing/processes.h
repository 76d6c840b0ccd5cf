// Child processes for end-to-end tests: a binary from the test's runfiles run
// with a chosen environment, its stdout and stderr captured in files, waited
// for with deadlines; and the tprdzvd daemon as a fixture on a free port.
#ifndef TPLAUNCH_TESTS_TESTING_PROCESSES_H_
#define TPLAUNCH_TESTS_TESTING_PROCESSES_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tplaunch {
namespace testing {

// Path of a runfile such as "launcher/tplaunch" (list its target in the test's
// data).
std::string Runfile(const std::string& path);

// argv `a` followed by `b`.
std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b);

// Alive and not a zombie.
bool IsAlive(pid_t pid);

struct SubprocessOptions {
  // User-declared, so a braced list such as {{"RANK", "7"}, {"D", dir}} means
  // the environment map of the other constructor, never these fields.
  SubprocessOptions() {}

  // Added to the test's environment; wins over a variable of the same name.
  std::map<std::string, std::string> env = {};
  // Variables of the test's environment whose names start with one of these
  // are not passed on, so the test decides exactly what the child reads
  // (e.g. "TPLAUNCH_RDZV_" for tprdzvctl).
  std::vector<std::string> unset_prefixes = {};
  // What the child reads on stdin, then end of file; nullopt: the test's own
  // stdin.
  std::optional<std::string> stdin_bytes = std::nullopt;
};

class Subprocess {
 public:
  // Starts argv[0] (a path, not searched in PATH) with argv. The child's
  // TMPDIR is TEST_TMPDIR unless `options.env` sets it, so what it leaves
  // behind when killed stays inside the test's directory.
  Subprocess(std::vector<std::string> argv, const SubprocessOptions& options);
  // The test's environment plus `env`.
  explicit Subprocess(std::vector<std::string> argv,
                      std::map<std::string, std::string> env = {});
  ~Subprocess();  // SIGKILLs the process if still running, and reaps it.

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Everything the child wrote so far.
  std::string out() const;
  std::string err() const;
  // Waits for exit; returns the shell-style status (128+N for signal N), or
  // nullopt when it is still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  void Kill(int signo);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

struct DaemonOptions {
  // The address tprdzvd binds (--host); the port is always 0 (a free one).
  std::string host = "127.0.0.1";
  // Also serve TCPStore on a free port (--torch-store-port 0).
  bool torch_store = false;
  // More tprdzvd flags, e.g. {"--token-file", path, "--log-level", "warn"}.
  std::vector<std::string> extra_args = {};
};

// A running tprdzvd (runfile rendezvous/tprdzvd: list //rendezvous:tprdzvd in
// the test's data). endpoint() is what its "listening on" line says;
// torch_store() what its "torch store listening on" line says. Fails the test
// when a line is missing or wrong. Killed at scope exit.
class Daemon {
 public:
  explicit Daemon(DaemonOptions options = {});

  const std::string& endpoint() const { return endpoint_; }
  const std::string& torch_store() const { return torch_store_; }
  pid_t pid() const { return proc_.pid(); }
  std::string out() const { return proc_.out(); }
  std::string err() const { return proc_.err(); }

  // SIGTERM; the exit status, or nullopt when it did not exit within `timeout`.
  std::optional<int> Terminate(absl::Duration timeout = absl::Seconds(30));

 private:
  // Waits for stdout line `index` (0-based) and returns what follows `prefix`.
  std::string LineValue(size_t index, const std::string& prefix);

  Subprocess proc_;
  std::string endpoint_;
  std::string torch_store_;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TESTING_PROCESSES_H_
