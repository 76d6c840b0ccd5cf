// The agent's state machine without processes: a MemoryStore for the
// rendezvous and a scripted fake WorkerGroup. Each Wait of the fake either
// returns an outcome at once or polls the agent's fds (the liveness monitor's
// eventfd, the signalfd stand-in) with a deadline, so nothing sleeps.
#include "launcher/agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "launcher/node_rendezvous.h"
#include "store/memory_store.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

// Bounds every wait of the fake so a broken agent fails instead of hanging.
constexpr absl::Duration kTestDeadline = absl::Seconds(30);

// One Wait of the fake group.
struct Step {
  // kAllSucceeded / kWorkerFailed: returned at once. kFdReady: poll the
  // agent's fds and return the one that became readable.
  WaitOutcome outcome = WaitOutcome::kAllSucceeded;
  // With kWorkerFailed: the failure first_failure() reports.
  WorkerExit failure;
  // Runs first (with the attempt's specs): play a signal, a peer, a worker
  // writing its error file.
  std::function<void(const std::vector<WorkerSpec>&)> before;
  // With kWorkerFailed: other workers already exited, and those that exit
  // while the agent stops the group.
  std::vector<WorkerExit> also_exited;
  std::vector<WorkerExit> exit_at_stop;
};

struct StopCall {
  absl::Duration grace;
  int abort_fd = -1;
  int first_signal = 0;
};

// What the fakes saw, per attempt (index = start call).
struct Record {
  std::vector<std::vector<WorkerSpec>> started;
  std::vector<std::vector<StopCall>> stops;
  std::vector<int> forwarded;
};

class FakeGroup final : public WorkerGroup {
 public:
  FakeGroup(std::vector<WorkerSpec> specs, std::vector<Step> steps,
            Record* record)
      : specs_(std::move(specs)), steps_(std::move(steps)), record_(record) {}

  WaitResult Wait(absl::Span<const int> extra_fds,
                  absl::Time deadline) override {
    if (next_ >= steps_.size()) {
      FAIL("the agent waited more often than the script expects");
    }
    Step& step = steps_[next_++];
    if (step.before) step.before(specs_);
    if (step.outcome == WaitOutcome::kWorkerFailed) {
      failure_ = step.failure;
      exits_.push_back(step.failure);
      for (const WorkerExit& e : step.also_exited) exits_.push_back(e);
    }
    if (step.outcome != WaitOutcome::kFdReady) return {step.outcome, -1};
    std::vector<struct pollfd> p;
    for (int fd : extra_fds) p.push_back({fd, POLLIN, 0});
    absl::Time until = std::min(deadline, absl::Now() + kTestDeadline);
    int ms = static_cast<int>(absl::ToInt64Milliseconds(until - absl::Now()));
    if (poll(p.data(), p.size(), std::max(ms, 0)) > 0) {
      for (size_t i = 0; i < p.size(); ++i) {
        if (p[i].revents != 0) {
          return {WaitOutcome::kFdReady, static_cast<int>(i)};
        }
      }
    }
    FAIL("no fd of the agent became readable");
    return {WaitOutcome::kDeadline, -1};
  }

  void Signal(int signo) override { record_->forwarded.push_back(signo); }

  void Stop(absl::Duration grace, const GraceAbort& abort,
            int first_signal) override {
    record_->stops.back().push_back({grace, abort.fd, first_signal});
    if (next_ > 0) {
      for (const WorkerExit& e : steps_[next_ - 1].exit_at_stop) {
        exits_.push_back(e);
      }
    }
  }

  const std::vector<WorkerExit>& exits() const override { return exits_; }
  std::optional<WorkerExit> first_failure() const override { return failure_; }
  std::vector<pid_t> pids() const override { return {}; }
  bool all_exited() const override { return true; }

 private:
  std::vector<WorkerSpec> specs_;
  std::vector<Step> steps_;
  size_t next_ = 0;
  Record* record_;
  std::vector<WorkerExit> exits_;
  std::optional<WorkerExit> failure_;
};

// An agent on one node with a fake supervisor: attempt N gets script[N].
class Fixture {
 public:
  Fixture() : store_(NewMemoryStore()) {
    options_.config.nproc_per_node = 2;
    options_.config.program = {"train.py"};
    options_.config.grace_period = absl::Seconds(7);
    // Node 0 would otherwise bind a socket for a free port.
    options_.config.master_port = 29500;
    options_.store = store_.get();
    options_.run_id = "job";
    options_.host = "hostA";
    options_.local_addr = "127.0.0.1";
    options_.base_env = {{"PATH", "/usr/bin:/bin"},
                         {"TMPDIR", testing::TestTmpDir()}};
  }

  AgentOptions& options() { return options_; }
  Store* store() { return store_.get(); }
  const Record& record() const { return record_; }

  // Multi-node mode with this one node: heartbeats and the end key are live.
  void MultiNode() {
    options_.multi_node = true;
    options_.config.heartbeat_interval = absl::Milliseconds(20);
    options_.config.heartbeat_timeout = absl::Seconds(60);
    options_.config.exit_barrier_timeout = kTestDeadline;
  }

  int Run(std::vector<std::vector<Step>> script) {
    script_ = std::move(script);
    options_.start_workers = [this](std::vector<WorkerSpec> specs)
        -> absl::StatusOr<std::unique_ptr<WorkerGroup>> {
      const size_t n = record_.started.size();
      record_.started.push_back(specs);
      record_.stops.emplace_back();
      if (n >= script_.size()) {
        return absl::InternalError("more attempts than the script has");
      }
      return std::make_unique<FakeGroup>(std::move(specs), script_[n],
                                         &record_);
    };
    return RunAgent(options_);
  }

 private:
  std::unique_ptr<Store> store_;
  AgentOptions options_;
  Record record_;
  std::vector<std::vector<Step>> script_;
};

Step Succeeds() { return Step{}; }

Step Fails(int rank, int exit_code) {
  Step s;
  s.outcome = WaitOutcome::kWorkerFailed;
  s.failure.rank = rank;
  s.failure.local_rank = rank;
  s.failure.pid = 4242;
  s.failure.exit_code = exit_code;
  s.failure.time = absl::Now();
  s.failure.stderr_tail = {"Traceback (most recent call last):",
                           "RuntimeError: boom"};
  return s;
}

// Waits on the agent's fds after `before` ran.
Step WaitsOnFds(std::function<void(const std::vector<WorkerSpec>&)> before) {
  Step s;
  s.outcome = WaitOutcome::kFdReady;
  s.before = std::move(before);
  return s;
}

// A pipe standing in for the signalfd: the agent reads signalfd_siginfo
// records from it.
class FakeSignalFd {
 public:
  FakeSignalFd() { REQUIRE(pipe(fds_) == 0); }
  ~FakeSignalFd() {
    close(fds_[0]);
    close(fds_[1]);
  }
  int read_fd() const { return fds_[0]; }
  void Raise(int signo) const {
    struct signalfd_siginfo si = {};
    si.ssi_signo = static_cast<uint32_t>(signo);
    REQUIRE(write(fds_[1], &si, sizeof(si)) == sizeof(si));
  }

 private:
  int fds_[2];
};

std::string EnvOf(const WorkerSpec& s, const std::string& name) {
  auto it = s.env.find(name);
  return it == s.env.end() ? "<unset>" : it->second;
}

TEST_CASE("success: every worker of the attempt exits 0, the agent exits 0") {
  Fixture f;
  CHECK(f.Run({{Succeeds()}}) == 0);
  const Record& r = f.record();
  REQUIRE(r.started.size() == 1);
  REQUIRE(r.started[0].size() == 2);
  CHECK(r.started[0][0].rank == 0);
  CHECK(r.started[0][1].rank == 1);
  CHECK(r.started[0][1].argv == std::vector<std::string>{"train.py"});
  CHECK(EnvOf(r.started[0][1], "RANK") == "1");
  CHECK(EnvOf(r.started[0][1], "WORLD_SIZE") == "2");
  CHECK(EnvOf(r.started[0][1], "MASTER_PORT") == "29500");
  CHECK(EnvOf(r.started[0][1], "TPLAUNCH_ATTEMPT") == "0");
  // Only the leftover grandchildren are stopped, without grace.
  REQUIRE(r.stops[0].size() == 1);
  CHECK(r.stops[0][0].grace == absl::ZeroDuration());
}

TEST_CASE("a worker failure without restarts exits with its code") {
  Fixture f;
  const std::string log_dir = testing::MakeTempDir();
  f.options().config.log_dir = log_dir;
  Step fail = Fails(1, 3);
  // The worker's @record writes PyTorch's error file before it exits.
  fail.before = [](const std::vector<WorkerSpec>& specs) {
    testing::WriteFile(
        EnvOf(specs[1], "TORCHELASTIC_ERROR_FILE"),
        R"({"message": {"message": "RuntimeError: boom in step 7"}})");
  };
  CHECK(f.Run({{fail}}) == 3);
  const Record& r = f.record();
  REQUIRE(r.started.size() == 1);
  CHECK(EnvOf(r.started[0][1], "TORCHELASTIC_ERROR_FILE") ==
        log_dir + "/job/attempt_0/rank_1/error.json");
  CHECK(r.started[0][1].stderr_file ==
        log_dir + "/job/attempt_0/rank_1/stderr.log");
  REQUIRE(r.stops[0].size() == 1);
  CHECK(r.stops[0][0].grace == absl::Seconds(7));
  CHECK(r.stops[0][0].first_signal == SIGTERM);
  const std::string report = testing::ReadFile(log_dir + "/job/error.json");
  CHECK_THAT(report, Catch::Contains(R"("rank": 1)"));
  CHECK_THAT(report, Catch::Contains(R"("exit_code": 3)"));
  CHECK_THAT(report, Catch::Contains(
                         R"("error_message": "RuntimeError: boom in step 7")"));
}

// Writes a worker's error file with a chosen modification time.
void WriteErrorFile(const WorkerSpec& spec, const std::string& message,
                    int64_t mtime_seconds) {
  const std::string path = EnvOf(spec, "TORCHELASTIC_ERROR_FILE");
  testing::WriteFile(
      path, absl::StrCat(R"({"message": {"message": ")", message, R"("}})"));
  const struct timespec times[2] = {{mtime_seconds, 0}, {mtime_seconds, 0}};
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

WorkerExit FailedExit(int rank, int exit_code) {
  WorkerExit e;
  e.rank = rank;
  e.local_rank = rank;
  e.pid = 4300 + rank;
  e.exit_code = exit_code;
  e.time = absl::Now();
  return e;
}

TEST_CASE(
    "the root cause is the worker whose error file was written first, "
    "not the first exit seen") {
  Fixture f;
  const std::string log_dir = testing::MakeTempDir();
  f.options().config.log_dir = log_dir;
  // Rank 1 exits first (it saw rank 0's sockets close); rank 0 raised first.
  Step fail = Fails(1, 3);
  fail.also_exited = {FailedExit(0, 2)};
  fail.before = [](const std::vector<WorkerSpec>& specs) {
    WriteErrorFile(specs[0], "RuntimeError: injected", 1000);
    WriteErrorFile(specs[1], "RuntimeError: Connection closed by peer", 1001);
  };
  CHECK(f.Run({{fail}}) == 2);
  const std::string report = testing::ReadFile(log_dir + "/job/error.json");
  CHECK_THAT(report, Catch::Contains(R"("rank": 0)"));
  CHECK_THAT(report, Catch::Contains(R"("exit_code": 2)"));
  CHECK_THAT(report,
             Catch::Contains(R"("error_message": "RuntimeError: injected")"));
}

TEST_CASE(
    "a root cause still dying is waited for: the group is stopped first") {
  Fixture f;
  const std::string log_dir = testing::MakeTempDir();
  f.options().config.log_dir = log_dir;
  Step fail = Fails(1, 3);
  fail.exit_at_stop = {FailedExit(0, 2)};
  fail.before = [](const std::vector<WorkerSpec>& specs) {
    WriteErrorFile(specs[0], "RuntimeError: injected", 1000);
  };
  CHECK(f.Run({{fail}}) == 2);
  REQUIRE(f.record().stops[0].size() == 1);
  CHECK(f.record().stops[0][0].grace == absl::Seconds(7));
  CHECK_THAT(testing::ReadFile(log_dir + "/job/error.json"),
             Catch::Contains(R"("rank": 0)"));
}

TEST_CASE("--max-restarts 1: a failure restarts as attempt 1 with fresh keys") {
  Fixture f;
  f.options().config.max_restarts = 1;
  CHECK(f.Run({{Fails(0, 5)}, {Succeeds()}}) == 0);
  const Record& r = f.record();
  REQUIRE(r.started.size() == 2);
  CHECK(EnvOf(r.started[0][0], "TPLAUNCH_ATTEMPT") == "0");
  CHECK(EnvOf(r.started[1][0], "TPLAUNCH_ATTEMPT") == "1");
  CHECK(EnvOf(r.started[1][0], "TORCHELASTIC_RESTART_COUNT") == "1");
  CHECK(EnvOf(r.started[1][0], "TORCHELASTIC_MAX_RESTARTS") == "1");
  // Each attempt has its own error files.
  CHECK(EnvOf(r.started[0][0], "TORCHELASTIC_ERROR_FILE") !=
        EnvOf(r.started[1][0], "TORCHELASTIC_ERROR_FILE"));
  // Attempt 1 joined under its own prefix; attempt 0's keys stay untouched.
  NodeRendezvousOptions ro;
  ro.run_id = "job";
  NodeRendezvous rdzv(f.store(), ro);
  CHECK(rdzv.CurrentAttempt().value_or(-1) == 1);
  CHECK(f.store()->TryGet(JoinCountKey("job", 0)).value_or("") == "1");
  CHECK(f.store()->TryGet(JoinCountKey("job", 1)).value_or("") == "1");
}

TEST_CASE("--max-restarts 1: a second failure ends the job with its code") {
  Fixture f;
  f.options().config.max_restarts = 1;
  CHECK(f.Run({{Fails(0, 5)}, {Fails(1, 6)}}) == 6);
  CHECK(f.record().started.size() == 2);
}

TEST_CASE("SIGUSR1 is forwarded; SIGTERM stops the workers, exit 128+15") {
  Fixture f;
  FakeSignalFd signals;
  f.options().signal_fd = signals.read_fd();
  f.options().config.max_restarts = 3;  // A signal never restarts.
  CHECK(f.Run({{
            WaitsOnFds([&](const auto&) { signals.Raise(SIGUSR1); }),
            WaitsOnFds([&](const auto&) { signals.Raise(SIGTERM); }),
        }}) == 128 + SIGTERM);
  const Record& r = f.record();
  CHECK(r.started.size() == 1);
  CHECK(r.forwarded == std::vector<int>{SIGUSR1});
  REQUIRE(r.stops[0].size() == 1);
  CHECK(r.stops[0][0].first_signal == SIGTERM);
  CHECK(r.stops[0][0].grace == absl::Seconds(7));
  // A second signal during the grace skips to SIGKILL.
  CHECK(r.stops[0][0].abort_fd == signals.read_fd());
}

TEST_CASE("another node's failure record stops this node's workers") {
  Fixture f;
  f.MultiNode();
  Store* store = f.store();
  CHECK(f.Run({{WaitsOnFds([store](const auto&) {
    NodeRendezvousOptions ro;
    ro.run_id = "job";
    NodeRendezvous peer(store, ro);
    auto end = peer.ReportFailure(0, AttemptEnd::Kind::kFailed, 9,
                                  "rank 7 (node 1, hostB) exited");
    REQUIRE(end.ok());
  })}}) == 9);
  const Record& r = f.record();
  CHECK(r.started.size() == 1);
  REQUIRE(r.stops[0].size() == 1);
  CHECK(r.stops[0][0].grace == absl::Seconds(7));
}

TEST_CASE("an ok end of another world while the workers run never exits 0") {
  Fixture f;
  f.MultiNode();
  Store* store = f.store();
  // What a second world's exit barrier writes under the same run id after
  // the store lost its keys.
  CHECK(f.Run({{WaitsOnFds([store](const auto&) {
    AttemptEnd ok;
    ok.kind = AttemptEnd::Kind::kOk;
    REQUIRE(store->Set(EndKey("job", 0), ok.Encode()).ok());
  })}}) == 1);
  const Record& r = f.record();
  CHECK(r.started.size() == 1);
  REQUIRE(r.stops[0].size() == 1);
  CHECK(r.stops[0][0].grace == absl::Seconds(7));
}

TEST_CASE("a node late for attempt 0 waits for its end, then joins attempt 1") {
  Fixture f;
  f.MultiNode();
  // Another node ran attempt 0 alone (--nnodes 1) and finished it.
  NodeRendezvousOptions ro;
  ro.run_id = "job";
  NodeRendezvous peer(f.store(), ro);
  NodeInfo other;
  other.host = "hostB";
  other.addr = "10.0.0.2";
  auto joined = peer.Join(
      0, other, [] { return std::make_pair(std::string("10.0.0.2"), 29500); },
      nullptr);
  REQUIRE(joined.ok());
  REQUIRE(std::holds_alternative<NodeAssignment>(*joined));
  REQUIRE(peer.ReportDone(std::get<NodeAssignment>(*joined)).ok());

  // No restart is used: --max-restarts stays 0.
  CHECK(f.Run({{Succeeds()}}) == 0);
  const Record& r = f.record();
  REQUIRE(r.started.size() == 1);
  CHECK(EnvOf(r.started[0][0], "TPLAUNCH_ATTEMPT") == "1");
  CHECK(peer.LateCount(0).value_or(0) == 1);
}

TEST_CASE("multi-node success waits in the exit barrier until the end is ok") {
  Fixture f;
  f.MultiNode();
  CHECK(f.Run({{Succeeds()}}) == 0);
  NodeRendezvousOptions ro;
  ro.run_id = "job";
  NodeRendezvous rdzv(f.store(), ro);
  auto end = rdzv.TryGetEnd(0);
  REQUIRE(end.ok());
  CHECK(end->ok());
}

TEST_CASE(
    "agent store: MASTER_ADDR/PORT name the listener, emptied per attempt") {
  Fixture f;
  f.options().config.max_restarts = 1;
  f.options().agent_store = Endpoint{"10.9.9.9", 4000};
  std::vector<int> prepared;
  f.options().prepare_agent_store = [&prepared](int attempt) {
    prepared.push_back(attempt);
    return absl::OkStatus();
  };
  CHECK(f.Run({{Fails(0, 1)}, {Succeeds()}}) == 0);
  CHECK(prepared == std::vector<int>{0, 1});
  const Record& r = f.record();
  REQUIRE(r.started.size() == 2);
  for (const WorkerSpec& s : r.started[1]) {
    CHECK(EnvOf(s, "MASTER_ADDR") == "10.9.9.9");
    CHECK(EnvOf(s, "MASTER_PORT") == "4000");
    CHECK(EnvOf(s, "TORCHELASTIC_USE_AGENT_STORE") == "True");
  }
}

TEST_CASE("an agent store that cannot be emptied fails the rendezvous") {
  Fixture f;
  f.options().config.max_restarts = 2;
  f.options().agent_store = Endpoint{"10.9.9.9", 4000};
  f.options().prepare_agent_store = [](int) {
    return absl::UnavailableError("listener 10.9.9.9:4000 refused");
  };
  CHECK(f.Run({{Succeeds()}}) == 1);
  CHECK(f.record().started.empty());
}

TEST_CASE("a PROGRAM that cannot be found exits 127 without a restart") {
  Fixture f;
  f.options().config.max_restarts = 2;
  int starts = 0;
  AgentOptions& o = f.options();
  o.start_workers = [&starts](std::vector<WorkerSpec>)
      -> absl::StatusOr<std::unique_ptr<WorkerGroup>> {
    ++starts;
    return absl::NotFoundError("train.py: not found in PATH");
  };
  CHECK(RunAgent(o) == 127);
  CHECK(starts == 1);
}

}  // namespace
}  // namespace tplaunch
