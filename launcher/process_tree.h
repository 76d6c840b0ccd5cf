// process_tree: every process a job's workers start, grandchildren included
// (background jobs, setsid()'d daemons, double forks), and the means to end
// them all.
//
// Process groups are not enough: setsid() leaves the group, and an orphan
// reparents to init. So the tree is tracked three ways at once, and a process
// found by any of them is the job's:
//   - the launcher is a child subreaper (PR_SET_CHILD_SUBREAPER): an orphaned
//     descendant reparents to it, so while it lives every descendant is found
//     by walking parent ids in /proc;
//   - a cgroup v2 below the launcher's own, when one can be created (root, or a
//     delegated subtree): workers enter it before exec, and nothing a worker
//     starts can leave it without privileges;
//   - a marker every worker inherits (TPLAUNCH_PROCESS_TREE=<random id> in its
//     environment), found in /proc/<pid>/environ after the launcher itself is
//     gone (the watchdog's case: the orphans have reparented to init by then).
// While the launcher lives as a subreaper the parent-id walk alone is complete
// (an orphan can only reparent to the launcher or to a subreaper inside the
// tree), so the launcher's own kills skip the environment reads, and skip the
// /proc scan altogether when it has no child left at all (waitid: ECHILD) and
// the cgroup is empty: the common end of a job costs no scan.
// A kill never goes to a bare pid read from /proc: it goes through a pidfd
// opened first, and the process is checked again after the pidfd is open, so a
// pid reused meanwhile by an unrelated process is never signalled.
#ifndef TPLAUNCH_LAUNCHER_PROCESS_TREE_H_
#define TPLAUNCH_LAUNCHER_PROCESS_TREE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tplaunch {

// The environment variable that marks a job's processes. Its value is a
// comma-separated list of markers: a tplaunch started inside a worker appends
// its own to the one it inherited, so the outer job still finds the inner
// job's processes.
inline constexpr char kProcessTreeEnv[] = "TPLAUNCH_PROCESS_TREE";

struct ProcessTreeOptions {
  // This job's marker; empty: 128 random bits from /dev/urandom, in hex.
  std::string marker;
  // The TPLAUNCH_PROCESS_TREE value the launcher inherited ("" = none); the
  // workers' value is this plus ",<marker>".
  std::string inherited;
  // Try to create a cgroup v2 for the job (needs write access to the
  // launcher's own cgroup v2 directory; silently skipped otherwise).
  bool use_cgroup = true;
  // Become a child subreaper. Process-wide and inherited by nothing; tests
  // that share a process with other children may turn it off.
  bool subreaper = true;
};

// What a kill of the tree did.
struct KillReport {
  int killed = 0;                // Processes signalled (SIGKILL).
  std::vector<pid_t> survivors;  // Still alive at the deadline.
};

class ProcessTree {
 public:
  // Becomes a subreaper and creates the cgroup (as the options allow). Errors:
  // Internal when /dev/urandom or prctl fails.
  static absl::StatusOr<std::unique_ptr<ProcessTree>> Create(
      ProcessTreeOptions options);
  ~ProcessTree();  // Kills what is left and removes the cgroup.
  ProcessTree(const ProcessTree&) = delete;
  ProcessTree& operator=(const ProcessTree&) = delete;

  const std::string& marker() const { return marker_; }
  // TPLAUNCH_PROCESS_TREE for every worker.
  const std::string& env_value() const { return env_value_; }
  // The job's cgroup directory, or "" when there is none.
  const std::string& cgroup_dir() const { return cgroup_dir_; }
  // One line for the log: how descendants are tracked.
  std::string Describe() const;

  // Pids that are never killed nor reaped by this object (the watchdog).
  void Keep(pid_t pid) { keep_.push_back(pid); }

  // In a freshly forked worker, before exec: enters the cgroup.
  // Async-signal-safe.
  void EnterInChild() const;

  // SIGKILLs every process of the tree (descendants of this process, cgroup
  // members, and marked processes unless this process is a subreaper) except
  // this process, kept pids and `spare`,
  // again and again until none is left or `timeout` passes, and reaps those
  // that were this process's children. Waits on pidfds, never sleeps.
  KillReport KillAll(absl::Duration timeout,
                     absl::Span<const pid_t> spare = {});

  // Reaps adopted orphans that have exited (zombies of this process), never a
  // pid in `spare` or kept. Cheap (one waitid() when there is nothing to do):
  // call it whenever the supervisor wakes up.
  void ReapAdopted(absl::Span<const pid_t> spare);

 private:
  ProcessTree() = default;

  std::string marker_;
  std::string env_value_;
  std::string cgroup_dir_;
  int cgroup_procs_fd_ = -1;
  bool subreaper_ = false;
  std::vector<pid_t> keep_;
};

// The core of KillAll, shared with the watchdog (which runs after the launcher
// died, so it has no descendants to walk): kills processes marked with
// `marker` and members of `cgroup_dir` (may be ""), plus this process's
// descendants when `descendants` is set, except this process and `spare`.
KillReport KillProcessTree(const std::string& marker,
                           const std::string& cgroup_dir, bool descendants,
                           absl::Span<const pid_t> spare,
                           absl::Duration timeout);

// Waits (on cgroup.events, never sleeping) until `cgroup_dir` holds no
// process or the deadline passes, then removes it. "" does nothing.
void RemoveCgroupWhenEmpty(const std::string& cgroup_dir, absl::Time deadline);

// Whether a NUL-separated environment block (/proc/<pid>/environ) holds
// TPLAUNCH_PROCESS_TREE with `marker` in its list. Exposed for tests.
bool EnvironHasMarker(absl::string_view environ_block,
                      absl::string_view marker);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_PROCESS_TREE_H_
