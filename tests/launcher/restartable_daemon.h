// A tprdzvd for outage tests: killed, frozen and restarted on the same port,
// so clients that hold its endpoint see one daemon go away and come back.
// List //rendezvous:tprdzvd in the test's data.
#ifndef TPLAUNCH_TESTS_LAUNCHER_RESTARTABLE_DAEMON_H_
#define TPLAUNCH_TESTS_LAUNCHER_RESTARTABLE_DAEMON_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {

class RestartableDaemon {
 public:
  // Starts tprdzvd on 127.0.0.1, port 0, with `extra_args` (also at every
  // restart, e.g. {"--state-dir", dir}); fails the test unless it says where
  // it listens within 20 s.
  explicit RestartableDaemon(std::vector<std::string> extra_args = {});

  const std::string& endpoint() const { return endpoint_; }
  int port() const { return port_; }

  // SIGKILLs the daemon and waits until it is gone (its port is free again).
  void Kill();
  // SIGSTOP / SIGCONT: a daemon that holds its connections but answers
  // nothing.
  void Freeze();
  void Thaw();
  // Kills the daemon if it runs and starts a fresh one (no keys) on the same
  // port; returns when it printed its "listening on" line.
  void Restart();

 private:
  void Start(int port);

  const std::vector<std::string> extra_args_;
  std::unique_ptr<Subprocess> proc_;
  std::string endpoint_;
  int port_ = 0;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_RESTARTABLE_DAEMON_H_
