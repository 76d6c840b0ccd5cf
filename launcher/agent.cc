#include "launcher/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "launcher/exit_on_signal.h"
#include "launcher/host_info.h"
#include "launcher/liveness_monitor.h"
#include "launcher/log_prefix.h"
#include "launcher/logger.h"
#include "launcher/node_rendezvous.h"
#include "launcher/signals.h"

namespace tplaunch {
namespace {

// mkdir -p. Errors name the directory.
absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create directory ", partial, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

std::string JsonEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrCat("\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string ReadSmallFile(const std::string& path, size_t limit) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out(limit, '\0');
  ssize_t n = read(fd, out.data(), limit);
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// The first "message" string of PyTorch's error file ({"message": {"message":
// "..."}}), without a JSON library: enough for the summary line.
std::string ErrorFileMessage(const std::string& contents) {
  size_t pos = 0;
  while ((pos = contents.find("\"message\"", pos)) != std::string::npos) {
    pos += 9;
    size_t colon = contents.find_first_not_of(" \t\r\n", pos);
    if (colon == std::string::npos || contents[colon] != ':') continue;
    size_t q = contents.find_first_not_of(" \t\r\n", colon + 1);
    if (q == std::string::npos || contents[q] != '"') continue;
    std::string out;
    for (size_t i = q + 1; i < contents.size() && contents[i] != '"'; ++i) {
      if (contents[i] == '\\' && i + 1 < contents.size()) {
        ++i;
        out.push_back(contents[i] == 'n' ? '\n' : contents[i]);
      } else {
        out.push_back(contents[i]);
      }
    }
    return out;
  }
  return "";
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

class Agent {
 public:
  explicit Agent(const AgentOptions& o)
      : o_(o),
        c_(o.config),
        rdzv_(o.store, RendezvousOptions(o)),
        log_(LauncherLogger()) {}

  ~Agent() {
    if (wake_fd_ >= 0) close(wake_fd_);
    RemoveScratch();
  }

  int Run();

 private:
  struct AttemptResult {
    bool success = false;
    int exit_code = 0;
    bool restartable = false;
    bool counts_as_restart = true;
  };

  static NodeRendezvousOptions RendezvousOptions(const AgentOptions& o) {
    NodeRendezvousOptions r;
    r.run_id = o.run_id;
    r.min_nodes = o.config.min_nodes;
    r.max_nodes = o.config.max_nodes;
    r.join_timeout = o.config.rdzv_timeout;
    r.last_call = o.config.rdzv_last_call;
    return r;
  }

  AttemptResult RunAttempt(int attempt);
  absl::StatusOr<std::vector<WorkerSpec>> BuildSpecs(const NodeAssignment& a);
  std::string RootCauseSummary(const NodeAssignment& a, const WorkerExit& f,
                               const std::string& error_file_message) const;
  void WriteErrorJson(const NodeAssignment& a, const WorkerExit& f,
                      const std::string& error_file,
                      const std::string& message);
  AttemptResult FromEnd(const AttemptEnd& end) const;
  void RemoveScratch();
  void DrainWakeFd() {
    uint64_t v;
    while (read(wake_fd_, &v, sizeof(v)) > 0) {
    }
  }

  const AgentOptions& o_;
  const LaunchConfig& c_;
  NodeRendezvous rdzv_;
  spdlog::logger& log_;
  int wake_fd_ = -1;
  // Where per attempt/rank logs go ("" = nowhere) and whether every stream goes
  // there
  // (--log-dir given) or only the --tee/--redirects ones.
  std::string log_root_;
  bool log_all_streams_ = false;
  // Holds TORCHELASTIC_ERROR_FILEs when there is no log directory.
  std::string scratch_dir_;
  bool omp_said_ = false;

  absl::Mutex mu_;
  std::optional<AttemptEnd> end_ ABSL_GUARDED_BY(mu_);
};

void Agent::RemoveScratch() {
  if (scratch_dir_.empty()) return;
  if (DIR* d = opendir(scratch_dir_.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      unlink(absl::StrCat(scratch_dir_, "/", e->d_name).c_str());
    }
    closedir(d);
  }
  rmdir(scratch_dir_.c_str());
  scratch_dir_.clear();
}

int Agent::Run() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    log_.error("eventfd: {}", strerror(errno));
    return 1;
  }
  if (!c_.log_dir.empty()) {
    log_root_ = absl::StrCat(c_.log_dir, "/", o_.run_id);
    log_all_streams_ = true;
  } else if (c_.tee != StdStreams::kNone || c_.redirects != StdStreams::kNone) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp",
                                    "/tplaunch-logs-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      log_.error("cannot create a log directory {}: {}", tmpl, strerror(errno));
      return 1;
    }
    log_root_ = absl::StrCat(tmpl, "/", o_.run_id);
    log_.info("--tee/--redirects without --log-dir: logs go to {}", log_root_);
  }
  if (log_root_.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/tplaunch-XXXXXX");
    if (mkdtemp(tmpl.data()) != nullptr) scratch_dir_ = tmpl;
  }

  auto current = rdzv_.CurrentAttempt();
  if (!current.ok()) {
    log_.error("cannot read the job's attempt from the rendezvous store: {}",
               current.status().ToString());
    return 1;
  }
  int attempt = *current;
  int restarts = 0;
  while (true) {
    AttemptResult r = RunAttempt(attempt);
    if (r.success) return 0;
    if (!r.restartable) return r.exit_code;
    if (r.counts_as_restart) {
      if (restarts >= c_.max_restarts) {
        if (c_.max_restarts > 0) {
          log_.error("job failed after {} restart(s) (--max-restarts {})",
                     restarts, c_.max_restarts);
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

absl::StatusOr<std::vector<WorkerSpec>> Agent::BuildSpecs(
    const NodeAssignment& a) {
  std::vector<WorkerSpec> specs;
  const std::string tmpl = c_.has_log_prefix
                               ? c_.log_prefix
                               : DefaultLogPrefixTemplate(o_.multi_node);
  std::string attempt_dir;
  if (!log_root_.empty())
    attempt_dir = absl::StrCat(log_root_, "/attempt_", a.attempt);
  for (int lr = 0; lr < c_.nproc_per_node; ++lr) {
    WorkerSpec s;
    s.local_rank = lr;
    s.rank = a.rank_offset + lr;
    s.argv = c_.program;

    WorkerEnvInputs in;
    in.base = o_.base_env;
    in.role = c_.role;
    in.local_rank = lr;
    in.local_world_size = c_.nproc_per_node;
    in.rank_offset = a.rank_offset;
    in.world_size = a.world_size;
    in.node_rank = a.node_rank;
    in.num_nodes = a.num_nodes;
    in.master_addr = a.master_addr;
    in.master_port = a.master_port;
    if (c_.torch_store == TorchStoreHost::kAgent) {
      in.master_addr = o_.agent_store_addr;
      in.master_port = o_.agent_store_port;
    }
    in.attempt = a.attempt;
    in.max_restarts = c_.max_restarts;
    in.run_id = o_.run_id;
    in.rdzv_endpoint = o_.worker_rdzv_endpoint;
    in.rdzv_token = o_.worker_rdzv_token;
    in.local_addr = o_.local_addr;
    in.use_agent_store = c_.torch_store == TorchStoreHost::kAgent;
    if (lr == 0 && !omp_said_ && WillDefaultOmpThreads(in)) {
      log_.warn(
          "setting OMP_NUM_THREADS=1 for every worker (nproc-per-node > 1) so "
          "they do "
          "not oversubscribe the CPUs; set OMP_NUM_THREADS yourself to tune "
          "it");
      omp_said_ = true;
    }

    if (!attempt_dir.empty()) {
      std::string dir = absl::StrCat(attempt_dir, "/rank_", s.rank);
      absl::Status st = MakeDirs(dir);
      if (!st.ok()) return st;
      in.error_file = absl::StrCat(dir, "/error.json");
      if (log_all_streams_ || HasStdout(c_.tee) || HasStdout(c_.redirects)) {
        s.stdout_file = absl::StrCat(dir, "/stdout.log");
      }
      if (log_all_streams_ || HasStderr(c_.tee) || HasStderr(c_.redirects)) {
        s.stderr_file = absl::StrCat(dir, "/stderr.log");
      }
    } else if (!scratch_dir_.empty()) {
      in.error_file =
          absl::StrCat(scratch_dir_, "/a", a.attempt, "_rank", s.rank, ".json");
    }
    unlink(in.error_file.c_str());
    s.env = BuildWorkerEnv(in);

    const bool shown =
        c_.local_ranks_filter.empty() ||
        std::find(c_.local_ranks_filter.begin(), c_.local_ranks_filter.end(),
                  lr) != c_.local_ranks_filter.end();
    s.stdout_to_console = shown && !HasStdout(c_.redirects);
    s.stderr_to_console = shown && !HasStderr(c_.redirects);
    LogPrefixFields f;
    f.rank = s.rank;
    f.local_rank = lr;
    f.node_rank = a.node_rank;
    f.role_name = c_.role;
    f.host = o_.host;
    f.attempt = a.attempt;
    s.console_prefix = RenderLogPrefix(tmpl, f);
    specs.push_back(std::move(s));
  }
  return specs;
}

std::string Agent::RootCauseSummary(
    const NodeAssignment& a, const WorkerExit& f,
    const std::string& error_file_message) const {
  std::string out = absl::StrCat(
      "worker failed: rank ", f.rank, " on node ", a.node_rank, " (", o_.host,
      ") ", f.signal ? "died of " : "exited with ", f.Describe(), "\n",
      "  root cause (first failure):\n", "    time       : ",
      absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Z", f.time, absl::LocalTimeZone()),
      "\n", "    node       : ", a.node_rank, " of ", a.num_nodes, " (",
      o_.host, ", ", o_.local_addr, ")\n", "    rank       : ", f.rank,
      " (local rank ", f.local_rank, ")\n", "    ",
      f.signal ? "signal     : " : "exit code  : ",
      f.signal ? absl::StrCat(SignalName(f.signal), " (", f.signal, ")")
               : absl::StrCat(f.exit_code),
      "\n", "    pid        : ", f.pid, "\n", "    attempt    : ", a.attempt,
      "\n");
  if (!error_file_message.empty()) {
    absl::StrAppend(&out, "    error      : ", error_file_message, "\n");
  }
  if (!f.stderr_tail.empty()) {
    absl::StrAppend(&out, "    last stderr lines:\n");
    for (const auto& line : f.stderr_tail)
      absl::StrAppend(&out, "      | ", line, "\n");
  }
  return out;
}

void Agent::WriteErrorJson(const NodeAssignment& a, const WorkerExit& f,
                           const std::string& error_file,
                           const std::string& message) {
  if (log_root_.empty()) return;
  std::vector<std::string> tail;
  for (const auto& l : f.stderr_tail) tail.push_back(JsonEscape(l));
  std::string json = absl::StrCat(
      "{\n  \"run_id\": ", JsonEscape(o_.run_id),
      ",\n  \"attempt\": ", a.attempt, ",\n  \"node_rank\": ", a.node_rank,
      ",\n  \"host\": ", JsonEscape(o_.host),
      ",\n  \"address\": ", JsonEscape(o_.local_addr),
      ",\n  \"rank\": ", f.rank, ",\n  \"local_rank\": ", f.local_rank,
      ",\n  \"pid\": ", f.pid, ",\n  \"exit_code\": ", f.ShellCode(),
      ",\n  \"signal\": ", f.signal ? JsonEscape(SignalName(f.signal)) : "null",
      ",\n  \"time\": ",
      JsonEscape(
          absl::FormatTime(absl::RFC3339_full, f.time, absl::UTCTimeZone())),
      ",\n  \"error_file\": ", JsonEscape(error_file),
      ",\n  \"error_message\": ", JsonEscape(message),
      ",\n  \"stderr_tail\": [", absl::StrJoin(tail, ", "), "]\n}\n");
  if (!MakeDirs(log_root_).ok()) return;
  std::string path = absl::StrCat(log_root_, "/error.json");
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, json.data(), json.size());
  (void)ignored;
  close(fd);
  log_.error("failure details written to {}", path);
}

Agent::AttemptResult Agent::FromEnd(const AttemptEnd& end) const {
  AttemptResult r;
  r.exit_code = end.exit_code == 0 ? 1 : end.exit_code;
  r.restartable = end.kind == AttemptEnd::Kind::kFailed ||
                  end.kind == AttemptEnd::Kind::kMembershipChange;
  r.counts_as_restart = end.kind != AttemptEnd::Kind::kMembershipChange;
  return r;
}

Agent::AttemptResult Agent::RunAttempt(int attempt) {
  AttemptResult fatal;
  fatal.exit_code = 1;
  DrainWakeFd();
  {
    absl::MutexLock lock(&mu_);
    end_.reset();
  }

  NodeInfo self;
  self.host = o_.host;
  self.addr = o_.local_addr;
  self.nproc = c_.nproc_per_node;
  self.requested_rank = c_.node_rank;
  self.pid = getpid();
  auto reserve_master = [&]() -> absl::StatusOr<std::pair<std::string, int>> {
    if (c_.torch_store == TorchStoreHost::kAgent) {
      // No rank hosts a store: MASTER_ADDR/PORT name the listener.
      if (o_.prepare_agent_store) {
        absl::Status prepared = o_.prepare_agent_store(attempt);
        if (!prepared.ok()) return prepared;
      }
      return std::make_pair(o_.agent_store_addr, o_.agent_store_port);
    }
    if (!c_.master_addr.empty())
      return std::make_pair(c_.master_addr, c_.master_port);
    if (c_.master_port != 0)
      return std::make_pair(o_.local_addr, c_.master_port);
    auto port = PickFreePort(o_.local_addr);
    if (!port.ok()) return port.status();
    return std::make_pair(o_.local_addr, *port);
  };
  auto progress = [&](const std::string& msg) { log_.info("{}", msg); };
  auto exit_on_signal = std::make_unique<ExitOnSignalWhileBlocked>(
      o_.signal_fd, [this] { RemoveScratch(); });
  auto joined = rdzv_.Join(attempt, self, reserve_master, progress);
  if (!joined.ok()) {
    log_.error("rendezvous failed: {}", std::string(joined.status().message()));
    return fatal;
  }
  if (const auto* late = std::get_if<LateArrival>(&*joined)) {
    // The attempt runs without us: ask for a new one and wait for it to end.
    log_.warn("{}; asking the running nodes for a new attempt",
              late->Describe());
    rdzv_.AddLate(attempt).IgnoreError();
    auto end = rdzv_.WaitForEnd(attempt, c_.rdzv_timeout);
    if (!end.ok()) {
      log_.error("attempt {} did not end within --rdzv-timeout: {}", attempt,
                 end.status().ToString());
      return fatal;
    }
    AttemptResult r;
    r.restartable = true;
    r.counts_as_restart = false;
    r.exit_code = 1;
    return r;
  }
  exit_on_signal.reset();
  const NodeAssignment& a = std::get<NodeAssignment>(*joined);
  if (o_.multi_node) {
    log_.info(
        "attempt {}: node {} of {}, ranks {}..{} of {}, MASTER_ADDR={} "
        "MASTER_PORT={}",
        a.attempt, a.node_rank, a.num_nodes, a.rank_offset,
        a.rank_offset + c_.nproc_per_node - 1, a.world_size, a.master_addr,
        a.master_port);
  }
  auto fail_job = [&](AttemptEnd::Kind kind, int code,
                      const std::string& reason) {
    if (!o_.multi_node) return;
    auto end = rdzv_.ReportFailure(attempt, kind, code, reason);
    if (!end.ok()) {
      log_.error("could not tell the other nodes about the failure: {}",
                 end.status().ToString());
    }
  };

  auto specs = BuildSpecs(a);
  absl::StatusOr<std::unique_ptr<WorkerGroup>> started =
      specs.ok() ? StartWorkers(std::move(*specs), o_.supervisor)
                 : absl::StatusOr<std::unique_ptr<WorkerGroup>>(specs.status());
  if (!started.ok()) {
    int code = absl::IsNotFound(started.status())           ? 127
               : absl::IsPermissionDenied(started.status()) ? 126
                                                            : 1;
    if (absl::IsFailedPrecondition(started.status())) code = 126;
    log_.error("{}", std::string(started.status().message()));
    fail_job(AttemptEnd::Kind::kStopped, code,
             absl::StrCat("node ", a.node_rank, " (", o_.host,
                          ") could not start its workers: ",
                          started.status().message()));
    fatal.exit_code = code;
    return fatal;
  }
  WorkerGroup& workers = **started;

  std::unique_ptr<LivenessMonitor> monitor;
  if (o_.multi_node) {
    LivenessOptions lo;
    lo.interval = c_.heartbeat_interval;
    lo.timeout = c_.heartbeat_timeout;
    monitor = std::make_unique<LivenessMonitor>(
        &rdzv_, a, lo, [this](const AttemptEnd& e) {
          {
            absl::MutexLock lock(&mu_);
            end_ = e;
          }
          uint64_t one = 1;
          ssize_t ignored = write(wake_fd_, &one, sizeof(one));
          (void)ignored;
        });
  }

  std::vector<int> fds = {wake_fd_};
  if (o_.signal_fd >= 0) fds.push_back(o_.signal_fd);
  absl::Time deadline = absl::InfiniteFuture();
  bool local_done = false;
  while (true) {
    WaitResult r =
        local_done ? WaitForFds(fds, deadline) : workers.Wait(fds, deadline);
    switch (r.outcome) {
      case WaitOutcome::kWorkerFailed: {
        const WorkerExit f = *workers.first_failure();
        std::string error_file;
        // The failing worker's TORCHELASTIC_ERROR_FILE (PyTorch's @record
        // writes it).
        {
          std::string attempt_dir =
              log_root_.empty()
                  ? ""
                  : absl::StrCat(log_root_, "/attempt_", a.attempt);
          error_file =
              !attempt_dir.empty()
                  ? absl::StrCat(attempt_dir, "/rank_", f.rank, "/error.json")
              : !scratch_dir_.empty()
                  ? absl::StrCat(scratch_dir_, "/a", a.attempt, "_rank", f.rank,
                                 ".json")
                  : "";
        }
        std::string message =
            error_file.empty()
                ? ""
                : ErrorFileMessage(ReadSmallFile(error_file, 1 << 20));
        log_.error("{}", RootCauseSummary(a, f, message));
        std::string last_line = !message.empty()         ? message
                                : !f.stderr_tail.empty() ? f.stderr_tail.back()
                                                         : "";
        fail_job(AttemptEnd::Kind::kFailed, f.ShellCode(),
                 absl::StrCat(
                     "rank ", f.rank, " (local rank ", f.local_rank, ", node ",
                     a.node_rank, ", ", o_.host, ", pid ", f.pid, ") ",
                     f.signal ? "died of " : "exited with ", f.Describe(),
                     last_line.empty() ? "" : ": ", last_line));
        log_.warn("stopping the other workers (SIGTERM, SIGKILL after {})",
                  absl::FormatDuration(c_.grace_period));
        workers.Stop(c_.grace_period, o_.signal_fd);
        WriteErrorJson(a, f, error_file, message);
        AttemptResult res;
        res.exit_code = f.ShellCode();
        res.restartable = true;
        return res;
      }
      case WaitOutcome::kAllSucceeded: {
        if (!o_.multi_node) {
          workers.Stop(absl::ZeroDuration());  // Leftover grandchildren.
          AttemptResult ok;
          ok.success = true;
          return ok;
        }
        monitor->SetState("done");
        absl::Status s = rdzv_.ReportDone(attempt, a.num_nodes);
        if (!s.ok()) log_.warn("exit barrier: {}", s.ToString());
        deadline = absl::Now() + c_.exit_barrier_timeout;
        workers.Stop(absl::ZeroDuration());
        local_done = true;
        continue;
      }
      case WaitOutcome::kDeadline: {
        log_.warn(
            "other nodes still running after --exit-barrier-timeout {}; "
            "leaving "
            "with this node's success",
            absl::FormatDuration(c_.exit_barrier_timeout));
        monitor->SetState("left");
        monitor->HeartbeatNow();
        AttemptResult ok;
        ok.success = true;
        return ok;
      }
      case WaitOutcome::kFdReady:
        break;
    }
    const int fd = fds[r.fd_index];
    if (fd == o_.signal_fd) {
      struct signalfd_siginfo si;
      if (read(fd, &si, sizeof(si)) != sizeof(si)) continue;
      const int sig = static_cast<int>(si.ssi_signo);
      if (!IsTerminatingSignal(sig)) {
        log_.info("forwarding {} to the workers", SignalName(sig));
        workers.Signal(sig);
        continue;
      }
      log_.warn(
          "received {}: forwarding it to the workers, SIGKILL after {} (send "
          "it "
          "again to kill at once)",
          SignalName(sig), absl::FormatDuration(c_.grace_period));
      fail_job(AttemptEnd::Kind::kStopped, 128 + sig,
               absl::StrCat("node ", a.node_rank, " (", o_.host, ") received ",
                            SignalName(sig)));
      workers.Stop(c_.grace_period, o_.signal_fd, sig);
      AttemptResult res;
      res.exit_code = 128 + sig;
      return res;
    }
    // The liveness monitor saw the attempt end.
    DrainWakeFd();
    AttemptEnd end;
    {
      absl::MutexLock lock(&mu_);
      if (!end_) continue;
      end = *end_;
    }
    if (end.ok()) {
      AttemptResult ok;
      ok.success = true;
      return ok;
    }
    log_.error("stopping workers: {}", end.reason);
    workers.Stop(c_.grace_period, o_.signal_fd);
    return FromEnd(end);
  }
}

}  // namespace

int RunAgent(const AgentOptions& options) {
  Agent agent(options);
  return agent.Run();
}

}  // namespace tplaunch
