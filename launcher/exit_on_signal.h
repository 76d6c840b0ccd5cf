// exit_on_signal: while the launcher blocks in a store call (connecting,
// joining, waiting for a running attempt to end) no worker exists and the
// agent's poll loop is not running. This watcher turns a terminating signal
// (TERM, INT, HUP, QUIT) arriving on the launcher's signalfd into an immediate
// exit(128+N) instead of a wait of up to --rdzv-timeout. Other signals are
// consumed (there is no worker to forward them to).
#ifndef TPLAUNCH_LAUNCHER_EXIT_ON_SIGNAL_H_
#define TPLAUNCH_LAUNCHER_EXIT_ON_SIGNAL_H_

#include <functional>
#include <thread>

namespace tplaunch {

// Whether tplaunch stops the job on this signal (after forwarding it).
bool IsTerminatingSignal(int signo);

class ExitOnSignalWhileBlocked final {
 public:
  // Watches signal_fd (a signalfd; -1 disables) on a thread until destroyed.
  // cleanup runs on that thread right before _exit.
  ExitOnSignalWhileBlocked(int signal_fd, std::function<void()> cleanup);
  ~ExitOnSignalWhileBlocked();
  ExitOnSignalWhileBlocked(const ExitOnSignalWhileBlocked&) = delete;
  ExitOnSignalWhileBlocked& operator=(const ExitOnSignalWhileBlocked&) = delete;

 private:
  void Run();

  int signal_fd_;
  int stop_fd_ = -1;
  std::function<void()> cleanup_;
  std::thread thread_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_EXIT_ON_SIGNAL_H_
