#include "launcher/worker_board.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "launcher/worker_stats.h"

namespace tplaunch {

void WorkerBoard::StartAttempt(const std::string& run_id, int attempt) {
  absl::MutexLock lock(&mu_);
  run_id_ = run_id;
  attempt_ = attempt;
  attempt_start_ = absl::Now();
  workers_.clear();
  cpu_.clear();
}

std::shared_ptr<LastLine> WorkerBoard::AddWorker(int rank, int local_rank) {
  absl::MutexLock lock(&mu_);
  Worker w;
  w.rank = rank;
  w.local_rank = local_rank;
  w.last_line = std::make_shared<LastLine>();
  workers_.push_back(w);
  return w.last_line;
}

void WorkerBoard::SetPids(const std::vector<pid_t>& pids) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < pids.size() && i < workers_.size(); ++i) {
    workers_[i].pid = pids[i];
  }
}

void WorkerBoard::Exited(pid_t pid, int shell_code) {
  absl::MutexLock lock(&mu_);
  for (Worker& w : workers_) {
    if (w.pid != pid) continue;
    w.exited = true;
    w.exit_code = shell_code;
  }
}

std::vector<std::string> WorkerBoard::RunIds() const {
  absl::MutexLock lock(&mu_);
  if (run_id_.empty()) return {};
  return {run_id_};
}

void WorkerBoard::Fill(const std::string& run_id,
                       rendezvous::v1::LiveJob& job) const {
  absl::MutexLock lock(&mu_);
  if (run_id != run_id_) return;
  const absl::Time now = absl::Now();
  double uptime = -1;
  int failed = 0, succeeded = 0;
  const Worker* first_failure = nullptr;
  for (const Worker& w : workers_) {
    rendezvous::v1::LiveWorker* row = job.add_workers();
    row->set_rank(w.rank);
    row->set_local_rank(w.local_rank);
    row->set_pid(w.pid);
    row->set_last_line(w.last_line->Get());
    if (w.exited) {
      row->set_state("exited");
      row->set_exit_code(w.exit_code);
      if (w.exit_code == 0) {
        ++succeeded;
      } else if (++failed == 1) {
        first_failure = &w;
      }
      continue;
    }
    if (w.pid == 0) {
      row->set_state("starting");
      continue;
    }
    absl::StatusOr<ProcStats> stats = ReadProcStats(w.pid);
    if (!stats.ok()) {
      // Reaped an instant ago; the agent tells its exit next.
      row->set_state("exiting");
      continue;
    }
    row->set_state(ProcStateName(stats->state));
    row->set_rss_bytes(stats->rss_bytes);
    auto it = cpu_.find(w.pid);
    if (it != cpu_.end()) {
      row->set_cpu_percent(
          CpuPercent(it->second.cpu_s, stats->cpu_s,
                     absl::ToDoubleSeconds(now - it->second.at)));
    } else {
      // The first read: the average over the worker's life.
      if (uptime < 0) uptime = ReadUptimeSeconds();
      row->set_cpu_percent(
          CpuPercent(0, stats->cpu_s, uptime - stats->start_s));
    }
    cpu_[w.pid] = CpuSample{stats->cpu_s, now};
  }
  if (!job.state().empty() && job.state() != "store_only") return;
  // A standalone node met itself in memory: the table has no attempt keys.
  job.set_attempt(attempt_);
  job.set_nodes_joined(1);
  job.set_nodes_expected(1);
  job.set_age_s(std::max(0.0, absl::ToDoubleSeconds(now - attempt_start_)));
  if (first_failure != nullptr) {
    job.set_state("ended_failed");
    rendezvous::v1::LiveAttemptEnd* cause = job.mutable_root_cause();
    cause->set_attempt(attempt_);
    cause->set_kind("failed");
    cause->set_exit_code(first_failure->exit_code);
    cause->set_reason(
        absl::StrCat("rank ", first_failure->rank, " (local rank ",
                     first_failure->local_rank, ", pid ", first_failure->pid,
                     ") ended with status ", first_failure->exit_code,
                     " (128 + N: signal N)"));
  } else if (!workers_.empty() &&
             succeeded == static_cast<int>(workers_.size())) {
    job.set_state("ended_ok");
  } else {
    job.set_state("running");
  }
}

}  // namespace tplaunch
