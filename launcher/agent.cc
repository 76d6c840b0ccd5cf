#include "launcher/agent.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "launcher/exit_on_signal.h"
#include "launcher/failure_report.h"
#include "launcher/grace_signals.h"
#include "launcher/host_info.h"
#include "launcher/liveness_monitor.h"
#include "launcher/log_prefix.h"
#include "launcher/logger.h"
#include "launcher/node_rendezvous.h"
#include "launcher/output_routing.h"
#include "launcher/run_logs.h"
#include "launcher/signals.h"
#include "launcher/worker_placement.h"

namespace tplaunch {
namespace {

// One signal from the (nonblocking) signalfd; nullopt when none is there.
std::optional<ReceivedSignal> ReadSignal(int signal_fd) {
  struct signalfd_siginfo si;
  if (read(signal_fd, &si, sizeof(si)) != sizeof(si)) return std::nullopt;
  return ReceivedSignal{static_cast<int>(si.ssi_signo),
                        static_cast<pid_t>(si.ssi_pid), si.ssi_code};
}

// poll() on fds until one is readable or the deadline passes.
WaitResult WaitForFds(const std::vector<int>& fds, absl::Time deadline) {
  std::vector<struct pollfd> p;
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return {WaitOutcome::kDeadline, -1};
    int ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
        1 << 30));
    int n = poll(p.data(), p.size(), ms);
    if (n <= 0) continue;
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].revents != 0)
        return {WaitOutcome::kFdReady, static_cast<int>(i)};
    }
  }
}

NodeRendezvousOptions RendezvousOptions(const AgentOptions& o) {
  NodeRendezvousOptions r;
  r.run_id = o.run_id;
  r.min_nodes = o.config.min_nodes;
  r.max_nodes = o.config.max_nodes;
  r.join_timeout = o.config.rdzv_timeout;
  r.last_call = o.config.rdzv_last_call;
  r.heartbeat_interval = o.config.heartbeat_interval;
  r.heartbeat_timeout = o.config.heartbeat_timeout;
  r.on_notice = [](const std::string& m) { LauncherLogger().warn("{}", m); };
  return r;
}

class Agent {
 public:
  explicit Agent(const AgentOptions& o)
      : o_(o),
        c_(o.config),
        rdzv_(o.store, RendezvousOptions(o)),
        live_rdzv_(o.liveness_store != nullptr ? o.liveness_store : o.store,
                   RendezvousOptions(o)),
        log_(LauncherLogger()) {}

  ~Agent() {
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  int Run();

 private:
  struct AttemptResult {
    bool success = false;
    int exit_code = 0;
    bool restartable = false;
    bool counts_as_restart = true;
    // The attempt ended after tprdzvd restarted without the job's state.
    bool store_restarted = false;
  };
  static AttemptResult Success() {
    AttemptResult r;
    r.success = true;
    return r;
  }
  // Ends the job with `code`, no restart.
  static AttemptResult Fatal(int code) {
    AttemptResult r;
    r.exit_code = code;
    return r;
  }

  // A failure this node could not report while the store did not answer.
  struct PendingReport {
    int attempt = 0;
    AttemptEnd::Kind kind = AttemptEnd::Kind::kFailed;
    int exit_code = 1;
    std::string reason;
  };

  absl::Status SetUp();
  AttemptResult RunAttempt(int attempt);
  // Reads the job's current attempt, waiting up to --rdzv-timeout while the
  // store does not answer (a daemon restarting between attempts). Other store
  // errors end the wait at once.
  absl::StatusOr<int> WaitForStore();
  // Delivers a report FailJob kept: the other nodes may still be running that
  // attempt, waiting for the store as this node did.
  void SendPendingReport();
  std::string StoreName() const {
    if (!o_.worker_rdzv_url.empty()) return o_.worker_rdzv_url;
    return o_.multi_node
               ? absl::StrCat("tprdzvd at ", (o_.daemon_endpoint.host.empty()
                                                  ? o_.worker_rdzv_endpoint
                                                  : o_.daemon_endpoint)
                                                 .ToString())
               : std::string("the rendezvous store");
  }

  // The steps of one attempt, in order.
  void ResetAttemptState();
  absl::StatusOr<JoinResult> Join(int attempt);
  absl::StatusOr<std::pair<std::string, int>> ReserveMaster(int attempt);
  AttemptResult JoinFailed(const absl::Status& status);
  AttemptResult JoinedLate(int attempt, const LateArrival& late);
  void LogAssignment(const NodeAssignment& a);
  absl::StatusOr<std::unique_ptr<WorkerGroup>> StartAttemptWorkers(
      const NodeAssignment& a);
  AttemptResult StartFailed(const NodeAssignment& a,
                            const absl::Status& status);
  std::unique_ptr<LivenessMonitor> StartMonitor(const NodeAssignment& a);
  AttemptResult Monitor(const NodeAssignment& a, WorkerGroup& workers,
                        LivenessMonitor* monitor);

  // What Monitor does on each event.
  AttemptResult OnWorkerFailed(const NodeAssignment& a, WorkerGroup& workers);
  // The failure to report: the first exit, or the worker whose error file was
  // written first (failure_report.h's EarliestErrorFileRank), waiting for it
  // through `stop_others` when it has not exited yet.
  WorkerExit RootCause(const NodeAssignment& a, WorkerGroup& workers,
                       const std::function<void()>& stop_others);
  absl::Time EnterExitBarrier(const NodeAssignment& a, WorkerGroup& workers,
                              LivenessMonitor& monitor);
  AttemptResult LeaveExitBarrier(LivenessMonitor& monitor);
  std::optional<AttemptResult> OnSignal(const NodeAssignment& a,
                                        WorkerGroup& workers);
  // What the signalfd does during a stop's grace period (grace_signals.h):
  // forwards USR1 and the like, lets the parent repeat its stop signal, and
  // cuts the grace short on a deliberate second stop.
  GraceAbort GraceSignals(WorkerGroup& workers);
  // `local_done`: this node's workers all succeeded (it waits in the exit
  // barrier); an "ok" end counts only then.
  std::optional<AttemptResult> OnAttemptEnded(const NodeAssignment& a,
                                              WorkerGroup& workers,
                                              bool local_done);
  // The daemon's incarnation now differs from the one the attempt was joined
  // under (it restarted without the job's state); false when not tracked.
  bool StoreRestartedSinceJoin() const;
  // error.json for an attempt that a daemon restart ended.
  void ReportStoreRestart(const NodeAssignment& a, const AttemptEnd& end);

  absl::StatusOr<std::vector<WorkerSpec>> BuildSpecs(const NodeAssignment& a);
  WorkerEnvInputs EnvInputs(const NodeAssignment& a, int local_rank) const;
  // Tells the other nodes (multi-node only) that this attempt failed; when the
  // store does not answer, keeps the report for SendPendingReport.
  void FailJob(int attempt, AttemptEnd::Kind kind, int code,
               const std::string& reason);
  FailureContext Context(const NodeAssignment& a) const;
  AttemptResult FromEnd(const AttemptEnd& end) const;
  void DrainWakeFd() {
    uint64_t v;
    while (read(wake_fd_, &v, sizeof(v)) > 0) {
    }
  }

  const AgentOptions& o_;
  const LaunchConfig& c_;
  NodeRendezvous rdzv_;
  // rdzv_ over options.liveness_store: calls bounded by the heartbeat
  // interval.
  NodeRendezvous live_rdzv_;
  spdlog::logger& log_;
  std::optional<PendingReport> pending_report_;
  // Written by the liveness monitor when it saw the attempt end.
  int wake_fd_ = -1;
  std::unique_ptr<RunLogs> logs_;
  bool omp_said_ = false;
  // The store's incarnation when the current attempt's join completed (""
  // when not tracked).
  std::string joined_incarnation_;
  // --numa-binding: each local rank's CPUs; empty without it.
  std::vector<std::vector<int>> worker_cpus_;
  // The attempt's file timer (TORCHELASTIC_ENABLE_FILE_TIMER=1), or null.
  std::unique_ptr<FileTimerServer> timer_;

  absl::Mutex mu_;
  std::optional<AttemptEnd> end_ ABSL_GUARDED_BY(mu_);
};

absl::Status Agent::SetUp() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  RunLogsOptions lo;
  lo.log_dir = c_.log_dir;
  lo.run_id = o_.run_id;
  lo.stdout_to_file = c_.tee.AnyStdout() || c_.redirects.AnyStdout();
  lo.stderr_to_file = c_.tee.AnyStderr() || c_.redirects.AnyStderr();
  if (auto tmp = o_.base_env.find("TMPDIR"); tmp != o_.base_env.end()) {
    lo.tmp_dir = tmp->second;
  }
  auto logs = RunLogs::Create(lo);
  if (!logs.ok()) return logs.status();
  logs_ = *std::move(logs);
  auto cpus = PlanWorkerPlacement(c_, o_.base_env, log_);
  if (!cpus.ok()) return cpus.status();
  worker_cpus_ = *std::move(cpus);
  if (logs_->root_is_temporary()) {
    log_.info("--tee/--redirects without --log-dir: logs go to {}",
              logs_->root());
  }
  if (std::string w = DuplicateFiltersWarning(c_); !w.empty()) {
    log_.warn("{}", w);
  }
  return absl::OkStatus();
}

int Agent::Run() {
  absl::Status set_up = SetUp();
  if (!set_up.ok()) {
    log_.error("{}", std::string(set_up.message()));
    // DataLoss: the logs asked for cannot be kept (see RunLogs::Create).
    return absl::IsDataLoss(set_up) ? kLogsLostExit : 1;
  }
  auto current = WaitForStore();
  if (!current.ok()) {
    log_.error("cannot read the job's attempt from the rendezvous store: {}",
               current.status().ToString());
    return 1;
  }
  int attempt = *current;
  int restarts = 0;
  bool first = true;
  AttemptResult r;
  while (true) {
    if (!first) {
      // The store may be down at the restart: wait for it (within
      // --rdzv-timeout) instead of failing the next rendezvous at once.
      auto back = WaitForStore();
      if (!back.ok()) {
        log_.error("cannot restart as attempt {}: {}", attempt,
                   back.status().ToString());
        return r.exit_code;
      }
      SendPendingReport();
    }
    first = false;
    r = RunAttempt(attempt);
    if (r.success) return 0;
    if (!r.restartable) return r.exit_code;
    if (r.counts_as_restart) {
      if (restarts >= c_.max_restarts) {
        if (c_.max_restarts > 0) {
          log_.error("job failed after {} restart(s) (--max-restarts {})",
                     restarts, c_.max_restarts);
        }
        if (r.store_restarted) {
          log_.error(
              "{} restarted without the job's state and --max-restarts {} "
              "allows no restart: failing (start tprdzvd with --state-dir to "
              "keep jobs across its restarts, or allow restarts)",
              StoreName(), c_.max_restarts);
        }
        return r.exit_code;
      }
      ++restarts;
      log_.warn("restarting every worker as attempt {} (restart {} of {})",
                attempt + 1, restarts, c_.max_restarts);
    } else {
      log_.warn("membership changed: restarting every worker as attempt {}",
                attempt + 1);
    }
    ++attempt;
  }
}

absl::StatusOr<int> Agent::WaitForStore() {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + c_.rdzv_timeout;
  ExitOnSignalWhileBlocked exit_on_signal(o_.signal_fd,
                                          [this] { logs_->RemoveScratch(); });
  auto waited = [&] {
    return absl::FormatDuration(
        absl::Trunc(absl::Now() - start, absl::Milliseconds(100)));
  };
  bool said = false;
  while (true) {
    const absl::Time tried = absl::Now();
    absl::StatusOr<int> current = live_rdzv_.CurrentAttempt();
    if (current.ok()) {
      if (said) log_.info("{} answers again after {}", StoreName(), waited());
      return current;
    }
    if (!absl::IsUnavailable(current.status()) &&
        !absl::IsDeadlineExceeded(current.status())) {
      return current.status();
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat(
          StoreName(), " did not answer for ", waited(), " (--rdzv-timeout ",
          absl::FormatDuration(c_.rdzv_timeout),
          "): ", current.status().message()));
    }
    if (!said) {
      log_.warn(
          "{} does not answer; waiting up to --rdzv-timeout {} for it: {}",
          StoreName(), absl::FormatDuration(c_.rdzv_timeout),
          std::string(current.status().message()));
      said = true;
    }
    // A GrpcStore call already waited for the store; a store that fails at
    // once must not make this a busy loop.
    absl::SleepFor(absl::Milliseconds(100) - (absl::Now() - tried));
  }
}

void Agent::SendPendingReport() {
  if (!pending_report_) return;
  const PendingReport p = *std::move(pending_report_);
  pending_report_.reset();
  auto end = live_rdzv_.ReportFailure(p.attempt, p.kind, p.exit_code, p.reason);
  if (end.ok()) {
    log_.info("told the other nodes that attempt {} failed: {}", p.attempt,
              p.reason);
  } else {
    log_.warn("could not tell the other nodes that attempt {} failed: {}",
              p.attempt, end.status().ToString());
  }
}

Agent::AttemptResult Agent::RunAttempt(int attempt) {
  ResetAttemptState();
  absl::StatusOr<JoinResult> joined;
  {
    // No worker exists yet and nothing polls the signalfd: a terminating
    // signal exits at once instead of after --rdzv-timeout.
    ExitOnSignalWhileBlocked exit_on_signal(o_.signal_fd, [this] {
      // The others must not count (or wait for) a node that is gone.
      rdzv_.WithdrawPendingJoin("its launcher received a terminating signal");
      logs_->RemoveScratch();
    });
    joined = Join(attempt);
    if (!joined.ok()) return JoinFailed(joined.status());
    // The daemon the attempt was formed in; a join rides through a restart
    // before its close itself.
    joined_incarnation_ = o_.store_incarnation ? o_.store_incarnation() : "";
    if (const auto* late = std::get_if<LateArrival>(&*joined)) {
      return JoinedLate(attempt, *late);
    }
  }
  const NodeAssignment& a = std::get<NodeAssignment>(*joined);
  LogAssignment(a);
  auto timer = CreateAttemptFileTimer(o_.base_env, o_.run_id, a.attempt, log_);
  if (!timer.ok()) return StartFailed(a, timer.status());
  timer_ = *std::move(timer);
  auto workers = StartAttemptWorkers(a);
  if (!workers.ok()) return StartFailed(a, workers.status());
  if (o_.worker_board != nullptr) o_.worker_board->SetPids((*workers)->pids());
  if (timer_) {
    std::map<pid_t, int> ranks;
    const std::vector<pid_t> pids = (*workers)->pids();
    for (size_t i = 0; i < pids.size(); ++i) ranks[pids[i]] = a.rank_offset + i;
    timer_->Start(std::move(ranks));
  }
  std::unique_ptr<LivenessMonitor> monitor = StartMonitor(a);
  AttemptResult result = Monitor(a, **workers, monitor.get());
  if (o_.worker_board != nullptr) {
    for (const WorkerExit& e : (*workers)->exits()) {
      o_.worker_board->Exited(e.pid, e.ShellCode());
    }
  }
  timer_.reset();  // One FIFO per attempt, removed at its end.
  return result;
}

void Agent::ResetAttemptState() {
  DrainWakeFd();
  absl::MutexLock lock(&mu_);
  end_.reset();
}

absl::StatusOr<JoinResult> Agent::Join(int attempt) {
  NodeInfo self;
  self.host = o_.host;
  self.addr = o_.local_addr;
  self.nproc = c_.nproc_per_node;
  self.requested_rank = c_.node_rank;
  self.pid = getpid();
  return rdzv_.Join(
      attempt, self, [&] { return ReserveMaster(attempt); },
      [&](const std::string& msg) { log_.info("{}", msg); });
}

absl::StatusOr<std::pair<std::string, int>> Agent::ReserveMaster(int attempt) {
  if (o_.agent_store) {
    // No rank hosts a store: MASTER_ADDR/PORT name the listener.
    if (o_.prepare_agent_store) {
      absl::Status prepared = o_.prepare_agent_store(attempt);
      if (!prepared.ok()) return prepared;
    }
    return std::make_pair(o_.agent_store->host, o_.agent_store->port);
  }
  if (!c_.master_addr.empty())
    return std::make_pair(c_.master_addr, c_.master_port);
  if (c_.master_port != 0) return std::make_pair(o_.local_addr, c_.master_port);
  auto port = PickFreePort(o_.local_addr);
  if (!port.ok()) return port.status();
  return std::make_pair(o_.local_addr, *port);
}

Agent::AttemptResult Agent::JoinFailed(const absl::Status& status) {
  log_.error("rendezvous failed: {}", std::string(status.message()));
  return Fatal(1);
}

Agent::AttemptResult Agent::JoinedLate(int attempt, const LateArrival& late) {
  // The attempt runs without us: ask for a new one and wait for it to end.
  log_.warn("{}; asking the running nodes for a new attempt", late.Describe());
  rdzv_.AddLate(attempt).IgnoreError();
  auto end = rdzv_.WaitForEnd(attempt, c_.rdzv_timeout);
  if (!end.ok()) {
    log_.error("attempt {} did not end within --rdzv-timeout: {}", attempt,
               end.status().ToString());
    return Fatal(1);
  }
  AttemptResult r;
  r.restartable = true;
  r.counts_as_restart = false;
  r.exit_code = 1;
  return r;
}

void Agent::LogAssignment(const NodeAssignment& a) {
  if (!o_.multi_node) return;
  log_.info(
      "attempt {}: node {} of {}, ranks {}..{} of {}, MASTER_ADDR={} "
      "MASTER_PORT={}",
      a.attempt, a.node_rank, a.num_nodes, a.rank_offset,
      a.rank_offset + c_.nproc_per_node - 1, a.world_size, a.master_addr,
      a.master_port);
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> Agent::StartAttemptWorkers(
    const NodeAssignment& a) {
  auto specs = BuildSpecs(a);
  if (!specs.ok()) return specs.status();
  if (o_.start_workers) return o_.start_workers(*std::move(specs));
  return StartWorkers(*std::move(specs), o_.supervisor);
}

Agent::AttemptResult Agent::StartFailed(const NodeAssignment& a,
                                        const absl::Status& status) {
  int code = absl::IsNotFound(status)           ? 127
             : absl::IsPermissionDenied(status) ? 126
                                                : 1;
  if (absl::IsFailedPrecondition(status)) code = 126;
  // A rank directory or log file that cannot be created (RunLogs,
  // StartWorkers).
  if (absl::IsDataLoss(status)) code = kLogsLostExit;
  log_.error("{}", std::string(status.message()));
  FailJob(a.attempt, AttemptEnd::Kind::kStopped, code,
          absl::StrCat("node ", a.node_rank, " (", o_.host,
                       ") could not start its workers: ", status.message()));
  return Fatal(code);
}

std::unique_ptr<LivenessMonitor> Agent::StartMonitor(const NodeAssignment& a) {
  if (!o_.multi_node) return nullptr;
  LivenessOptions lo;
  lo.interval = c_.heartbeat_interval;
  lo.timeout = c_.heartbeat_timeout;
  lo.store_outage_timeout = c_.store_outage_timeout;
  lo.store_name = StoreName();
  lo.store_incarnation = o_.store_incarnation;
  lo.joined_incarnation = joined_incarnation_;
  return std::make_unique<LivenessMonitor>(
      &live_rdzv_, a, lo, [this](const AttemptEnd& e) {
        {
          absl::MutexLock lock(&mu_);
          end_ = e;
        }
        uint64_t one = 1;
        ssize_t ignored = write(wake_fd_, &one, sizeof(one));
        (void)ignored;
      });
}

Agent::AttemptResult Agent::Monitor(const NodeAssignment& a,
                                    WorkerGroup& workers,
                                    LivenessMonitor* monitor) {
  std::vector<int> fds = {wake_fd_};
  if (o_.signal_fd >= 0) fds.push_back(o_.signal_fd);
  absl::Time deadline = absl::InfiniteFuture();
  // This node's workers all succeeded; waiting in the exit barrier.
  bool local_done = false;
  while (true) {
    WaitResult r =
        local_done ? WaitForFds(fds, deadline) : workers.Wait(fds, deadline);
    switch (r.outcome) {
      case WaitOutcome::kWorkerFailed:
        return OnWorkerFailed(a, workers);
      case WaitOutcome::kAllSucceeded:
        if (!o_.multi_node) {
          workers.Stop(absl::ZeroDuration());  // Leftover grandchildren.
          return Success();
        }
        deadline = EnterExitBarrier(a, workers, *monitor);
        local_done = true;
        continue;
      case WaitOutcome::kDeadline:  // Only in the exit barrier.
        return LeaveExitBarrier(*monitor);
      case WaitOutcome::kFdReady:
        break;
    }
    std::optional<AttemptResult> done =
        fds[r.fd_index] == o_.signal_fd
            ? OnSignal(a, workers)
            : OnAttemptEnded(a, workers, local_done);
    if (done) return *done;
  }
}

Agent::AttemptResult Agent::OnWorkerFailed(const NodeAssignment& a,
                                           WorkerGroup& workers) {
  bool stopped = false;
  auto stop_others = [&] {
    if (stopped) return;
    stopped = true;
    log_.warn("stopping the other workers (SIGTERM, SIGKILL after {})",
              absl::FormatDuration(c_.grace_period));
    workers.Stop(c_.grace_period, GraceSignals(workers));
  };
  const WorkerExit f = RootCause(a, workers, stop_others);
  const FailureContext context = Context(a);
  const std::string error_file = logs_->ErrorFile(a.attempt, f.rank);
  std::string message = ReadErrorFileMessage(error_file);
  if (auto killed = timer_ ? timer_->KillOf(f.rank) : std::nullopt) {
    if (message.empty()) message = killed->Describe();
  }
  log_.error("{}", RootCauseSummary(context, f, message));
  FailJob(a.attempt, AttemptEnd::Kind::kFailed, f.ShellCode(),
          FailureReason(context, f, message));
  stop_others();
  if (!logs_->root().empty()) {
    auto written =
        logs_->WriteFailureReport(FailureJson(context, f, error_file, message));
    if (written.ok()) log_.error("failure details written to {}", *written);
  }
  AttemptResult res;
  res.exit_code = f.ShellCode();
  res.restartable = true;
  return res;
}

WorkerExit Agent::RootCause(const NodeAssignment& a, WorkerGroup& workers,
                            const std::function<void()>& stop_others) {
  const WorkerExit first = *workers.first_failure();
  std::vector<std::pair<int, std::string>> error_files;
  for (int local = 0; local < c_.nproc_per_node; ++local) {
    const int rank = a.rank_offset + local;
    error_files.emplace_back(rank, logs_->ErrorFile(a.attempt, rank));
  }
  const std::optional<int> writer = EarliestErrorFileRank(error_files);
  if (!writer || *writer == first.rank) return first;
  auto failed_exit_of = [&](int rank) -> std::optional<WorkerExit> {
    for (const WorkerExit& e : workers.exits()) {
      if (e.rank == rank && !e.ok()) return e;
    }
    return std::nullopt;
  };
  std::optional<WorkerExit> earlier = failed_exit_of(*writer);
  if (!earlier) {
    // It wrote its error first but is still dying: let it finish (the stop
    // reaps every worker) so its own exit is the one reported.
    stop_others();
    earlier = failed_exit_of(*writer);
    // The stop's own signal ended it: that exit is tplaunch's doing, not the
    // worker's, so the first failure (an exit of its own) is reported.
    if (earlier && earlier->signal != 0) return first;
  }
  return earlier ? *earlier : first;
}

absl::Time Agent::EnterExitBarrier(const NodeAssignment& a,
                                   WorkerGroup& workers,
                                   LivenessMonitor& monitor) {
  monitor.SetState(HeartbeatState::kDone);
  absl::Status s = rdzv_.ReportDone(a);
  if (!s.ok()) log_.warn("exit barrier: {}", s.ToString());
  const absl::Time deadline = absl::Now() + c_.exit_barrier_timeout;
  workers.Stop(absl::ZeroDuration());
  return deadline;
}

Agent::AttemptResult Agent::LeaveExitBarrier(LivenessMonitor& monitor) {
  log_.warn(
      "other nodes still running after --exit-barrier-timeout {}; leaving "
      "with this node's success",
      absl::FormatDuration(c_.exit_barrier_timeout));
  monitor.SetState(HeartbeatState::kLeft);
  monitor.HeartbeatNow();
  return Success();
}

std::optional<Agent::AttemptResult> Agent::OnSignal(const NodeAssignment& a,
                                                    WorkerGroup& workers) {
  const std::optional<ReceivedSignal> got = ReadSignal(o_.signal_fd);
  if (!got) return std::nullopt;
  const int sig = got->signo;
  if (!IsTerminatingSignal(sig)) {
    log_.info("forwarding {} to the workers", SignalName(sig));
    workers.Signal(sig);
    return std::nullopt;
  }
  log_.warn(
      "received {}: forwarding it to the workers, SIGKILL after {} (send it "
      "again to kill at once; the parent process repeating it does not count)",
      SignalName(sig), absl::FormatDuration(c_.grace_period));
  FailJob(a.attempt, AttemptEnd::Kind::kStopped, 128 + sig,
          absl::StrCat("node ", a.node_rank, " (", o_.host, ") received ",
                       SignalName(sig)));
  workers.Stop(c_.grace_period, GraceSignals(workers), sig);
  return Fatal(128 + sig);
}

GraceAbort Agent::GraceSignals(WorkerGroup& workers) {
  if (o_.signal_fd < 0) return {};
  return {o_.signal_fd, [this, &workers] {
            const std::optional<ReceivedSignal> next = ReadSignal(o_.signal_fd);
            if (!next) return false;
            const ReceivedSignal& got = *next;
            switch (ActionDuringGrace(got, getppid())) {
              case GraceSignalAction::kForward:
                log_.info("forwarding {} to the workers",
                          SignalName(got.signo));
                workers.Signal(got.signo);
                return false;
              case GraceSignalAction::kIgnore:
                log_.info(
                    "{} again from the parent process (pid {}): the grace "
                    "period goes on",
                    SignalName(got.signo), got.sender);
                return false;
              case GraceSignalAction::kKillNow:
                break;
            }
            log_.warn("received {} again: SIGKILL to the workers now",
                      SignalName(got.signo));
            return true;
          }};
}

std::optional<Agent::AttemptResult> Agent::OnAttemptEnded(
    const NodeAssignment& a, WorkerGroup& workers, bool local_done) {
  DrainWakeFd();
  AttemptEnd end;
  {
    absl::MutexLock lock(&mu_);
    if (!end_) return std::nullopt;
    end = *end_;
  }
  if (end.ok() && local_done) return Success();
  if (end.ok()) {
    // Only this node's own workers decide its outcome: an "ok" end while they
    // still run was written by another world under this run id.
    log_.error(
        "stopping workers: the attempt ended as a success while this node's "
        "workers still run; the rendezvous store lost its keys and other "
        "nodes used this run id (a daemon restart without --state-dir?)");
    workers.Stop(c_.grace_period, GraceSignals(workers));
    return Fatal(1);
  }
  log_.error("stopping workers: {}", end.reason);
  workers.Stop(c_.grace_period, GraceSignals(workers));
  AttemptResult r = FromEnd(end);
  if (StoreRestartedSinceJoin()) {
    r.store_restarted = true;
    ReportStoreRestart(a, end);
  }
  return r;
}

bool Agent::StoreRestartedSinceJoin() const {
  if (!o_.store_incarnation || joined_incarnation_.empty()) return false;
  const std::string now = o_.store_incarnation();
  return !now.empty() && now != joined_incarnation_;
}

void Agent::ReportStoreRestart(const NodeAssignment& a, const AttemptEnd& end) {
  if (logs_->root().empty()) return;
  const FailureContext c = Context(a);
  const std::string json = absl::StrCat(
      "{\n  \"run_id\": ", JsonEscape(c.run_id),
      ",\n  \"attempt\": ", c.attempt, ",\n  \"node_rank\": ", c.node_rank,
      ",\n  \"host\": ", JsonEscape(c.host),
      ",\n  \"address\": ", JsonEscape(c.local_addr),
      ",\n  \"exit_code\": ", end.exit_code == 0 ? 1 : end.exit_code,
      ",\n  \"time\": ",
      JsonEscape(absl::FormatTime(absl::RFC3339_full, absl::Now(),
                                  absl::UTCTimeZone())),
      ",\n  \"reason\": ", JsonEscape(end.reason),
      ",\n  \"store_restart\": {\"store\": ", JsonEscape(StoreName()),
      ", \"incarnation\": ", JsonEscape(joined_incarnation_),
      ", \"now\": ", JsonEscape(o_.store_incarnation()), "}\n}\n");
  auto written = logs_->WriteFailureReport(json);
  if (written.ok()) log_.error("failure details written to {}", *written);
}

absl::StatusOr<std::vector<WorkerSpec>> Agent::BuildSpecs(
    const NodeAssignment& a) {
  std::vector<WorkerSpec> specs;
  if (o_.worker_board != nullptr) {
    o_.worker_board->StartAttempt(o_.run_id, a.attempt);
  }
  const std::string tmpl = c_.has_log_prefix
                               ? c_.log_prefix
                               : DefaultLogPrefixTemplate(o_.multi_node);
  for (int lr = 0; lr < c_.nproc_per_node; ++lr) {
    WorkerSpec s;
    s.local_rank = lr;
    s.rank = a.rank_offset + lr;
    s.argv = c_.program;
    if (!worker_cpus_.empty()) s.cpu_affinity = worker_cpus_[lr];
    WorkerEnvInputs in = EnvInputs(a, lr);
    if (lr == 0 && !omp_said_ && WillDefaultOmpThreads(in)) {
      log_.warn(
          "setting OMP_NUM_THREADS=1 for every worker (nproc-per-node > 1) so "
          "they do not oversubscribe the CPUs; set OMP_NUM_THREADS yourself "
          "to tune it");
      omp_said_ = true;
    }
    const WorkerOutputRoute route = RouteWorkerOutput(c_, lr);
    auto files = logs_->PrepareRank(a.attempt, s.rank, route.to_file);
    if (!files.ok()) return files.status();
    s.stdout_file = files->stdout_file;
    s.stderr_file = files->stderr_file;
    in.error_file = files->error_file;
    s.env = BuildWorkerEnv(in);

    ApplyOutputRoute(c_, route, *files, s);
    LogPrefixFields f;
    f.rank = s.rank;
    f.local_rank = lr;
    f.node_rank = a.node_rank;
    f.role_name = c_.role;
    f.host = o_.host;
    f.attempt = a.attempt;
    s.console_prefix = RenderLogPrefix(tmpl, f);
    if (o_.worker_board != nullptr) {
      s.last_line = o_.worker_board->AddWorker(s.rank, lr);
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

WorkerEnvInputs Agent::EnvInputs(const NodeAssignment& a,
                                 int local_rank) const {
  WorkerEnvInputs in;
  in.base = o_.base_env;
  in.role = c_.role;
  in.local_rank = local_rank;
  in.local_world_size = c_.nproc_per_node;
  in.rank_offset = a.rank_offset;
  in.world_size = a.world_size;
  in.node_rank = a.node_rank;
  in.num_nodes = a.num_nodes;
  in.master_addr = a.master_addr;
  in.master_port = a.master_port;
  if (o_.agent_store) {
    in.master_addr = o_.agent_store->host;
    in.master_port = o_.agent_store->port;
  }
  in.attempt = a.attempt;
  in.max_restarts = c_.max_restarts;
  in.run_id = o_.run_id;
  in.rdzv_endpoint = o_.worker_rdzv_url.empty()
                         ? o_.worker_rdzv_endpoint.ToString()
                         : o_.worker_rdzv_url;
  in.rdzv_token = o_.worker_rdzv_token;
  in.local_addr = o_.local_addr;
  in.use_agent_store = o_.agent_store.has_value();
  in.virtual_local_rank = c_.virtual_local_rank;
  if (timer_) in.timer_file = timer_->path();
  in.task = c_.task_placement;
  return in;
}

void Agent::FailJob(int attempt, AttemptEnd::Kind kind, int code,
                    const std::string& reason) {
  if (!o_.multi_node) return;
  auto end = live_rdzv_.ReportFailure(attempt, kind, code, reason);
  if (end.ok()) return;
  log_.error("could not tell the other nodes about the failure: {}",
             end.status().ToString());
  if (absl::IsUnavailable(end.status()) ||
      absl::IsDeadlineExceeded(end.status())) {
    PendingReport pending;
    pending.attempt = attempt;
    pending.kind = kind;
    pending.exit_code = code;
    pending.reason = reason;
    pending_report_ = std::move(pending);
  }
}

FailureContext Agent::Context(const NodeAssignment& a) const {
  FailureContext c;
  c.run_id = o_.run_id;
  c.host = o_.host;
  c.local_addr = o_.local_addr;
  c.attempt = a.attempt;
  c.node_rank = a.node_rank;
  c.num_nodes = a.num_nodes;
  return c;
}

Agent::AttemptResult Agent::FromEnd(const AttemptEnd& end) const {
  AttemptResult r;
  r.exit_code = end.exit_code == 0 ? 1 : end.exit_code;
  r.restartable = end.kind == AttemptEnd::Kind::kFailed ||
                  end.kind == AttemptEnd::Kind::kMembershipChange;
  r.counts_as_restart = end.kind != AttemptEnd::Kind::kMembershipChange;
  return r;
}

}  // namespace

int RunAgent(const AgentOptions& options) {
  Agent agent(options);
  return agent.Run();
}

}  // namespace tplaunch
