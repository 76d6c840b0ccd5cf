// Supervision with real processes: crashes, hangs, ignored SIGTERM,
// grandchildren, forwarded signals, huge output. Console output goes to a
// temporary file.
#include "launcher/process_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::IsAlive;
using testing::ReadFile;
using testing::WaitFor;

class Fixture {
 public:
  Fixture() {
    dir_ = testing::MakeTempDir();
    console_path_ = dir_ + "/console";
    console_fd_ = open(console_path_.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    options_.console_stdout_fd = console_fd_;
    options_.console_stderr_fd = console_fd_;
  }
  ~Fixture() {
    close(console_fd_);
    std::string cmd = absl::StrCat("rm -rf ", dir_);
    (void)system(cmd.c_str());
  }

  WorkerSpec Spec(int rank, const std::string& script) {
    WorkerSpec s;
    s.local_rank = rank;
    s.rank = rank;
    s.argv = {"/bin/sh", "-c", script};
    s.env = {
        {"PATH", "/usr/bin:/bin"}, {"RANK", absl::StrCat(rank)}, {"DIR", dir_}};
    s.console_prefix = absl::StrCat("[rank", rank, "]: ");
    return s;
  }

  std::unique_ptr<WorkerGroup> Start(std::vector<WorkerSpec> specs) {
    auto g = StartWorkers(std::move(specs), options_);
    REQUIRE(g.ok());
    return *std::move(g);
  }

  std::string console() const { return ReadFile(console_path_); }
  const std::string& dir() const { return dir_; }
  SupervisorOptions& options() { return options_; }

  // Pumps the group until `pred` holds or 10 s pass.
  bool PumpUntil(WorkerGroup& g, const std::function<bool()>& pred) {
    return WaitFor(
        [&] {
          if (pred()) return true;
          g.Wait({}, absl::Now() + absl::Milliseconds(20));
          return pred();
        },
        absl::Seconds(10));
  }

 private:
  std::string dir_;
  std::string console_path_;
  int console_fd_ = -1;
  SupervisorOptions options_;
};

TEST_CASE("all workers succeed; lines are prefixed and whole") {
  Fixture fx;
  std::vector<WorkerSpec> specs;
  for (int r = 0; r < 3; ++r) {
    specs.push_back(
        fx.Spec(r, "echo out $RANK; echo err $RANK >&2; printf 'no newline'"));
  }
  auto g = fx.Start(std::move(specs));
  WaitResult r = g->Wait({}, absl::Now() + absl::Seconds(10));
  CHECK(r.outcome == WaitOutcome::kAllSucceeded);
  CHECK(g->all_exited());
  CHECK(g->exits().size() == 3);
  CHECK_FALSE(g->first_failure().has_value());
  std::string console = fx.console();
  for (int rank = 0; rank < 3; ++rank) {
    CHECK_THAT(console, Catch::Contains(absl::StrCat("[rank", rank, "]: out ",
                                                     rank, "\n")));
    CHECK_THAT(console, Catch::Contains(absl::StrCat("[rank", rank, "]: err ",
                                                     rank, "\n")));
    CHECK_THAT(console,
               Catch::Contains(absl::StrCat("[rank", rank, "]: no newline\n")));
  }
}

TEST_CASE(
    "a crash is reported first with its code and stderr; the rest are "
    "stopped") {
  Fixture fx;
  auto g = fx.Start({fx.Spec(0, "exec sleep 30"),
                     fx.Spec(1, "echo 'Traceback: boom' >&2; exit 3"),
                     fx.Spec(2, "exec sleep 30")});
  WaitResult r = g->Wait({}, absl::Now() + absl::Seconds(10));
  REQUIRE(r.outcome == WaitOutcome::kWorkerFailed);
  auto f = g->first_failure();
  REQUIRE(f.has_value());
  CHECK(f->rank == 1);
  CHECK(f->exit_code == 3);
  CHECK(f->ShellCode() == 3);
  CHECK(f->Describe() == "exit code 3");
  REQUIRE_FALSE(f->stderr_tail.empty());
  CHECK(f->stderr_tail.back() == "Traceback: boom");
  std::vector<pid_t> pids = g->pids();
  const absl::Time t = absl::Now();
  g->Stop(absl::Seconds(20));
  CHECK(absl::Now() - t <
        absl::Seconds(5));  // SIGTERM sufficed; no grace wait.
  CHECK(g->all_exited());
  for (pid_t p : pids) CHECK_FALSE(IsAlive(p));
}

TEST_CASE("death by signal is 128+N") {
  Fixture fx;
  auto g = fx.Start({fx.Spec(0, "kill -SEGV $$")});
  WaitResult r = g->Wait({}, absl::Now() + absl::Seconds(10));
  REQUIRE(r.outcome == WaitOutcome::kWorkerFailed);
  CHECK(g->first_failure()->signal == SIGSEGV);
  CHECK(g->first_failure()->ShellCode() == 128 + SIGSEGV);
  CHECK(g->first_failure()->Describe() == "signal SIGSEGV (11)");
}

TEST_CASE("a worker ignoring SIGTERM is killed after the grace period") {
  Fixture fx;
  auto g = fx.Start({fx.Spec(0, "trap '' TERM; echo ready; exec sleep 30")});
  REQUIRE(fx.PumpUntil(
      *g, [&] { return absl::StrContains(fx.console(), "ready"); }));
  const absl::Time t = absl::Now();
  g->Stop(absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - t;
  CHECK(took >= absl::Milliseconds(300));
  CHECK(took < absl::Seconds(5));
  REQUIRE(g->exits().size() == 1);
  CHECK(g->exits()[0].signal == SIGKILL);
  CHECK_FALSE(IsAlive(g->pids()[0]));
}

TEST_CASE("a second signal on abort_fd cuts the grace period short") {
  Fixture fx;
  auto g = fx.Start({fx.Spec(0, "trap '' TERM; echo ready; exec sleep 30")});
  REQUIRE(fx.PumpUntil(
      *g, [&] { return absl::StrContains(fx.console(), "ready"); }));
  int p[2];
  REQUIRE(pipe(p) == 0);
  REQUIRE(write(p[1], "x", 1) == 1);
  const absl::Time t = absl::Now();
  g->Stop(absl::Seconds(30), GraceAbort{p[0]});
  CHECK(absl::Now() - t < absl::Seconds(5));
  CHECK_FALSE(IsAlive(g->pids()[0]));
  close(p[0]);
  close(p[1]);
}

TEST_CASE("an abort fd whose kill_now says no leaves the grace running") {
  Fixture fx;
  // The worker's TERM handler takes a while, then exits 0: it must be let be.
  auto g = fx.Start({fx.Spec(
      0, "trap 'sleep 0.3; exit 0' TERM; echo ready; sleep 30 & wait")});
  REQUIRE(fx.PumpUntil(
      *g, [&] { return absl::StrContains(fx.console(), "ready"); }));
  int p[2];
  REQUIRE(pipe(p) == 0);
  REQUIRE(write(p[1], "x", 1) == 1);
  int asked = 0;
  GraceAbort abort{p[0], [&] {
                     char c;
                     (void)!read(p[0], &c, 1);
                     ++asked;
                     return false;
                   }};
  g->Stop(absl::Seconds(30), abort);
  CHECK(asked == 1);
  REQUIRE(g->exits().size() == 1);
  CHECK(g->exits()[0].signal == 0);
  CHECK(g->exits()[0].exit_code == 0);
  close(p[0]);
  close(p[1]);
}

TEST_CASE("grandchildren die with their worker's process group") {
  Fixture fx;
  auto g =
      fx.Start({fx.Spec(0, "sleep 30 & echo $! > $DIR/gc0; echo started; wait"),
                fx.Spec(1, "sleep 30 & echo $! > $DIR/gc1; exit 4")});
  REQUIRE(fx.PumpUntil(*g, [&] {
    return absl::StrContains(fx.console(), "started") &&
           g->first_failure().has_value();
  }));
  CHECK(g->first_failure()->exit_code == 4);
  g->Stop(absl::Seconds(5));
  for (const char* name : {"/gc0", "/gc1"}) {
    pid_t pid = 0;
    REQUIRE(absl::SimpleAtoi(
        absl::StripAsciiWhitespace(ReadFile(fx.dir() + name)), &pid));
    INFO(name);
    // Orphaned grandchildren are reaped by init; wait for that with a deadline.
    CHECK(WaitFor([&] { return !IsAlive(pid); }, absl::Seconds(5)));
  }
}

TEST_CASE("signals are forwarded to every worker's group") {
  Fixture fx;
  std::vector<WorkerSpec> specs;
  for (int r = 0; r < 2; ++r) {
    specs.push_back(fx.Spec(
        r, "trap 'echo got USR1; exit 0' USR1; echo ready; sleep 30 & wait"));
  }
  auto g = fx.Start(std::move(specs));
  REQUIRE(fx.PumpUntil(*g, [&] {
    std::string c = fx.console();
    return absl::StrContains(c, "[rank0]: ready") &&
           absl::StrContains(c, "[rank1]: ready");
  }));
  g->Signal(SIGUSR1);
  WaitResult r = g->Wait({}, absl::Now() + absl::Seconds(10));
  CHECK(r.outcome == WaitOutcome::kAllSucceeded);
  CHECK_THAT(fx.console(), Catch::Contains("[rank0]: got USR1"));
  CHECK_THAT(fx.console(), Catch::Contains("[rank1]: got USR1"));
}

TEST_CASE("an extra fd or the deadline ends a wait") {
  Fixture fx;
  auto g = fx.Start({fx.Spec(0, "exec sleep 30")});
  int p[2];
  REQUIRE(pipe(p) == 0);
  WaitResult r = g->Wait({p[0]}, absl::Now() + absl::Milliseconds(50));
  CHECK(r.outcome == WaitOutcome::kDeadline);
  REQUIRE(write(p[1], "x", 1) == 1);
  r = g->Wait({p[0]}, absl::InfiniteFuture());
  CHECK(r.outcome == WaitOutcome::kFdReady);
  CHECK(r.fd_index == 0);
  g->Stop(absl::Seconds(5));
  close(p[0]);
  close(p[1]);
}

TEST_CASE("huge output from several workers never interleaves mid-line") {
  Fixture fx;
  std::vector<WorkerSpec> specs;
  constexpr int kLines = 20000;
  for (int r = 0; r < 4; ++r) {
    specs.push_back(fx.Spec(
        r,
        absl::StrCat("seq 1 ", kLines, " | sed 's/^/worker", r,
                     "-padding-padding-padding-padding-padding-padding-/'")));
  }
  auto g = fx.Start(std::move(specs));
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(60)).outcome ==
          WaitOutcome::kAllSucceeded);
  std::string console = fx.console();
  int counts[4] = {0, 0, 0, 0};
  int bad = 0;
  for (absl::string_view line :
       absl::StrSplit(console, '\n', absl::SkipEmpty())) {
    int r = line.size() > 5 ? line[5] - '0' : -1;
    if (r < 0 || r > 3 ||
        !absl::StartsWith(
            line, absl::StrCat("[rank", r, "]: worker", r,
                               "-padding-padding-padding-padding-padding-"
                               "padding-"))) {
      ++bad;
      continue;
    }
    ++counts[r];
  }
  CHECK(bad == 0);
  for (int r = 0; r < 4; ++r) CHECK(counts[r] == kLines);
}

TEST_CASE("a 1 MiB line without newline and binary output do not break it") {
  Fixture fx;
  auto g = fx.Start(
      {fx.Spec(0, "head -c 1048576 /dev/zero | tr '\\000' x"),
       fx.Spec(1, "head -c 200000 /dev/urandom; echo; echo after-binary")});
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(30)).outcome ==
          WaitOutcome::kAllSucceeded);
  std::string console = fx.console();
  size_t xs = 0;
  int rank0_lines = 0;
  for (absl::string_view line : absl::StrSplit(console, '\n')) {
    if (!absl::StartsWith(line, "[rank0]: ")) continue;
    ++rank0_lines;
    line.remove_prefix(9);
    CHECK(line.size() <= fx.options().max_line_bytes + 100);
    line = line.substr(0, line.find(" [tplaunch:"));
    for (char c : line) xs += c == 'x';
  }
  CHECK(xs == 1048576);
  CHECK(rank0_lines == 16);
  CHECK_THAT(console, Catch::Contains("line too long"));
  CHECK_THAT(console, Catch::Contains("[rank1]: after-binary\n"));
}

TEST_CASE("log files, console routing and a missing program") {
  Fixture fx;
  WorkerSpec s = fx.Spec(0, "echo to-out; echo to-err >&2");
  s.stdout_file = fx.dir() + "/stdout.log";
  s.stderr_file = fx.dir() + "/stderr.log";
  s.stderr_to_console = false;
  auto g = fx.Start({s});
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(10)).outcome ==
          WaitOutcome::kAllSucceeded);
  CHECK(ReadFile(fx.dir() + "/stdout.log") == "to-out\n");
  CHECK(ReadFile(fx.dir() + "/stderr.log") == "to-err\n");
  CHECK_THAT(fx.console(), Catch::Contains("[rank0]: to-out"));
  CHECK_THAT(fx.console(), !Catch::Contains("to-err"));

  WorkerSpec missing = fx.Spec(0, "");
  missing.argv = {"no-such-program-xyz"};
  auto m = StartWorkers({missing}, fx.options());
  REQUIRE_FALSE(m.ok());
  CHECK(absl::IsNotFound(m.status()));
  CHECK_THAT(std::string(m.status().message()),
             Catch::Contains("no-such-program-xyz"));
  WorkerSpec not_exec = fx.Spec(0, "");
  not_exec.argv = {fx.dir() + "/stdout.log"};
  auto n = StartWorkers({not_exec}, fx.options());
  REQUIRE_FALSE(n.ok());
  CHECK(absl::IsPermissionDenied(n.status()));
}

TEST_CASE("output is written once per read, never once per line") {
  // A SOCK_SEQPACKET console keeps each write() as one message, so counting
  // messages counts the launcher's write syscalls exactly.
  int sp[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
  int messages = 0;
  std::string received;
  std::thread reader([&] {
    std::string buf(1 << 20, '\0');
    while (true) {
      ssize_t n = recv(sp[1], buf.data(), buf.size(), 0);
      if (n <= 0) break;
      ++messages;
      received.append(buf.data(), static_cast<size_t>(n));
    }
  });
  Fixture fx;
  fx.options().console_stdout_fd = sp[0];
  constexpr int kLines = 20000;
  // 100-byte lines; head writes them in blocks, as any buffered writer does.
  auto g = fx.Start({fx.Spec(
      0, absl::StrCat("yes ", std::string(99, 'x'), " | head -n ", kLines))});
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(60)).outcome ==
          WaitOutcome::kAllSucceeded);
  shutdown(sp[0], SHUT_WR);
  reader.join();
  close(sp[0]);
  close(sp[1]);
  CHECK(std::count(received.begin(), received.end(), '\n') == kLines);
  CHECK(received.size() == kLines * (100 + 9));  // "[rank0]: " + line.
  INFO(messages << " writes for " << kLines << " lines");
  CHECK(messages * 10 <= kLines);
}

TEST_CASE("a log file that cannot be written is reported with what it lost") {
  Fixture fx;
  WorkerSpec s = fx.Spec(0, "echo one; echo two; echo err >&2");
  s.stdout_file = "/dev/full";  // Every write fails with ENOSPC.
  s.stderr_file = fx.dir() + "/stderr.log";
  auto g = fx.Start({s});
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(10)).outcome ==
          WaitOutcome::kAllSucceeded);
  std::vector<LogLoss> losses = g->log_losses();
  REQUIRE(losses.size() == 1);
  CHECK(losses[0].rank == 0);
  CHECK(losses[0].path == "/dev/full");
  CHECK_THAT(losses[0].error, Catch::Contains("No space left"));
  CHECK(losses[0].bytes_lost == 8);  // "one\ntwo\n"
  CHECK_THAT(fx.console(), Catch::Contains("[rank0]: two"));
  CHECK(ReadFile(fx.dir() + "/stderr.log") == "err\n");

  // A log file that cannot even be created is DataLoss, not the
  // PermissionDenied of a PROGRAM that cannot be executed.
  WorkerSpec bad = fx.Spec(0, "true");
  bad.stdout_file = fx.dir() + "/stderr.log/not-a-dir/stdout.log";
  auto b = StartWorkers({bad}, fx.options());
  REQUIRE_FALSE(b.ok());
  CHECK(absl::IsDataLoss(b.status()));
  CHECK_THAT(std::string(b.status().message()),
             Catch::Contains("cannot create log file"));
}

TEST_CASE("workers start with default_signals at SIG_DFL though ignored here") {
  Fixture fx;
  struct sigaction ign, old_int, old_quit;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  fx.options().default_signals = {SIGINT};
  auto g = fx.Start({fx.Spec(0, "grep SigIgn /proc/self/status")});
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(10)).outcome ==
          WaitOutcome::kAllSucceeded);
  std::string console = fx.console();
  size_t at = console.find("SigIgn:");
  REQUIRE(at != std::string::npos);
  uint64_t mask = 0;
  REQUIRE(absl::SimpleHexAtoi(
      absl::StripAsciiWhitespace(console.substr(at + 7, 20)), &mask));
  CHECK((mask & (uint64_t{1} << (SIGINT - 1))) == 0);
  // Not in default_signals: left as inherited.
  CHECK((mask & (uint64_t{1} << (SIGQUIT - 1))) != 0);
  CHECK((mask & (uint64_t{1} << (SIGPIPE - 1))) == 0);
}

TEST_CASE("with a process tree, Stop ends grandchildren that left the group") {
  Fixture fx;
  ProcessTreeOptions po;
  po.use_cgroup = false;
  auto tree = ProcessTree::Create(po);
  REQUIRE(tree.ok());
  fx.options().tree = tree->get();
  auto g = fx.Start({fx.Spec(
      0,
      "setsid sh -c 'echo $$ > $DIR/ss; exec sleep 300' & "
      "sh -c 'sh -c \"echo \\$\\$ > $DIR/df; exec sleep 300\" &'; "
      "while [ ! -s $DIR/ss ] || [ ! -s $DIR/df ]; do sleep 0.01; done; "
      "env | grep TPLAUNCH_PROCESS_TREE")});
  REQUIRE(g->Wait({}, absl::Now() + absl::Seconds(10)).outcome ==
          WaitOutcome::kAllSucceeded);
  CHECK_THAT(fx.console(),
             Catch::Contains(absl::StrCat("[rank0]: TPLAUNCH_PROCESS_TREE=",
                                          (*tree)->marker())));
  pid_t ss = 0, df = 0;
  REQUIRE(absl::SimpleAtoi(
      absl::StripAsciiWhitespace(ReadFile(fx.dir() + "/ss")), &ss));
  REQUIRE(absl::SimpleAtoi(
      absl::StripAsciiWhitespace(ReadFile(fx.dir() + "/df")), &df));
  REQUIRE(IsAlive(ss));
  REQUIRE(IsAlive(df));
  g->Stop(absl::Seconds(5));
  CHECK_FALSE(IsAlive(ss));
  CHECK_FALSE(IsAlive(df));
}

}  // namespace
}  // namespace tplaunch
