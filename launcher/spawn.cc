#include "launcher/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
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
  // The child writes itself into this tree's cgroup; nullptr when the clone
  // started it there (or there is none).
  const ProcessTree* enter_tree = nullptr;
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
  if (a.enter_tree != nullptr) a.enter_tree->EnterInChild();
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

// clone3(2)'s argument (the kernel's struct clone_args; <linux/sched.h> is not
// included, its CLONE_* macros clash with <sched.h>'s).
struct CloneArgs {
  uint64_t flags = 0;
  uint64_t pidfd = 0;
  uint64_t child_tid = 0;
  uint64_t parent_tid = 0;
  uint64_t exit_signal = 0;
  uint64_t stack = 0;
  uint64_t stack_size = 0;
  uint64_t tls = 0;
  uint64_t set_tid = 0;
  uint64_t set_tid_size = 0;
  uint64_t cgroup = 0;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;  // Linux >= 5.7.

// clone3 with the child running fn(arg) on args->stack: libc has no clone3
// wrapper, and a raw syscall() would return into the parent's frames in the
// child. Returns the pid in the parent, or -errno. fn must not return (it
// exits 127 if it does).
#if defined(__x86_64__)
__attribute__((no_sanitize_address)) long Clone3(CloneArgs* args,
                                                 int (*fn)(void*), void* arg) {
  long ret;
  // Callee-saved registers survive the syscall in the child, which starts
  // with rsp at the top of its stack (16-byte aligned before the call).
  register int (*child_fn)(void*) asm("r12") = fn;
  register void* child_arg asm("r13") = arg;
  asm volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r13, %%rdi\n\t"
      "callq *%%r12\n\t"
      "movl $127, %%edi\n\t"
      "movl %[exit_nr], %%eax\n\t"
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "0"(static_cast<long>(SYS_clone3)), "D"(args), "S"(sizeof(*args)),
        "r"(child_fn), "r"(child_arg), [exit_nr] "i"(SYS_exit)
      : "rcx", "r11", "memory", "cc");
  return ret;
}
#else
long Clone3(CloneArgs*, int (*)(void*), void*) { return -ENOSYS; }
#endif

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

Spawner::Spawner(std::vector<int> default_signals, const ProcessTree* tree)
    : reset_signals_(SignalsToReset(default_signals)), tree_(tree) {
  if (tree_ != nullptr && !tree_->cgroup_dir().empty()) {
    cgroup_fd_ =
        open(tree_->cgroup_dir().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
}

Spawner::~Spawner() {
  if (stack_ != nullptr) munmap(stack_, kStackBytes);
  if (cgroup_fd_ >= 0) close(cgroup_fd_);
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
  char* top = static_cast<char*>(stack_) + kStackBytes;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  pid_t pid = -1;
  int clone_errno = 0;
  if (cgroup_fd_ >= 0) {
    CloneArgs ca;
    ca.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | kCloneIntoCgroup;
    ca.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
    ca.exit_signal = SIGCHLD;
    ca.stack = reinterpret_cast<uintptr_t>(stack_);
    ca.stack_size = kStackBytes;
    ca.cgroup = static_cast<uint64_t>(cgroup_fd_);
    const long r = Clone3(&ca, ChildMain, &args);
    if (r > 0) {
      pid = static_cast<pid_t>(r);
    } else {
      // Not this kernel, architecture or cgroup: the child writes
      // cgroup.procs from now on.
      close(cgroup_fd_);
      cgroup_fd_ = -1;
    }
  }
  if (pid < 0) {
    args.enter_tree = tree_;
    pid = clone(ChildMain, top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                &args, &pidfd);
    clone_errno = errno;
  }
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
