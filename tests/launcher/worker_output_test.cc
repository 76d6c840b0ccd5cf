// Worker sessions and output with real processes: every worker leads its own
// session; lines that already carry a prefix get no second one; lines matching
// the duplicate filters go, prefixed, to one file the workers share; a
// duplicate file that cannot be written is a reported loss.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "launcher/process_supervisor.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

using testing::ReadFile;

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
    (void)system(absl::StrCat("rm -rf ", dir_).c_str());
  }
  WorkerSpec Spec(int rank, const std::string& script) {
    WorkerSpec s;
    s.local_rank = rank;
    s.rank = rank;
    s.argv = {"/bin/sh", "-c", script};
    s.env = {{"PATH", "/usr/bin:/bin"}, {"DIR", dir_}};
    s.console_prefix = absl::StrCat("[rank", rank, "]: ");
    return s;
  }
  // Runs the workers to the end; they must all succeed.
  std::unique_ptr<WorkerGroup> Run(std::vector<WorkerSpec> specs) {
    auto g = StartWorkers(std::move(specs), options_);
    REQUIRE(g.ok());
    REQUIRE((*g)->Wait({}, absl::Now() + absl::Seconds(30)).outcome ==
            WaitOutcome::kAllSucceeded);
    return *std::move(g);
  }
  std::string console() const { return ReadFile(console_path_); }
  const std::string& dir() const { return dir_; }
  SupervisorOptions& options() { return options_; }

 private:
  std::string dir_;
  std::string console_path_;
  int console_fd_ = -1;
  SupervisorOptions options_;
};

// Field 6 of /proc/<pid>/stat, the session id (the comm field of sh has no
// space or parenthesis).
const char kPrintSession[] =
    "set -- $(cat /proc/$$/stat); echo \"pid $$ sid $6\"";

TEST_CASE("every worker leads its own session (torchrun's start_new_session)") {
  Fixture fx;
  auto g = fx.Run({fx.Spec(0, kPrintSession), fx.Spec(1, kPrintSession)});
  const std::string console = fx.console();
  for (pid_t pid : g->pids()) {
    INFO(console);
    CHECK_THAT(console,
               Catch::Contains(absl::StrCat("pid ", pid, " sid ", pid, "\n")));
    CHECK(pid != getsid(0));
  }
}

TEST_CASE("a line that carries its prefix, or torch's [rankN]:, gets none") {
  Fixture fx;
  auto g = fx.Run({fx.Spec(
      2,
      "echo '[rank2]: Traceback (most recent call last):'; "
      "echo '[rank2]:[W1202 reducer.cpp:1] warning' >&2; "
      "echo '[rank3]: not mine'; echo plain; echo ' [rank2]: indented'")});
  const std::string console = fx.console();
  INFO(console);
  CHECK_THAT(console,
             Catch::Contains("[rank2]: Traceback (most recent call last):\n"));
  CHECK_THAT(console, !Catch::Contains("[rank2]: [rank2]:"));
  CHECK_THAT(console, Catch::Contains("[rank2]:[W1202 reducer.cpp:1] warning"));
  CHECK_THAT(console, Catch::Contains("[rank2]: [rank3]: not mine"));
  CHECK_THAT(console, Catch::Contains("[rank2]: plain"));
  CHECK_THAT(console, Catch::Contains("[rank2]:  [rank2]: indented"));
}

TEST_CASE("lines matching a filter go, prefixed, to one shared file") {
  Fixture fx;
  const std::string out_file = fx.dir() + "/filtered_stdout.log";
  const std::string err_file = fx.dir() + "/filtered_stderr.log";
  std::vector<WorkerSpec> specs;
  for (int r = 0; r < 3; ++r) {
    WorkerSpec s = fx.Spec(
        r,
        "for i in 1 2 3; do echo \"step $i loss 0.$i\"; echo noise; done; "
        "echo 'acc,1' >&2; echo 'E: bad' >&2; "
        "echo \"[rank$RANK]: loss from torch\"");
    s.env["RANK"] = absl::StrCat(r);
    s.stdout_file = fx.dir() + absl::StrCat("/stdout", r, ".log");
    if (r != 2) {  // Rank 2's stdout is not duplicated (say, not tee'd).
      s.stdout_duplicate_filters = {"loss", "acc"};
      s.stdout_duplicate_file = out_file;
    }
    s.stderr_duplicate_filters = {"acc,"};
    s.stderr_duplicate_file = err_file;
    specs.push_back(std::move(s));
  }
  fx.Run(std::move(specs));
  const std::string out = ReadFile(out_file);
  INFO(out);
  for (int r = 0; r < 2; ++r) {
    for (int i = 1; i <= 3; ++i) {
      CHECK_THAT(out, Catch::Contains(absl::StrCat("[rank", r, "]: step ", i,
                                                   " loss 0.", i, "\n")));
    }
    CHECK_THAT(out, Catch::Contains(
                        absl::StrCat("\n[rank", r, "]: loss from torch\n")));
  }
  CHECK_THAT(out, !Catch::Contains("noise"));
  CHECK_THAT(out, !Catch::Contains("[rank2]"));
  CHECK(std::count(out.begin(), out.end(), '\n') == 8);
  // The worker's own log file stays whole and unprefixed.
  CHECK_THAT(ReadFile(fx.dir() + "/stdout0.log"),
             Catch::StartsWith("step 1 loss 0.1\nnoise\n"));
  const std::string err = ReadFile(err_file);
  INFO(err);
  for (int r = 0; r < 3; ++r) {
    CHECK_THAT(err, Catch::Contains(absl::StrCat("[rank", r, "]: acc,1\n")));
  }
  CHECK_THAT(err, !Catch::Contains("bad"));
}

TEST_CASE("a duplicate file that cannot be written is a loss of each rank") {
  Fixture fx;
  std::vector<WorkerSpec> specs;
  for (int r = 0; r < 2; ++r) {
    WorkerSpec s = fx.Spec(r, "echo keep; echo drop");
    s.stdout_duplicate_filters = {"keep"};
    s.stdout_duplicate_file = "/dev/full";  // Every write fails: ENOSPC.
    specs.push_back(std::move(s));
  }
  auto g = fx.Run(std::move(specs));
  std::vector<LogLoss> losses = g->log_losses();
  REQUIRE(losses.size() == 2);
  for (const LogLoss& l : losses) {
    CHECK(l.path == "/dev/full");
    CHECK_THAT(l.error, Catch::Contains("No space left"));
    CHECK(l.bytes_lost == 14);  // "[rankN]: keep\n"
  }
  CHECK(losses[0].rank != losses[1].rank);
  CHECK_THAT(fx.console(), Catch::Contains("[rank1]: drop"));

  WorkerSpec bad = fx.Spec(0, "true");
  bad.stdout_duplicate_filters = {"x"};
  bad.stdout_duplicate_file = fx.dir() + "/console/not-a-dir/filtered.log";
  auto b = StartWorkers({bad}, fx.options());
  REQUIRE_FALSE(b.ok());
  CHECK(absl::IsDataLoss(b.status()));
}

}  // namespace
}  // namespace tplaunch
