#include "launcher/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "launcher/logger.h"

namespace tplaunch {
namespace {

[[noreturn]] void RunWatchdog(int read_fd, pid_t launcher,
                              const std::string& marker,
                              const std::string& cgroup_dir,
                              const WatchdogOptions& options) {
  prctl(PR_SET_NAME, "tplaunch-watch");
  setpgid(0, 0);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
    signal(sig, SIG_IGN);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Keep only stderr (for the one line below) and the pipe: an inherited
  // descriptor (a socket, a worker's pipe) must not stay open because of us.
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
  }
  if (read_fd != 3) {
    dup2(read_fd, 3);
    read_fd = 3;
  }
  syscall(SYS_close_range, 4, ~0U, 0);
  char byte;
  while (true) {
    ssize_t n = read(read_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  KillReport r = KillProcessTree(marker, cgroup_dir, /*descendants=*/false, {},
                                 options.kill_timeout);
  if (r.killed > 0 || !r.survivors.empty()) {
    LauncherLogger().warn(
        "watchdog: tplaunch (pid {}) is gone; killed {} leftover process(es) "
        "of its job{}",
        launcher, r.killed,
        r.survivors.empty()
            ? ""
            : absl::StrCat(", ", r.survivors.size(), " would not die"));
  }
  RemoveCgroupWhenEmpty(cgroup_dir, absl::Now() + options.kill_timeout);
  _exit(0);
}

}  // namespace

absl::StatusOr<pid_t> StartWatchdog(ProcessTree& tree,
                                    const WatchdogOptions& options) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const pid_t launcher = getpid();
  // A double fork: the watchdog is not the launcher's child, so the launcher
  // having no child at all still means it has no descendant (see
  // ProcessTree::KillAll), and its waits never meet the watchdog. A subreaper
  // would adopt the orphaned watchdog at once: stop being one meanwhile.
  int subreaper = 0;
  prctl(PR_GET_CHILD_SUBREAPER, &subreaper);
  if (subreaper != 0) prctl(PR_SET_CHILD_SUBREAPER, 0);
  pid_t middle = fork();
  if (middle < 0) {
    if (subreaper != 0) prctl(PR_SET_CHILD_SUBREAPER, 1);
    for (int fd : {fds[0], fds[1], pid_pipe[0], pid_pipe[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (middle == 0) {
    close(fds[1]);
    close(pid_pipe[0]);
    pid_t pid = fork();
    if (pid != 0) {
      ssize_t ignored = write(pid_pipe[1], &pid, sizeof(pid));
      (void)ignored;
      _exit(pid > 0 ? 0 : 1);
    }
    close(pid_pipe[1]);
    RunWatchdog(fds[0], launcher, tree.marker(), tree.cgroup_dir(), options);
  }
  close(fds[0]);
  close(pid_pipe[1]);
  pid_t pid = -1;
  ssize_t n;
  do {
    n = read(pid_pipe[0], &pid, sizeof(pid));
  } while (n < 0 && errno == EINTR);
  close(pid_pipe[0]);
  int st = 0;
  while (waitpid(middle, &st, 0) < 0 && errno == EINTR) {
  }
  // The middle process has exited (so the watchdog was reparented) by now.
  if (subreaper != 0) prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (n != sizeof(pid) || pid <= 0) {
    close(fds[1]);
    return absl::InternalError("fork of the watchdog failed");
  }
  // fds[1] stays open, unused, for the launcher's lifetime: its closing (at
  // any exit, SIGKILL included) is what wakes the watchdog.
  tree.Keep(pid);
  return pid;
}

}  // namespace tplaunch
