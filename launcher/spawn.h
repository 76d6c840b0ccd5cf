// Starting one worker process the cheap way: clone(CLONE_VM | CLONE_VFORK),
// the semantics of posix_spawn, with the pre-exec steps posix_spawn has no
// attribute for (PR_SET_PDEATHSIG, joining the process tree's cgroup, CPU
// affinity).
//
// Why not fork(): the launcher is a threaded process with a large address
// space (gRPC, the embedded server). fork() copies its page tables and turns
// every private page copy-on-write, so after each fork the launcher takes a
// page fault on its next write to each page; that was most of the ~7 ms each
// further worker cost (docs/benchmarks.md section 1). A CLONE_VM child shares
// the parent's memory until it calls execve, so there is nothing to copy; the
// calling thread is suspended until then (the other threads run on).
//
// What that costs in the child: it runs on a stack of its own inside the
// parent's memory, so before execve it may only make async-signal-safe calls
// that are plain system calls (no lock, no allocation, no libc state written
// but errno, whose owner thread is suspended meanwhile) and write its error
// report into the parent's memory, which is how an execve failure comes back
// (no pipe needed). Every signal is blocked in the calling thread around the
// clone, and the child resets every signal the parent handles to SIG_DFL
// before unblocking, so no parent handler ever runs on the shared memory.
#ifndef TPLAUNCH_LAUNCHER_SPAWN_H_
#define TPLAUNCH_LAUNCHER_SPAWN_H_

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/process_tree.h"

namespace tplaunch {

// Everything the child needs, prepared by the parent: the child only reads it.
struct SpawnSpec {
  const char* path = nullptr;   // Absolute or relative path, not searched.
  char* const* argv = nullptr;  // nullptr-terminated.
  char* const* envp = nullptr;  // nullptr-terminated.
  int stdin_fd = -1;            // dup2'ed onto 0, 1, 2 (must be >= 0).
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool kill_on_parent_death = true;   // PR_SET_PDEATHSIG(SIGKILL).
  const ProcessTree* tree = nullptr;  // The child joins its cgroup; or none.
  const void* cpu_set = nullptr;      // A cpu_set_t of cpu_set_size bytes for
  size_t cpu_set_size = 0;            // sched_setaffinity; nullptr: unbound.
};

// The step of the child's way to execve that failed.
enum class SpawnStep { kNone, kAffinity, kExec };

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;  // O_CLOEXEC, from CLONE_PIDFD.
  // Set when the child failed before or in execve and exited 127; the caller
  // still reaps it (pid, pidfd are valid).
  SpawnStep failed = SpawnStep::kNone;
  int error = 0;  // errno of the failed step.
};

// Spawns processes, one at a time, from the thread that calls Spawn. Holds
// what every spawn shares: the children's stack (the parent waits for each
// child's execve, so one stack serves them all), the signals they reset and
// the process tree's cgroup they start in.
//
// Into the cgroup: on x86-64, clone3(CLONE_INTO_CGROUP) starts the child in
// the tree's cgroup directly. Moving it there from the child instead (a
// cgroup.procs write, ProcessTree::EnterInChild) costs the kernel an RCU
// synchronisation each time, 1.4 ms median on a loaded 2-vCPU VM, one worker
// after another. Where clone3 is missing or refuses the cgroup (the first
// failure turns it off), the child writes cgroup.procs as before.
class Spawner final {
 public:
  // default_signals: set to SIG_DFL in every child, besides each signal this
  // process has a handler for at construction (an ignored disposition
  // survives execve). tree: every child joins its cgroup; may be nullptr.
  Spawner(std::vector<int> default_signals, const ProcessTree* tree);
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Starts spec.path in a new session (setsid: a process group of its own,
  // pgid = pid) with an empty signal mask. Returns once the child has called
  // execve (or exited). Errors: Internal when no child could be created
  // (clone or its stack failed, naming which); a child that failed its
  // affinity or execve is no error here but Spawned::failed.
  absl::StatusOr<Spawned> Spawn(const SpawnSpec& spec);

 private:
  std::vector<int> reset_signals_;
  const ProcessTree* tree_;
  int cgroup_fd_ = -1;     // The tree's cgroup directory; -1: none, or off.
  void* stack_ = nullptr;  // Mapped on first use.
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SPAWN_H_
