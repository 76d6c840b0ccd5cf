// worker_stats: what /proc says about one process (state, CPU time, RSS), for
// the live view's worker rows (tplaunch --http-port, docs/observability.md).
// Pure readers of /proc/<pid>/stat and /proc/<pid>/statm: no threads, no
// state; the caller keeps the previous sample to turn CPU time into a rate.
#ifndef TPLAUNCH_LAUNCHER_WORKER_STATS_H_
#define TPLAUNCH_LAUNCHER_WORKER_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

struct ProcStats {
  pid_t pid = 0;
  // stat's state letter: R running, S sleeping, D disk wait, Z zombie, T
  // stopped, t traced, X dead, I idle.
  char state = '?';
  // User + system CPU time, in seconds.
  double cpu_s = 0;
  // Seconds after boot the process started (stat's starttime).
  double start_s = 0;
  // Resident set size in bytes (statm's resident pages times the page size).
  int64_t rss_bytes = 0;
};

// Parses the text of /proc/<pid>/stat and /proc/<pid>/statm. The command name
// may hold spaces and parentheses: fields are counted after its last ')'.
// `ticks_per_s` is sysconf(_SC_CLK_TCK), `page_bytes` sysconf(_SC_PAGESIZE).
// Errors: InvalidArgument naming what could not be read.
absl::StatusOr<ProcStats> ParseProcStats(absl::string_view stat,
                                         absl::string_view statm,
                                         double ticks_per_s,
                                         int64_t page_bytes);

// Reads /proc/<pid>/stat and statm under `proc_root`. Errors: NotFound when
// the process is gone (reaped), InvalidArgument from ParseProcStats.
absl::StatusOr<ProcStats> ReadProcStats(pid_t pid,
                                        const std::string& proc_root = "/proc");

// Seconds since boot (/proc/uptime); -1 when unreadable.
double ReadUptimeSeconds(const std::string& proc_root = "/proc");

// "running", "sleeping", "disk_wait", "zombie", "stopped", ... for a state
// letter; "unknown" for others.
std::string ProcStateName(char state);

// CPU use between two samples of one process `wall_s` seconds apart, in
// percent of one CPU (200 = two CPUs busy); 0 when wall_s <= 0.
double CpuPercent(double cpu_s_before, double cpu_s_after, double wall_s);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WORKER_STATS_H_
