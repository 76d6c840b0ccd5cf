// file_timer_server: torchelastic's FileTimerServer in the launcher. With
// TORCHELASTIC_ENABLE_FILE_TIMER=1 the agent creates one FIFO per attempt
// (TORCHELASTIC_TIMER_FILE, given to the workers), reads FileTimerClient
// requests (file_timer.h) on a thread of its own, and sends a process whose
// timer expired the signal it asked for. Unlike torchrun, it does not then
// kill the launcher itself: the worker's death is an ordinary failure that
// the agent reports, naming the timer (KillOf), and restarts within
// --max-restarts. Only this node's workers and their descendants are obeyed:
// anyone who can write the FIFO could otherwise have the launcher signal any
// process it may signal.
#ifndef TPLAUNCH_LAUNCHER_FILE_TIMER_SERVER_H_
#define TPLAUNCH_LAUNCHER_FILE_TIMER_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launcher/file_timer.h"

namespace tplaunch {

struct FileTimerServerOptions {
  // The FIFO to create (mode 0600); a file already there is replaced, as
  // torchrun does.
  std::string path;
  FileTimerTableOptions table;
  // Warnings and kills, one line each (malformed requests give the reason).
  // Called on the server's thread.
  std::function<void(const std::string&)> on_notice;
  // How often timers of processes that exited are dropped, at the latest.
  absl::Duration sweep_interval = absl::Seconds(1);
};

// What the watchdog did to one rank.
struct TimerKill {
  int rank = 0;
  pid_t pid = 0;  // The process that asked (the worker or a descendant).
  std::string scope_id;
  absl::Time deadline;
  int signal = 0;
  // "the file timer sent SIGKILL to rank 1 (pid 42): scope 'step' missed its
  // deadline 2026-... (TORCHELASTIC_ENABLE_FILE_TIMER)".
  std::string Describe() const;
};

class FileTimerServer final {
 public:
  // Creates and opens the FIFO. Errors: Internal naming the path and the
  // failing call.
  static absl::StatusOr<std::unique_ptr<FileTimerServer>> Create(
      FileTimerServerOptions options);
  // Stops the thread, closes and removes the FIFO.
  ~FileTimerServer();
  FileTimerServer(const FileTimerServer&) = delete;
  FileTimerServer& operator=(const FileTimerServer&) = delete;

  // Starts serving once the workers run (`workers`: pid -> global rank);
  // requests already written wait in the FIFO until then. Call once.
  void Start(std::map<pid_t, int> workers);

  // The kill of `rank`'s timer, if the watchdog sent one. Thread-safe.
  std::optional<TimerKill> KillOf(int rank) const;

  const std::string& path() const { return options_.path; }

 private:
  explicit FileTimerServer(FileTimerServerOptions options)
      : options_(std::move(options)), table_(options_.table) {}
  void Loop();
  void ReadRequests();
  void Handle(absl::string_view line);
  void Expire();
  void Notice(const std::string& line);

  const FileTimerServerOptions options_;
  int read_fd_ = -1;
  int keep_open_fd_ = -1;  // Our own writer: reads never see end of file.
  int stop_fd_ = -1;       // eventfd.
  std::thread thread_;
  // Server thread only.
  std::map<pid_t, int> workers_;
  FileTimerTable table_;
  std::string partial_;      // A line not yet ended.
  bool discarding_ = false;  // Inside a line over the limit.
  // Requesting pid -> (rank, start time), checked before a kill so that a
  // reused pid is never signalled.
  std::map<pid_t, std::pair<int, uint64_t>> requesters_;
  int64_t dropped_ = 0;

  mutable std::mutex mu_;
  std::map<int, TimerKill> kills_;  // Guarded by mu_.
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_FILE_TIMER_SERVER_H_
