// process_supervisor: starts a node's worker processes and watches them.
//
// Knows processes, not stores. Each worker runs in its own session (so its own
// process group, as torchrun's start_new_session: the kernel's autogroup
// shares CPU per session), gets SIGKILL when the thread that started it dies
// (PR_SET_PDEATHSIG), starts with the default disposition of every signal the
// launcher forwards, and has its stdout and stderr read through pipes and
// split into lines (worker_output.h): what one read() brought is written with
// one write() to the console (each line with its prefix, unless it carries
// one) and one to the log file, so lines of different workers never
// interleave and a chatty worker costs two syscalls per read, not one per line.
// With a ProcessTree, everything the workers started (grandchildren of every
// kind) is killed when the group stops. Nothing polls on a timer: exits arrive
// through pidfds, output through the pipes, both in one poll().
//
// Not thread-safe: one thread calls every method, and it must be the thread
// that lives as long as the workers (PR_SET_PDEATHSIG fires when the *thread*
// that forked exits), normally main().
#ifndef TPLAUNCH_LAUNCHER_PROCESS_SUPERVISOR_H_
#define TPLAUNCH_LAUNCHER_PROCESS_SUPERVISOR_H_

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "launcher/process_tree.h"
#include "launcher/worker_env.h"

namespace tplaunch {

class LastLine;  // worker_output.h

struct WorkerSpec {
  int local_rank = 0;
  int rank = 0;
  // argv[0] is looked up in env's PATH when it has no '/'.
  std::vector<std::string> argv;
  // The complete environment of the worker.
  EnvMap env;
  // Prepended to every console line of this worker ("[rank3]: ") that does
  // not already carry it or PyTorch's "[rank3]:" (LineCarriesPrefix).
  std::string console_prefix;
  bool stdout_to_console = true;
  bool stderr_to_console = true;
  // Log files (created, truncated); empty: no file for that stream.
  std::string stdout_file;
  std::string stderr_file;
  // CPUs the worker is bound to (sched_setaffinity before exec, so every
  // thread it starts inherits them); empty: the launcher's own affinity.
  std::vector<int> cpu_affinity;
  // --duplicate-stdout/stderr-filters: lines containing any filter are also
  // appended, prefixed as on the console, to this file, which every worker of
  // the group naming the same path shares (created, truncated). No filters or
  // no file: nothing is duplicated.
  std::vector<std::string> stdout_duplicate_filters;
  std::string stdout_duplicate_file;
  std::vector<std::string> stderr_duplicate_filters;
  std::string stderr_duplicate_file;
  // Told each line of either stream (tplaunch --http-port); nullptr: none.
  std::shared_ptr<LastLine> last_line;
};

// Output a log file did not get: the first write error ends writing to it.
// A shared duplicate file has one entry per rank that lost lines to it.
struct LogLoss {
  int rank = 0;
  std::string path;
  std::string error;        // strerror of the failed write.
  uint64_t bytes_lost = 0;  // Bytes not written, counted to the end.
};

struct SupervisorOptions {
  // Where console lines go (tests pass a file).
  int console_stdout_fd = STDOUT_FILENO;
  int console_stderr_fd = STDERR_FILENO;
  // A line longer than this without a newline is split, with a marker.
  size_t max_line_bytes = 64 * 1024;
  // Lines of stderr kept per worker for the failure summary.
  int stderr_tail_lines = 10;
  // PR_SET_PDEATHSIG(SIGKILL) in every worker.
  bool kill_on_parent_death = true;
  // Signals reset to their default disposition in every worker before exec
  // (SIGPIPE always is). A signal ignored when the launcher started (a
  // background job of a non-interactive shell ignores INT and QUIT; nohup,
  // HUP) would otherwise stay ignored across exec, and the launcher's
  // forwarded signal would be dropped: pass the forwarded signals here.
  std::vector<int> default_signals = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
  // Tracks and kills the workers' descendants (not owned; must outlive the
  // group). nullptr: only the workers' process groups are signalled.
  ProcessTree* tree = nullptr;
  // How long Stop() keeps killing the tree before giving up on survivors.
  absl::Duration tree_kill_timeout = absl::Seconds(10);
  // Every group started with these options appends its log_losses() here
  // when it is destroyed (not owned; nullptr: nowhere). tplaunch turns a loss
  // into its exit code, so lost logs are never an exit 0.
  std::vector<LogLoss>* lost_logs = nullptr;
};

// How one worker ended.
struct WorkerExit {
  int local_rank = 0;
  int rank = 0;
  pid_t pid = 0;
  int exit_code = 0;                     // Valid when signal == 0.
  int signal = 0;                        // The signal that killed it, or 0.
  absl::Time time;                       // When the launcher saw it exit.
  std::vector<std::string> stderr_tail;  // Last stderr lines, oldest first.

  bool ok() const { return signal == 0 && exit_code == 0; }
  // A shell-style status: the exit code, or 128 + signal.
  int ShellCode() const { return signal != 0 ? 128 + signal : exit_code; }
  // "exit code 3" or "signal SIGSEGV (11)".
  std::string Describe() const;
};

enum class WaitOutcome {
  kAllSucceeded,  // Every worker exited with 0.
  kWorkerFailed,  // A worker exited non-zero or died of a signal: see
                  // first_failure().
  kFdReady,       // One of the caller's extra fds is readable: see fd_index.
  kDeadline,      // The deadline passed.
};

struct WaitResult {
  WaitOutcome outcome = WaitOutcome::kDeadline;
  int fd_index = -1;  // Index into extra_fds for kFdReady.
};

// What may cut WorkerGroup::Stop's grace period short.
struct GraceAbort {
  // Polled during the grace (a signalfd); -1: nothing is.
  int fd = -1;
  // Called each time fd is readable; consumes what made it readable and says
  // whether to SIGKILL now. Empty: fd becoming readable is enough.
  std::function<bool()> kill_now;
};

class WorkerGroup {
 public:
  virtual ~WorkerGroup() = default;

  // Pumps output and reaps workers until an outcome: the first failure (once;
  // later calls go on waiting for the rest), all succeeded, an extra fd
  // readable, or the deadline.
  virtual WaitResult Wait(absl::Span<const int> extra_fds,
                          absl::Time deadline) = 0;

  // Sends signo to the process group (= session) of every worker not yet
  // reaped.
  virtual void Signal(int signo) = 0;

  // `first_signal` (SIGTERM; torchrun sends the signal it received) to every
  // worker's process group, SIGKILL after `grace` to those still running, then
  // SIGKILL to whatever is left in the groups (grandchildren). Pumps output
  // meanwhile and reaps every worker. `abort` may end the grace early.
  virtual void Stop(absl::Duration grace, const GraceAbort& abort = {},
                    int first_signal = SIGTERM) = 0;

  // Exits seen so far, in the order they were seen.
  virtual const std::vector<WorkerExit>& exits() const = 0;
  virtual std::optional<WorkerExit> first_failure() const = 0;
  virtual std::vector<pid_t> pids() const = 0;
  virtual bool all_exited() const = 0;
  // Log files that lost output, with how much; empty when none did.
  virtual std::vector<LogLoss> log_losses() const { return {}; }
};

// Starts every worker. Errors: NotFound/PermissionDenied naming the program
// when it cannot be executed (checked before any worker starts), DataLoss
// naming a log file that cannot be created, Internal for fork/pipe failures.
// On error no worker is left running.
absl::StatusOr<std::unique_ptr<WorkerGroup>> StartWorkers(
    std::vector<WorkerSpec> specs, const SupervisorOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_PROCESS_SUPERVISOR_H_
