#include "launcher/worker_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tplaunch {
namespace {

// stat's fields after "pid (comm) ", counted from 0 at the state letter:
// proc(5) numbers them from 1 at the pid, so field N is index N - 3.
constexpr size_t kUtime = 14 - 3;
constexpr size_t kStime = 15 - 3;
constexpr size_t kStartTime = 22 - 3;

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ESRCH) {
      return absl::NotFoundError(absl::StrCat(path, ": no such process"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": ", strerror(err)));
  }
  std::string text;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

}  // namespace

absl::StatusOr<ProcStats> ParseProcStats(absl::string_view stat,
                                         absl::string_view statm,
                                         double ticks_per_s,
                                         int64_t page_bytes) {
  ProcStats s;
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos ||
      close < open || !absl::SimpleAtoi(stat.substr(0, open), &s.pid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unreadable /proc stat line '", stat.substr(0, 80), "'"));
  }
  std::vector<absl::string_view> f =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  int64_t utime = 0, stime = 0, start = 0;
  if (f.size() <= kStartTime || f[0].size() != 1 ||
      !absl::SimpleAtoi(f[kUtime], &utime) ||
      !absl::SimpleAtoi(f[kStime], &stime) ||
      !absl::SimpleAtoi(f[kStartTime], &start) || ticks_per_s <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unreadable /proc stat fields of pid ", s.pid, ": '",
                     stat.substr(close + 1, 80), "'"));
  }
  s.state = f[0][0];
  s.cpu_s = static_cast<double>(utime + stime) / ticks_per_s;
  s.start_s = static_cast<double>(start) / ticks_per_s;
  std::vector<absl::string_view> m =
      absl::StrSplit(statm, ' ', absl::SkipWhitespace());
  int64_t resident = 0;
  if (m.size() < 2 || !absl::SimpleAtoi(m[1], &resident)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unreadable /proc statm of pid ", s.pid, ": '",
                     statm.substr(0, 80), "'"));
  }
  s.rss_bytes = resident * page_bytes;
  return s;
}

absl::StatusOr<ProcStats> ReadProcStats(pid_t pid,
                                        const std::string& proc_root) {
  const std::string dir = absl::StrCat(proc_root, "/", pid);
  absl::StatusOr<std::string> stat = ReadWhole(dir + "/stat");
  if (!stat.ok()) return stat.status();
  absl::StatusOr<std::string> statm = ReadWhole(dir + "/statm");
  if (!statm.ok()) return statm.status();
  return ParseProcStats(*stat, *statm,
                        static_cast<double>(sysconf(_SC_CLK_TCK)),
                        static_cast<int64_t>(sysconf(_SC_PAGESIZE)));
}

double ReadUptimeSeconds(const std::string& proc_root) {
  absl::StatusOr<std::string> text = ReadWhole(proc_root + "/uptime");
  if (!text.ok()) return -1;
  std::vector<absl::string_view> f =
      absl::StrSplit(*text, ' ', absl::SkipWhitespace());
  double up = 0;
  if (f.empty() || !absl::SimpleAtod(f[0], &up)) return -1;
  return up;
}

std::string ProcStateName(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk_wait";
    case 'Z':
      return "zombie";
    case 'T':
      return "stopped";
    case 't':
      return "traced";
    case 'X':
      return "dead";
    case 'I':
      return "idle";
  }
  return "unknown";
}

double CpuPercent(double cpu_s_before, double cpu_s_after, double wall_s) {
  if (wall_s <= 0) return 0;
  return std::max(0.0, (cpu_s_after - cpu_s_before) / wall_s * 100.0);
}

}  // namespace tplaunch
