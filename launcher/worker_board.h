// WorkerBoard: this launcher's workers as the live view shows them
// (tplaunch --http-port; docs/observability.md, "A standalone job"). The
// agent says which workers an attempt has, their pids and exits; the view's
// HTTP threads read /proc for each (worker_stats.h) and the last line each
// wrote (worker_output.h's LastLine).
#ifndef TPLAUNCH_LAUNCHER_WORKER_BOARD_H_
#define TPLAUNCH_LAUNCHER_WORKER_BOARD_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "launcher/worker_output.h"
#include "rendezvous/http/local_jobs.h"

namespace tplaunch {

class WorkerBoard final : public LocalJobSource {
 public:
  // A new attempt of `run_id`: forgets the workers of the one before.
  void StartAttempt(const std::string& run_id, int attempt)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Adds a worker of the current attempt (local rank order); the cell its
  // output lines go to (WorkerSpec::last_line).
  std::shared_ptr<LastLine> AddWorker(int rank, int local_rank)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The workers' pids, in the order they were added.
  void SetPids(const std::vector<pid_t>& pids) ABSL_LOCKS_EXCLUDED(mu_);
  // A worker was reaped: `shell_code` is its exit code, or 128 + signal.
  void Exited(pid_t pid, int shell_code) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<std::string> RunIds() const override ABSL_LOCKS_EXCLUDED(mu_);
  void Fill(const std::string& run_id,
            rendezvous::v1::LiveJob& job) const override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Worker {
    int rank = 0;
    int local_rank = 0;
    pid_t pid = 0;
    bool exited = false;
    int exit_code = 0;
    std::shared_ptr<LastLine> last_line;
  };
  // The previous read of a pid's CPU time, for the CPU rate.
  struct CpuSample {
    double cpu_s = 0;
    absl::Time at;
  };

  mutable absl::Mutex mu_;
  std::string run_id_ ABSL_GUARDED_BY(mu_);
  int attempt_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time attempt_start_ ABSL_GUARDED_BY(mu_);
  std::vector<Worker> workers_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_map<pid_t, CpuSample> cpu_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WORKER_BOARD_H_
