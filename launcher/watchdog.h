// watchdog: ends a job's processes when the launcher itself is SIGKILLed.
//
// A SIGKILLed launcher runs no code: its workers die of PR_SET_PDEATHSIG, but
// what they started (a background job, a setsid()'d daemon, a double fork)
// reparents to init and lives on. The watchdog is a small process double-forked
// at start (so it is not the launcher's child) that holds the read end of a
// pipe whose only write end is the launcher's (close-on-exec, so no worker
// holds it). When the launcher is gone, for whatever reason, the read returns
// EOF: the watchdog kills every process that carries the job's marker or sits
// in its cgroup (see process_tree.h), removes the cgroup, and exits. After a
// normal exit the launcher has already killed the tree, so the watchdog finds
// nothing and exits at once: it never outlives the job by more than its kill.
//
// It is in its own process group and ignores every signal it can, so a
// Ctrl-C or a kill of the launcher's process group does not take it away
// before it has done its work. It never matches on a bare pid.
#ifndef TPLAUNCH_LAUNCHER_WATCHDOG_H_
#define TPLAUNCH_LAUNCHER_WATCHDOG_H_

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launcher/process_tree.h"

namespace tplaunch {

struct WatchdogOptions {
  // How long the watchdog keeps killing (processes that fork while being
  // killed need several rounds) before it gives up and exits.
  absl::Duration kill_timeout = absl::Seconds(10);
};

// Forks the watchdog for `tree` and tells the tree to spare it. Call before
// any thread starts (the child runs ordinary code after fork). Errors:
// Internal when pipe or fork fails.
absl::StatusOr<pid_t> StartWatchdog(ProcessTree& tree,
                                    const WatchdogOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WATCHDOG_H_
