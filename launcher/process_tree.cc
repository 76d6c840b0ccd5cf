#include "launcher/process_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <unordered_set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tplaunch {
namespace {

// Reads a whole /proc or cgroup file ("" when it cannot be read: the process
// is gone, or not ours to read).
std::string ReadWhole(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
};

// /proc/<pid>/stat: "pid (comm) S ppid ...". comm may hold spaces and
// parentheses, so parse after the last ')'. One read() returns the whole line
// (well under 1 KiB): three syscalls per process, as this runs for every
// process on the machine.
bool ReadStat(pid_t pid, ProcInfo* info) {
  char path[32];
  snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) return false;
  const absl::string_view stat(buf, static_cast<size_t>(n));
  size_t close_paren = stat.rfind(')');
  if (close_paren == absl::string_view::npos || close_paren + 4 > stat.size())
    return false;
  std::vector<absl::string_view> fields = absl::StrSplit(
      stat.substr(close_paren + 2), absl::MaxSplits(' ', 2), absl::SkipEmpty());
  if (fields.size() < 2 || fields[0].empty()) return false;
  info->pid = pid;
  info->state = fields[0][0];
  return absl::SimpleAtoi(fields[1], &info->ppid);
}

std::vector<ProcInfo> ListProcesses() {
  std::vector<ProcInfo> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t pid;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid <= 0) continue;
    ProcInfo info;
    if (ReadStat(pid, &info)) out.push_back(info);
  }
  closedir(d);
  return out;
}

std::unordered_set<pid_t> CgroupMembers(const std::string& cgroup_dir) {
  std::unordered_set<pid_t> out;
  if (cgroup_dir.empty()) return out;
  for (absl::string_view line : absl::StrSplit(
           ReadWhole(cgroup_dir + "/cgroup.procs"), '\n', absl::SkipEmpty())) {
    pid_t pid;
    if (absl::SimpleAtoi(line, &pid)) out.insert(pid);
  }
  return out;
}

bool IsMarked(pid_t pid, const std::string& marker) {
  return !marker.empty() &&
         EnvironHasMarker(ReadWhole(absl::StrCat("/proc/", pid, "/environ")),
                          marker);
}

// Whether `pid` descends from `self` now: its parent chain, read fresh,
// reaches `self` (a subreaper adopts orphans, so the chain never jumps out of
// the tree while `self` lives).
bool DescendsNow(pid_t pid, pid_t self) {
  for (int depth = 0; depth < 4096 && pid > 1; ++depth) {
    ProcInfo info;
    if (!ReadStat(pid, &info)) return false;
    if (info.ppid == self) return true;
    pid = info.ppid;
  }
  return false;
}

// The check made after a pidfd pins `pid`: nothing from an earlier scan.
bool BelongsNow(pid_t pid, pid_t self, const std::string& marker,
                const std::string& cgroup_dir, bool descendants) {
  ProcInfo info;
  if (!ReadStat(pid, &info) || info.state == 'Z') return false;
  return (descendants && DescendsNow(pid, self)) ||
         CgroupMembers(cgroup_dir).count(pid) != 0 || IsMarked(pid, marker);
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(
      syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Waits until every pidfd is readable (its process exited) or the deadline.
void WaitForExits(std::vector<int>& pidfds, absl::Time deadline) {
  std::vector<struct pollfd> p;
  for (int fd : pidfds) p.push_back({fd, POLLIN, 0});
  size_t done = 0;
  while (done < p.size()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    int ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
        1 << 30));
    if (poll(p.data(), p.size(), ms) <= 0) continue;
    for (auto& q : p) {
      if (q.fd >= 0 && q.revents != 0) {
        q.fd = -1;  // poll() skips negative fds.
        ++done;
      }
    }
  }
  for (int fd : pidfds) close(fd);
  pidfds.clear();
}

}  // namespace

// cgroup.events says "populated 0" once no process is left; poll() reports a
// change of the file as POLLPRI.
void RemoveCgroupWhenEmpty(const std::string& dir, absl::Time deadline) {
  if (dir.empty()) return;
  int fd = open((dir + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
  while (fd >= 0) {
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) break;
    buf[n] = '\0';
    if (strstr(buf, "populated 0") != nullptr) break;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    struct pollfd p = {fd, POLLPRI, 0};
    poll(&p, 1,
         static_cast<int>(absl::ToInt64Milliseconds(
             absl::Ceil(left, absl::Milliseconds(1)))));
  }
  if (fd >= 0) close(fd);
  rmdir(dir.c_str());
}

bool EnvironHasMarker(absl::string_view environ_block,
                      absl::string_view marker) {
  if (marker.empty()) return false;
  const std::string prefix = absl::StrCat(kProcessTreeEnv, "=");
  for (absl::string_view entry : absl::StrSplit(environ_block, '\0')) {
    if (!absl::ConsumePrefix(&entry, prefix)) continue;
    for (absl::string_view m : absl::StrSplit(entry, ',')) {
      if (m == marker) return true;
    }
  }
  return false;
}

KillReport KillProcessTree(const std::string& marker,
                           const std::string& cgroup_dir, bool descendants,
                           absl::Span<const pid_t> spare,
                           absl::Duration timeout) {
  KillReport report;
  const pid_t self = getpid();
  const absl::Time deadline = absl::Now() + timeout;
  auto spared = [&](pid_t pid) {
    return pid == self ||
           std::find(spare.begin(), spare.end(), pid) != spare.end();
  };
  std::set<pid_t> signalled;
  if (!cgroup_dir.empty()) {
    // Linux >= 5.14 kills the whole cgroup at once; the scan below still
    // covers older kernels and processes outside it.
    const std::unordered_set<pid_t> members = CgroupMembers(cgroup_dir);
    int fd = open((cgroup_dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && !members.empty()) {
      if (write(fd, "1", 1) == 1) {
        for (pid_t pid : members) {
          if (!spared(pid)) signalled.insert(pid);
        }
      }
    }
    if (fd >= 0) close(fd);
  }
  while (true) {
    const std::vector<ProcInfo> procs = ListProcesses();
    // Descendants of this process by parent id (the tree is a forest in no
    // particular pid order, so iterate to a fixed point).
    std::unordered_set<pid_t> tree;
    if (descendants) {
      tree.insert(self);
      for (bool grew = true; grew;) {
        grew = false;
        for (const auto& p : procs) {
          if (tree.count(p.ppid) != 0 && tree.insert(p.pid).second) grew = true;
        }
      }
    }
    const std::unordered_set<pid_t> members = CgroupMembers(cgroup_dir);
    auto belongs = [&](pid_t pid, pid_t ppid) {
      return (descendants && tree.count(ppid) != 0) ||
             members.count(pid) != 0 || IsMarked(pid, marker);
    };
    std::vector<int> pidfds;
    for (const auto& p : procs) {
      if (spared(p.pid)) continue;
      if (p.state == 'Z') {
        // A zombie that is our child: an adopted orphan (workers are reaped
        // by the supervisor before the tree is killed).
        if (p.ppid == self) waitpid(p.pid, nullptr, WNOHANG);
        continue;
      }
      if (!belongs(p.pid, p.ppid)) continue;
      // Pin the process, then check again, from fresh reads only, that it is
      // ours: the pid may have been reused between the scan and pidfd_open.
      int pidfd = PidfdOpen(p.pid);
      if (pidfd < 0) continue;
      if (!BelongsNow(p.pid, self, marker, cgroup_dir, descendants)) {
        close(pidfd);
        continue;
      }
      if (PidfdSendSignal(pidfd, SIGKILL) != 0) {
        close(pidfd);
        continue;
      }
      signalled.insert(p.pid);
      pidfds.push_back(pidfd);
    }
    if (pidfds.empty()) break;
    if (absl::Now() >= deadline) {
      for (int fd : pidfds) close(fd);
      break;
    }
    WaitForExits(pidfds, deadline);
  }
  // Who is still there (only unkillable processes, e.g. stuck in the kernel).
  report.killed = static_cast<int>(signalled.size());
  const std::unordered_set<pid_t> members = CgroupMembers(cgroup_dir);
  for (pid_t pid : signalled) {
    ProcInfo info;
    if (ReadStat(pid, &info) && info.state != 'Z' &&
        (IsMarked(pid, marker) || members.count(pid) != 0)) {
      report.survivors.push_back(pid);
    }
  }
  return report;
}

absl::StatusOr<std::unique_ptr<ProcessTree>> ProcessTree::Create(
    ProcessTreeOptions options) {
  std::unique_ptr<ProcessTree> tree(new ProcessTree());
  tree->marker_ = options.marker;
  if (tree->marker_.empty()) {
    std::string bytes(16, '\0');
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, bytes.data(), bytes.size()) : -1;
    if (fd >= 0) close(fd);
    if (got != static_cast<ssize_t>(bytes.size())) {
      return absl::InternalError(
          absl::StrCat("cannot read /dev/urandom: ", strerror(errno)));
    }
    tree->marker_ = absl::BytesToHexString(bytes);
  }
  tree->env_value_ = options.inherited.empty()
                         ? tree->marker_
                         : absl::StrCat(options.inherited, ",", tree->marker_);
  if (options.subreaper) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      return absl::InternalError(
          absl::StrCat("prctl(PR_SET_CHILD_SUBREAPER): ", strerror(errno)));
    }
    tree->subreaper_ = true;
  }
  if (options.use_cgroup) {
    // The cgroup v2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
    // hybrid system) and our own place in it ("0::/path" in /proc/self/cgroup).
    std::string mount;
    for (absl::string_view line : absl::StrSplit(
             ReadWhole("/proc/self/mountinfo"), '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> halves = absl::StrSplit(line, " - ");
      if (halves.size() != 2 || !absl::StartsWith(halves[1], "cgroup2 "))
        continue;
      std::vector<absl::string_view> f = absl::StrSplit(halves[0], ' ');
      if (f.size() >= 5) mount = std::string(f[4]);
      break;
    }
    std::string own;
    for (absl::string_view line : absl::StrSplit(ReadWhole("/proc/self/cgroup"),
                                                 '\n', absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&line, "0::")) own = std::string(line);
    }
    if (!mount.empty() && !own.empty()) {
      if (own == "/") own.clear();
      std::string dir =
          absl::StrCat(mount, own, "/tplaunch-", tree->marker_.substr(0, 16));
      if (mkdir(dir.c_str(), 0755) == 0) {
        tree->cgroup_procs_fd_ =
            open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (tree->cgroup_procs_fd_ >= 0) {
          tree->cgroup_dir_ = dir;
        } else {
          rmdir(dir.c_str());
        }
      }
    }
  }
  return tree;
}

ProcessTree::~ProcessTree() {
  KillAll(absl::Seconds(5));
  if (cgroup_procs_fd_ >= 0) close(cgroup_procs_fd_);
  RemoveCgroupWhenEmpty(cgroup_dir_, absl::Now() + absl::Seconds(5));
}

std::string ProcessTree::Describe() const {
  return absl::StrCat(
      "descendants of every worker are tracked through ",
      cgroup_dir_.empty() ? "" : absl::StrCat("cgroup ", cgroup_dir_, ", "),
      "the child subreaper and the ", kProcessTreeEnv, " marker",
      cgroup_dir_.empty() ? " (no cgroup v2 could be created)" : "");
}

void ProcessTree::EnterInChild() const {
  if (cgroup_procs_fd_ < 0) return;
  // "0" moves the writing process.
  ssize_t ignored = write(cgroup_procs_fd_, "0", 1);
  (void)ignored;
}

KillReport ProcessTree::KillAll(absl::Duration timeout,
                                absl::Span<const pid_t> spare) {
  if (subreaper_ && CgroupMembers(cgroup_dir_).empty()) {
    // No child at all means no descendant at all: every orphan of the tree
    // would have become our child.
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 &&
        errno == ECHILD) {
      return {};
    }
  }
  std::vector<pid_t> all(keep_.begin(), keep_.end());
  all.insert(all.end(), spare.begin(), spare.end());
  return KillProcessTree(subreaper_ ? "" : marker_, cgroup_dir_,
                         /*descendants=*/true, all, timeout);
}

void ProcessTree::ReapAdopted(absl::Span<const pid_t> spare) {
  while (true) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    // WNOWAIT: look without reaping, so a worker's exit stays for the
    // supervisor's own waitpid().
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return;
    const pid_t pid = si.si_pid;
    if (pid == 0) return;
    // A worker's exit is the supervisor's to collect; it will, and the next
    // call gets past it.
    if (std::find(spare.begin(), spare.end(), pid) != spare.end()) return;
    // A kept process (the watchdog) that died: reap it too, or it would hide
    // every orphan behind it; its pid is no longer ours to spare.
    keep_.erase(std::remove(keep_.begin(), keep_.end(), pid), keep_.end());
    waitpid(pid, nullptr, WNOHANG);
  }
}

}  // namespace tplaunch
