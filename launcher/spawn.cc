#include "launcher/spawn.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

// The child's own stack. Its frames are small (no allocation, a few system
// calls); the rest is margin for sanitizer interceptors.
constexpr size_t kStackBytes = 256 * 1024;

// What the child reads and the one thing it writes, in the parent's memory.
struct ChildArgs {
  const SpawnSpec* spec = nullptr;
  pid_t parent = 0;
  const std::vector<int>* reset = nullptr;  // Set to SIG_DFL.
  // Written by the child only when it fails; read after it has exited.
  volatile SpawnStep failed = SpawnStep::kNone;
  volatile int error = 0;
};

[[noreturn]] void ChildFail(ChildArgs& a, SpawnStep step) {
  a.error = errno;
  a.failed = step;
  _exit(127);
}

// The child, between clone and execve. Not instrumented by ASan: it never
// returns, so redzones it poisoned on its stack would stay poisoned in the
// parent's shadow memory.
__attribute__((no_sanitize_address)) int ChildMain(void* arg) {
  ChildArgs& a = *static_cast<ChildArgs*>(arg);
  const SpawnSpec& spec = *a.spec;
  // A session of its own (and so a process group of its own, pgid = pid), as
  // torchrun's start_new_session: with sched_autogroup the kernel shares the
  // CPU between sessions, and workers in the launcher's session would all
  // share its one share. It cannot fail: a fresh child leads no group.
  setsid();
  if (spec.tree != nullptr) spec.tree->EnterInChild();
  if (spec.kill_on_parent_death) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before prctl took effect.
    if (getppid() != a.parent) _exit(127);
  }
  dup2(spec.stdin_fd, STDIN_FILENO);
  dup2(spec.stdout_fd, STDOUT_FILENO);
  dup2(spec.stderr_fd, STDERR_FILENO);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig : *a.reset) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.cpu_set != nullptr &&
      sched_setaffinity(0, spec.cpu_set_size,
                        static_cast<const cpu_set_t*>(spec.cpu_set)) != 0) {
    ChildFail(a, SpawnStep::kAffinity);
  }
  execve(spec.path, spec.argv, spec.envp);
  ChildFail(a, SpawnStep::kExec);
}

// The signals a child must reset: those asked for, and every one this process
// has a handler for (a handler would run in the child on the parent's memory).
std::vector<int> SignalsToReset(const std::vector<int>& asked) {
  std::vector<int> out = asked;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) != 0) continue;
    const bool handled =
        (old.sa_flags & SA_SIGINFO) != 0
            ? old.sa_sigaction != nullptr
            : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
    if (handled) out.push_back(sig);
  }
  return out;
}

}  // namespace

Spawner::Spawner(std::vector<int> default_signals)
    : reset_signals_(SignalsToReset(default_signals)) {}

Spawner::~Spawner() {
  if (stack_ != nullptr) munmap(stack_, kStackBytes);
}

absl::StatusOr<Spawned> Spawner::Spawn(const SpawnSpec& spec) {
  if (stack_ == nullptr) {
    void* p =
        mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      return absl::InternalError(
          absl::StrCat("cannot map a ", kStackBytes, "-byte stack to spawn ",
                       spec.path, ": ", strerror(errno)));
    }
    stack_ = p;
  }
  ChildArgs args;
  args.spec = &spec;
  args.parent = getpid();
  args.reset = &reset_signals_;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  const pid_t pid =
      clone(ChildMain, static_cast<char*>(stack_) + kStackBytes,
            CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    return absl::InternalError(
        absl::StrCat("clone(CLONE_VM|CLONE_VFORK) for ", spec.path, ": ",
                     strerror(clone_errno), " (tplaunch needs Linux >= 5.3)"));
  }
  Spawned out;
  out.pid = pid;
  out.pidfd = pidfd;
  out.failed = args.failed;
  out.error = args.error;
  return out;
}

}  // namespace tplaunch
