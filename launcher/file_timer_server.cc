#include "launcher/file_timer_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "launcher/signals.h"

namespace tplaunch {
namespace {

// Requests that are dropped get a log line each up to this many, then one
// summary line per this many more: a client in a loop cannot flood the log.
constexpr int64_t kDroppedLogged = 20;

// Parent pid and start time (clock ticks since boot) of `pid`, from
// /proc/PID/stat; nullopt when it is gone.
std::optional<std::pair<pid_t, uint64_t>> ParentAndStart(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string stat = ss.str();
  // The command name may hold spaces and parentheses: fields follow the last
  // ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  // After the name: state (3), ppid (4), ..., starttime (22).
  int64_t ppid = 0;
  uint64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[1], &ppid) ||
      !absl::SimpleAtoi(fields[19], &start)) {
    return std::nullopt;
  }
  return std::make_pair(static_cast<pid_t>(ppid), start);
}

}  // namespace

std::string TimerKill::Describe() const {
  return absl::StrCat("the file timer sent ", SignalName(signal), " to rank ",
                      rank, " (pid ", pid, "): scope '", scope_id,
                      "' missed its deadline ",
                      absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Z", deadline,
                                       absl::LocalTimeZone()),
                      " (TORCHELASTIC_ENABLE_FILE_TIMER)");
}

absl::StatusOr<std::unique_ptr<FileTimerServer>> FileTimerServer::Create(
    FileTimerServerOptions options) {
  std::unique_ptr<FileTimerServer> s(new FileTimerServer(std::move(options)));
  const std::string& path = s->options_.path;
  auto fail = [&](const char* call) {
    return absl::InternalError(
        absl::StrCat("file timer: ", call, " ", path, ": ", strerror(errno)));
  };
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return fail("unlink");
  if (mkfifo(path.c_str(), 0600) != 0) return fail("mkfifo");
  // Non-blocking: opening for reading must not wait for a writer.
  s->read_fd_ = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (s->read_fd_ < 0) return fail("open");
  s->keep_open_fd_ = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (s->keep_open_fd_ < 0) return fail("open for writing");
  s->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd_ < 0) return fail("eventfd for");
  return s;
}

FileTimerServer::~FileTimerServer() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = write(stop_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
  }
  for (int fd : {read_fd_, keep_open_fd_, stop_fd_}) {
    if (fd >= 0) close(fd);
  }
  if (read_fd_ >= 0) unlink(options_.path.c_str());
}

void FileTimerServer::Start(std::map<pid_t, int> workers) {
  workers_ = std::move(workers);
  thread_ = std::thread([this] { Loop(); });
}

std::optional<TimerKill> FileTimerServer::KillOf(int rank) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kills_.find(rank);
  if (it == kills_.end()) return std::nullopt;
  return it->second;
}

void FileTimerServer::Notice(const std::string& line) {
  if (options_.on_notice) options_.on_notice(line);
}

void FileTimerServer::Loop() {
  absl::Time next_sweep = absl::Now() + options_.sweep_interval;
  while (true) {
    absl::Time wake = next_sweep;
    if (auto next = table_.NextDeadline()) wake = std::min(wake, *next);
    const absl::Duration left = wake - absl::Now();
    const int ms = left <= absl::ZeroDuration()
                       ? 0
                       : static_cast<int>(absl::ToInt64Milliseconds(
                             absl::Ceil(left, absl::Milliseconds(1))));
    struct pollfd fds[2] = {{read_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) {
      Notice(absl::StrCat("file timer stops: poll: ", strerror(errno)));
      return;
    }
    if (n > 0 && fds[1].revents != 0) return;
    if (n > 0 && fds[0].revents != 0) ReadRequests();
    Expire();
    if (absl::Now() >= next_sweep) {
      // torchrun's clear_timers: a process that is gone needs no timer.
      for (auto it = requesters_.begin(); it != requesters_.end();) {
        if (kill(it->first, 0) != 0 && errno == ESRCH) {
          table_.Forget(it->first);
          it = requesters_.erase(it);
        } else {
          ++it;
        }
      }
      next_sweep = absl::Now() + options_.sweep_interval;
    }
  }
}

void FileTimerServer::ReadRequests() {
  char buf[16 * 1024];
  while (true) {
    ssize_t n = read(read_fd_, buf, sizeof(buf));
    if (n <= 0) return;  // EAGAIN: drained (we hold a writer: never EOF).
    absl::string_view data(buf, static_cast<size_t>(n));
    while (!data.empty()) {
      size_t nl = data.find('\n');
      absl::string_view piece =
          data.substr(0, nl == absl::string_view::npos ? data.size() : nl);
      if (!discarding_) partial_.append(piece.data(), piece.size());
      if (partial_.size() > kMaxTimerRequestBytes) {
        // Bounded memory: the rest of this line is skipped, not buffered.
        partial_.clear();
        if (!discarding_) Handle(std::string(kMaxTimerRequestBytes + 1, 'x'));
        discarding_ = true;
      }
      if (nl == absl::string_view::npos) break;
      if (!discarding_) Handle(partial_);
      partial_.clear();
      discarding_ = false;
      data.remove_prefix(nl + 1);
    }
  }
}

void FileTimerServer::Handle(absl::string_view line) {
  auto drop = [&](absl::string_view why) {
    ++dropped_;
    if (dropped_ <= kDroppedLogged || dropped_ % 1000 == 0) {
      std::string shown(line.substr(0, 200));
      Notice(absl::StrCat("file timer: dropped request '", shown, "': ", why,
                          dropped_ == kDroppedLogged
                              ? " (further drops are logged every 1000th)"
                              : ""));
    }
  };
  if (line.empty()) return;
  absl::StatusOr<TimerRequest> r = ParseTimerRequest(line);
  if (!r.ok()) return drop(r.status().message());
  std::optional<std::pair<pid_t, uint64_t>> self = ParentAndStart(r->pid);
  if (!self) return drop(absl::StrCat("pid ", r->pid, " does not exist"));
  auto known = requesters_.find(r->pid);
  if (known == requesters_.end() || known->second.second != self->second) {
    // New, or a reused pid: walk up from it to one of this node's workers.
    std::optional<int> rank;
    pid_t p = r->pid;
    std::optional<std::pair<pid_t, uint64_t>> info = self;
    for (int depth = 0; depth < 64 && info; ++depth) {
      if (auto w = workers_.find(p); w != workers_.end()) {
        rank = w->second;
        break;
      }
      p = info->first;
      if (p <= 1) break;
      info = ParentAndStart(p);
    }
    if (!rank) {
      requesters_.erase(r->pid);
      table_.Forget(r->pid);
      return drop(absl::StrCat("pid ", r->pid,
                               " is not a worker of this node nor one of "
                               "their descendants"));
    }
    requesters_[r->pid] = std::make_pair(*rank, self->second);
  }
  absl::Status applied = table_.Apply(*r);
  if (!applied.ok()) drop(applied.message());
}

void FileTimerServer::Expire() {
  for (const ExpiredTimer& e : table_.TakeExpired(absl::Now())) {
    auto who = requesters_.find(e.pid);
    if (who == requesters_.end()) continue;
    const auto [rank, start] = who->second;
    requesters_.erase(who);
    TimerKill k;
    k.rank = rank;
    k.pid = e.pid;
    k.scope_id = e.scope_id;
    k.deadline = e.deadline;
    k.signal = e.signal;
    if (e.signal <= 0) {
      Notice(absl::StrCat("file timer: rank ", rank, " (pid ", e.pid,
                          "): scope '", e.scope_id,
                          "' expired; no signal asked for, not killed"));
      continue;
    }
    std::optional<std::pair<pid_t, uint64_t>> now = ParentAndStart(e.pid);
    if (!now || now->second != start) continue;  // Gone, or a reused pid.
    {
      // Recorded before the kill: the agent may see the exit at once.
      std::lock_guard<std::mutex> lock(mu_);
      kills_.emplace(rank, k);
    }
    if (kill(e.pid, e.signal) != 0) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        kills_.erase(rank);
      }
      Notice(absl::StrCat("file timer: could not signal pid ", e.pid, ": ",
                          strerror(errno)));
      continue;
    }
    Notice(k.Describe());
  }
}

}  // namespace tplaunch
