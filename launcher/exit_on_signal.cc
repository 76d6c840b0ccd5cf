#include "launcher/exit_on_signal.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdint>

#include "launcher/logger.h"
#include "launcher/signals.h"

namespace tplaunch {

bool IsTerminatingSignal(int sig) {
  return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT;
}

ExitOnSignalWhileBlocked::ExitOnSignalWhileBlocked(
    int signal_fd, std::function<void()> cleanup)
    : signal_fd_(signal_fd), cleanup_(std::move(cleanup)) {
  if (signal_fd_ < 0) return;
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

ExitOnSignalWhileBlocked::~ExitOnSignalWhileBlocked() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof(one));
  (void)ignored;
  thread_.join();
  close(stop_fd_);
}

void ExitOnSignalWhileBlocked::Run() {
  struct pollfd p[2] = {{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (true) {
    if (poll(p, 2, -1) <= 0) continue;
    if (p[1].revents != 0) return;
    struct signalfd_siginfo si;
    if (read(signal_fd_, &si, sizeof(si)) != sizeof(si)) continue;
    const int sig = static_cast<int>(si.ssi_signo);
    if (!IsTerminatingSignal(sig)) continue;
    LauncherLogger().warn(
        "received {} while waiting for the rendezvous; exiting",
        SignalName(sig));
    if (cleanup_) cleanup_();
    _exit(128 + sig);
  }
}

}  // namespace tplaunch
