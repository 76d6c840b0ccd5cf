#include "launcher/process_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "launcher/logger.h"
#include "launcher/signals.h"
#include "launcher/spawn.h"
#include "launcher/worker_output.h"

namespace tplaunch {
namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Finds argv0 the way execvp would, but before the spawn (execvp may allocate,
// which the child of spawn.h may not).
absl::StatusOr<std::string> ResolveProgram(const std::string& argv0,
                                           const EnvMap& env) {
  if (argv0.empty()) return absl::InvalidArgumentError("empty program name");
  auto check = [](const std::string& path) -> absl::Status {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
    }
    if (S_ISDIR(st.st_mode)) {
      return absl::PermissionDeniedError(absl::StrCat(path, " is a directory"));
    }
    if (access(path.c_str(), X_OK) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, " is not executable: ", strerror(errno)));
    }
    return absl::OkStatus();
  };
  if (argv0.find('/') != std::string::npos) {
    absl::Status s = check(argv0);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("cannot execute PROGRAM ", s.message()));
    }
    return argv0;
  }
  auto it = env.find("PATH");
  std::string path =
      it != env.end() ? it->second : "/usr/local/bin:/usr/bin:/bin";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", argv0);
    if (check(candidate).ok()) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("cannot execute PROGRAM '", argv0,
                                          "': not found in PATH (", path, ")"));
}

// One of a worker's output pipes.
struct Stream {
  int fd = -1;  // Read end, non-blocking; -1 once closed.
  StreamOutput output;
};

struct Worker {
  WorkerSpec spec;
  pid_t pid = -1;
  int pidfd = -1;
  bool reaped = false;
  Stream out;
  Stream err;
};

class WorkerGroupImpl final : public WorkerGroup {
 public:
  explicit WorkerGroupImpl(const SupervisorOptions& options)
      : options_(options) {}
  ~WorkerGroupImpl() override {
    if (!all_exited()) Stop(absl::ZeroDuration(), {}, SIGKILL);
    for (auto& w : workers_) CloseWorkerFds(w);
    if (options_.lost_logs != nullptr) {
      for (auto& loss : log_losses())
        options_.lost_logs->push_back(std::move(loss));
    }
    for (auto& [path, f] : duplicate_files_) CloseFd(f.fd);
  }

  absl::Status Start(std::vector<WorkerSpec> specs);

  WaitResult Wait(absl::Span<const int> extra_fds,
                  absl::Time deadline) override;
  void Signal(int signo) override;
  void Stop(absl::Duration grace, const GraceAbort& abort,
            int first_signal) override;
  const std::vector<WorkerExit>& exits() const override { return exits_; }
  std::optional<WorkerExit> first_failure() const override {
    return first_failure_;
  }
  std::vector<pid_t> pids() const override {
    std::vector<pid_t> out;
    for (const auto& w : workers_) out.push_back(w.pid);
    return out;
  }
  bool all_exited() const override { return live_ == 0; }
  std::vector<LogLoss> log_losses() const override;

 private:
  // One poll() round over pidfds, pipes and extra fds, waiting until
  // `deadline`. Returns the index of a readable extra fd, or -1.
  int PollOnce(absl::Span<const int> extra_fds, absl::Time deadline);
  void ReadStream(Worker& w, Stream& s, bool drain_only);
  // Opens the log files of a worker's streams and points them at the console
  // and the shared duplicate files. Errors: DataLoss naming the file.
  absl::Status SetUpOutput(Worker& w);
  absl::StatusOr<SharedOutputFile*> DuplicateFile(const std::string& path);
  // Pids of workers not yet reaped (never reaped by the process tree).
  std::vector<pid_t> LivePids() const;
  void Reap(Worker& w);
  void CloseWorkerFds(Worker& w) {
    CloseFd(w.pidfd);
    CloseFd(w.out.fd);
    CloseFd(w.err.fd);
    w.out.output.CloseFile();
    w.err.output.CloseFile();
  }
  void KillGroups(int signo, bool only_live);

  SupervisorOptions options_;
  std::vector<Worker> workers_;
  std::vector<WorkerExit> exits_;
  std::optional<WorkerExit> first_failure_;
  bool failure_reported_ = false;
  int live_ = 0;
  std::string read_buf_ = std::string(64 * 1024, '\0');
  OutputScratch scratch_;
  // The files several workers append to (filtered_stdout.log), by path; a
  // std::map, so the streams' pointers stay valid.
  std::map<std::string, SharedOutputFile> duplicate_files_;
};

absl::Status WorkerGroupImpl::Start(std::vector<WorkerSpec> specs) {
  // Everything the children need is prepared before the first spawn: the
  // child may only make system calls (spawn.h).
  struct Prepared {
    std::string path;
    std::vector<std::string> env_strings;
    std::vector<char*> argv;
    std::vector<char*> envp;
    std::vector<uint8_t> cpus;  // A CPU_ALLOC_SIZE'd cpu_set_t; empty: none.
  };
  std::vector<Prepared> prepared(specs.size());
  // The dispositions each child resets (besides those the launcher handles).
  std::vector<int> default_signals = options_.default_signals;
  default_signals.push_back(SIGPIPE);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (options_.tree != nullptr)
      specs[i].env[kProcessTreeEnv] = options_.tree->env_value();
    auto path = ResolveProgram(specs[i].argv.empty() ? "" : specs[i].argv[0],
                               specs[i].env);
    if (!path.ok()) return path.status();
    prepared[i].path = *path;
    if (!specs[i].cpu_affinity.empty()) {
      const int max_cpu = *std::max_element(specs[i].cpu_affinity.begin(),
                                            specs[i].cpu_affinity.end());
      prepared[i].cpus.assign(CPU_ALLOC_SIZE(max_cpu + 1), 0);
      auto* set = reinterpret_cast<cpu_set_t*>(prepared[i].cpus.data());
      for (int cpu : specs[i].cpu_affinity)
        CPU_SET_S(cpu, prepared[i].cpus.size(), set);
    }
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    return absl::InternalError(
        absl::StrCat("open /dev/null: ", strerror(errno)));
  }
  workers_.resize(specs.size());
  Spawner spawner(std::move(default_signals), options_.tree);
  absl::Status status;
  for (size_t i = 0; i < specs.size() && status.ok(); ++i) {
    Worker& w = workers_[i];
    w.spec = std::move(specs[i]);
    Prepared& p = prepared[i];
    for (const auto& [k, v] : w.spec.env)
      p.env_strings.push_back(absl::StrCat(k, "=", v));
    for (auto& a : w.spec.argv) p.argv.push_back(a.data());
    p.argv.push_back(nullptr);
    for (auto& e : p.env_strings) p.envp.push_back(e.data());
    p.envp.push_back(nullptr);

    status = SetUpOutput(w);
    if (!status.ok()) break;

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      status = absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
      break;
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      close(out_pipe[0]);
      close(out_pipe[1]);
      status = absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
      break;
    }
    // clone(CLONE_VM | CLONE_VFORK), not fork(): see spawn.h. It returns once
    // the child has called execve, so its failure is known here.
    SpawnSpec spawn;
    spawn.path = p.path.c_str();
    spawn.argv = p.argv.data();
    spawn.envp = p.envp.data();
    spawn.stdin_fd = devnull;
    spawn.stdout_fd = out_pipe[1];
    spawn.stderr_fd = err_pipe[1];
    spawn.kill_on_parent_death = options_.kill_on_parent_death;
    if (!p.cpus.empty()) {
      spawn.cpu_set = p.cpus.data();
      spawn.cpu_set_size = p.cpus.size();
    }
    absl::StatusOr<Spawned> spawned = spawner.Spawn(spawn);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (!spawned.ok()) {
      close(out_pipe[0]);
      close(err_pipe[0]);
      status = spawned.status();
      break;
    }
    // The child's setsid() has run: every signal the group sends from here
    // on finds the worker's group.
    w.pid = spawned->pid;
    w.pidfd = spawned->pidfd;
    ++live_;
    w.out.fd = out_pipe[0];
    w.err.fd = err_pipe[0];
    fcntl(w.out.fd, F_SETFL, O_NONBLOCK);
    fcntl(w.err.fd, F_SETFL, O_NONBLOCK);
    if (spawned->failed == SpawnStep::kAffinity) {
      status = absl::InternalError(absl::StrCat(
          "cannot bind rank ", w.spec.rank,
          " to CPUs (--numa-binding): ", strerror(spawned->error)));
    } else if (spawned->failed == SpawnStep::kExec) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "cannot execute PROGRAM ", p.path, ": ", strerror(spawned->error)));
    }
  }
  close(devnull);
  if (!status.ok()) {
    workers_.resize(std::count_if(workers_.begin(), workers_.end(),
                                  [](const Worker& w) { return w.pid > 0; }));
    KillGroups(SIGKILL, /*only_live=*/false);
    for (auto& w : workers_) {
      if (!w.reaped) {
        int st;
        while (waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {
        }
        w.reaped = true;
        --live_;
      }
      CloseWorkerFds(w);
    }
    workers_.clear();
  }
  return status;
}

absl::StatusOr<SharedOutputFile*> WorkerGroupImpl::DuplicateFile(
    const std::string& path) {
  auto [it, inserted] = duplicate_files_.try_emplace(path);
  SharedOutputFile& f = it->second;
  if (inserted) {
    f.path = path;
    f.fd = open(path.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (f.fd < 0) {
      const int err = errno;
      duplicate_files_.erase(it);
      return absl::DataLossError(
          absl::StrCat("cannot create log file ", path, ": ", strerror(err)));
    }
  }
  return &f;
}

absl::Status WorkerGroupImpl::SetUpOutput(Worker& w) {
  const WorkerSpec& spec = w.spec;
  struct Side {
    Stream& stream;
    bool to_console;
    int console_fd;
    const std::string& file;
    const std::vector<std::string>& filters;
    const std::string& duplicate_file;
    int tail_lines;
  };
  for (const Side& side :
       {Side{w.out, spec.stdout_to_console, options_.console_stdout_fd,
             spec.stdout_file, spec.stdout_duplicate_filters,
             spec.stdout_duplicate_file, 0},
        Side{w.err, spec.stderr_to_console, options_.console_stderr_fd,
             spec.stderr_file, spec.stderr_duplicate_filters,
             spec.stderr_duplicate_file, options_.stderr_tail_lines}}) {
    StreamSinks sinks;
    sinks.rank = spec.rank;
    sinks.console_fd = side.to_console ? side.console_fd : -1;
    sinks.console_prefix = spec.console_prefix;
    sinks.file_path = side.file;
    sinks.tail_lines = side.tail_lines;
    sinks.max_line_bytes = options_.max_line_bytes;
    sinks.last_line = spec.last_line;
    if (!side.file.empty()) {
      sinks.file_fd =
          open(side.file.c_str(),
               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
      if (sinks.file_fd < 0) {
        // DataLoss, not PermissionDenied: that one means PROGRAM cannot be
        // executed (exit 126); lost logs have their own exit code.
        absl::Status s = absl::DataLossError(absl::StrCat(
            "cannot create log file ", side.file, ": ", strerror(errno)));
        CloseWorkerFds(w);
        return s;
      }
    }
    if (!side.duplicate_file.empty() && !side.filters.empty()) {
      auto shared = DuplicateFile(side.duplicate_file);
      if (!shared.ok()) {
        if (sinks.file_fd >= 0) close(sinks.file_fd);
        CloseWorkerFds(w);
        return shared.status();
      }
      sinks.duplicate = *shared;
      sinks.duplicate_filters = side.filters;
    }
    side.stream.output.set_sinks(std::move(sinks));
  }
  return absl::OkStatus();
}

void WorkerGroupImpl::ReadStream(Worker& w, Stream& s, bool drain_only) {
  // drain_only: read what is buffered now, then close, without waiting for EOF
  // (a grandchild may hold the pipe open forever).
  while (s.fd >= 0) {
    ssize_t n = read(s.fd, read_buf_.data(), read_buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      s.output.Append(
          absl::string_view(read_buf_.data(), static_cast<size_t>(n)), false,
          scratch_);
      continue;
    }
    if (n < 0 && errno == EAGAIN && !drain_only) return;
    // EOF, an error, or a drain that found nothing more: flush and close.
    s.output.Append("", true, scratch_);
    CloseFd(s.fd);
  }
}

std::vector<LogLoss> WorkerGroupImpl::log_losses() const {
  std::vector<LogLoss> out;
  auto add = [&](const Worker& w, const std::string& path, int err,
                 uint64_t lost) {
    LogLoss l;
    l.rank = w.spec.rank;
    l.path = path;
    l.error = strerror(err);
    l.bytes_lost = lost;
    out.push_back(std::move(l));
  };
  for (const auto& w : workers_) {
    for (const Stream* s : {&w.out, &w.err}) {
      const StreamOutput& o = s->output;
      if (o.file_errno() != 0) {
        add(w, o.sinks().file_path, o.file_errno(), o.file_bytes_lost());
      }
      // The shared file's loss, as much of it as was this worker's.
      const SharedOutputFile* d = o.sinks().duplicate;
      if (d != nullptr && d->file_errno != 0 && o.duplicate_bytes_lost() > 0) {
        add(w, d->path, d->file_errno, o.duplicate_bytes_lost());
      }
    }
  }
  return out;
}

std::vector<pid_t> WorkerGroupImpl::LivePids() const {
  std::vector<pid_t> out;
  for (const auto& w : workers_) {
    if (w.pid > 0 && !w.reaped) out.push_back(w.pid);
  }
  return out;
}

void WorkerGroupImpl::Reap(Worker& w) {
  int st = 0;
  pid_t r;
  do {
    r = waitpid(w.pid, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != w.pid) return;  // Not exited yet (a spurious wakeup).
  w.reaped = true;
  --live_;
  CloseFd(w.pidfd);
  // Whatever the worker wrote before exiting is in the pipes now.
  ReadStream(w, w.out, true);
  ReadStream(w, w.err, true);
  WorkerExit e;
  e.local_rank = w.spec.local_rank;
  e.rank = w.spec.rank;
  e.pid = w.pid;
  e.time = absl::Now();
  if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
  } else {
    e.exit_code = WEXITSTATUS(st);
  }
  e.stderr_tail.assign(w.err.output.tail().begin(), w.err.output.tail().end());
  if (!e.ok() && !first_failure_) first_failure_ = e;
  exits_.push_back(std::move(e));
}

int WorkerGroupImpl::PollOnce(absl::Span<const int> extra_fds,
                              absl::Time deadline) {
  std::vector<struct pollfd> fds;
  // What each pollfd is: worker index and 0 = pidfd, 1 = stdout, 2 = stderr; or
  // worker index -1 and the extra fd's index.
  std::vector<std::pair<int, int>> what;
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker& w = workers_[i];
    if (w.pidfd >= 0) {
      fds.push_back({w.pidfd, POLLIN, 0});
      what.push_back({static_cast<int>(i), 0});
    }
    if (w.out.fd >= 0) {
      fds.push_back({w.out.fd, POLLIN, 0});
      what.push_back({static_cast<int>(i), 1});
    }
    if (w.err.fd >= 0) {
      fds.push_back({w.err.fd, POLLIN, 0});
      what.push_back({static_cast<int>(i), 2});
    }
  }
  for (size_t j = 0; j < extra_fds.size(); ++j) {
    fds.push_back({extra_fds[j], POLLIN, 0});
    what.push_back({-1, static_cast<int>(j)});
  }
  int timeout_ms = -1;
  if (deadline != absl::InfiniteFuture()) {
    absl::Duration left = deadline - absl::Now();
    timeout_ms = left <= absl::ZeroDuration()
                     ? 0
                     : static_cast<int>(std::min<int64_t>(
                           absl::ToInt64Milliseconds(
                               absl::Ceil(left, absl::Milliseconds(1))),
                           1 << 30));
  }
  int n = poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return -1;
  int ready_extra = -1;
  // Output first, so a worker's last lines are read before its exit is
  // recorded.
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    auto [wi, kind] = what[k];
    if (wi < 0) {
      if (ready_extra < 0) ready_extra = kind;
    } else if (kind == 1) {
      ReadStream(workers_[wi], workers_[wi].out, false);
    } else if (kind == 2) {
      ReadStream(workers_[wi], workers_[wi].err, false);
    }
  }
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents != 0 && what[k].first >= 0 && what[k].second == 0) {
      Reap(workers_[what[k].first]);
    }
  }
  // Orphans adopted by the subreaper launcher that have exited since.
  if (options_.tree != nullptr) options_.tree->ReapAdopted(LivePids());
  return ready_extra;
}

WaitResult WorkerGroupImpl::Wait(absl::Span<const int> extra_fds,
                                 absl::Time deadline) {
  while (true) {
    if (first_failure_ && !failure_reported_) {
      failure_reported_ = true;
      return {WaitOutcome::kWorkerFailed, -1};
    }
    if (live_ == 0) {
      for (auto& w : workers_) {
        ReadStream(w, w.out, true);
        ReadStream(w, w.err, true);
      }
      if (!first_failure_) return {WaitOutcome::kAllSucceeded, -1};
      // The failure was already reported; nothing else can happen but the
      // caller's fds or the deadline.
    }
    int ready = PollOnce(extra_fds, deadline);
    if (first_failure_ && !failure_reported_) continue;
    if (ready >= 0) return {WaitOutcome::kFdReady, ready};
    if (absl::Now() >= deadline) return {WaitOutcome::kDeadline, -1};
  }
}

void WorkerGroupImpl::KillGroups(int signo, bool only_live) {
  for (const auto& w : workers_) {
    if (w.pid <= 0 || (only_live && w.reaped)) continue;
    kill(-w.pid, signo);
  }
}

void WorkerGroupImpl::Signal(int signo) {
  KillGroups(signo, /*only_live=*/true);
}

void WorkerGroupImpl::Stop(absl::Duration grace, const GraceAbort& abort,
                           int first_signal) {
  // Every group gets the signal, even of workers already gone: their children
  // may live.
  KillGroups(first_signal, /*only_live=*/false);
  absl::Time deadline = absl::Now() + grace;
  std::vector<int> extra;
  if (abort.fd >= 0) extra.push_back(abort.fd);
  while (live_ > 0 && absl::Now() < deadline) {
    if (PollOnce(extra, deadline) >= 0 &&
        (!abort.kill_now || abort.kill_now())) {
      break;
    }
  }
  KillGroups(SIGKILL, /*only_live=*/false);
  while (live_ > 0) PollOnce({}, absl::InfiniteFuture());
  // What left the process groups (setsid, double forks) or was orphaned.
  if (options_.tree != nullptr) {
    KillReport r = options_.tree->KillAll(options_.tree_kill_timeout);
    if (!r.survivors.empty()) {
      LauncherLogger().error(
          "{} process(es) the workers started would not die: {}",
          r.survivors.size(), absl::StrJoin(r.survivors, " "));
    }
  }
  for (auto& w : workers_) {
    ReadStream(w, w.out, true);
    ReadStream(w, w.err, true);
  }
}

}  // namespace

std::string WorkerExit::Describe() const {
  if (signal != 0)
    return absl::StrCat("signal ", SignalName(signal), " (", signal, ")");
  return absl::StrCat("exit code ", exit_code);
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> StartWorkers(
    std::vector<WorkerSpec> specs, const SupervisorOptions& options) {
  auto group = std::make_unique<WorkerGroupImpl>(options);
  absl::Status s = group->Start(std::move(specs));
  if (!s.ok()) return s;
  return std::unique_ptr<WorkerGroup>(std::move(group));
}

}  // namespace tplaunch
