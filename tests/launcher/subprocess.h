// A child process for end-to-end tests: argv, extra environment, stdout/stderr
// captured in files, and waits with deadlines (never sleeps as
// synchronisation).
#ifndef TPLAUNCH_TESTS_LAUNCHER_SUBPROCESS_H_
#define TPLAUNCH_TESTS_LAUNCHER_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tplaunch {
namespace testing {

std::string ReadFile(const std::string& path);
// Alive and not a zombie.
bool IsAlive(pid_t pid);
// Polls `pred` every few milliseconds until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout);
// A fresh directory under TEST_TMPDIR (or /tmp).
std::string MakeTempDir();
// Path of a runfile such as "launcher/tplaunch".
std::string Runfile(const std::string& path);
// argv `a` followed by `b`.
std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b);
// The tplaunch binary (runfile launcher/tplaunch) followed by `args`.
std::vector<std::string> Tplaunch(std::vector<std::string> args);
// Pids that children wrote to `dir`/`prefix`0 .. `prefix`(n-1), those present
// and readable as a number.
std::vector<pid_t> ReadPids(const std::string& dir, const std::string& prefix,
                            int n);

class Subprocess {
 public:
  // Starts argv with the test's environment plus `env` (which wins).
  Subprocess(std::vector<std::string> argv,
             std::map<std::string, std::string> env = {});
  ~Subprocess();  // SIGKILLs the process if still running.

  pid_t pid() const { return pid_; }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }
  // Waits for exit; returns the shell-style status (128+N for signal N), or
  // nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);
  void Kill(int signo);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

// A tprdzvd (runfile rendezvous/tprdzvd: list //rendezvous:tprdzvd in the
// test's data) on `host`, port 0; endpoint() is what its "listening on" line
// says. With `with_torch_store`, also its TCPStore listener on a free port
// (tprdzvd --torch-store-port 0): torch_store() is what its "torch store
// listening on" line says. Fails the test when a line is missing or wrong.
class Daemon {
 public:
  explicit Daemon(const std::string& host = "127.0.0.1",
                  bool with_torch_store = false);
  const std::string& endpoint() const { return endpoint_; }
  const std::string& torch_store() const { return torch_store_; }

 private:
  // Waits for stdout line `index` (0-based) and returns what follows `prefix`.
  std::string LineValue(size_t index, const std::string& prefix);

  Subprocess proc_;
  std::string endpoint_;
  std::string torch_store_;
};

// One node of a two-node tplaunch job against `d`: tplaunch --nnodes 2 --nproc
// `nproc` --rdzv-endpoint d.endpoint() --rdzv-id `job`, then `extra` (more
// launcher options), then `program` (PROGRAM and its arguments).
std::vector<std::string> TwoNodeTplaunch(
    const Daemon& d, const std::string& job, int nproc,
    const std::vector<std::string>& extra,
    const std::vector<std::string>& program);

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_SUBPROCESS_H_
