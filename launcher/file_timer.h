// file_timer: the pure core of torchelastic's file-based worker watchdog
// (torch/distributed/elastic/timer/file_based_local_timer.py). Workers'
// FileTimerClient writes one JSON object per line into a FIFO:
//   {"version": 1, "pid": 123, "scope_id": "step", "expiration_time":
//    1700000000.5, "signal": 9}
// expiration_time is absolute (seconds since the epoch); a negative one
// releases the (pid, scope_id) timer. This file parses those lines and keeps
// the timers; file_timer_server.h owns the FIFO and does the killing.
#ifndef TPLAUNCH_LAUNCHER_FILE_TIMER_H_
#define TPLAUNCH_LAUNCHER_FILE_TIMER_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tplaunch {

// One request as a FileTimerClient sends it.
struct TimerRequest {
  pid_t pid = 0;
  std::string scope_id;
  // Absolute deadline; < 0 releases the timer (FileTimerClient.release).
  double expiration_time = 0;
  // Sent to pid when the timer expires; <= 0 only logs (torchrun's rule).
  int signal = 0;

  bool is_release() const { return expiration_time < 0; }
  absl::Time deadline() const {
    return absl::FromUnixMicros(static_cast<int64_t>(expiration_time * 1e6));
  }
};

// The longest request a FileTimerClient sends: it refuses more than PIPE_BUF
// bytes, so that each write is atomic in the FIFO.
inline constexpr size_t kMaxTimerRequestBytes = 4096;

// Parses one line (without its newline). InvalidArgument with the reason: not
// a JSON object, a field missing or of the wrong type ("pid", "scope_id",
// "expiration_time", "signal"; "version", if given, must be 1), pid <= 0, a
// signal above 64, a line over kMaxTimerRequestBytes.
absl::StatusOr<TimerRequest> ParseTimerRequest(absl::string_view line);

// The timer that decided a worker's fate when its timers expired.
struct ExpiredTimer {
  pid_t pid = 0;
  std::string scope_id;
  absl::Time deadline;
  int signal = 0;  // 0: none of its expired timers asked for a signal.
};

struct FileTimerTableOptions {
  // Timers kept at once; a request beyond it is dropped (ResourceExhausted),
  // so a runaway client cannot grow the launcher's memory.
  size_t max_timers = 4096;
};

// The live timers, keyed by (pid, scope_id) as torchrun keys them. Not
// thread-safe.
class FileTimerTable {
 public:
  explicit FileTimerTable(FileTimerTableOptions options = {})
      : options_(options) {}

  // Acquires (replacing the same key's deadline) or releases. Errors:
  // ResourceExhausted when max_timers are live and this is a new key.
  absl::Status Apply(const TimerRequest& request);

  // Removes every timer of each pid that has one expired at `now`, returning
  // per such pid the earliest expired timer with a signal > 0, or the
  // earliest expired one with signal 0 when none has (torchrun's choice).
  std::vector<ExpiredTimer> TakeExpired(absl::Time now);

  // Drops every timer of `pid` (it exited).
  void Forget(pid_t pid);

  // The earliest deadline of any timer; nullopt when there is none.
  std::optional<absl::Time> NextDeadline() const;

  size_t size() const { return timers_.size(); }

 private:
  FileTimerTableOptions options_;
  std::map<std::pair<pid_t, std::string>, TimerRequest> timers_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_FILE_TIMER_H_
